#include "tests.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_render.h"
#include "routes.h"

#define EXPO_MAX (64 * 1024)

/* The routes as routes.c labels them. */
static const char *const route_labels[ROUTES] = {"/", "/visits", "/readyz", "/metrics", "other"};
static const struct metrics_routes routes = {route_labels, ROUTES, ROUTE_OTHER};

struct metrics_fixture {
        struct metrics m;
        char buf[EXPO_MAX];
        struct text e;
};

static int
metrics_setup(void **state)
{
        struct metrics_fixture *f = calloc(1, sizeof(*f));

        if (f == NULL)
                return -1;
        metrics_init(&f->m, "1.2.3", "abc123");
        *state = f;
        return 0;
}

static int
metrics_teardown(void **state)
{
        free(*state);
        return 0;
}

static const char *
render(struct metrics_fixture *f)
{
        text_init(&f->e, f->buf, sizeof(f->buf));
        metrics_render(&f->e, &f->m, &routes);
        assert_false(f->e.overflow);
        assert_int_equal(strlen(f->buf), f->e.len);
        return f->buf;
}

static void
test_requests_by_route_and_code(void **state)
{
        struct metrics_fixture *f = *state;

        for (int i = 0; i < 3; i++)
                metrics_request(&f->m, ROUTE_ROOT, 200, 1000);
        metrics_request(&f->m, ROUTE_ROOT, 503, 1000);
        metrics_request(&f->m, ROUTE_OTHER, 404, 1000);
        metrics_request(&f->m, ROUTE_OTHER, 418, 1000);
        const char *out = render(f);
        assert_contains(out, "# TYPE moscow_time_http_requests_total counter\n");
        assert_contains(out, "\nmoscow_time_http_requests_total{route=\"/\",code=\"200\"} 3\n");
        assert_contains(out, "\nmoscow_time_http_requests_total{route=\"/\",code=\"503\"} 1\n");
        assert_contains(out, "\nmoscow_time_http_requests_total{route=\"other\",code=\"404\"} 1\n");
        assert_contains(out,
                        "\nmoscow_time_http_requests_total{route=\"other\",code=\"other\"} 1\n");
        /* Each known route's 200 exists before its first request, others only once counted. */
        assert_contains(out,
                        "\nmoscow_time_http_requests_total{route=\"/metrics\",code=\"200\"} 0\n");
        assert_not_contains(out, "route=\"/\",code=\"404\"");
        assert_not_contains(out, "route=\"other\",code=\"200\"");
}

/* A duration on a bound falls in that bucket (le is "less or equal"); the buckets add up. */
static void
test_histogram_buckets_are_cumulative(void **state)
{
        struct metrics_fixture *f = *state;

        metrics_request(&f->m, ROUTE_VISITS, 200, 100000);     /* 0.0001: first */
        metrics_request(&f->m, ROUTE_VISITS, 200, 100001);     /* next */
        metrics_request(&f->m, ROUTE_VISITS, 200, 3000000);    /* 0.003 -> 0.005 */
        metrics_request(&f->m, ROUTE_VISITS, 200, 9000000000); /* 9 s: +Inf only */
        const char *out = render(f);
        static const char *const want[] = {
            "# TYPE moscow_time_http_request_duration_seconds histogram\n",
            "{route=\"/visits\",le=\"0.0001\"} 1\n",
            "{route=\"/visits\",le=\"0.00025\"} 2\n",
            "{route=\"/visits\",le=\"0.0025\"} 2\n",
            "{route=\"/visits\",le=\"0.005\"} 3\n",
            "{route=\"/visits\",le=\"2.5\"} 3\n",
            "{route=\"/visits\",le=\"+Inf\"} 4\n",
            "moscow_time_http_request_duration_seconds_sum{route=\"/visits\"} 9.003200001\n",
            "moscow_time_http_request_duration_seconds_count{route=\"/visits\"} 4\n",
            "moscow_time_http_request_duration_seconds_count{route=\"/\"} 0\n",
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                assert_contains(out, want[i]);
        assert_string_equal(metrics_bucket_le(METRICS_BUCKETS - 1), "+Inf");
        assert_null(metrics_bucket_le(METRICS_BUCKETS));
}

struct hammer {
        struct metrics *m;
        int n;
};

static void *
hammer_main(void *arg)
{
        const struct hammer *h = arg;

        for (int i = 0; i < h->n; i++)
                metrics_request(h->m, ROUTE_ROOT, 200, 1000);
        return NULL;
}

/* More threads than shards, all at once: not one request lost. */
static void
test_concurrent_threads_lose_nothing(void **state)
{
        enum { THREADS = METRICS_SHARDS + 4, EACH = 20000 };
        struct metrics_fixture *f = *state;
        pthread_t t[THREADS];
        struct hammer h = {.m = &f->m, .n = EACH};
        char want[128];

        for (int i = 0; i < THREADS; i++)
                assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h), 0);
        for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
        const char *out = render(f);
        snprintf(want, sizeof(want),
                 "moscow_time_http_requests_total{route=\"/\",code=\"200\"} %d\n", THREADS * EACH);
        assert_contains(out, want);
        snprintf(want, sizeof(want),
                 "moscow_time_http_request_duration_seconds_count{route=\"/\"} %d\n",
                 THREADS * EACH);
        assert_contains(out, want);
}

