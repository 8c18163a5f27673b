#include "tests.h"

#include "counter_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct parse_ok {
        const char *buf;
        size_t len;
        uint64_t want;
};

#define BYTES(s) s, sizeof(s) - 1

static void
test_parse_accepts(void **state)
{
        static const struct parse_ok cases[] = {
            {BYTES(""), 0},
            {BYTES("0\n"), 0},
            {BYTES("0"), 0},
            {BYTES("  42 \n"), 42},
            {BYTES("\t42\r\n"), 42},
            {BYTES("007"), 7},
            {BYTES(" \n\t\r"), 0},
            {BYTES("9223372036854775807"), INT64_MAX},
            {BYTES("9223372036854775807\n"), INT64_MAX},
        };
        char why[128];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t v = 12345;
                why[0] = '\0';
                int rc = counter_parse(cases[i].buf, cases[i].len, &v, why, sizeof(why));
                if (rc != 0 || v != cases[i].want)
                        fail_msg("counter_parse(\"%s\") = %d, %" PRIu64 " (%s); expected %" PRIu64,
                                 cases[i].buf, rc, v, why, cases[i].want);
        }
}

struct parse_bad {
        const char *buf;
        size_t len;
        const char *why;
};

static void
test_parse_rejects(void **state)
{
        static const struct parse_bad cases[] = {
            {BYTES("-1"), "a negative number is not a count"},
            {BYTES(" -0\n"), "a negative number is not a count"},
            {BYTES("abc"), "not a decimal number"},
            {BYTES("12a"), "not a decimal number"},
            {BYTES("1 2"), "not a decimal number"},
            {BYTES("1\n2\n"), "not a decimal number"},
            {BYTES("+5"), "not a decimal number"},
            {BYTES("0x10"), "not a decimal number"},
            {BYTES("1\0"
                   "2"),
             "not a decimal number"},
            {BYTES("12\0"), "not a decimal number"},
            {BYTES("9223372036854775808"), "too large: more than 9223372036854775807"},
            {BYTES("18446744073709551616"), "too large: more than 9223372036854775807"},
            {BYTES("99999999999999999999999"), "too large: more than 9223372036854775807"},
        };
        char why[128];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t v = 12345;
                why[0] = '\0';
                int rc = counter_parse(cases[i].buf, cases[i].len, &v, why, sizeof(why));
                if (rc != -1 || strcmp(why, cases[i].why) != 0)
                        fail_msg("case %zu (\"%s\"): rc %d, why \"%s\"; expected -1, \"%s\"", i,
                                 cases[i].buf, rc, why, cases[i].why);
        }
}

static void
test_open_creates_absent_file(void **state)
{
        struct fixture *f = *state;
        struct stat st;
        char err[512];

        assert_int_equal(stat(f->cfg.counter_path, &st), -1);
        enum counter_status status = fixture_open_counter(f, err, sizeof(err));
        if (status != COUNTER_OK)
                fail_msg("%s", err);
        assert_int_equal(counter_get(&f->counter), 0);
        assert_file_text(f->cfg.counter_path, "0\n");
        assert_int_equal(stat(f->cfg.counter_path, &st), 0);
        mode_t mask = umask(0);
        umask(mask);
        assert_int_equal(st.st_mode & 0777, 0640 & ~mask);
        fixture_close_counter(f);
        assert_file_text(f->cfg.counter_path, "0\n");
}

static void
test_open_in_missing_directory_fails(void **state)
{
        struct fixture *f = *state;
        char err[512], want[MSG_MAX];

        fixture_path(f, "no/such/dir/visits", f->cfg.counter_path, sizeof(f->cfg.counter_path));
        assert_int_equal(fixture_open_counter(f, err, sizeof(err)), COUNTER_IOERR);
        snprintf(want, sizeof(want),
                 "counter file %s: cannot open for reading and writing: No such file or directory",
                 f->cfg.counter_path);
        assert_string_equal(err, want);
}

static void
test_open_directory_fails(void **state)
{
        struct fixture *f = *state;
        char err[512], want[MSG_MAX];

        assert_int_equal(mkdir(f->cfg.counter_path, 0750), 0);
        assert_int_equal(fixture_open_counter(f, err, sizeof(err)), COUNTER_IOERR);
        snprintf(want, sizeof(want),
                 "counter file %s: cannot open for reading and writing: Is a directory",
                 f->cfg.counter_path);
        assert_string_equal(err, want);
}

static void
test_empty_file_is_zero(void **state)
{
        struct fixture *f = *state;
        char why[256];
        uint64_t n = 0;

        fixture_start_counter(f, "");
        assert_int_equal(counter_get(&f->counter), 0);
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 1);
        assert_file_text(f->cfg.counter_path, "1\n");
}

/* Starting up reads the count; it must not rewrite a file that already holds it as written. */
static void
test_open_leaves_a_canonical_file_alone(void **state)
{
        struct fixture *f = *state;
        struct stat before, after;

        write_text(f->cfg.counter_path, "7\n");
        assert_int_equal(stat(f->cfg.counter_path, &before), 0);
        fixture_start_counter(f, NULL);
        assert_int_equal(counter_get(&f->counter), 7);
        assert_int_equal(stat(f->cfg.counter_path, &after), 0);
        assert_int_equal(after.st_ino, before.st_ino);
        assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
        assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
        assert_file_text(f->cfg.counter_path, "7\n");
}

/* A path.tmp left by a crash before its rename was never acknowledged to anyone. */
static void
test_open_removes_a_stale_tmp_file(void **state)
{
        struct fixture *f = *state;
        char tmp[CONFIG_PATH_MAX + 8];
        struct stat st;

        write_text(f->cfg.counter_path, "99\n");
        snprintf(tmp, sizeof(tmp), "%s.tmp", f->cfg.counter_path);
        write_text(tmp, "100\n");
        fixture_start_counter(f, NULL);
        assert_int_equal(counter_get(&f->counter), 99);
        assert_int_equal(stat(tmp, &st), -1);
        assert_int_equal(errno, ENOENT);
        assert_file_text(f->cfg.counter_path, "99\n");
}

