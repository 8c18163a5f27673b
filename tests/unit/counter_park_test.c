/*
 * counter_reserve() and counter_submit(): visits that wait for their
 * sync=always batch without a thread, completed by the committer through
 * their callback, as park.c parks them.
 */
#include "tests.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PARKED 300

/* One parked visit, as park.c embeds its waiter in its parked answer. */
struct park {
        struct counter_waiter w;
        struct parked *all;
        atomic_int called;
        char why[128];
};

struct parked {
        struct park v[PARKED];
        atomic_int done;
};

static void
park_done(struct counter_waiter *w)
{
        struct park *p = (struct park *)(void *)((char *)w - offsetof(struct park, w));

        atomic_fetch_add(&p->called, 1);
        atomic_fetch_add(&p->all->done, 1);
}

/*
 * Starts visits [from, to) of all as the serving layer does: each takes its
 * number (counter_reserve()), then each is submitted to the committer, which
 * calls back. Reserving all first keeps the committer from running a batch
 * in the middle of the numbering, whatever the threads' timing (ThreadSanitizer
 * slows them). In the other modes a visit counts at once instead; one that
 * gets no number (the path fails) is submitted without one: it takes one
 * when a batch succeeds. Returns how many were parked: submitted to the
 * committer.
 */
static int
start(struct counter *c, struct parked *all, int from, int to)
{
        int parked = 0, rc[PARKED];

        for (int i = from; i < to; i++) {
                struct park *p = &all->v[i];
                p->all = all;
                atomic_store(&p->called, 0);
                p->w = (struct counter_waiter){
                    .why = p->why, .whylen = sizeof(p->why), .done = park_done};
                rc[i] = counter_reserve(c, &p->w);
                if (rc[i] == 0 && c->mode != SYNC_ALWAYS) {
                        int v = counter_visit(c, &p->w.number, p->why, sizeof(p->why));
                        p->w.state = v == 0 ? COUNTER_WAIT_DONE : COUNTER_WAIT_FAILED;
                        rc[i] = -1;
                }
        }
        for (int i = from; i < to; i++) {
                if (rc[i] < 0)
                        continue;
                counter_submit(c, &all->v[i].w);
                parked++;
        }
        return parked;
}

static void
wait_done(struct parked *all, int n)
{
        for (int i = 0; i < 10000 && atomic_load(&all->done) < n; i++) {
                struct timespec ts = {.tv_nsec = 1000000};
                nanosleep(&ts, NULL);
        }
        assert_int_equal(atomic_load(&all->done), n);
}

static void
test_parked_visits_share_batches_and_get_distinct_numbers(void **state)
{
        struct fixture *f = *state;
        static struct parked all;
        char text[32];

        memset(&all, 0, sizeof(all));
        f->cfg.sync = SYNC_ALWAYS;
        fixture_start_counter(f, "41\n");
        assert_int_equal(start(&f->counter, &all, 0, PARKED), PARKED);
        wait_done(&all, PARKED);
        for (int i = 0; i < PARKED; i++) {
                assert_int_equal(atomic_load(&all.v[i].called), 1);
                assert_int_equal(all.v[i].w.state, COUNTER_WAIT_DONE);
                /* In the order they came: numbers are handed out as visits start. */
                assert_int_equal(all.v[i].w.number, 42 + i);
        }
        /* No thread waited: the committer ran a few batches for all of them, not 300. */
        assert_true(f->counter.batch <= 3);
        snprintf(text, sizeof(text), "%d\n", 41 + PARKED);
        assert_file_text(f->cfg.counter_path, text);
}

static void
test_other_modes_count_at_once_without_a_call(void **state)
{
        struct fixture *f = *state;
        static struct parked all;

        memset(&all, 0, sizeof(all));
        f->cfg.sync = SYNC_INTERVAL;
        fixture_start_counter(f, "7\n");
        assert_int_equal(start(&f->counter, &all, 0, 1), 0);
        assert_int_equal(all.v[0].w.number, 8);
        assert_int_equal(all.v[0].w.state, COUNTER_WAIT_DONE);
        assert_int_equal(atomic_load(&all.done), 0);
        assert_file_text(f->cfg.counter_path, "8\n");
}

static void
test_a_parked_visit_at_the_maximum_is_refused_at_once(void **state)
{
        struct fixture *f = *state;
        static struct parked all;
        char max[32];

        memset(&all, 0, sizeof(all));
        f->cfg.sync = SYNC_ALWAYS;
        snprintf(max, sizeof(max), "%lld\n", (long long)COUNTER_MAX);
        fixture_start_counter(f, max);
        assert_int_equal(start(&f->counter, &all, 0, 1), 0);
        assert_int_equal(all.v[0].w.state, COUNTER_WAIT_FAILED);
        assert_contains(all.v[0].why, "maximum");
        assert_int_equal(atomic_load(&all.done), 0);
}

/*
 * The failure path: a batch that cannot write refuses every parked visit in
 * it (and those queued meanwhile); visits that start while the path fails
 * take no number and are refused with their batch; once it works again they
 * get numbers above every number handed out before, never one twice.
 */
