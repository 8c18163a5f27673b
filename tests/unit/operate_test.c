/* Routes of issue 10: /metrics, /visits?scope=cluster and the pod's name in every JSON answer. */
#include "tests.h"

#include "text.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "page.h"
#include "routes.h"

#define PLAIN   "text/plain; charset=utf-8"
#define JSON    "application/json"
#define METRICS "text/plain; version=0.0.4; charset=utf-8"

/* A counter at 41, a cluster "pod-0" with two peers (no poller), metrics on. */
struct op_fixture {
        struct fixture *f;
        struct metrics metrics;
        struct cluster cluster;
        struct app app;
        struct clock_text clock;
        struct response r;
};

static int
op_setup(void **state)
{
        char err[512];
        if (fixture_setup(state) != 0)
                return -1;
        struct op_fixture *o = calloc(1, sizeof(*o));
        if (o == NULL)
                return -1;
        o->f = *state;
        write_text(o->f->cfg.counter_path, "41\n");
        snprintf(o->f->cfg.cluster_name, sizeof(o->f->cfg.cluster_name), "pod-0");
        snprintf(o->f->cfg.cluster_peers, sizeof(o->f->cfg.cluster_peers),
                 "10.0.0.1:8080,10.0.0.2:8080");
        if (fixture_open_counter(o->f, err, sizeof(err)) != COUNTER_OK ||
            cluster_init(&o->cluster, &o->f->cfg, err, sizeof(err)) != 0) {
                print_error("%s\n", err);
                return -1;
        }
        metrics_init(&o->metrics, "9.9.9", "c0ffee");
        o->app = (struct app){.cfg = &o->f->cfg,
                              .counter = &o->f->counter,
                              .metrics = &o->metrics,
                              .cluster = &o->cluster};
        *state = o;
        return 0;
}

static int
op_teardown(void **state)
{
        struct op_fixture *o = *state;
        void *f = o->f;

        free(o);
        return fixture_teardown(&f);
}

/* A poll's answer from addr: visits as pod. */
static void
record(struct cluster *c, const char *addr, uint64_t visits, const char *pod, int64_t now)
{
        struct cluster_answer a = {.visits = visits, .age_ms = -1};

        snprintf(a.pod, sizeof(a.pod), "%s", pod);
        cluster_record(c, addr, &a, now);
}

/* A request on nginx's public listener, or with listener "metrics" on its metrics one. */
static const struct response *
get_on(struct op_fixture *o, const char *listener, const char *method, const char *path,
       const char *query, const char *accept)
{
        struct request req = {.method = method,
                              .path = path,
                              .path_len = strlen(path),
                              .accept = accept,
                              .query = query,
                              .listener = listener};

        memset(&o->r, 0x5a, sizeof(o->r));
        routes_handle(&o->app, &o->clock, &req, &o->r);
        assert_true(o->r.head_len > 0 && o->r.head_len < sizeof(o->r.head));
        assert_true(o->r.body_len < sizeof(o->r.body));
        o->r.head[o->r.head_len] = '\0';
        o->r.body[o->r.body_len] = '\0';
        assert_int_equal(strlen(o->r.body), o->r.body_len);
        return &o->r;
}

static const struct response *
get(struct op_fixture *o, const char *method, const char *path, const char *query,
    const char *accept)
{
        return get_on(o, NULL, method, path, query, accept);
}

static void
assert_type(const struct response *r, const char *type)
{
        char want[128];

        snprintf(want, sizeof(want), "\r\nContent-Type: %s\r\n", type);
        assert_contains(r->head, want);
}

static void
test_json_answers_name_the_pod(void **state)
{
        struct op_fixture *o = *state;

        const struct response *r = get(o, "GET", "/visits", NULL, JSON);
        assert_string_equal(r->body, "{\"visits\":41,\"pod\":\"pod-0\"}\n");
        r = get(o, "GET", "/", NULL, JSON);
        assert_contains(r->body, ",\"visits\":42,\"pod\":\"pod-0\"}\n");
        /* scope=local is the plain answer. */
        r = get(o, "GET", "/visits", "scope=local", JSON);
        assert_string_equal(r->body, "{\"visits\":42,\"pod\":\"pod-0\"}\n");
}