static void
test_visit_writes_through(void **state)
{
        struct fixture *f = *state;
        char why[256];
        uint64_t n = 0;

        fixture_start_counter(f, "41\n");
        assert_int_equal(counter_get(&f->counter), 41);
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 42);
        /* Before any close or fsync: a SIGKILL now must find 42 in the file. */
        assert_file_text(f->cfg.counter_path, "42\n");
        assert_int_equal(counter_get(&f->counter), 42);
}

/*
 * Each visit reads the file (the check for outside changes) right after the
 * last visit wrote it: with relatime that read would update the atime, a
 * journalled inode change per visit. The descriptor has O_NOATIME.
 */
static void
test_visits_leave_the_atime_alone(void **state)
{
        struct fixture *f = *state;
        struct timespec times[2] = {{.tv_sec = 1000}, {.tv_nsec = UTIME_OMIT}};
        struct stat st;
        char why[256];
        uint64_t n = 0;

        fixture_start_counter(f, "41\n");
        assert_int_equal(utimensat(AT_FDCWD, f->cfg.counter_path, times, 0), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 44);
        assert_int_equal(stat(f->cfg.counter_path, &st), 0);
        assert_int_equal(st.st_atim.tv_sec, 1000);
}

/* Crossing a power of ten makes the text longer; the new text covers the old. */
static void
assert_no_tmp(const struct fixture *f)
{
        char tmp[CONFIG_PATH_MAX + 8];
        struct stat st;

        snprintf(tmp, sizeof(tmp), "%s.tmp", f->cfg.counter_path);
        if (stat(tmp, &st) == 0)
                fail_msg("%s was left behind", tmp);
}

static void
test_visit_across_digit_boundaries(void **state)
{
        struct fixture *f = *state;
        char why[256];
        uint64_t n = 0;

        fixture_start_counter(f, "9\n");
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_file_text(f->cfg.counter_path, "10\n");
        for (int i = 0; i < 90; i++)
                assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 100);
        assert_file_text(f->cfg.counter_path, "100\n");
        assert_no_tmp(f);
        fixture_close_counter(f);
        assert_file_text(f->cfg.counter_path, "100\n");
}

static void
test_legacy_file_without_newline(void **state)
{
        struct fixture *f = *state;
        char why[256];
        uint64_t n = 0;

        fixture_start_counter(f, "41");
        assert_int_equal(counter_get(&f->counter), 41);
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 42);
        assert_file_text(f->cfg.counter_path, "42\n");
}

/*
 * counter_parse() accepts blanks around the number and leading zeros, so a
 * file an operator wrote by hand may be longer than the count's own text.
 * The next visit overwrites only the first bytes: what is left behind must
 * still read back as the new count, or the responder refuses its own file
 * at the next start.
 */
static void
test_visit_on_hand_written_file_stays_readable(void **state)
{
        static const struct {
                const char *text;
                uint64_t want;
        } cases[] = {
            {"  42 \n", 43}, {"007", 8}, {"0042\n", 43}, {"42\r\n", 43}, {"42\n\n\n", 43},
        };
        struct fixture *f = *state;
        char err[512], why[256], buf[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t n = 0, v = 0;
                write_text(f->cfg.counter_path, cases[i].text);
                if (fixture_open_counter(f, err, sizeof(err)) != COUNTER_OK)
                        fail_msg("%s", err);
                /* The readiness probe rewrites what it believes the file holds. */
                assert_int_equal(counter_check(&f->counter, why, sizeof(why)), 0);
                size_t len = read_file(f->cfg.counter_path, buf, sizeof(buf));
                int rc = counter_parse(buf, len, &v, why, sizeof(why));
                if (rc != 0 || v != cases[i].want - 1)
                        fail_msg("\"%s\" and counter_check() left \"%s\": %s", cases[i].text, buf,
                                 rc != 0 ? why : "another count");
                assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
                assert_int_equal(n, cases[i].want);
                len = read_file(f->cfg.counter_path, buf, sizeof(buf));
                rc = counter_parse(buf, len, &v, why, sizeof(why));
                if (rc != 0 || v != cases[i].want)
                        fail_msg("\"%s\" and one visit left \"%s\": %s", cases[i].text, buf,
                                 rc != 0 ? why : "another count");
                fixture_close_counter(f);
                if (fixture_open_counter(f, err, sizeof(err)) != COUNTER_OK)
                        fail_msg("reopening after a visit: %s", err);
                assert_int_equal(counter_get(&f->counter), cases[i].want);
                fixture_close_counter(f);
        }
}

struct corrupt_case {
        const char *bytes;
        size_t len;
        const char *want; /* the message after "counter file <path> " */
};

#define DIGITS10 "1234567890"
#define DIGITS100                                                                                  \
        DIGITS10 DIGITS10 DIGITS10 DIGITS10 DIGITS10 DIGITS10 DIGITS10 DIGITS10 DIGITS10 DIGITS10

static const struct corrupt_case corrupt_garbage = {
    BYTES("hello\n"),
    "is corrupt: not a decimal number (holds \"hello\\n\"); left untouched",
};
static const struct corrupt_case corrupt_negative = {
    BYTES("-5\n"),
    "is corrupt: a negative number is not a count (holds \"-5\\n\"); left untouched",
};
static const struct corrupt_case corrupt_too_large = {
    BYTES("9223372036854775808\n"),
    "is corrupt: too large: more than 9223372036854775807 (holds \"9223372036854775808\\n\"); "
    "left untouched",
};
static const struct corrupt_case corrupt_long = {
    BYTES(DIGITS100),
    "is corrupt: 100 bytes is too long for a count (starts "
    "\"12345678901234567890123456789012...\"); "
    "left untouched",
};
static const struct corrupt_case corrupt_binary = {
    BYTES("4\0"
          "2\x01\xff"),
    "is corrupt: not a decimal number (holds \"4\\x002\\x01\\xff\"); left untouched",
};
static const struct corrupt_case corrupt_two_numbers = {
    BYTES("42\n43\n"),
    "is corrupt: not a decimal number (holds \"42\\n43\\n\"); left untouched",
};

