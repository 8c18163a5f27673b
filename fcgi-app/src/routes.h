#ifndef MT_ROUTES_H
#define MT_ROUTES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "clock.h"
#include "cluster.h"
#include "config.h"
#include "counter.h"
#include "metrics.h"

/* What a route needs to know of a request; server.c fills it from the FastCGI params. */
struct request {
        const char *method; /* REQUEST_METHOD */
        const char *path;   /* DOCUMENT_URI, or REQUEST_URI up to '?' */
        size_t path_len;
        const char *accept; /* HTTP_ACCEPT, may be NULL */
        const char *query;  /* QUERY_STRING, may be NULL */
};

struct response {
        int status;
        int send_body; /* 0 for HEAD: same headers, no body */
        size_t head_len;
        size_t body_len;
        char head[512];   /* "Status: ...\r\n" headers "\r\n" */
        char body[32768]; /* /metrics with a histogram per route and a few dozen pods */
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

void routes_handle(const struct app *app, struct clock_text *clock, const struct request *req,
                   struct response *resp);

/*
 * GET / in two steps, so that a visit waiting for its fsync (sync=always)
 * need not hold a thread: routes_begin() answers any other request into
 * resp as routes_handle() does and returns 0; a visit it leaves unanswered
 * and uncounted, returns 1 and fills *v with what the answer depends on
 * (req may be gone by then). The caller counts the visit with
 * counter_visit_start() and, once w has its outcome, routes_visit_answer()
 * writes the answer (and the request's metrics).
 */
struct routes_visit {
        int json;          /* Accept prefers JSON to the page */
        uint64_t start_ns; /* CLOCK_MONOTONIC at routes_begin(), for the duration metric */
};

int routes_begin(const struct app *app, struct clock_text *clock, const struct request *req,
                 struct response *resp, struct routes_visit *v);
void routes_visit_answer(const struct app *app, struct clock_text *clock,
                         const struct routes_visit *v, const struct counter_waiter *w,
                         struct response *resp);

#endif