static void
test_failed_batches_refuse_parked_visits_and_never_reuse_a_number(void **state)
{
        enum { ROUND = 50 };
        struct fixture *f = *state;
        static struct parked all;
        int refused = 0, second_refused = 0;

        memset(&all, 0, sizeof(all));
        f->cfg.sync = SYNC_ALWAYS;
        fixture_start_counter(f, "99\n");
        fsize_lower(f, 0); /* every write fails, the rewrite of "99\n" too */
        int first = start(&f->counter, &all, 0, ROUND);
        for (int i = 0; i < 10000000 && atomic_load(&all.done) < ROUND; i++)
                sched_yield();
        int second = start(&f->counter, &all, ROUND, 2 * ROUND); /* the path is failing now */
        for (int i = 0; i < 10000000 && atomic_load(&all.done) < 2 * ROUND; i++)
                sched_yield();
        fsize_restore(f);
        assert_int_equal(atomic_load(&all.done), 2 * ROUND);
        assert_int_equal(first, ROUND);
        assert_int_equal(second, ROUND);
        for (int i = 0; i < 2 * ROUND; i++) {
                assert_int_equal(atomic_load(&all.v[i].called), 1);
                refused += all.v[i].w.state == COUNTER_WAIT_FAILED;
                second_refused += i >= ROUND && all.v[i].w.state == COUNTER_WAIT_FAILED;
        }
        assert_int_equal(refused, 2 * ROUND);
        assert_int_equal(second_refused, ROUND);
        for (int i = ROUND; i < 2 * ROUND; i++)
                assert_int_equal(all.v[i].w.number, 0); /* no number taken while failing */
        uint64_t highest = 0;
        for (int i = 0; i < ROUND; i++)
                if (all.v[i].w.number > highest)
                        highest = all.v[i].w.number;
        assert_int_equal(highest, 99 + ROUND);

        /* It works again: the next visits count above every number handed out. */
        atomic_store(&all.done, 0);
        assert_int_equal(start(&f->counter, &all, 0, ROUND), ROUND);
        wait_done(&all, ROUND);
        for (int i = 0; i < ROUND; i++) {
                assert_int_equal(all.v[i].w.state, COUNTER_WAIT_DONE);
                assert_true(all.v[i].w.number > highest);
                for (int j = 0; j < i; j++)
                        assert_true(all.v[j].w.number != all.v[i].w.number);
        }
}

/* Threads in counter_visit() and parked visits share the batches and the numbers. */
struct blocking {
        struct counter *c;
        uint64_t numbers[50];
        int failures;
};

static void *
blocking_main(void *arg)
{
        struct blocking *b = arg;
        char why[128];

        for (int i = 0; i < 50; i++)
                b->failures += counter_visit(b->c, &b->numbers[i], why, sizeof(why)) != 0;
        return NULL;
}

static void
test_threads_and_parked_visits_share_the_numbers(void **state)
{
        struct fixture *f = *state;
        static struct parked all;
        static struct blocking b[4];
        static unsigned char seen[PARKED + 4 * 50 + 1];
        pthread_t tid[4];

        memset(&all, 0, sizeof(all));
        memset(seen, 0, sizeof(seen));
        f->cfg.sync = SYNC_ALWAYS;
        fixture_start_counter(f, "0\n");
        for (int i = 0; i < 4; i++) {
                b[i] = (struct blocking){.c = &f->counter};
                assert_int_equal(pthread_create(&tid[i], NULL, blocking_main, &b[i]), 0);
        }
        for (int i = 0; i < PARKED; i += 30)
                assert_int_equal(start(&f->counter, &all, i, i + 30), 30);
        for (int i = 0; i < 4; i++)
                pthread_join(tid[i], NULL);
        wait_done(&all, PARKED);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(b[i].failures, 0);
                for (int j = 0; j < 50; j++)
                        seen[b[i].numbers[j]]++;
        }
        for (int i = 0; i < PARKED; i++)
                seen[all.v[i].w.number]++;
        for (size_t n = 1; n < sizeof(seen); n++)
                assert_int_equal(seen[n], 1);
        assert_int_equal(counter_get(&f->counter), PARKED + 4 * 50);
}

/* counter_close() runs what is still queued: every parked visit gets its outcome. */
static void
test_close_completes_parked_visits(void **state)
{
        struct fixture *f = *state;
        static struct parked all;

        memset(&all, 0, sizeof(all));
        f->cfg.sync = SYNC_ALWAYS;
        fixture_start_counter(f, "5\n");
        assert_int_equal(start(&f->counter, &all, 0, PARKED), PARKED);
        fixture_close_counter(f);
        assert_int_equal(atomic_load(&all.done), PARKED);
        assert_file_text(f->cfg.counter_path, "305\n");
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int
counter_park_tests(void)
{
        const struct CMUnitTest tests[] = {
            TEST(test_parked_visits_share_batches_and_get_distinct_numbers),
            TEST(test_other_modes_count_at_once_without_a_call),
            TEST(test_a_parked_visit_at_the_maximum_is_refused_at_once),
            TEST(test_failed_batches_refuse_parked_visits_and_never_reuse_a_number),
            TEST(test_threads_and_parked_visits_share_the_numbers),
            TEST(test_close_completes_parked_visits),
        };

        return cmocka_run_group_tests_name("counter_park", tests, NULL, NULL);
}