static void
test_corrupt_file_is_refused_untouched(void **state)
{
        struct fixture *f = *state;
        const struct corrupt_case *c = f->param;
        char err[512], want[MSG_MAX];
        struct stat before, after;

        write_file(f->cfg.counter_path, c->bytes, c->len);
        assert_int_equal(stat(f->cfg.counter_path, &before), 0);
        assert_int_equal(fixture_open_counter(f, err, sizeof(err)), COUNTER_CORRUPT);
        snprintf(want, sizeof(want), "counter file %s %s", f->cfg.counter_path, c->want);
        assert_string_equal(err, want);
        assert_file_bytes(f->cfg.counter_path, c->bytes, c->len);
        assert_int_equal(stat(f->cfg.counter_path, &after), 0);
        assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
        assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
        /* The refused open let go of the file: a second try is refused the same way, not BUSY. */
        assert_int_equal(fixture_open_counter(f, err, sizeof(err)), COUNTER_CORRUPT);
        assert_string_equal(err, want);
}

static void
test_second_open_is_busy(void **state)
{
        struct fixture *f = *state;
        struct counter other;
        char err[512], want[MSG_MAX], why[256];
        uint64_t n = 0;

        fixture_start_counter(f, "5\n");
        assert_int_equal(counter_open(&other, &f->cfg, err, sizeof(err)), COUNTER_BUSY);
        snprintf(want, sizeof(want), "counter file %s: another responder is using it (flock held)",
                 f->cfg.counter_path);
        assert_string_equal(err, want);
        /* The refused open must not have disturbed the owner. */
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 6);
        assert_file_text(f->cfg.counter_path, "6\n");
        fixture_close_counter(f);

        /* Once the owner is gone, the file is free. */
        if (counter_open(&other, &f->cfg, err, sizeof(err)) != COUNTER_OK)
                fail_msg("after the owner closed: %s", err);
        assert_int_equal(counter_get(&other), 6);
        assert_int_equal(counter_close(&other), 0);
}

/* A longer number moves the count to a new file: that one must be locked before it has the name. */
static void
test_second_open_is_busy_after_growth(void **state)
{
        struct fixture *f = *state;
        struct counter other;
        char err[512], want[MSG_MAX], why[256];
        uint64_t n = 0;

        fixture_start_counter(f, "9\n");
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 10);
        assert_file_text(f->cfg.counter_path, "10\n");
        assert_int_equal(counter_open(&other, &f->cfg, err, sizeof(err)), COUNTER_BUSY);
        snprintf(want, sizeof(want), "counter file %s: another responder is using it (flock held)",
                 f->cfg.counter_path);
        assert_string_equal(err, want);
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_file_text(f->cfg.counter_path, "11\n");
}

static void
test_get_does_not_count(void **state)
{
        struct fixture *f = *state;

        fixture_start_counter(f, "7\n");
        for (int i = 0; i < 10; i++)
                assert_int_equal(counter_get(&f->counter), 7);
        assert_file_text(f->cfg.counter_path, "7\n");
}

static void
test_check_healthy_file(void **state)
{
        struct fixture *f = *state;
        char why[256] = "";
        uint64_t n = 0;

        fixture_start_counter(f, "12\n");
        assert_int_equal(counter_check(&f->counter, why, sizeof(why)), 0);
        assert_file_text(f->cfg.counter_path, "12\n");
        assert_int_equal(counter_get(&f->counter), 12);
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(counter_check(&f->counter, why, sizeof(why)), 0);
        assert_file_text(f->cfg.counter_path, "13\n");
}

static void
test_close_leaves_final_count(void **state)
{
        struct fixture *f = *state;
        char err[512], why[256];
        uint64_t n = 0;

        f->cfg.sync = SYNC_NEVER;
        fixture_start_counter(f, NULL);
        for (int i = 0; i < 25; i++)
                assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        fixture_close_counter(f);
        assert_file_text(f->cfg.counter_path, "25\n");
        if (fixture_open_counter(f, err, sizeof(err)) != COUNTER_OK)
                fail_msg("reopening: %s", err);
        assert_int_equal(counter_get(&f->counter), 25);
}

static void
test_maximum_is_not_passed(void **state)
{
        struct fixture *f = *state;
        char why[256] = "";
        uint64_t n = 0;

        fixture_start_counter(f, "9223372036854775806\n");
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, INT64_MAX);
        assert_file_text(f->cfg.counter_path, "9223372036854775807\n");
        n = 0;
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), -1);
        assert_string_equal(why, "the counter is at its maximum");
        assert_int_equal(n, 0);
        assert_int_equal(counter_get(&f->counter), INT64_MAX);
        assert_file_text(f->cfg.counter_path, "9223372036854775807\n");
}

/* A real kernel error: with RLIMIT_FSIZE at 0 every write to a regular file fails with EFBIG. */
static void
test_write_failure_then_recovery(void **state)
{
        struct fixture *f = *state;
        char err[512], why[256] = "", want[MSG_MAX];
        uint64_t n = 0;

        fixture_start_counter(f, "41\n");
        fsize_lower(f, 0);
        int rc = counter_visit(&f->counter, &n, why, sizeof(why));
        int check = counter_check(&f->counter, err, sizeof(err));
        uint64_t during = counter_get(&f->counter);
        fsize_restore(f);

        assert_int_equal(rc, -1);
        assert_int_equal(n, 0);
        snprintf(want, sizeof(want), "cannot write the counter file %s: File too large",
                 f->cfg.counter_path);
        assert_string_equal(why, want);
        assert_int_equal(check, -1);
        assert_string_equal(err, want);
        assert_int_equal(during, 41);
        assert_file_text(f->cfg.counter_path, "41\n");

        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 42);
        assert_file_text(f->cfg.counter_path, "42\n");
        assert_int_equal(counter_check(&f->counter, why, sizeof(why)), 0);
}

/* Same length: the new text goes over the old in place. Cut short, the old text is put back. */
static void
test_short_write_in_place_is_undone(void **state)
{
        struct fixture *f = *state;
        char why[256] = "", want[MSG_MAX];
        uint64_t n = 0;

        fixture_start_counter(f, "41\n");
        fsize_lower(f, 2);
        int rc = counter_visit(&f->counter, &n, why, sizeof(why));
        fsize_restore(f);

        assert_int_equal(rc, -1);
        snprintf(want, sizeof(want), "cannot write the counter file %s: short write (2 of 3 bytes)",
                 f->cfg.counter_path);
        assert_string_equal(why, want);
        assert_file_text(f->cfg.counter_path, "41\n");
        assert_int_equal(counter_get(&f->counter), 41);

        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 42);
        assert_file_text(f->cfg.counter_path, "42\n");
}

