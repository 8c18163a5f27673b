#ifndef MT_METRICS_H
#define MT_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The request counters Prometheus scrapes: what happened, not how it is
 * written (metrics_render.c writes the exposition). Routes are indices
 * below METRICS_ROUTES_MAX that the caller (routes.h: enum route) defines,
 * so no label value ever comes from a client.
 */
#define METRICS_ROUTES_MAX 8
#define METRICS_CODES      7  /* 200 400 404 405 500 503, and any other */
#define METRICS_BUCKETS    15 /* upper bounds of the duration histogram, +Inf last */
#define METRICS_SHARDS     16

/*
 * One shard of the request counters. Each thread adds to its own shard, so
 * the workers never bounce a cache line between CPUs; a scrape sums them.
 */
struct metrics_shard {
        _Alignas(64) atomic_uint_fast64_t requests[METRICS_ROUTES_MAX][METRICS_CODES];
        atomic_uint_fast64_t buckets[METRICS_ROUTES_MAX][METRICS_BUCKETS]; /* not cumulative */
        atomic_uint_fast64_t sum_ns[METRICS_ROUTES_MAX];
};

enum metrics_reload { METRICS_RELOAD_APPLIED, METRICS_RELOAD_REJECTED, METRICS_RELOADS };

/* What is waiting right now, as the serving layer counts it. */
enum metrics_gauge {
        METRICS_PARKED,  /* sync=always visits waiting for their batch, holding no thread */
        METRICS_PENDING, /* FastCGI requests not yet whole */
        METRICS_GAUGES
};

struct metrics {
        struct metrics_shard shards[METRICS_SHARDS];
        atomic_uint_fast64_t reloads[METRICS_RELOADS];
        atomic_int last_reload_ok;
        atomic_int_fast64_t gauges[METRICS_GAUGES];
        int64_t start_ns; /* process start, CLOCK_REALTIME */
        const char *version;
        const char *commit;
};

void metrics_init(struct metrics *m, const char *version, const char *commit);

/* One request answered: its route (< METRICS_ROUTES_MAX), HTTP status and the time it took. */
void metrics_request(struct metrics *m, unsigned route, int status, uint64_t ns);

void metrics_reload(struct metrics *m, enum metrics_reload result);

/* Adds delta to gauge g; m NULL ([metrics] enabled = false) does nothing. */
void metrics_gauge_add(struct metrics *m, enum metrics_gauge g, int64_t delta);
int64_t metrics_gauge(const struct metrics *m, enum metrics_gauge g);

/* Upper bound of bucket i in seconds, as the exposition spells it ("+Inf" last). */
const char *metrics_bucket_le(size_t i);

/* Code i's label ("200" ... "other"). */
const char *metrics_code_name(size_t i);

/* Sums over the shards, for a scrape: each only grows, whatever runs meanwhile. */
uint64_t metrics_requests(const struct metrics *m, unsigned route, size_t code);
uint64_t metrics_bucket(const struct metrics *m, unsigned route, size_t bucket);
uint64_t metrics_sum_ns(const struct metrics *m, unsigned route);

#endif
