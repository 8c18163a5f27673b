/*
 * Request -> response. No socket and no libfcgi here: the server hands in a
 * plain request and sends back the bytes, so tests and fuzzers call this
 * directly.
 */
#include "routes.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "negotiate.h"
#include "page.h"

/*
 * What a client learns of a counter failure. The detail (path, errno text)
 * is for the operator: the counter logs it when the failure starts.
 */
#define UNAVAILABLE_TEXT "the visit could not be counted; try again shortly"
#define NOT_READY_TEXT   "not ready: the counter file cannot be used"

/* Also the index of the route's label in /metrics. */
enum route {
        ROUTE_ROOT = METRICS_ROUTE_ROOT,
        ROUTE_VISITS = METRICS_ROUTE_VISITS,
        ROUTE_READY = METRICS_ROUTE_READY,
        ROUTE_METRICS = METRICS_ROUTE_METRICS,
        ROUTE_NONE = METRICS_ROUTE_OTHER,
};

static enum route
find_route(const char *path, size_t len)
{
        if (len == 1 && path[0] == '/')
                return ROUTE_ROOT;
        if (len == 7 && memcmp(path, "/visits", 7) == 0)
                return ROUTE_VISITS;
        if (len == 7 && memcmp(path, "/readyz", 7) == 0)
                return ROUTE_READY;
        if (len == 8 && memcmp(path, "/metrics", 8) == 0)
                return ROUTE_METRICS;
        return ROUTE_NONE;
}

/* JSON when the client prefers it to the route's own type; a tie keeps the route's type. */
static int
wants_json(const char *accept, const char *native)
{
        const char *const types[] = {native, "application/json"};
        int q[2];

        negotiate_weigh(accept, types, q, 2);
        return q[1] > q[0];
}

static void
body_printf(struct response *r, const char *fmt, ...)
{
        va_list ap;
        size_t room = sizeof(r->body) - r->body_len;

        va_start(ap, fmt);
        int n = vsnprintf(r->body + r->body_len, room, fmt, ap);
        va_end(ap);
        if (n > 0)
                r->body_len += (size_t)n < room ? (size_t)n : room - 1;
}

static const char *
reason(int status)
{
        switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 503: return "Service Unavailable";
        default: return "Internal Server Error";
        }
}

static void
finish(struct response *r, int status, const char *type, const char *extra)
{
        r->status = status;
        int n = snprintf(r->head, sizeof(r->head),
                         "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                         "Cache-Control: no-store\r\n%s\r\n",
                         status, reason(status), type, r->body_len, extra ? extra : "");
        r->head_len = n > 0 && (size_t)n < sizeof(r->head) ? (size_t)n : 0;
}

static void
plain(struct response *r, int status, const char *extra, const char *text)
{
        r->body_len = 0;
        body_printf(r, "%s\n", text);
        finish(r, status, "text/plain; charset=utf-8", extra);
}

/* ,"pod":"NAME" for a JSON answer: every one names the pod that gave it (none without a cluster).
 */
static void
body_pod(struct response *r, const struct app *app)
{
        if (app->cluster != NULL)
                body_printf(r, ",\"pod\":\"%s\"", app->cluster->self);
}

/* The city of a zone name: "Europe/Moscow" -> "Moscow", "America/New_York" -> "New York". */
static void
zone_city(const char *zone, char *out, size_t len)
{
        const char *slash = strrchr(zone, '/');
        size_t i = 0;

        for (const char *p = slash ? slash + 1 : zone; *p && i + 1 < len; p++)
                out[i++] = *p == '_' ? ' ' : *p;
        out[i] = '\0';
}

static void
render_page(struct response *r, const struct app *app, const struct clock_text *t, uint64_t n)
{
        /* On the worker's stack (about 100 KiB at most): no allocation per page. */
        struct cluster_view v;
        char city[64];
        struct expo e;

        zone_city(app->cfg->timezone, city, sizeof(city));
        if (app->cluster != NULL)
                cluster_view(app->cluster, &v, cluster_now_ns());
        struct page p = {.city = city, .t = t, .visits = n, .cluster = app->cluster ? &v : NULL};
        expo_init(&e, r->body, sizeof(r->body));
        page_render(&p, &e);
        r->body_len = e.len;
        if (e.overflow) {
                plain(r, 500, NULL, "the page does not fit in a response");
                return;
        }
        finish(r, 200, "text/html; charset=utf-8", "Vary: Accept\r\n");
}

void
routes_live_init(struct routes_live *l, const struct config *cfg)
{
        pthread_mutex_init(&l->mu, NULL);
        snprintf(l->time_format, sizeof(l->time_format), "%s", cfg->time_format);
        atomic_init(&l->gen, 1);
}