/*
 * With the limit at 3 bytes, "100\n" is cut after "100": a file reading 100
 * with the visit reported as failed. The file must still read "99\n".
 */
static void
test_short_write_is_undone(void **state)
{
        struct fixture *f = *state;
        char why[256] = "", want[MSG_MAX];
        uint64_t n = 0;

        fixture_start_counter(f, "99\n");
        fsize_lower(f, 3);
        int rc = counter_visit(&f->counter, &n, why, sizeof(why));
        fsize_restore(f);

        assert_int_equal(rc, -1);
        snprintf(want, sizeof(want),
                 "cannot write the counter file %s: short write (3 of 4 bytes) (%s.tmp)",
                 f->cfg.counter_path, f->cfg.counter_path);
        assert_string_equal(why, want);
        assert_file_text(f->cfg.counter_path, "99\n");
        assert_no_tmp(f);
        assert_int_equal(counter_get(&f->counter), 99);

        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 100);
        assert_file_text(f->cfg.counter_path, "100\n");
        assert_no_tmp(f);
}

static void
test_growth_failure_then_recovery(void **state)
{
        struct fixture *f = *state;
        char why[256] = "", want[MSG_MAX];
        uint64_t n = 0;

        fixture_start_counter(f, "999\n");
        fsize_lower(f, 0);
        int rc = counter_visit(&f->counter, &n, why, sizeof(why));
        fsize_restore(f);

        assert_int_equal(rc, -1);
        snprintf(want, sizeof(want), "cannot write the counter file %s: File too large (%s.tmp)",
                 f->cfg.counter_path, f->cfg.counter_path);
        assert_string_equal(why, want);
        assert_file_text(f->cfg.counter_path, "999\n");
        assert_no_tmp(f);
        assert_int_equal(counter_get(&f->counter), 999);

        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 1000);
        assert_file_text(f->cfg.counter_path, "1000\n");
        fixture_close_counter(f);
        assert_file_text(f->cfg.counter_path, "1000\n");
}

/* Concurrency: every visit gets its own number, none is lost in memory or in the file. */
struct visitor {
        struct counter *c;
        int visits;
        uint64_t base;
        atomic_uchar *seen;
        int failures;
        int out_of_order;
        char why[256];
};

static void *
visitor_main(void *arg)
{
        struct visitor *v = arg;
        uint64_t last = 0;

        for (int i = 0; i < v->visits; i++) {
                uint64_t n = 0;
                if (counter_visit(v->c, &n, v->why, sizeof(v->why)) != 0) {
                        v->failures++;
                        continue;
                }
                if (n <= last)
                        v->out_of_order++;
                last = n;
                atomic_fetch_add(&v->seen[n - v->base - 1], 1);
        }
        return NULL;
}

static void
run_visitors(struct fixture *f, enum sync_mode mode, int nthreads, int per_thread)
{
        enum { BASE = 995 }; /* the text grows from 3 to 5 bytes during the run */
        struct visitor v[8];
        pthread_t tid[8];
        char err[512], text[32];
        int total = nthreads * per_thread;
        atomic_uchar *seen = calloc((size_t)total, sizeof(*seen));

        assert_non_null(seen);
        assert_true(nthreads <= 8);
        f->cfg.sync = mode;
        f->cfg.sync_interval_ms = 1; /* keep the flusher busy while the visitors run */
        write_text(f->cfg.counter_path, "995\n");
        if (fixture_open_counter(f, err, sizeof(err)) != COUNTER_OK) {
                free(seen);
                fail_msg("%s", err);
        }
        for (int i = 0; i < nthreads; i++) {
                v[i] = (struct visitor){
                    .c = &f->counter, .visits = per_thread, .base = BASE, .seen = seen};
                assert_int_equal(pthread_create(&tid[i], NULL, visitor_main, &v[i]), 0);
        }
        int failures = 0, out_of_order = 0, missing = 0, duplicated = 0;
        for (int i = 0; i < nthreads; i++) {
                pthread_join(tid[i], NULL);
                failures += v[i].failures;
                out_of_order += v[i].out_of_order;
        }
        for (int i = 0; i < total; i++) {
                missing += seen[i] == 0;
                duplicated += seen[i] > 1;
        }
        free(seen);
        if (failures)
                fail_msg("%d visits failed, e.g. %s", failures, v[0].failures ? v[0].why : "");
        assert_int_equal(out_of_order, 0);
        assert_int_equal(missing, 0);
        assert_int_equal(duplicated, 0);
        assert_int_equal(counter_get(&f->counter), BASE + total);
        snprintf(text, sizeof(text), "%d\n", BASE + total);
        assert_file_text(f->cfg.counter_path, text);
        fixture_close_counter(f);
        assert_file_text(f->cfg.counter_path, text);
}

static void
test_concurrent_visits_sync_never(void **state)
{
        run_visitors(*state, SYNC_NEVER, 8, 2000);
}

static void
test_concurrent_visits_sync_interval(void **state)
{
        run_visitors(*state, SYNC_INTERVAL, 8, 2000);
}

/* Each visit waits for an fdatasync on the real disk: fewer visits keep the test quick. */
static void
test_concurrent_visits_sync_always(void **state)
{
        run_visitors(*state, SYNC_ALWAYS, 4, 250);
}

/*
 * Issue 8, item 1: a failed sync=always batch never hands its numbers out
 * again. RLIMIT_FSIZE toggled between 0 and unlimited by another thread
 * makes batches fail at random moments while the visitors run; no number may
 * be acknowledged twice and the file must cover every acknowledged one.
 */
struct toggler {
        atomic_int stop;
        struct rlimit saved;
};

static void *
toggler_main(void *arg)
{
        struct toggler *t = arg;
        struct rlimit zero = {0, t->saved.rlim_max};

        while (!atomic_load(&t->stop)) {
                setrlimit(RLIMIT_FSIZE, &zero);
                usleep(300);
                setrlimit(RLIMIT_FSIZE, &t->saved);
                usleep(700);
        }
        setrlimit(RLIMIT_FSIZE, &t->saved);
        return NULL;
}

