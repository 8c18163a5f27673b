#ifndef MT_UNIT_TESTS_H
#define MT_UNIT_TESTS_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <sys/resource.h>

#include "config.h"
#include "counter.h"

/* Room for a message that quotes two paths of CONFIG_PATH_MAX bytes. */
#define MSG_MAX (2 * CONFIG_PATH_MAX + 512)

/* Each returns the number of failed tests of its group. */
int config_tests(void);
int counter_tests(void);
int clock_tests(void);
int routes_tests(void);
int metrics_tests(void);
int cluster_tests(void);
int fastcgi_tests(void);
int counter_park_tests(void);
int operate_tests(void);
int conn_tests(void);

/*
 * Per-test state: a fresh directory under /tmp and a config whose counter
 * file lives in it. The counter is kept here rather than on a test's stack
 * so that teardown can close it when an assertion fails halfway: an interval
 * flusher thread must not outlive the memory it reads.
 */
struct fixture {
        char dir[256];
        char extra_dir[64]; /* another folder a test made (e.g. on tmpfs); removed too if set */
        const void *param;  /* the test's initial_state, for table-driven cases */
        struct config cfg;
        struct counter counter;
        int counter_open;
        int fsize_lowered;
        struct rlimit fsize;
        struct sigaction xfsz;
};

int fixture_setup(void **state);
int fixture_teardown(void **state);

/* dir/name into out. */
void fixture_path(const struct fixture *f, const char *name, char *out, size_t len);

/* Opens f->counter with f->cfg; teardown closes it if the test does not. */
enum counter_status fixture_open_counter(struct fixture *f, char *err, size_t errlen);
/* Writes text (unless NULL) to the counter file and opens it; any failure fails the test. */
void fixture_start_counter(struct fixture *f, const char *text);
void fixture_close_counter(struct fixture *f);

/*
 * Lowers RLIMIT_FSIZE to bytes with SIGXFSZ ignored, as the responder runs.
 * No cmocka assertion may run until fsize_restore(): its output could be a
 * file past the limit.
 */
void fsize_lower(struct fixture *f, rlim_t bytes);
void fsize_restore(struct fixture *f);

void write_file(const char *path, const void *data, size_t len);
void write_text(const char *path, const char *text);
size_t read_file(const char *path, char *buf, size_t cap);

#define assert_contains(haystack, needle)                                                          \
        assert_contains_at((haystack), (needle), __FILE__, __LINE__)
void assert_contains_at(const char *haystack, const char *needle, const char *file, int line);

#define assert_not_contains(haystack, needle)                                                      \
        assert_not_contains_at((haystack), (needle), __FILE__, __LINE__)
void assert_not_contains_at(const char *haystack, const char *needle, const char *file, int line);

/* The file holds exactly these bytes. */
#define assert_file_bytes(path, bytes, len)                                                        \
        assert_file_bytes_at((path), (bytes), (len), __FILE__, __LINE__)
#define assert_file_text(path, text)                                                               \
        assert_file_bytes_at((path), (text), strlen(text), __FILE__, __LINE__)
void assert_file_bytes_at(const char *path, const void *bytes, size_t len, const char *file,
                          int line);

#endif
