#ifndef MT_METRICS_RENDER_H
#define MT_METRICS_RENDER_H

#include <stdint.h>

#include "cluster.h"
#include "counter.h"
#include "metrics.h"
#include "text.h"

/* The exposition's Content-Type. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The label of each route index (routes.c owns them); other: the route of unknown paths. */
struct metrics_routes {
        const char *const *names;
        unsigned n;
        unsigned other;
};

/* Requests, durations, reloads, build and start time. */
void metrics_render(struct text *t, const struct metrics *m, const struct metrics_routes *r);

/* The counter: visits, write and fsync errors, the last fsync. */
void metrics_render_counter(struct text *t, const struct counter_health *c);

/* The service's total, each pod's count as seen, and each polled peer's reachability. */
void metrics_render_cluster(struct text *t, const struct cluster_view *v);

/* The format's pieces. # HELP and # TYPE of a family. */
void prom_family(struct text *t, const char *name, const char *type, const char *help);
/*
 * One sample. labels is NULL or pairs of name and value, ended by NULL;
 * values are escaped as the format requires.
 */
void prom_u64(struct text *t, const char *name, const char *const *labels, uint64_t v);
void prom_i64(struct text *t, const char *name, const char *const *labels, int64_t v);
/* A time or duration in nanoseconds, written as seconds with nine decimals. */
void prom_seconds(struct text *t, const char *name, const char *const *labels, int64_t ns);

#endif
