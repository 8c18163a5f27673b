#include "tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "negotiate.h"
#include "page.h"
#include "routes.h"

#define BROWSER_ACCEPT "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
#define HTML           "text/html; charset=utf-8"
#define PLAIN          "text/plain; charset=utf-8"
#define JSON           "application/json"

/* Every routes test starts with a counter at 41 in its own directory. */
static int
routes_setup(void **state)
{
        char err[512];

        if (fixture_setup(state) != 0)
                return -1;
        struct fixture *f = *state;
        write_text(f->cfg.counter_path, "41\n");
        if (fixture_open_counter(f, err, sizeof(err)) != COUNTER_OK) {
                print_error("%s\n", err);
                return -1;
        }
        return 0;
}

/* One request; clock is the worker's cache, so the caller sees the time the response used. */
static void
handle(struct fixture *f, struct clock_text *clock, const char *method, const char *path,
       const char *accept, struct response *r)
{
        struct app app = {.cfg = &f->cfg, .counter = &f->counter};
        struct request req = {
            .method = method, .path = path, .path_len = strlen(path), .accept = accept};

        memset(r, 0x5a, sizeof(*r));
        routes_handle(&app, clock, &req, r);
        /* head and body are not NUL-terminated by contract: terminate them for string checks. */
        assert_true(r->head_len > 0 && r->head_len < sizeof(r->head));
        assert_true(r->body_len < sizeof(r->body));
        r->head[r->head_len] = '\0';
        r->body[r->body_len] = '\0';
        assert_int_equal(strlen(r->head), r->head_len);
        assert_int_equal(strlen(r->body), r->body_len);
}

/* The whole head, so that a missing, extra or reordered header fails. */
static void
assert_head(const struct response *r, const char *status, const char *type, const char *extra)
{
        char want[MSG_MAX];

        snprintf(want, sizeof(want),
                 "Status: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Cache-Control: no-store\r\n%s\r\n",
                 status, type, r->body_len, extra);
        assert_string_equal(r->head, want);
}

static void
test_get_root_html(void **state)
{
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;
        char want[MSG_MAX];

        handle(f, &clock, "GET", "/", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.send_body, 1);
        assert_head(&r, "200 OK", HTML, "Vary: Accept\r\n");
        assert_contains(r.head, "Status: 200 OK\r\n");
        assert_contains(r.head, "Content-Type: text/html; charset=utf-8\r\n");
        assert_contains(r.head, "Cache-Control: no-store\r\n");
        assert_contains(r.head, "Vary: Accept\r\n");
        assert_memory_equal(r.head + r.head_len - 4, "\r\n\r\n", 4);

        assert_memory_equal(r.body, "<!doctype html>\n", 16);
        assert_contains(r.body, "<title>Time in Moscow</title>");
        assert_contains(r.body, "<h1>Current time in Moscow</h1>");
        snprintf(want, sizeof(want), "<style>%s</style>", page_style);
        assert_contains(r.body, want);
        snprintf(want, sizeof(want), "<time id=\"time\" datetime=\"%s\">%s</time>", clock.iso,
                 clock.local);
        assert_contains(r.body, want);
        assert_string_equal(clock.iso + 19, "+03:00");
        assert_contains(r.body, "<p>Visits: <span id=\"visits\">42</span></p>");
        assert_string_equal(r.body + r.body_len - 8, "</html>\n");

        assert_int_equal(counter_get(&f->counter), 42);
        assert_file_text(f->cfg.counter_path, "42\n");
}

static void
test_each_get_counts_once(void **state)
{
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;
        char want[64];

        for (int n = 42; n <= 46; n++) {
                handle(f, &clock, "GET", "/", NULL, &r);
                snprintf(want, sizeof(want), "<span id=\"visits\">%d</span>", n);
                assert_contains(r.body, want);
                assert_int_equal(counter_get(&f->counter), n);
        }
        assert_file_text(f->cfg.counter_path, "46\n");
}

/*
 * HEAD shows the count without adding to it, so the GET it must match is
 * one that shows the same count: the GET that came just before it.
 */
