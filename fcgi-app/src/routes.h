#ifndef MT_ROUTES_H
#define MT_ROUTES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "cluster.h"
#include "config.h"
#include "counter.h"
#include "metrics.h"

/* The routes: also the index of each in the request metrics, so no label comes from a client. */
enum route {
        ROUTE_ROOT,
        ROUTE_VISITS,
        ROUTE_READY,
        ROUTE_METRICS,
        ROUTE_OTHER, /* 404s and 405s: whatever path the client made up */
        ROUTES
};

/* Route r's label: "/", "/visits", "/readyz", "/metrics", "other". */
const char *route_name(enum route r);

/* What a route needs to know of a request; the serving layer fills it from the FastCGI params. */
struct request {
        const char *method; /* REQUEST_METHOD */
        const char *path;   /* DOCUMENT_URI, or REQUEST_URI up to '?' */
        size_t path_len;
        const char *accept;   /* HTTP_ACCEPT, may be NULL */
        const char *query;    /* QUERY_STRING, may be NULL */
        const char *listener; /* MT_LISTENER: "metrics" on nginx's metrics port; else public */
};

/*
 * 1 if req came through nginx's metrics server (MT_LISTENER=metrics), which
 * Prometheus and the operators reach, not the public: /metrics, and the
 * peers' addresses and errors in the cluster answer, are for it alone.
 * Anything else, an unset parameter too, is public.
 */
int routes_internal(const struct request *req);

struct response {
        int status;
        int send_body; /* 0 for HEAD: same headers, no body */
        size_t head_len;
        size_t body_len;
        char head[512]; /* "Status: ...\r\n" headers "\r\n" */
        /*
         * The largest answer: the cluster's (JSON or text with detail, or
         * /metrics) for 256 pods with 63-byte names, 253-byte hosts and
         * errors that escape to twice their length is 117 KB (cluster_test.c
         * measures it); a page is 11 KB at most. Untouched pages of it cost
         * no memory.
         */
        char body[163840];
};

/*
 * The keys routes.c reads that a reload may change while workers run: the
 * main thread sets them under the lock and bumps gen; a worker copies them
 * only when gen moved, so a request pays one atomic load.
 */
struct routes_live {
        pthread_mutex_t mu;
        atomic_uint gen;
        char time_format[CONFIG_FORMAT_MAX];
};

void routes_live_init(struct routes_live *l, const struct config *cfg);
void routes_live_set(struct routes_live *l, const struct config *cfg);

/* What the routes share across requests; each worker passes its own clock cache. */
struct app {
        const struct config *cfg;
        struct counter *counter;
        struct metrics *metrics;  /* NULL: [metrics] enabled = false, /metrics is 404 */
        struct cluster *cluster;  /* NULL: no pod name, /visits?scope=cluster is this pod alone */
        struct routes_live *live; /* NULL: cfg's values, never changed */
};

/* One request, answered into resp; GET / counts the visit (and waits for its fsync). */
void routes_handle(const struct app *app, struct clock_text *clock, const struct request *req,
                   struct response *resp);

/*
 * GET / in steps, so that a visit waiting for its fsync (sync=always) need
 * not hold a thread, and its answer is made by the worker, not by the
 * thread that fsyncs:
 *
 * routes_begin() answers any request but a visit as routes_handle() does
 * and returns 0. For a visit it returns 1 and fills *v with what the answer
 * depends on (req may be gone by then).
 *
 * routes_visit() then counts it. With sync=always and may_park it only
 * reserves the visit's number (counter_reserve(), in w->number) and returns
 * ROUTES_RESERVED: the caller submits the visit at once with
 * routes_visit_submit(), so that it joins the next batch without waiting
 * for its page, and renders the 200 answer for that number with
 * routes_visit_render() meanwhile; once the batch has an outcome it sends
 * that answer, or the 503 of routes_visit_refused(), and calls
 * routes_visit_finished(). routes_visit_submit() with w->done NULL waits
 * for the outcome instead: 0 done, -1 refused. Otherwise (another mode, no
 * park, or no number while the counter file fails) the visit is counted and
 * answered here, waiting if it must: ROUTES_ANSWERED.
 */
struct routes_visit {
        int json;         /* Accept prefers JSON to the page */
        int64_t start_ns; /* CLOCK_MONOTONIC at routes_begin(), for the duration metric */
};

enum routes_step { ROUTES_ANSWERED, ROUTES_RESERVED };

int routes_begin(const struct app *app, struct clock_text *clock, const struct request *req,
                 struct response *resp, struct routes_visit *v);
enum routes_step routes_visit(const struct app *app, struct clock_text *clock,
                              const struct routes_visit *v, int may_park, struct counter_waiter *w,
                              struct response *resp);
void routes_visit_render(const struct app *app, struct clock_text *clock,
                         const struct routes_visit *v, uint64_t number, struct response *resp);
void routes_visit_refused(const struct routes_visit *v, struct response *resp);
int routes_visit_submit(const struct app *app, struct counter_waiter *w);
void routes_visit_finished(const struct app *app, const struct routes_visit *v, int status);

#endif
