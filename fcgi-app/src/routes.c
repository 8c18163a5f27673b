/*
 * Request -> response. No socket and no libfcgi here: the serving layer
 * hands in a plain request and sends back the bytes, so tests and fuzzers
 * call this directly. A visit goes down to the counter and comes back up
 * here once, with its number; everything it shows is rendered from that.
 */
#include "routes.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "metrics_render.h"
#include "negotiate.h"
#include "page.h"
#include "peerlist.h"
#include "text.h"
#include "timeutil.h"

/*
 * What a client learns of a counter failure. The detail (path, errno text)
 * is for the operator: the counter logs it when the failure starts.
 */
#define UNAVAILABLE_TEXT "the visit could not be counted; try again shortly"
#define NOT_READY_TEXT   "not ready: the counter file cannot be used"

_Static_assert(ROUTES <= METRICS_ROUTES_MAX, "more routes than the metrics count");

static const char *const route_names[ROUTES] = {"/", "/visits", "/readyz", "/metrics", "other"};

const char *
route_name(enum route r)
{
        return r < ROUTES ? route_names[r] : NULL;
}

int
routes_internal(const struct request *req)
{
        return req->listener != NULL && strcmp(req->listener, "metrics") == 0;
}

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
        return ROUTE_OTHER;
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
plain(struct response *r, int status, const char *extra, const char *msg)
{
        struct text t;

        text_init(&t, r->body, sizeof(r->body));
        text_str(&t, msg);
        TEXT_LIT(&t, "\n");
        r->body_len = t.len;
        finish(r, status, "text/plain; charset=utf-8", extra);
}

/* The body built in t, or a 500 saying what did not fit. */
static void
finish_text(struct response *r, const struct text *t, const char *type, const char *what)
{
        r->body_len = t->len;
        if (t->overflow) {
                char msg[96];
                snprintf(msg, sizeof(msg), "%s does not fit in a response", what);
                plain(r, 500, NULL, msg);
                return;
        }
        finish(r, 200, type, "Vary: Accept\r\n");
}

/* ,"pod":"NAME" for a JSON answer: every one names the pod that gave it (none without a cluster).
 */