struct failing_visitor {
        struct counter *c;
        int visits;
        uint64_t base;
        atomic_uchar *seen;
        size_t nseen;
        int ok, refused, beyond;
};

static void *
failing_visitor_main(void *arg)
{
        struct failing_visitor *v = arg;
        char why[256];

        for (int i = 0; i < v->visits; i++) {
                uint64_t n = 0;
                if (counter_visit(v->c, &n, why, sizeof(why)) != 0) {
                        v->refused++;
                        continue;
                }
                v->ok++;
                if (n <= v->base || n - v->base > v->nseen)
                        v->beyond++;
                else
                        atomic_fetch_add(&v->seen[n - v->base - 1], 1);
        }
        return NULL;
}

static void
test_failed_batches_never_hand_out_a_number_twice(void **state)
{
        enum { THREADS = 32, VISITS = 500, BASE = 1000 };
        struct fixture *f = *state;
        struct failing_visitor v[THREADS];
        pthread_t tid[THREADS], tog;
        struct toggler t = {0};
        struct sigaction ign = {.sa_handler = SIG_IGN}, old;
        size_t nseen = (size_t)THREADS * VISITS * 4; /* numbers of failed batches are skipped */
        atomic_uchar *seen = calloc(nseen, sizeof(*seen));
        char buf[64];

        assert_non_null(seen);
        f->cfg.sync = SYNC_ALWAYS;
        /*
         * On tmpfs (if there is one) an fdatasync takes no time: a batch then
         * completes before the waiters woken by a failure have run, the moment
         * a waiter of the failed batch could mistake it for its own.
         */
        snprintf(f->extra_dir, sizeof(f->extra_dir), "/dev/shm/mt-unit-XXXXXX");
        if (mkdtemp(f->extra_dir) != NULL)
                snprintf(f->cfg.counter_path, sizeof(f->cfg.counter_path), "%s/visits",
                         f->extra_dir);
        else
                f->extra_dir[0] = '\0';
        fixture_start_counter(f, "1000\n");
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &t.saved), 0);
        assert_int_equal(sigaction(SIGXFSZ, &ign, &old), 0);
        for (int i = 0; i < THREADS; i++) {
                v[i] = (struct failing_visitor){
                    .c = &f->counter, .visits = VISITS, .base = BASE, .seen = seen, .nseen = nseen};
                assert_int_equal(pthread_create(&tid[i], NULL, failing_visitor_main, &v[i]), 0);
        }
        assert_int_equal(pthread_create(&tog, NULL, toggler_main, &t), 0);
        int ok = 0, refused = 0, beyond = 0, twice = 0;
        uint64_t highest = 0;
        for (int i = 0; i < THREADS; i++) {
                pthread_join(tid[i], NULL);
                ok += v[i].ok;
                refused += v[i].refused;
                beyond += v[i].beyond;
        }
        atomic_store(&t.stop, 1);
        pthread_join(tog, NULL);
        sigaction(SIGXFSZ, &old, NULL);
        for (size_t i = 0; i < nseen; i++) {
                twice += seen[i] > 1;
                if (seen[i])
                        highest = BASE + i + 1;
        }
        free(seen);
        if (twice || beyond)
                fail_msg("%d numbers acknowledged twice, %d out of range (%d ok, %d refused)",
                         twice, beyond, ok, refused);
        /* Both must have happened, or the test proved nothing. */
        assert_true(ok > 0);
        assert_true(refused > 0);
        size_t len = read_file(f->cfg.counter_path, buf, sizeof(buf));
        uint64_t file = 0;
        char why[128];
        assert_int_equal(counter_parse(buf, len, &file, why, sizeof(why)), 0);
        assert_true(file >= highest);
        assert_true(file >= (uint64_t)BASE + (uint64_t)ok);
        assert_int_equal(counter_get(&f->counter), file);
}

/* Item 9: a digit growth replaces the file; the operator's mode and group stay. */
static void
test_growth_keeps_mode_and_group(void **state)
{
        struct fixture *f = *state;
        char why[256];
        uint64_t n = 0;
        struct stat st;
        gid_t gid = getegid(), groups[64];

        if (geteuid() == 0) {
                gid = 65534;
        } else {
                int ng = getgroups(64, groups);
                for (int i = 0; i < ng; i++)
                        if (groups[i] != getegid())
                                gid = groups[i];
        }
        write_text(f->cfg.counter_path, "9\n");
        assert_int_equal(chmod(f->cfg.counter_path, 0604), 0);
        assert_int_equal(chown(f->cfg.counter_path, (uid_t)-1, gid), 0);
        fixture_start_counter(f, NULL);
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), 0);
        assert_int_equal(n, 10);
        assert_file_text(f->cfg.counter_path, "10\n");
        assert_int_equal(stat(f->cfg.counter_path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0604);
        assert_int_equal(st.st_gid, gid);
}

/* Item 4: a symbolic link at the path is refused, and neither it nor its target is touched. */
static void
test_open_refuses_a_symlink(void **state)
{
        struct fixture *f = *state;
        char err[512], want[MSG_MAX], target[CONFIG_PATH_MAX];
        struct stat st;

        fixture_path(f, "elsewhere", target, sizeof(target));
        write_text(target, "9\n");
        assert_int_equal(symlink(target, f->cfg.counter_path), 0);
        assert_int_equal(fixture_open_counter(f, err, sizeof(err)), COUNTER_IOERR);
        snprintf(want, sizeof(want),
                 "counter file %s is a symbolic link: refused (set [counter] path to the file "
                 "itself)",
                 f->cfg.counter_path);
        assert_string_equal(err, want);
        assert_int_equal(lstat(f->cfg.counter_path, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        assert_file_text(target, "9\n");
}

static void
assert_file_count(const char *path, uint64_t want)
{
        char text[32];

        snprintf(text, sizeof(text), "%" PRIu64 "\n", want);
        assert_file_text(path, text);
}

static void
visit_expect(struct fixture *f, uint64_t want)
{
        char why[256] = "";
        uint64_t n = 0;

        if (counter_visit(&f->counter, &n, why, sizeof(why)) != 0)
                fail_msg("visit refused: %s", why);
        assert_int_equal(n, want);
}

static void
refused_expect(struct fixture *f, const char *why_part)
{
        char why[256] = "";
        uint64_t n = 0;

        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), -1);
        assert_contains(why, why_part);
        why[0] = '\0';
        assert_int_equal(counter_check(&f->counter, why, sizeof(why)), -1);
        assert_contains(why, why_part);
}