static void
test_reloads_build_info_and_start_time(void **state)
{
        struct metrics_fixture *f = *state;

        const char *out = render(f);
        assert_contains(out, "moscow_time_config_reloads_total{result=\"applied\"} 0\n");
        assert_contains(out, "moscow_time_config_reloads_total{result=\"rejected\"} 0\n");
        assert_contains(out, "moscow_time_config_last_reload_successful 1\n");
        metrics_reload(&f->m, METRICS_RELOAD_APPLIED);
        metrics_reload(&f->m, METRICS_RELOAD_REJECTED);
        metrics_reload(&f->m, METRICS_RELOAD_REJECTED);
        out = render(f);
        assert_contains(out, "moscow_time_config_reloads_total{result=\"applied\"} 1\n");
        assert_contains(out, "moscow_time_config_reloads_total{result=\"rejected\"} 2\n");
        assert_contains(out, "moscow_time_config_last_reload_successful 0\n");
        assert_contains(out, "# TYPE moscow_time_build_info gauge\n");
        assert_contains(out, "\nmoscow_time_build_info{version=\"1.2.3\",commit=\"abc123\"} 1\n");

        const char *p = strstr(out, "\nprocess_start_time_seconds ");
        assert_non_null(p);
        double start = strtod(p + strlen("\nprocess_start_time_seconds "), NULL);
        double now = (double)time(NULL);
        assert_true(start > now - 60 && start <= now + 1);
}

static void
test_counter_families(void **state)
{
        struct metrics_fixture *f = *state;
        struct counter_health c = {.count = 42,
                                   .write_errors = 2,
                                   .fsync_errors = 1,
                                   .last_fsync_ns = 1700000000123456789};

        text_init(&f->e, f->buf, sizeof(f->buf));
        metrics_render_counter(&f->e, &c);
        assert_false(f->e.overflow);
        assert_contains(f->buf,
                        "# TYPE moscow_time_visits_total counter\nmoscow_time_visits_total 42\n");
        assert_contains(f->buf, "\nmoscow_time_visits_file_write_errors_total 2\n");
        assert_contains(f->buf, "\nmoscow_time_visits_file_fsync_errors_total 1\n");
        assert_contains(
            f->buf,
            "\nmoscow_time_visits_file_last_fsync_timestamp_seconds 1700000000.123456789\n");
        /* Every family has its HELP and TYPE. */
        assert_contains(f->buf, "# HELP moscow_time_visits_file_fsync_errors_total ");
}

/* Label values from config (pod names, peer addresses) cannot break the format. */
static void
test_label_values_are_escaped(void **state)
{
        struct metrics_fixture *f = *state;
        const char *labels[] = {"pod", "a\"b\\c\nd", NULL};

        text_init(&f->e, f->buf, sizeof(f->buf));
        prom_u64(&f->e, "x", labels, 7);
        prom_seconds(&f->e, "y", NULL, -1500000000);
        prom_i64(&f->e, "z", NULL, -3);
        assert_string_equal(f->buf, "x{pod=\"a\\\"b\\\\c\\nd\"} 7\ny -1.500000000\nz -3\n");
}

/* What waits right now: parked visits and incomplete requests, up and down. */
static void
test_gauges(void **state)
{
        struct metrics_fixture *f = *state;

        metrics_gauge_add(&f->m, METRICS_PARKED, 3);
        metrics_gauge_add(&f->m, METRICS_PARKED, -1);
        metrics_gauge_add(&f->m, METRICS_PENDING, 1);
        metrics_gauge_add(NULL, METRICS_PENDING, 5); /* metrics off: nothing, no crash */
        const char *out = render(f);
        assert_contains(out,
                        "# TYPE moscow_time_parked_visits gauge\nmoscow_time_parked_visits 2\n");
        assert_contains(out, "\nmoscow_time_pending_requests 1\n");
}

/* A buffer too small says so and keeps only whole writes: never a cut line passed as complete. */
static void
test_overflow_is_reported(void **state)
{
        struct metrics_fixture *f = *state;
        char small[200];

        text_init(&f->e, small, sizeof(small));
        metrics_render(&f->e, &f->m, &routes);
        assert_true(f->e.overflow);
        assert_true(f->e.len < sizeof(small));
        assert_int_equal(strlen(small), f->e.len);
        text_init(&f->e, small, 0);
        assert_true(f->e.overflow);
}

int
metrics_tests(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_requests_by_route_and_code, metrics_setup,
                                            metrics_teardown),
            cmocka_unit_test_setup_teardown(test_histogram_buckets_are_cumulative, metrics_setup,
                                            metrics_teardown),
            cmocka_unit_test_setup_teardown(test_concurrent_threads_lose_nothing, metrics_setup,
                                            metrics_teardown),
            cmocka_unit_test_setup_teardown(test_reloads_build_info_and_start_time, metrics_setup,
                                            metrics_teardown),
            cmocka_unit_test_setup_teardown(test_counter_families, metrics_setup, metrics_teardown),
            cmocka_unit_test_setup_teardown(test_label_values_are_escaped, metrics_setup,
                                            metrics_teardown),
            cmocka_unit_test_setup_teardown(test_gauges, metrics_setup, metrics_teardown),
            cmocka_unit_test_setup_teardown(test_overflow_is_reported, metrics_setup,
                                            metrics_teardown),
        };
        return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