static void
test_metrics_route(void **state)
{
        struct op_fixture *o = *state;

        get(o, "GET", "/", NULL, NULL);
        get(o, "GET", "/nope", NULL, NULL);
        get(o, "POST", "/visits", NULL, NULL);
        const struct response *r = get_on(o, "metrics", "GET", "/metrics", NULL, NULL);
        assert_int_equal(r->status, 200);
        assert_type(r, METRICS);
        assert_contains(r->head, "Cache-Control: no-store\r\n");
        assert_contains(r->body, "\nmoscow_time_visits_total 42\n");
        assert_contains(r->body, "moscow_time_http_requests_total{route=\"/\",code=\"200\"} 1\n");
        assert_contains(r->body,
                        "moscow_time_http_requests_total{route=\"other\",code=\"404\"} 1\n");
        assert_contains(r->body,
                        "moscow_time_http_requests_total{route=\"/visits\",code=\"405\"} 1\n");
        /* The scrape is counted after it answered: the next one shows it. */
        assert_contains(r->body,
                        "moscow_time_http_requests_total{route=\"/metrics\",code=\"200\"} 0\n");
        assert_contains(r->body, "moscow_time_build_info{version=\"9.9.9\",commit=\"c0ffee\"} 1\n");
        assert_contains(r->body, "\nmoscow_time_cluster_visits 42\n");
        assert_contains(r->body, "\nmoscow_time_peer_up{peer=\"10.0.0.1:8080\"} 0\n");
        assert_contains(r->body, "\nmoscow_time_visits_file_write_errors_total 0\n");
        r = get_on(o, "metrics", "GET", "/metrics", NULL, NULL);
        assert_contains(r->body,
                        "moscow_time_http_requests_total{route=\"/metrics\",code=\"200\"} 1\n");
        /* Never a visit. */
        assert_int_equal(counter_get(&o->f->counter), 42);

        size_t len = r->body_len;
        r = get_on(o, "metrics", "HEAD", "/metrics", NULL, NULL);
        assert_int_equal(r->send_body, 0);
        assert_true(r->body_len > len - 100 && r->body_len < len + 100);
}

static void
test_metrics_off_is_404(void **state)
{
        struct op_fixture *o = *state;

        o->app.metrics = NULL;
        const struct response *r = get_on(o, "metrics", "GET", "/metrics", NULL, NULL);
        assert_int_equal(r->status, 404);
        assert_string_equal(r->body, "not found\n");
}

static void
test_counter_errors_reach_the_metrics(void **state)
{
        struct op_fixture *o = *state;

        fsize_lower(o->f, 0);
        struct request req = {.method = "GET", .path = "/", .path_len = 1};
        routes_handle(&o->app, &o->clock, &req, &o->r);
        routes_handle(&o->app, &o->clock, &req, &o->r);
        fsize_restore(o->f);
        assert_int_equal(o->r.status, 503);
        const struct response *r = get_on(o, "metrics", "GET", "/metrics", NULL, NULL);
        assert_contains(r->body, "\nmoscow_time_visits_file_write_errors_total 2\n");
        assert_contains(r->body, "moscow_time_http_requests_total{route=\"/\",code=\"503\"} 2\n");
        assert_contains(r->body, "\nmoscow_time_visits_total 41\n");
}

static void
test_cluster_scope_json(void **state)
{
        struct op_fixture *o = *state;
        int64_t now = now_mono_ns();

        record(&o->cluster, "10.0.0.1:8080", 7, "pod-1", now);
        record(&o->cluster, "10.0.0.1:8080", 3, "pod-1", now);
        const struct response *r =
            get_on(o, "metrics", "GET", "/visits", "x=1&scope=cluster", JSON);
        assert_int_equal(r->status, 200);
        assert_type(r, JSON);
        assert_contains(r->head, "Vary: Accept\r\n");
        const char *start =
            "{\"visits\":48,\"partial\":true,\"saturated\":false,\"pod\":\"pod-0\",\"pods\":{";
        assert_memory_equal(r->body, start, strlen(start));
        assert_contains(r->body, "\"pod-0\":{\"visits\":41,\"state\":\"self\"}");
        assert_contains(r->body, "\"pod-1\":{\"visits\":7,\"state\":\"fresh\",\"age_seconds\":0.");
        assert_contains(r->body, "\"reported\":3,\"went_back\":true,\"peer\":\"10.0.0.1:8080\"}");
        assert_contains(r->body, "\"10.0.0.2:8080\":{\"visits\":0,\"state\":\"unreached\","
                                 "\"age_seconds\":null,\"reported\":0,\"went_back\":false,"
                                 "\"peer\":\"10.0.0.2:8080\",\"error\":\"not polled yet\"}");
        assert_string_equal(r->body + r->body_len - 3, "}}\n");
        assert_int_equal(counter_get(&o->f->counter), 41);

        /* On the public listener: names, counts and states; no address, no error. */
        r = get(o, "GET", "/visits", "scope=cluster", JSON);
        assert_memory_equal(r->body, start, strlen(start));
        assert_contains(r->body, "\"reported\":3,\"went_back\":true}");
        assert_contains(r->body, "\"peer#2\":{\"visits\":0,\"state\":\"unreached\","
                                 "\"age_seconds\":null,\"reported\":0,\"went_back\":false}");
        assert_not_contains(r->body, "10.0.0.");
        assert_not_contains(r->body, "error");
        r = get_on(o, "public", "GET", "/visits", "scope=cluster", NULL);
        assert_not_contains(r->body, "10.0.0.");
        assert_not_contains(r->body, "not polled yet");
}