static void
rename_over(struct fixture *f, const char *text)
{
        char tmp[CONFIG_PATH_MAX];

        fixture_path(f, "restore", tmp, sizeof(tmp));
        write_text(tmp, text);
        assert_int_equal(rename(tmp, f->cfg.counter_path), 0);
}

/* Item 4: deleted while running: recreated from memory, by a visit or by the probe. */
static void
test_deleted_file_is_recreated_from_memory(void **state)
{
        struct fixture *f = *state;
        char why[256];

        fixture_start_counter(f, "41\n");
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        visit_expect(f, 42);
        assert_file_text(f->cfg.counter_path, "42\n");
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        assert_int_equal(counter_check(&f->counter, why, sizeof(why)), 0);
        assert_file_text(f->cfg.counter_path, "42\n");
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        fixture_close_counter(f);
        assert_file_text(f->cfg.counter_path, "42\n");
}

/* Waits up to a second for the watch to report a change of the counter file's name. */
static int
watch_reports(struct counter_watch *w)
{
        struct pollfd p = {.fd = w->fd, .events = POLLIN};

        return poll(&p, 1, 1000) == 1 && cwatch_drain(w);
}

/*
 * Item 4 without a visit: the watch on the directory reports each outside
 * change of the file's name (and not of other names), and counter_recheck()
 * repairs it as the per-visit check would.
 */
static void
test_watch_and_recheck_repair_without_a_visit(void **state)
{
        struct fixture *f = *state;
        struct counter_watch w;
        struct pollfd p;
        char other[CONFIG_PATH_MAX];

        f->cfg.sync = (enum sync_mode)(uintptr_t)f->param;
        fixture_start_counter(f, "41\n");
        cwatch_init(&w, f->cfg.counter_path, NULL);
        assert_true(w.fd >= 0 && w.wd >= 0);
        visit_expect(f, 42);
        fixture_path(f, "unrelated", other, sizeof(other));
        write_text(other, "x\n");
        p = (struct pollfd){.fd = w.fd, .events = POLLIN};
        assert_true(poll(&p, 1, 1000) == 1);
        assert_false(cwatch_drain(&w)); /* another name: nothing to look at */
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        assert_true(watch_reports(&w));
        counter_recheck(&f->counter, 1);
        assert_file_text(f->cfg.counter_path, "42\n");
        (void)cwatch_drain(&w); /* our own rename */
        rename_over(f, "7\n");
        assert_true(watch_reports(&w));
        counter_recheck(&f->counter, 1);
        assert_file_text(f->cfg.counter_path, "42\n");
        (void)cwatch_drain(&w);
        write_text(f->cfg.counter_path, "900\n");
        assert_true(watch_reports(&w));
        counter_recheck(&f->counter, 1);
        assert_int_equal(counter_get(&f->counter), 900);
        visit_expect(f, 901); /* sync=always too: numbers go on from what was taken */
        cwatch_close(&w);
        fixture_close_counter(f);
        assert_file_text(f->cfg.counter_path, "901\n");
}

/*
 * A visit looks the path up only when the folder's watch saw the name
 * change (cfile_verify_visit). The folder itself moved away and another put
 * at its name (a restore of the whole folder): the old watch reports the
 * move, the new folder is watched from then on, and a deletion in it is seen
 * by the next visit, not written into the orphan.
 */
static void
test_visits_follow_a_folder_moved_and_put_back(void **state)
{
        struct fixture *f = *state;
        char sub[CONFIG_PATH_MAX], old[CONFIG_PATH_MAX + 8];

        f->cfg.sync = (enum sync_mode)(uintptr_t)f->param;
        fixture_path(f, "sub", sub, sizeof(sub));
        assert_int_equal(mkdir(sub, 0700), 0);
        fixture_path(f, "sub/visits", f->cfg.counter_path, sizeof(f->cfg.counter_path));
        fixture_start_counter(f, "41\n");
        visit_expect(f, 42);
        snprintf(old, sizeof(old), "%s.old", sub);
        assert_int_equal(rename(sub, old), 0);
        assert_int_equal(mkdir(sub, 0700), 0);
        write_text(f->cfg.counter_path, "500\n");
        /* sync=always: the visit numbered before the batch took 500 keeps its number. */
        visit_expect(f, f->cfg.sync == SYNC_ALWAYS ? 43 : 501);
        uint64_t n = counter_get(&f->counter);
        assert_int_equal(n, f->cfg.sync == SYNC_ALWAYS ? 500 : 501);
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        visit_expect(f, n + 1);
        assert_file_count(f->cfg.counter_path, n + 1);
        rename_over(f, "7\n");
        visit_expect(f, n + 2);
        assert_file_count(f->cfg.counter_path, n + 2);
        fixture_close_counter(f);
        assert_file_count(f->cfg.counter_path, n + 2);
}

/*
 * The main thread's watch (an instance of its own, as main.c makes) follows
 * the folder deleted with the counter file in it and made again: the
 * deletion is reported at once (the folder's own DELETE_SELF waits for the
 * counter file, held open in it, to be closed), the new folder is watched
 * and reported, and a deletion in it is reported too. The counter file's own
 * watch does not trust a new folder it has not seen made: the next visit
 * looks the path up.
 */
