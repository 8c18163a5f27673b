#ifndef MT_METRICS_H
#define MT_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The routes requests are counted under: a fixed set, so no label value comes from a client. */
enum metrics_route {
        METRICS_ROUTE_ROOT,
        METRICS_ROUTE_VISITS,
        METRICS_ROUTE_READY,
        METRICS_ROUTE_METRICS,
        METRICS_ROUTE_OTHER, /* 404s and 405s: whatever path the client made up */
        METRICS_ROUTES
};

#define METRICS_CODES   7  /* 200 400 404 405 500 503, and any other */
#define METRICS_BUCKETS 15 /* upper bounds of the duration histogram, +Inf last */
#define METRICS_SHARDS  16

/*
 * One shard of the request counters. Each thread adds to its own shard, so
 * the workers never bounce a cache line between CPUs; a scrape sums them.
 */
struct metrics_shard {
        _Alignas(64) atomic_uint_fast64_t requests[METRICS_ROUTES][METRICS_CODES];
        atomic_uint_fast64_t buckets[METRICS_ROUTES][METRICS_BUCKETS]; /* not cumulative */
        atomic_uint_fast64_t sum_ns[METRICS_ROUTES];
};

enum metrics_reload { METRICS_RELOAD_APPLIED, METRICS_RELOAD_REJECTED, METRICS_RELOADS };

struct metrics {
        struct metrics_shard shards[METRICS_SHARDS];
        atomic_uint_fast64_t reloads[METRICS_RELOADS];
        atomic_int last_reload_ok;
        int64_t start_ns; /* process start, CLOCK_REALTIME */
        const char *version;
        const char *commit;
};

/* What the counter reports at a scrape (counter.c fills it). */
struct metrics_counter {
        uint64_t visits;
        uint64_t write_errors;
        uint64_t fsync_errors;
        int64_t last_fsync_ns; /* CLOCK_REALTIME of the last fsync that succeeded; 0 = none yet */
};

/*
 * The text exposition being written: a fixed buffer that remembers running
 * out of room, so that a scrape never returns a silently cut list.
 */
struct expo {
        char *buf;
        size_t cap;
        size_t len;
        int overflow;
};

void metrics_init(struct metrics *m, const char *version, const char *commit);

/* One request answered: its route, HTTP status and the time it took. */
void metrics_request(struct metrics *m, enum metrics_route route, int status, uint64_t ns);

void metrics_reload(struct metrics *m, enum metrics_reload result);

/* Upper bound of bucket i in seconds, as the exposition spells it ("+Inf" last). */
const char *metrics_bucket_le(size_t i);

void expo_init(struct expo *e, char *buf, size_t cap);
/* Appends text; on running out of room sets overflow and keeps only what fitted whole. */
__attribute__((format(printf, 2, 3))) void expo_printf(struct expo *e, const char *fmt, ...);
/*
 * The same without a format, for the page a visit renders (a printf per
 * piece cost a visit microseconds): n bytes of s, a string, a decimal.
 */
void expo_put(struct expo *e, const char *s, size_t n);
void expo_str(struct expo *e, const char *s);
void expo_dec(struct expo *e, uint64_t v);
/* # HELP and # TYPE of a family. */
void expo_family(struct expo *e, const char *name, const char *type, const char *help);
/*
 * One sample. labels is NULL or pairs of name and value, ended by NULL;
 * values are escaped as the format requires.
 */
void expo_u64(struct expo *e, const char *name, const char *const *labels, uint64_t v);
void expo_i64(struct expo *e, const char *name, const char *const *labels, int64_t v);
/* A time or duration in nanoseconds, written as seconds with nine decimals. */
void expo_seconds(struct expo *e, const char *name, const char *const *labels, int64_t ns);

/* Appends the families metrics.c owns: requests, durations, reloads, build, start time. */
void metrics_render(struct metrics *m, struct expo *e);
void metrics_render_counter(const struct metrics_counter *c, struct expo *e);

/* The exposition's Content-Type. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