static void
test_head_root_matches_get(void **state)
{
        static const char *const accepts[] = {NULL, "application/json"};
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response get, head;

        for (size_t i = 0; i < 2; i++) {
                handle(f, &clock, "GET", "/", accepts[i], &get);
                uint64_t count = counter_get(&f->counter);
                handle(f, &clock, "HEAD", "/", accepts[i], &head);
                assert_int_equal(head.status, 200);
                assert_int_equal(head.send_body, 0);
                assert_int_equal(get.send_body, 1);
                assert_string_equal(head.head, get.head);
                assert_int_equal(head.body_len, get.body_len);
                assert_int_equal(counter_get(&f->counter), count);
        }
        assert_file_text(f->cfg.counter_path, "43\n");
}

static void
test_head_does_not_count(void **state)
{
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;

        for (int i = 0; i < 3; i++) {
                handle(f, &clock, "HEAD", "/", NULL, &r);
                assert_int_equal(r.send_body, 0);
                assert_contains(r.body, "<span id=\"visits\">41</span>");
        }
        assert_int_equal(counter_get(&f->counter), 41);
        assert_file_text(f->cfg.counter_path, "41\n");
}

static void
test_get_root_json(void **state)
{
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;
        char want[256];

        handle(f, &clock, "GET", "/", "application/json", &r);
        assert_int_equal(r.status, 200);
        assert_head(&r, "200 OK", JSON, "Vary: Accept\r\n");
        snprintf(want, sizeof(want),
                 "{\"time\":\"%s\",\"timezone\":\"Europe/Moscow\",\"visits\":42}\n", clock.iso);
        assert_string_equal(r.body, want);
        assert_int_equal(strlen(clock.iso), strlen("2026-11-25T12:34:56+03:00"));
        assert_file_text(f->cfg.counter_path, "42\n");
}