static void
test_watch_follows_a_folder_deleted_and_made_again(void **state)
{
        struct fixture *f = *state;
        struct counter_watch w;
        char sub[CONFIG_PATH_MAX];

        fixture_path(f, "sub", sub, sizeof(sub));
        assert_int_equal(mkdir(sub, 0700), 0);
        fixture_path(f, "sub/visits", f->cfg.counter_path, sizeof(f->cfg.counter_path));
        fixture_start_counter(f, "41\n");
        cwatch_init(&w, f->cfg.counter_path, NULL);
        visit_expect(f, 42);
        (void)cwatch_drain(&w);
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        assert_int_equal(rmdir(sub), 0);
        assert_true(watch_reports(&w));
        assert_false(cwatch_watching(&w));
        assert_int_equal(mkdir(sub, 0700), 0);
        assert_true(watch_reports(&w)); /* the new folder, without a visit */
        assert_true(cwatch_watching(&w));
        counter_recheck(&f->counter, 1);
        assert_file_text(f->cfg.counter_path, "42\n");
        (void)cwatch_drain(&w); /* our own rename */
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        assert_true(watch_reports(&w));
        /* The file's own watch, not drained meanwhile: the visit looks the path up. */
        visit_expect(f, 43);
        assert_file_text(f->cfg.counter_path, "43\n");
        cwatch_close(&w);
        fixture_close_counter(f);
        assert_file_text(f->cfg.counter_path, "43\n");
}

/*
 * The counter file's own watch, drained by a visit while the folder is
 * missing (the visit fails): the folder made again holds a restored count
 * before the next visit. That visit must look the path up and take it,
 * not write into the file of the old folder, which a re-armed watch with an
 * empty queue would let it do.
 */
static void
test_a_visit_looks_the_path_up_in_a_folder_made_again(void **state)
{
        struct fixture *f = *state;
        char sub[CONFIG_PATH_MAX], why[256];
        uint64_t n;

        fixture_path(f, "sub", sub, sizeof(sub));
        assert_int_equal(mkdir(sub, 0700), 0);
        fixture_path(f, "sub/visits", f->cfg.counter_path, sizeof(f->cfg.counter_path));
        fixture_start_counter(f, "41\n");
        visit_expect(f, 42);
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        assert_int_equal(rmdir(sub), 0);
        assert_int_equal(counter_visit(&f->counter, &n, why, sizeof(why)), -1);
        assert_int_equal(mkdir(sub, 0700), 0);
        write_text(f->cfg.counter_path, "500\n");
        visit_expect(f, 501);
        assert_file_text(f->cfg.counter_path, "501\n");
        fixture_close_counter(f);
        assert_file_text(f->cfg.counter_path, "501\n");
}

/* Without the watch (inotify unavailable), every visit looks the path up. */
static void
test_visits_look_the_path_up_without_a_watch(void **state)
{
        struct fixture *f = *state;

        f->cfg.sync = (enum sync_mode)(uintptr_t)f->param;
        fixture_start_counter(f, "41\n");
        cwatch_close(&f->counter.file.names); /* as if inotify_init1 had failed at the start */
        assert_false(cwatch_watching(&f->counter.file.names));
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        visit_expect(f, 42);
        assert_file_text(f->cfg.counter_path, "42\n");
        rename_over(f, "500\n");
        visit_expect(f, f->cfg.sync == SYNC_ALWAYS ? 43 : 501); /* numbered before, as above */
        uint64_t n = counter_get(&f->counter);
        assert_file_count(f->cfg.counter_path, n);
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        visit_expect(f, n + 1);
        fixture_close_counter(f);
        assert_file_count(f->cfg.counter_path, n + 1);
}

/* Item 4: replaced (a restore) or rewritten in place: a larger count is taken, a smaller one is
 * not. */
static void
test_outside_values_never_lower_the_count(void **state)
{
        struct fixture *f = *state;
        char err[512];

        fixture_start_counter(f, "41\n");
        rename_over(f, "500\n");
        visit_expect(f, 501);
        assert_file_text(f->cfg.counter_path, "501\n");
        rename_over(f, "7\n");
        visit_expect(f, 502);
        assert_file_text(f->cfg.counter_path, "502\n");
        write_text(f->cfg.counter_path, "12345\n"); /* the same inode, longer */
        visit_expect(f, 12346);
        assert_file_text(f->cfg.counter_path, "12346\n");
        write_text(f->cfg.counter_path, "99\n"); /* the same inode, shorter and smaller */
        visit_expect(f, 12347);
        assert_file_text(f->cfg.counter_path, "12347\n");
        write_text(f->cfg.counter_path, "  20000 \n"); /* larger, not as a visit writes it */
        visit_expect(f, 20001);
        assert_file_text(f->cfg.counter_path, "20001\n");
        fixture_close_counter(f);
        if (fixture_open_counter(f, err, sizeof(err)) != COUNTER_OK)
                fail_msg("%s", err);
        assert_int_equal(counter_get(&f->counter), 20001);
}

/* Item 4: something that is not a count at the path is refused and left as it is. */
static void
test_outside_garbage_is_refused_untouched(void **state)
{
        struct fixture *f = *state;
        char target[CONFIG_PATH_MAX], link[CONFIG_PATH_MAX];

        fixture_start_counter(f, "41\n");
        rename_over(f, "garbage\n");
        refused_expect(f, "left untouched");
        assert_file_text(f->cfg.counter_path, "garbage\n");
        write_text(f->cfg.counter_path, "-5\n");
        refused_expect(f, "left untouched");
        assert_file_text(f->cfg.counter_path, "-5\n");
        assert_int_equal(counter_get(&f->counter), 41);
        rename_over(f, "30\n");
        visit_expect(f, 42);
        assert_file_text(f->cfg.counter_path, "42\n");

        fixture_path(f, "elsewhere", target, sizeof(target));
        fixture_path(f, "link", link, sizeof(link));
        write_text(target, "100\n");
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(rename(link, f->cfg.counter_path), 0);
        refused_expect(f, "symbolic link");
        assert_file_text(target, "100\n");
        assert_int_equal(unlink(f->cfg.counter_path), 0);
        visit_expect(f, 43);
        assert_file_text(f->cfg.counter_path, "43\n");
}

/* Item 5: the probe fails whenever the next visit would. */
static void
test_check_fails_at_the_maximum(void **state)
{
        struct fixture *f = *state;
        char why[256] = "";

        fixture_start_counter(f, "9223372036854775807\n");
        assert_int_equal(counter_check(&f->counter, why, sizeof(why)), -1);
        assert_string_equal(why, "the counter is at its maximum");
}