/* What this pod saw of another, for a pod that lost its volume: public, strict to read. */
static void
test_cluster_seen(void **state)
{
        struct op_fixture *o = *state;
        struct cluster_answer a;
        char why[128];
        int64_t now = now_mono_ns();

        record(&o->cluster, "10.0.0.1:8080", 7, "pod-1", now);
        const struct response *r = get(o, "GET", "/visits", "scope=cluster&pod=pod-1", NULL);
        assert_int_equal(r->status, 200);
        assert_type(r, JSON);
        assert_contains(r->body, "{\"pod\":\"pod-0\",\"of\":\"pod-1\",\"visits\":7,"
                                 "\"state\":\"fresh\",\"age_ms\":");
        assert_int_equal(cluster_parse_answer(r->body, r->body_len, &a, why, sizeof(why)), 0);
        assert_int_equal(a.visits, 7);
        assert_string_equal(a.of, "pod-1");
        r = get(o, "GET", "/visits", "scope=cluster&pod=pod-0", NULL);
        assert_contains(r->body, "\"of\":\"pod-0\",\"visits\":41,\"state\":\"self\",\"age_ms\":0}");
        r = get(o, "GET", "/visits", "scope=cluster&pod=pod-9", NULL);
        assert_int_equal(r->status, 404);
        r = get(o, "GET", "/visits", "scope=cluster&pod=a%20b", NULL);
        assert_int_equal(r->status, 400);
}

static void
test_cluster_scope_text(void **state)
{
        struct op_fixture *o = *state;
        int64_t now = now_mono_ns();

        record(&o->cluster, "10.0.0.1:8080", 7, "pod-1", now);
        record(&o->cluster, "10.0.0.2:8080", 2, "pod-2", now);
        const struct response *r = get_on(o, "metrics", "GET", "/visits", "scope=cluster", NULL);
        assert_type(r, PLAIN);
        assert_memory_equal(r->body, "50\ncomplete: every pod answered lately\n", 39);
        assert_contains(r->body, "\npod-0 41 self (this pod)\n");
        assert_contains(r->body, "\npod-1 7 fresh, 0.");
        assert_contains(r->body, " s ago, at 10.0.0.1:8080\n");

        cluster_record_failure(&o->cluster, "10.0.0.2:8080", CLUSTER_UNREACHABLE,
                               "Connection refused", now);
        record(&o->cluster, "10.0.0.2:8080", 1, "pod-2", now);
        r = get_on(o, "metrics", "GET", "/visits", "scope=cluster", NULL);
        assert_contains(r->body, "pod-2 2 fresh, ");
        assert_contains(r->body, ", went back to 1 (the total keeps 2), at 10.0.0.2:8080\n");
}

static void
test_bad_scope_is_400(void **state)
{
        static const char *const bad[] = {"scope=", "scope=clusterx", "scope=Cluster", "scope=c"};
        struct op_fixture *o = *state;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                const struct response *r = get(o, "GET", "/visits", bad[i], NULL);
                if (r->status != 400)
                        fail_msg("%s: status %d", bad[i], r->status);
                assert_contains(r->head, "Status: 400 Bad Request\r\n");
                assert_string_equal(r->body,
                                    "unknown scope; expected scope=local or scope=cluster\n");
        }
        /* Other parameters are not the route's business. */
        const struct response *r = get(o, "GET", "/visits", "scopes=cluster&v=2", NULL);
        assert_string_equal(r->body, "41\n");
}

/* A peer's error text can hold anything: the JSON stays valid. */
static void
test_json_strings_are_escaped(void **state)
{
        char buf[128];
        struct text e;

        (void)state;
        text_init(&e, buf, sizeof(buf));
        text_json_string(&e, "a\"b\\c\nd\x01");
        assert_string_equal(buf, "\"a\\\"b\\\\c\\u000ad\\u0001\"");
}