static void
test_visits_never_counts(void **state)
{
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r, head;

        handle(f, &clock, "GET", "/visits", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_head(&r, "200 OK", PLAIN, "Vary: Accept\r\n");
        assert_string_equal(r.body, "41\n");

        handle(f, &clock, "GET", "/visits", "application/json", &r);
        assert_head(&r, "200 OK", JSON, "Vary: Accept\r\n");
        assert_string_equal(r.body, "{\"visits\":41}\n");

        handle(f, &clock, "GET", "/visits", NULL, &r);
        handle(f, &clock, "HEAD", "/visits", NULL, &head);
        assert_int_equal(head.send_body, 0);
        assert_string_equal(head.head, r.head);

        assert_int_equal(counter_get(&f->counter), 41);
        assert_file_text(f->cfg.counter_path, "41\n");

        /* ...and shows what / counted. */
        handle(f, &clock, "GET", "/", NULL, &r);
        handle(f, &clock, "GET", "/visits", NULL, &r);
        assert_string_equal(r.body, "42\n");
}

static void
test_readyz(void **state)
{
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;

        handle(f, &clock, "GET", "/readyz", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_head(&r, "200 OK", PLAIN, "");
        assert_string_equal(r.body, "ready\n");
        assert_int_equal(counter_get(&f->counter), 41);
        assert_file_text(f->cfg.counter_path, "41\n");
}

static void
test_unknown_paths_are_404(void **state)
{
        static const char *const paths[] = {"/nope",       "/visits/", "/Visits", "/readyz/", "//",
                                            "/index.html", "",         "/visit",  "/readyzz"};
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;

        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                handle(f, &clock, "GET", paths[i], NULL, &r);
                if (r.status != 404)
                        fail_msg("GET \"%s\": status %d, expected 404", paths[i], r.status);
                assert_head(&r, "404 Not Found", PLAIN, "");
                assert_string_equal(r.body, "not found\n");
        }
        assert_int_equal(counter_get(&f->counter), 41);
}

/* The server passes the path up to '?' by length: the bytes past path_len are not the route's. */
static void
test_path_len_bounds_the_route(void **state)
{
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;
        struct app app = {.cfg = &f->cfg, .counter = &f->counter};
        struct request req = {.method = "GET", .path = "/visits?x=1", .path_len = 7};

        routes_handle(&app, &clock, &req, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, 3);
        assert_memory_equal(r.body, "41\n", 3);

        req.path = "/?utm=1";
        req.path_len = 1;
        routes_handle(&app, &clock, &req, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(counter_get(&f->counter), 42);
}

static void
test_other_methods_are_405(void **state)
{
        static const char *const methods[] = {"POST",  "PUT",   "DELETE", "OPTIONS",
                                              "PATCH", "TRACE", "get",    ""};
        static const char *const paths[] = {"/", "/visits", "/nope"};
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;

        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
                for (size_t j = 0; j < sizeof(paths) / sizeof(paths[0]); j++) {
                        handle(f, &clock, methods[i], paths[j], NULL, &r);
                        if (r.status != 405)
                                fail_msg("%s %s: status %d", methods[i], paths[j], r.status);
                        assert_head(&r, "405 Method Not Allowed", PLAIN, "Allow: GET, HEAD\r\n");
                        assert_string_equal(r.body, "method not allowed\n");
                }
        }
        assert_int_equal(counter_get(&f->counter), 41);
        assert_file_text(f->cfg.counter_path, "41\n");
}

struct negotiation {
        const char *accept;
        const char *root_type;
        const char *visits_type;
};

static void
test_accept_negotiation(void **state)
{
        static const struct negotiation cases[] = {
            {NULL, HTML, PLAIN},
            {"", HTML, PLAIN},
            {BROWSER_ACCEPT, HTML, PLAIN},
            {"*/*", HTML, PLAIN},
            {"application/json", JSON, JSON},
            {"application/json;q=0.5, text/html", HTML, JSON},
            {"text/html;q=0.1, application/json", JSON, JSON},
            {"application/*", JSON, JSON},
            {"text/*, application/json;q=0.9", HTML, PLAIN},
            {"text/plain, application/json;q=0.5", JSON, PLAIN},
            {"Application/JSON", JSON, JSON},
            {"application/json;q=0", HTML, PLAIN},
            {"image/png", HTML, PLAIN},
            {"*/*;q=0.1, application/json", JSON, JSON},
            /* RFC 9110 weights: only a parameter named q, and only a valid qvalue. */
            {"application/json;xq=0", JSON, JSON},
            {"text/html;q=NaN, application/json;q=0.5", JSON, JSON},
            {"application/json;q=2, text/html", HTML, PLAIN},
            {"application/json;q=1e999, text/html", HTML, PLAIN},
            {"application/json;q=0.0001, text/plain;q=0", HTML, PLAIN},
            {"text/plain;q=0.5, application/json;Q=0.6", JSON, JSON},
            {"application/json;v=\"a,b;q=0\", text/html;q=0.2", JSON, JSON},
        };
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;
        char want[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                handle(f, &clock, "GET", "/", cases[i].accept, &r);
                snprintf(want, sizeof(want), "Content-Type: %s\r\n", cases[i].root_type);
                if (strstr(r.head, want) == NULL)
                        fail_msg("GET / with Accept \"%s\": expected %s, got\n%s",
                                 cases[i].accept ? cases[i].accept : "(none)", cases[i].root_type,
                                 r.head);
                handle(f, &clock, "GET", "/visits", cases[i].accept, &r);
                snprintf(want, sizeof(want), "Content-Type: %s\r\n", cases[i].visits_type);
                if (strstr(r.head, want) == NULL)
                        fail_msg("GET /visits with Accept \"%s\": expected %s, got\n%s",
                                 cases[i].accept ? cases[i].accept : "(none)", cases[i].visits_type,
                                 r.head);
        }
}

/* negotiate_weigh() for text/html and application/json: the weight of each, in thousandths. */
struct weights {
        const char *accept;
        int html, json;
};

static void
test_accept_weights_follow_rfc_9110(void **state)
{
        static const struct weights cases[] = {
            {NULL, 1000, 1000},
            {"", 1000, 1000},
            {"application/json", 0, 1000},
            {"application/json;xq=0", 0, 1000},
            {"application/json;q=0", 0, 0},
            {"application/json;q=0.001", 0, 1},
            {"application/json;q=0.25", 0, 250},
            {"application/json;q=1.000", 0, 1000},
            {"application/json;q=1.", 0, 1000},
            {"application/json;q=0.", 0, 0},
            /* not qvalues: the range is ignored */
            {"application/json;q=NaN", 0, 0},
            {"application/json;q=1e999", 0, 0},
            {"application/json;q=2", 0, 0},
            {"application/json;q=1.001", 0, 0},
            {"application/json;q=0.0001", 0, 0},
            {"application/json;q=.5", 0, 0},
            {"application/json;q=-0", 0, 0},
            {"application/json;q=0.5x", 0, 0},
            {"application/json;q=\"0.5\"", 0, 0},
            {"application/json;q=", 0, 0},
            {"application/json;q", 0, 0},
            {"application/json;q = 0.5", 0, 0},
            {"application/json;q=0.5;q=0.6", 0, 0},
            {"*/*;q=0.3, application/json;q=inf", 300, 300},
            /* case, whitespace, parameters */
            {"APPLICATION/Json;Q=0.7", 0, 700},
            {"application/json ; q=0.7", 0, 700},
            {"\tapplication/json\t;\tq=0.8\t", 0, 800},
            {"application/json;charset=\"utf-8\";q=0.3", 0, 300},
            {"application/json;q=0.3;charset=utf-8", 0, 300},
            {"application/json;x=\"a\\\"b\";q=0.6", 0, 600},
            {"application/json;x=\"a,b;q=0\", text/html;q=0.2", 200, 1000},
            {"application/json;x=\"open, text/html", 0, 0},
            {"application/json;", 0, 1000},
            {"application/json;;q=0.3", 0, 300},
            {"application/json;=x", 0, 0},
            {"application /json", 0, 0},
            {"application/ json", 0, 0},
            {"application/json x", 0, 0},
            /* the list */
            {",,, application/json;q=0.4 ,,", 0, 400},
            {"application/json, garbage, text/html;q=0.9", 900, 1000},
            {"garbage;q=1, text/html;q=0.9", 900, 0},
            {"text/html;q=0.5, text/html;q=0.9", 500, 0},
            /* specificity: type/subtype over type/ * over * / * */
            {"*/*;q=0.1, application/json", 100, 1000},
            {"application/json;q=0.2, */*", 1000, 200},
            {"text/*;q=0.3, */*;q=0.1", 300, 100},
            {"application/*;q=0.4, text/html;q=0.6", 600, 400},
            {"*/html", 0, 0},
            {"*", 0, 0},
            {"text/html;level=1;q=0.4", 400, 0},
            {" ", 0, 0},
            /* ranges passed over unparsed (nothing asked names them): their quotes still count */
            {"x/y;a=\"q, text/html\", application/json", 0, 1000},
            {"x/y;a=\"open, text/html, application/json", 0, 0},
            {"x/y;a=\"\\\", text/html\";q=0.1, application/json;q=0.2", 0, 200},
            {"application/jsonx, application/j, applicationx/json, text/htm", 0, 0},
            {"application/jso;q=0.1, text/html5", 0, 0},
            {"Application/*;q=0.3, TEXT/*;q=0.2", 200, 300},
            {"x/y, */*;q=0.5", 500, 500},
            {"*/*x, */ *, x/*", 0, 0},
        };
        const char *const types[] = {"text/html", "application/json"};
        int q[2];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                negotiate_weigh(cases[i].accept, types, q, 2);
                if (q[0] != cases[i].html || q[1] != cases[i].json)
                        fail_msg("Accept \"%s\": html %d json %d, expected %d %d",
                                 cases[i].accept ? cases[i].accept : "(none)", q[0], q[1],
                                 cases[i].html, cases[i].json);
        }
}