static void
json_pod(struct text *t, const struct app *app)
{
        if (app->cluster != NULL) {
                TEXT_LIT(t, ",\"pod\":");
                text_json_string(t, app->cluster->self);
        }
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

/*
 * The page of visit n. The pod's own row shows n too, not a later read of
 * the counter: a page never contradicts itself, whatever visits run beside.
 */
static void
render_page(struct response *r, const struct app *app, const struct clock_text *t, uint64_t n)
{
        /* On the worker's stack (about 140 KiB at most): no allocation per page. */
        struct cluster_view v;
        char city[64];
        struct text e;

        zone_city(app->cfg->timezone, city, sizeof(city));
        if (app->cluster != NULL)
                cluster_view(app->cluster, n, &v, now_mono_ns());
        struct page p = {.city = city, .t = t, .visits = n, .cluster = app->cluster ? &v : NULL};
        text_init(&e, r->body, sizeof(r->body));
        page_render(&p, &e);
        finish_text(r, &e, "text/html; charset=utf-8", "the page");
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
                struct text e;
                text_init(&e, r->body, sizeof(r->body));
                TEXT_LIT(&e, "{\"time\":");
                text_json_string(&e, t->iso);
                TEXT_LIT(&e, ",\"timezone\":");
                text_json_string(&e, app->cfg->timezone);
                TEXT_LIT(&e, ",\"visits\":");
                text_dec(&e, n);
                json_pod(&e, app);
                TEXT_LIT(&e, "}\n");
                finish_text(r, &e, "application/json", "the answer");
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

/* GET /visits?scope=cluster&pod=NAME: what this pod saw of NAME (a recovering pod asks). */
static void
route_seen(const struct app *app, const char *val, size_t n, struct response *r)
{
        char of[CLUSTER_NAME_MAX], why[96];
        uint64_t visits;
        int64_t age_ns;
        enum cluster_state st;
        struct text e;

        if (n >= sizeof(of)) {
                plain(r, 400, NULL, "pod: expected a pod name");
                return;
        }
        memcpy(of, val, n);
        of[n] = '\0';
        if (peer_name_check(of, why, sizeof(why)) != 0) {
                plain(r, 400, NULL, "pod: expected a pod name");
                return;
        }
        if (app->cluster == NULL) {
                plain(r, 404, NULL, "no count of that pod here");
                return;
        }
        int64_t now = now_mono_ns();
        if (strcmp(of, app->cluster->self) == 0) {
                visits = counter_get(app->counter);
                age_ns = 0;
                st = CLUSTER_SELF;
        } else if (!cluster_seen(app->cluster, of, now, &visits, &age_ns, &st)) {
                plain(r, 404, NULL, "no count of that pod here");
                return;
        }
        text_init(&e, r->body, sizeof(r->body));
        answer_cluster_seen(&e, app->cluster->self, of, visits, st, age_ns);
        finish_text(r, &e, "application/json", "the answer");
}

/* The service's total, from what the poller has seen; never waits for a peer. */
static void
route_cluster(const struct app *app, const struct request *req, struct response *r)
{
        /* On the worker's stack (about 140 KiB at most): no allocation per answer. */
        struct cluster_view view, *v = &view;
        const char *pod;
        size_t n_pod;
        struct text e;
        if (query_param(req->query, "pod", &pod, &n_pod)) {
                route_seen(app, pod, n_pod, r);
                return;
        }
        uint64_t own = counter_get(app->counter);
        if (app->cluster != NULL) {
                cluster_view(app->cluster, own, v, now_mono_ns());
        } else {
                memset(v, 0, offsetof(struct cluster_view, e) + sizeof(v->e[0]));
                v->total = v->own = v->e[0].visits = v->e[0].reported = own;
                v->e[0].up = 1;
                v->n = 1;
        }
        int json = wants_json(req->accept, "text/plain");
        text_init(&e, r->body, sizeof(r->body));
        if (json)
                answer_cluster_json(v, routes_internal(req), &e);
        else
                answer_cluster_text(v, routes_internal(req), &e);
        finish_text(r, &e, json ? "application/json" : "text/plain; charset=utf-8",
                    "the cluster answer");
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
        struct text e;
        text_init(&e, r->body, sizeof(r->body));
        if (wants_json(req->accept, "text/plain")) {
                TEXT_LIT(&e, "{\"visits\":");
                text_dec(&e, n);
                json_pod(&e, app);
                TEXT_LIT(&e, "}\n");
                finish_text(r, &e, "application/json", "the answer");
                return;
        }
        text_dec(&e, n);
        TEXT_LIT(&e, "\n");
        finish_text(r, &e, "text/plain; charset=utf-8", "the answer");
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
        static const struct metrics_routes routes = {route_names, ROUTES, ROUTE_OTHER};
        struct counter_health h;
        struct text e;

        counter_health(app->counter, &h);
        text_init(&e, r->body, sizeof(r->body));
        metrics_render(&e, app->metrics, &routes);
        metrics_render_counter(&e, &h);
        if (app->cluster != NULL) {
                struct cluster_view *v = malloc(sizeof(*v)); /* 140 KiB: not on a worker's stack */
                if (v == NULL) {
                        plain(r, 503, "Retry-After: 1\r\n", "out of memory; try again shortly");
                        return;
                }
                cluster_view(app->cluster, h.count, v, now_mono_ns());
                metrics_render_cluster(&e, v);
                free(v);
        }
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
                /* Off, or asked on the public port: nginx's metrics server alone says metrics. */
                if (app->metrics != NULL && routes_internal(req))
                        route_metrics(app, r);
                else
                        plain(r, 404, NULL, "not found");
                break;
        default: plain(r, 404, NULL, "not found"); break;
        }
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
        int64_t start = now_mono_ns();
        dispatch(app, clock, req, route, r);
        metrics_request(app->metrics, route, r->status, (uint64_t)(now_mono_ns() - start));
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
        v->start_ns = app->metrics != NULL ? now_mono_ns() : 0;
        return 1;
}

void
routes_visit_finished(const struct app *app, const struct routes_visit *v, int status)
{
        if (app->metrics != NULL)
                metrics_request(app->metrics, ROUTE_ROOT, status,
                                (uint64_t)(now_mono_ns() - v->start_ns));
}

void
routes_visit_refused(const struct routes_visit *v, struct response *r)
{
        (void)v;
        r->body_len = r->head_len = 0;
        r->send_body = 1;
        plain(r, 503, "Retry-After: 1\r\n", UNAVAILABLE_TEXT);
}

enum routes_step
routes_visit(const struct app *app, struct clock_text *clock, const struct routes_visit *v,
             int may_park, struct counter_waiter *w, struct response *r)
{
        uint64_t n = 0;
        int rc;

        r->body_len = r->head_len = 0;
        r->send_body = 1;
        if (may_park && app->cfg->sync == SYNC_ALWAYS) {
                rc = counter_reserve(app->counter, w);
                if (rc == 1)
                        return ROUTES_RESERVED;
                if (rc < 0) {
                        routes_visit_refused(v, r);
                        routes_visit_finished(app, v, r->status);
                        return ROUTES_ANSWERED;
                }
                /* No number while the file fails: wait here for one, as other visits do. */
        }
        char why[256]; /* the counter logs it: clients get no paths or errno text */
        rc = counter_visit(app->counter, &n, why, sizeof(why));
        root_answer(app, clock, v->json, rc, n, r);
        routes_visit_finished(app, v, r->status);
        return ROUTES_ANSWERED;
}

void
routes_visit_render(const struct app *app, struct clock_text *clock, const struct routes_visit *v,
                    uint64_t number, struct response *r)
{
        r->body_len = r->head_len = 0;
        r->send_body = 1;
        root_answer(app, clock, v->json, 0, number, r);
}

int
routes_visit_submit(const struct app *app, struct counter_waiter *w)
{
        return counter_submit(app->counter, w);
}