void
routes_live_set(struct routes_live *l, const struct config *cfg)
{
        pthread_mutex_lock(&l->mu);
        snprintf(l->time_format, sizeof(l->time_format), "%s", cfg->time_format);
        atomic_fetch_add_explicit(&l->gen, 1, memory_order_release);
        pthread_mutex_unlock(&l->mu);
}

/*
 * Each worker thread's copy of the live keys. Thread-local because the
 * threads are server.c's and routes.c is handed no state of its own per
 * worker; owner tells copies of two struct routes_live apart (unit tests).
 */
/* cppcheck does not follow the _Thread_local variable below to these members. */
struct live_copy {
        // cppcheck-suppress unusedStructMember
        const struct routes_live *owner;
        // cppcheck-suppress unusedStructMember
        unsigned gen;
        // cppcheck-suppress unusedStructMember
        char time_format[CONFIG_FORMAT_MAX];
};
static _Thread_local struct live_copy mine;

/* The [clock] format in force; a new one takes effect with this request. */
static const char *
time_format(const struct app *app, struct clock_text *clock)
{
        struct routes_live *l = app->live;

        if (l == NULL)
                return app->cfg->time_format;
        if (mine.owner != l || mine.gen != atomic_load_explicit(&l->gen, memory_order_acquire)) {
                pthread_mutex_lock(&l->mu);
                memcpy(mine.time_format, l->time_format, sizeof(mine.time_format));
                mine.gen = atomic_load_explicit(&l->gen, memory_order_relaxed);
                mine.owner = l;
                pthread_mutex_unlock(&l->mu);
                clock->sec = 0; /* the cached text is in the old format */
        }
        return mine.time_format;
}

/*
 * The answer to GET / once the visit's outcome is known: rc 0 and the count
 * n. A refused visit's reason stays in the log (the counter wrote it there):
 * clients get no paths or errno text.
 */
static void
root_answer(const struct app *app, struct clock_text *clock, int json, int rc, uint64_t n,
            struct response *r)
{
        if (rc != 0) {
                plain(r, 503, "Retry-After: 1\r\n", UNAVAILABLE_TEXT);
                return;
        }
        const struct clock_text *t = clock_now(clock, time_format(app, clock));
        if (json) {
                body_printf(r, "{\"time\":\"%s\",\"timezone\":\"%s\",\"visits\":%" PRIu64, t->iso,
                            app->cfg->timezone, n);
                body_pod(r, app);
                body_printf(r, "}\n");
                finish(r, 200, "application/json", "Vary: Accept\r\n");
                return;
        }
        render_page(r, app, t, n);
}

static int
root_wants_json(const struct request *req)
{
        return wants_json(req->accept, "text/html");
}

static void
route_root(const struct app *app, struct clock_text *clock, const struct request *req,
           struct response *r)
{
        uint64_t n;
        int rc = 0;

        if (r->send_body) {
                char why[256]; /* the counter logs it */
                rc = counter_visit(app->counter, &n, why, sizeof(why));
        } else {
                n = counter_get(app->counter); /* HEAD does not count */
        }
        root_answer(app, clock, root_wants_json(req), rc, n, r);
}

/* The value of key in a query string (a=1&b=2), n bytes at *val; 0 if absent. */
static int
query_param(const char *query, const char *key, const char **val, size_t *n)
{
        size_t klen = strlen(key);

        for (const char *p = query; p != NULL && *p;) {
                size_t len = strcspn(p, "&");
                if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
                        *val = p + klen + 1;
                        *n = len - klen - 1;
                        return 1;
                }
                p += len;
                if (*p == '&')
                        p++;
        }
        return 0;
}

/* The service's total, from what the poller has seen; never waits for a peer. */
static void
route_cluster(const struct app *app, const struct request *req, struct response *r)
{
        /* On the worker's stack (about 100 KiB at most): no allocation per answer. */
        struct cluster_view view, *v = &view;
        struct expo e;

        if (app->cluster != NULL) {
                cluster_view(app->cluster, v, cluster_now_ns());
        } else {
                memset(v, 0, offsetof(struct cluster_view, e) + sizeof(v->e[0]));
                v->total = v->own = v->e[0].visits = v->e[0].reported = counter_get(app->counter);
                v->n = 1;
        }
        int json = wants_json(req->accept, "text/plain");
        expo_init(&e, r->body, sizeof(r->body));
        if (json)
                answer_cluster_json(v, &e);
        else
                answer_cluster_text(v, &e);
        r->body_len = e.len;
        if (e.overflow) {
                plain(r, 500, NULL, "the cluster answer does not fit in a response");
                return;
        }
        finish(r, 200, json ? "application/json" : "text/plain; charset=utf-8", "Vary: Accept\r\n");
}