/* prefix ("a/b, " repeated) so that the value reaches `len` bytes with tail at its end. */
static char *
padded_accept(size_t len, const char *tail)
{
        size_t tail_len = strlen(tail);
        char *s = malloc(len + 1);

        assert_non_null(s);
        assert_true(len >= tail_len);
        memset(s, ' ', len - tail_len);
        for (size_t i = 0; i + 5 <= len - tail_len; i += 5)
                memcpy(s + i, "a/b, ", 5);
        memcpy(s + len - tail_len, tail, tail_len + 1);
        return s;
}

/* Only the first NEGOTIATE_MAX bytes count, and a range cut there counts for nothing. */
static void
test_accept_looks_at_a_bounded_prefix(void **state)
{
        const char *const types[] = {"text/html", "application/json"};
        int q[2];
        char *s;

        (void)state;
        s = padded_accept(NEGOTIATE_MAX, "*/*;q=0.1, application/json;q=0.25");
        negotiate_weigh(s, types, q, 2);
        assert_int_equal(q[1], 250); /* ends exactly at the bound: whole */
        free(s);

        s = padded_accept(NEGOTIATE_MAX + 1, "*/*;q=0.1, application/json;q=0.25");
        negotiate_weigh(s, types, q, 2);
        assert_int_equal(q[0], 100);
        assert_int_equal(q[1], 100); /* "q=0.2" seen, but cut: the range is ignored */
        free(s);

        s = padded_accept(1 << 20, "application/json");
        negotiate_weigh(s, types, q, 2);
        assert_int_equal(q[1], 0); /* past the bound */
        free(s);
}