static void
test_check_fails_while_growth_cannot_work(void **state)
{
        struct fixture *f = *state;
        char tmp[CONFIG_PATH_MAX + 8], why[256] = "";

        f->cfg.sync = (enum sync_mode)(uintptr_t)f->param;
        fixture_start_counter(f, "99\n");
        snprintf(tmp, sizeof(tmp), "%s.tmp", f->cfg.counter_path);
        assert_int_equal(mkdir(tmp, 0700), 0);
        refused_expect(f, "Is a directory");
        assert_file_text(f->cfg.counter_path, "99\n");
        assert_int_equal(counter_get(&f->counter), 99);
        assert_int_equal(rmdir(tmp), 0);

        fsize_lower(f, 3); /* "99\n" fits, "100\n" does not */
        int rc = counter_check(&f->counter, why, sizeof(why));
        fsize_restore(f);
        assert_int_equal(rc, -1);
        assert_contains(why, "short write");
        assert_file_text(f->cfg.counter_path, "99\n");

        assert_int_equal(counter_check(&f->counter, why, sizeof(why)), 0);
        assert_file_text(f->cfg.counter_path, "99\n");
        assert_no_tmp(f);
        /* With sync=always the refused visit's number (100) is never handed out again. */
        if (f->cfg.sync == SYNC_ALWAYS) {
                visit_expect(f, 101);
                assert_file_text(f->cfg.counter_path, "101\n");
        } else {
                visit_expect(f, 100);
                assert_file_text(f->cfg.counter_path, "100\n");
        }
}

/* What the metrics export: whether visits are refused, the errors, the last fsync. */
static void
test_health_follows_the_visit_path(void **state)
{
        struct fixture *f = *state;
        struct counter_health h;
        char why[256];
        uint64_t n = 0;

        f->cfg.sync = SYNC_ALWAYS;
        fixture_start_counter(f, "41\n");
        counter_health(&f->counter, &h);
        assert_int_equal(h.count, 41);
        assert_int_equal(h.refusing, 0);
        assert_int_equal(h.last_fsync_ns, 0);
        fsize_lower(f, 0);
        int rc = counter_visit(&f->counter, &n, why, sizeof(why));
        fsize_restore(f);
        assert_int_equal(rc, -1);
        counter_health(&f->counter, &h);
        assert_int_equal(h.refusing, 1);
        assert_int_equal(h.write_errors, 1);
        assert_int_equal(h.fsync_errors, 0);
        visit_expect(f, 43); /* 42 went to the failed batch */
        counter_health(&f->counter, &h);
        assert_int_equal(h.count, 43);
        assert_int_equal(h.refusing, 0);
        assert_true(h.last_fsync_ns > 0);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
#define CORRUPT(name, c)                                                                           \
        {                                                                                          \
                "test_refuses_corrupt_" name, test_corrupt_file_is_refused_untouched,              \
                    fixture_setup, fixture_teardown, (void *)&(c)                                  \
        }

#define SYNC_PARAM(fn, mode)                                                                       \
        {                                                                                          \
#fn "_" #mode, fn, fixture_setup, fixture_teardown, (void *)(uintptr_t)(mode)      \
        }

int
counter_tests(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_accepts),
            cmocka_unit_test(test_parse_rejects),
            TEST(test_open_creates_absent_file),
            TEST(test_open_in_missing_directory_fails),
            TEST(test_open_directory_fails),
            TEST(test_empty_file_is_zero),
            TEST(test_open_leaves_a_canonical_file_alone),
            TEST(test_open_removes_a_stale_tmp_file),
            TEST(test_visit_writes_through),
            TEST(test_visits_leave_the_atime_alone),
            TEST(test_visit_across_digit_boundaries),
            TEST(test_legacy_file_without_newline),
            TEST(test_visit_on_hand_written_file_stays_readable),
            CORRUPT("garbage", corrupt_garbage),
            CORRUPT("negative", corrupt_negative),
            CORRUPT("too_large", corrupt_too_large),
            CORRUPT("100_digits", corrupt_long),
            CORRUPT("binary", corrupt_binary),
            CORRUPT("two_numbers", corrupt_two_numbers),
            TEST(test_second_open_is_busy),
            TEST(test_second_open_is_busy_after_growth),
            TEST(test_get_does_not_count),
            TEST(test_check_healthy_file),
            TEST(test_close_leaves_final_count),
            TEST(test_maximum_is_not_passed),
            TEST(test_write_failure_then_recovery),
            TEST(test_short_write_in_place_is_undone),
            TEST(test_short_write_is_undone),
            TEST(test_growth_failure_then_recovery),
            TEST(test_concurrent_visits_sync_never),
            TEST(test_concurrent_visits_sync_interval),
            TEST(test_concurrent_visits_sync_always),
            TEST(test_failed_batches_never_hand_out_a_number_twice),
            TEST(test_growth_keeps_mode_and_group),
            TEST(test_open_refuses_a_symlink),
            TEST(test_deleted_file_is_recreated_from_memory),
            TEST(test_outside_values_never_lower_the_count),
            SYNC_PARAM(test_visits_follow_a_folder_moved_and_put_back, SYNC_NEVER),
            SYNC_PARAM(test_visits_follow_a_folder_moved_and_put_back, SYNC_ALWAYS),
            TEST(test_watch_follows_a_folder_deleted_and_made_again),
            TEST(test_a_visit_looks_the_path_up_in_a_folder_made_again),
            SYNC_PARAM(test_visits_look_the_path_up_without_a_watch, SYNC_NEVER),
            SYNC_PARAM(test_visits_look_the_path_up_without_a_watch, SYNC_ALWAYS),
            SYNC_PARAM(test_watch_and_recheck_repair_without_a_visit, SYNC_NEVER),
            SYNC_PARAM(test_watch_and_recheck_repair_without_a_visit, SYNC_INTERVAL),
            SYNC_PARAM(test_watch_and_recheck_repair_without_a_visit, SYNC_ALWAYS),
            TEST(test_outside_garbage_is_refused_untouched),
            TEST(test_check_fails_at_the_maximum),
            SYNC_PARAM(test_check_fails_while_growth_cannot_work, SYNC_INTERVAL),
            SYNC_PARAM(test_check_fails_while_growth_cannot_work, SYNC_ALWAYS),
            TEST(test_health_follows_the_visit_path),
        };

        return cmocka_run_group_tests_name("counter", tests, NULL, NULL);
}