/* What the page's script can keep ticking, and what it must leave alone. */
static void
test_tick_format(void **state)
{
        static const char *const cases[][2] = {
            {"%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S MSK"},
            {"%F %T (%z)", "%Y-%m-%d %H:%M:%S (+0300)"},
            {"100%% %H", "100%% %H"},
            {"<b>%H</b>", "<b>%H</b>"},
            {"%A %H:%M", ""}, /* a day name: wrong after midnight */
            {"%-d.%m", ""},   /* a flag */
            {"%e %b", ""},    /* a month name */
            {"%H:%M %p", ""}, /* AM/PM */
        };
        struct tm tm;
        time_t t = 1764547200; /* 2025-12-01 00:00 UTC */
        char out[128];

        (void)state;
        localtime_r(&t, &tm); /* the unit tests run in Europe/Moscow */
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                clock_tick_format(cases[i][0], &tm, out, sizeof(out));
                if (strcmp(out, cases[i][1]) != 0)
                        fail_msg("\"%s\": \"%s\", expected \"%s\"", cases[i][0], out, cases[i][1]);
        }
        clock_tick_format("%Y%Y%Y%Y", &tm, out, 8);
        assert_string_equal(out, ""); /* does not fit: no format rather than a cut one */
}

/* The page without a cluster (unit tests) and with one: the bar widths are the shares. */
static void
test_page_shares(void **state)
{
        struct op_fixture *o = *state;
        int64_t now = now_mono_ns();

        record(&o->cluster, "10.0.0.1:8080", 58, "pod-1", now);
        const struct response *r = get(o, "GET", "/", NULL, "text/html");
        assert_int_equal(r->status, 200);
        assert_contains(r->body, "<strong id=\"pod\">pod-0</strong>");
        assert_contains(r->body, "<strong id=\"total\">100</strong>");
        assert_contains(r->body, "<span id=\"partial\">");
        assert_contains(r->body, "<li class=\"self\"><span>pod-0</span>");
        assert_contains(r->body, "<rect class=\"bar\" width=\"420\" height=\"10\"/></svg>"
                                 "<span class=\"n\">42 · 42%</span></li>");
        assert_contains(r->body, "<rect class=\"bar\" width=\"580\"");
        /* The page is public: an address that never answered shows by its number. */
        assert_contains(r->body, "<li class=\"unreached\"><span>peer#2</span>");
        assert_not_contains(r->body, "10.0.0.2");
        assert_contains(r->body, "<rect class=\"bar\" width=\"0\"");
        assert_contains(r->body, "0 · 0% unreached</span>");
        char want[4096];
        snprintf(want, sizeof(want), "<script>%s</script>", page_script);
        assert_contains(r->body, want);
        assert_contains(r->body, "<body data-clock-format=\"%Y-%m-%d %H:%M:%S MSK\">");
}

/* /metrics is nginx's metrics server's alone: the public port, or no MT_LISTENER, gets 404. */
static void
test_metrics_only_on_the_metrics_listener(void **state)
{
        struct op_fixture *o = *state;
        static const char *const public[] = {"public", "", "Metrics", "metrics ", NULL};

        for (int i = 0; i < 5; i++) {
                const struct response *r = get_on(o, public[i], "GET", "/metrics", NULL, NULL);
                assert_int_equal(r->status, 404);
                assert_not_contains(r->body, "moscow_time_");
        }
        assert_int_equal(get_on(o, "metrics", "GET", "/metrics", NULL, NULL)->status, 200);
}

#define OP(fn) cmocka_unit_test_setup_teardown(fn, op_setup, op_teardown)

int
operate_tests(void)
{
        const struct CMUnitTest tests[] = {
            OP(test_json_answers_name_the_pod),
            OP(test_metrics_route),
            OP(test_metrics_off_is_404),
            OP(test_counter_errors_reach_the_metrics),
            OP(test_cluster_scope_json),
            OP(test_cluster_scope_text),
            OP(test_cluster_seen),
            OP(test_bad_scope_is_400),
            cmocka_unit_test(test_json_strings_are_escaped),
            cmocka_unit_test(test_tick_format),
            OP(test_page_shares),
            OP(test_metrics_only_on_the_metrics_listener),
        };
        return cmocka_run_group_tests_name("operate routes", tests, NULL, NULL);
}