static void
route_visits(const struct app *app, const struct request *req, struct response *r)
{
        const char *scope;
        size_t n_scope;

        if (query_param(req->query, "scope", &scope, &n_scope)) {
                if (n_scope == 7 && memcmp(scope, "cluster", 7) == 0) {
                        route_cluster(app, req, r);
                        return;
                }
                if (n_scope != 5 || memcmp(scope, "local", 5) != 0) {
                        plain(r, 400, NULL, "unknown scope; expected scope=local or scope=cluster");
                        return;
                }
        }
        uint64_t n = counter_get(app->counter);
        if (wants_json(req->accept, "text/plain")) {
                body_printf(r, "{\"visits\":%" PRIu64, n);
                body_pod(r, app);
                body_printf(r, "}\n");
                finish(r, 200, "application/json", "Vary: Accept\r\n");
                return;
        }
        body_printf(r, "%" PRIu64 "\n", n);
        finish(r, 200, "text/plain; charset=utf-8", "Vary: Accept\r\n");
}

static void
route_ready(const struct app *app, struct response *r)
{
        char why[256];

        if (counter_check(app->counter, why, sizeof(why)) != 0) {
                plain(r, 503, "Retry-After: 1\r\n", NOT_READY_TEXT);
                return;
        }
        plain(r, 200, NULL, "ready");
}

static void
route_metrics(const struct app *app, struct response *r)
{
        struct metrics_counter mc;
        struct expo e;

        counter_stats(app->counter, &mc);
        expo_init(&e, r->body, sizeof(r->body));
        metrics_render(app->metrics, &e);
        metrics_render_counter(&mc, &e);
        if (app->cluster != NULL)
                cluster_render_metrics(app->cluster, &e, cluster_now_ns());
        r->body_len = e.len;
        if (e.overflow) {
                plain(r, 500, NULL, "the metrics do not fit in a response");
                return;
        }
        finish(r, 200, METRICS_CONTENT_TYPE, NULL);
}

static void
dispatch(const struct app *app, struct clock_text *clock, const struct request *req,
         enum route route, struct response *r)
{
        int head = strcmp(req->method, "HEAD") == 0;

        r->body_len = r->head_len = 0;
        r->send_body = !head;
        if (!head && strcmp(req->method, "GET") != 0) {
                plain(r, 405, "Allow: GET, HEAD\r\n", "method not allowed");
                return;
        }
        switch (route) {
        case ROUTE_ROOT: route_root(app, clock, req, r); break;
        case ROUTE_VISITS: route_visits(app, req, r); break;
        case ROUTE_READY: route_ready(app, r); break;
        case ROUTE_METRICS:
                if (app->metrics != NULL)
                        route_metrics(app, r);
                else
                        plain(r, 404, NULL, "not found"); /* metrics are off */
                break;
        default: plain(r, 404, NULL, "not found"); break;
        }
}

static uint64_t
monotonic_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
routes_handle(const struct app *app, struct clock_text *clock, const struct request *req,
              struct response *r)
{
        enum route route = find_route(req->path, req->path_len);

        if (app->metrics == NULL) {
                dispatch(app, clock, req, route, r);
                return;
        }
        uint64_t start = monotonic_ns();
        dispatch(app, clock, req, route, r);
        metrics_request(app->metrics, (enum metrics_route)route, r->status, monotonic_ns() - start);
}

int
routes_begin(const struct app *app, struct clock_text *clock, const struct request *req,
             struct response *r, struct routes_visit *v)
{
        if (strcmp(req->method, "GET") != 0 || find_route(req->path, req->path_len) != ROUTE_ROOT) {
                routes_handle(app, clock, req, r);
                return 0;
        }
        v->json = root_wants_json(req);
        v->start_ns = app->metrics != NULL ? monotonic_ns() : 0;
        return 1;
}

void
routes_visit_answer(const struct app *app, struct clock_text *clock, const struct routes_visit *v,
                    const struct counter_waiter *w, struct response *r)
{
        r->body_len = r->head_len = 0;
        r->send_body = 1;
        root_answer(app, clock, v->json, w->state == COUNTER_WAIT_DONE ? 0 : -1, w->number, r);
        if (app->metrics != NULL)
                metrics_request(app->metrics, METRICS_ROUTE_ROOT, r->status,
                                monotonic_ns() - v->start_ns);
}
