#ifndef MT_ROUTES_H
#define MT_ROUTES_H

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

/* What the routes share across requests; each worker passes its own clock cache. */
struct app {
        const struct config *cfg;
        struct counter *counter;
        struct metrics *metrics; /* NULL: [metrics] enabled = false, /metrics is 404 */
        struct cluster *cluster; /* NULL: no pod name, /visits?scope=cluster is this pod alone */
};

void routes_handle(const struct app *app, struct clock_text *clock, const struct request *req,
                   struct response *resp);

/* The page's inline stylesheet: nginx's Content-Security-Policy carries its hash. */
extern const char routes_page_style[];

#endif