static void
test_counter_write_failure_is_503(void **state)
{
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response get, ready, head;

        fsize_lower(f, 0);
        handle(f, &clock, "GET", "/", NULL, &get);
        handle(f, &clock, "GET", "/readyz", NULL, &ready);
        handle(f, &clock, "HEAD", "/", NULL, &head);
        fsize_restore(f);

        assert_int_equal(get.status, 503);
        assert_int_equal(get.send_body, 1);
        assert_head(&get, "503 Service Unavailable", PLAIN, "Retry-After: 1\r\n");
        /* A short generic reason: no path, no errno text (those go to the log). */
        assert_string_equal(get.body, "the visit could not be counted; try again shortly\n");

        assert_int_equal(ready.status, 503);
        assert_head(&ready, "503 Service Unavailable", PLAIN, "Retry-After: 1\r\n");
        assert_string_equal(ready.body, "not ready: the counter file cannot be used\n");
        assert_not_contains(ready.body, f->cfg.counter_path);

        /* HEAD writes nothing, so it still answers. */
        assert_int_equal(head.status, 200);

        assert_int_equal(counter_get(&f->counter), 41);
        assert_file_text(f->cfg.counter_path, "41\n");

        handle(f, &clock, "GET", "/", NULL, &get);
        assert_int_equal(get.status, 200);
        assert_contains(get.body, "<span id=\"visits\">42</span>");
        assert_file_text(f->cfg.counter_path, "42\n");
}

/* The operator's format is text on the page: markup in it must arrive escaped. */
static void
test_page_escapes_the_format(void **state)
{
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;

        snprintf(f->cfg.time_format, sizeof(f->cfg.time_format), "<b>%%Y</b> & \"'");
        handle(f, &clock, "GET", "/", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_not_contains(r.body, "<b>");
        assert_contains(r.body, "\">&lt;b&gt;20");
        assert_contains(r.body, "&lt;/b&gt; &amp; &quot;&#39;</time>");
}

static void
test_city_comes_from_the_zone(void **state)
{
        struct fixture *f = *state;
        struct clock_text clock = {0};
        struct response r;

        snprintf(f->cfg.timezone, sizeof(f->cfg.timezone), "America/New_York");
        handle(f, &clock, "GET", "/", NULL, &r);
        assert_contains(r.body, "<title>Time in New York</title>");
        assert_contains(r.body, "<h1>Current time in New York</h1>");
        handle(f, &clock, "GET", "/", "application/json", &r);
        assert_contains(r.body, "\"timezone\":\"America/New_York\"");
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, routes_setup, fixture_teardown)

int
routes_tests(void)
{
        const struct CMUnitTest tests[] = {
            TEST(test_get_root_html),
            TEST(test_each_get_counts_once),
            TEST(test_head_root_matches_get),
            TEST(test_head_does_not_count),
            TEST(test_get_root_json),
            TEST(test_visits_never_counts),
            TEST(test_readyz),
            TEST(test_unknown_paths_are_404),
            TEST(test_path_len_bounds_the_route),
            TEST(test_other_methods_are_405),
            TEST(test_accept_negotiation),
            cmocka_unit_test(test_accept_weights_follow_rfc_9110),
            cmocka_unit_test(test_accept_looks_at_a_bounded_prefix),
            TEST(test_counter_write_failure_is_503),
            TEST(test_page_escapes_the_format),
            TEST(test_city_comes_from_the_zone),
        };

        return cmocka_run_group_tests_name("routes", tests, NULL, NULL);
}
