/*
 * The connection registry at the descriptor limit (conn.c, issue 21 item 4):
 * which kept-alive connection is closed to make room, and when accepting
 * resumes. Connections are socketpairs in a real epoll set; "nginx's end" is
 * the other half of each pair.
 */
#include "tests.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

#define MAX_PAIRS 8

struct registry {
        int epoll_fd;
        struct conns conns;
        struct conn listen_tag; /* a pipe that is never readable stands for the socket */
        int listen_pipe[2];
        struct conn *c[MAX_PAIRS];
        int peer[MAX_PAIRS];
        int n;
};

static int
registry_setup(void **state)
{
        struct registry *r = calloc(1, sizeof(*r));

        assert_non_null(r);
        r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        assert_true(r->epoll_fd >= 0);
        conns_init(&r->conns, r->epoll_fd);
        assert_int_equal(pipe2(r->listen_pipe, O_CLOEXEC), 0);
        r->listen_tag.fd = r->listen_pipe[0];
        assert_int_equal(conn_watch(r->epoll_fd, EPOLL_CTL_ADD, &r->listen_tag, EPOLLIN), 0);
        conns_listen(&r->conns, &r->listen_tag);
        *state = r;
        return 0;
}

static int
registry_teardown(void **state)
{
        struct registry *r = *state;

        conns_close_all(&r->conns);
        for (int i = 0; i < r->n; i++)
                close(r->peer[i]);
        close(r->listen_pipe[0]);
        close(r->listen_pipe[1]);
        close(r->epoll_fd);
        free(r);
        return 0;
}

/* A new connection, as accepted: registered and armed, not yet idle. */
static struct conn *
open_one(struct registry *r)
{
        int sv[2];

        assert_true(r->n < MAX_PAIRS);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        struct conn *c = conn_new(&r->conns, sv[1]);
        assert_non_null(c);
        conn_arm(&r->conns, c, EPOLL_CTL_ADD);
        r->c[r->n] = c;
        r->peer[r->n] = sv[0];
        return r->c[r->n++];
}

/* The event a worker would get for c: taken, as a worker takes it. */
static void
take(struct registry *r, struct conn *c)
{
        conn_take(&r->conns, c);
}

/* c answered its request and waits for the next: idle, the most recent. */
static void
answered(struct registry *r, struct conn *c)
{
        take(r, c);
        conn_rearm(&r->conns, c);
}

/* nginx's end of connection i sees the responder's end shut down or closed. */
static int
closed_at_peer(struct registry *r, int i)
{
        char b;
        struct pollfd p = {.fd = r->peer[i], .events = POLLIN};

        if (poll(&p, 1, 0) != 1)
                return 0;
        return recv(r->peer[i], &b, 1, MSG_DONTWAIT) == 0;
}

/* The one shut down to make room is freed by the worker its hang-up wakes. */
static void
free_closed(struct registry *r, int i)
{
        take(r, r->c[i]);
        conn_free(&r->conns, r->c[i]);
        r->c[i] = NULL;
}

/* All idle, none in flight: the one idle the longest with nothing queued is shut down. */
static void
test_the_longest_idle_is_closed_first(void **state)
{
        struct registry *r = *state;

        conns_set_room(&r->conns, 3);
        for (int i = 0; i < 3; i++)
                answered(r, open_one(r));
        assert_true(conns_full(&r->conns));
        /* A request already on its way on the longest idle: that one is about to be served. */
        assert_int_equal(write(r->peer[0], "x", 1), 1);
        assert_false(conns_admit(&r->conns));
        assert_false(closed_at_peer(r, 0));
        assert_true(closed_at_peer(r, 1));
        assert_false(closed_at_peer(r, 2));
        assert_false(conns_admit(&r->conns)); /* still full, and one is closing already */
        assert_false(closed_at_peer(r, 2));
        free_closed(r, 1); /* the close resumes accepting */
        assert_false(conns_full(&r->conns));
        assert_true(conns_admit(&r->conns));
}

/*
 * One in flight (a request being answered): nothing idle is shut down; that
 * one is closed once its answer is out, and only that one.
 */
static void
test_a_connection_in_flight_is_closed_after_its_answer(void **state)
{
        struct registry *r = *state;

        conns_set_room(&r->conns, 3);
        answered(r, open_one(r));
        answered(r, open_one(r));
        struct conn *busy = open_one(r);
        take(r, busy); /* a worker serves its request */
        assert_false(conns_admit(&r->conns));
        assert_false(closed_at_peer(r, 0));
        assert_false(closed_at_peer(r, 1));
        conn_rearm(&r->conns, busy); /* answered: closed instead of kept */
        r->c[2] = NULL;
        assert_true(closed_at_peer(r, 2));
        assert_false(closed_at_peer(r, 0));
        assert_false(closed_at_peer(r, 1));
        assert_true(conns_admit(&r->conns));
        assert_int_equal(conns_count(&r->conns), 2);
}

/* A new connection is not idle: its first request is on its way, and closing it would fail it. */
static void
test_a_new_connection_is_not_closed_to_make_room(void **state)
{
        struct registry *r = *state;

        conns_set_room(&r->conns, 1);
        open_one(r);
        assert_false(conns_admit(&r->conns));
        assert_false(closed_at_peer(r, 0));
        answered(r, r->c[0]); /* its answer is out: the one to close */
        r->c[0] = NULL;
        assert_true(closed_at_peer(r, 0));
        assert_int_equal(conns_count(&r->conns), 0);
}

/*
 * A request that arrived in pieces and is whole now (pending.c hands it
 * back) is not idle either: while paused it is armed, not closed.
 */
static void
test_a_whole_request_handed_back_is_not_closed_to_make_room(void **state)
{
        struct registry *r = *state;

        conns_set_room(&r->conns, 1);
        struct conn *c = open_one(r);
        take(r, c); /* the pending thread's, until its request is whole */
        assert_false(conns_admit(&r->conns));
        conn_arm(&r->conns, c, EPOLL_CTL_MOD);
        assert_false(closed_at_peer(r, 0));
        assert_int_equal(conns_count(&r->conns), 1);
        answered(r, c); /* its answer is out: now it is the one to close */
        r->c[0] = NULL;
        assert_true(closed_at_peer(r, 0));
}

/* Without a pause, answered connections are kept, however many. */
static void
test_below_the_limit_every_connection_is_kept(void **state)
{
        struct registry *r = *state;

        conns_set_room(&r->conns, 100);
        for (int i = 0; i < 5; i++)
                answered(r, open_one(r));
        for (int i = 0; i < 5; i++)
                assert_false(closed_at_peer(r, i));
        assert_int_equal(conns_count(&r->conns), 5);
        assert_true(conns_admit(&r->conns));
}

/* The spares made at start go back to the spares, and teardown frees them. */
static void
test_spares_are_made_and_freed(void **state)
{
        struct registry *r = *state;

        assert_int_equal(conns_spare(&r->conns, 4), 0);
        int n = 0;
        struct conn *c;
        LIST_FOREACH (c, &r->conns.spares, all)
                n++;
        assert_int_equal(n, 4);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, registry_setup, registry_teardown)

int
conn_tests(void)
{
        const struct CMUnitTest tests[] = {
            TEST(test_the_longest_idle_is_closed_first),
            TEST(test_a_connection_in_flight_is_closed_after_its_answer),
            TEST(test_a_new_connection_is_not_closed_to_make_room),
            TEST(test_a_whole_request_handed_back_is_not_closed_to_make_room),
            TEST(test_below_the_limit_every_connection_is_kept),
            TEST(test_spares_are_made_and_freed),
        };

        return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
