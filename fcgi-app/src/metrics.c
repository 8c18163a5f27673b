/*
 * Prometheus metrics: counters the workers add to without locks. The text
 * exposition a scrape of /metrics returns is metrics_render.c's.
 */
#include "metrics.h"

#include <string.h>

#include "timeutil.h"

static const int codes[METRICS_CODES - 1] = {200, 400, 404, 405, 500, 503};
static const char *const code_names[METRICS_CODES] = {"200", "400", "404",  "405",
                                                      "500", "503", "other"};

/* Bucket bounds: from a cached page (~0.1 ms) to an fsync on a slow disk (~1 s). */
static const uint64_t bucket_ns[METRICS_BUCKETS - 1] = {
    100000,   250000,   500000,    1000000,   2500000,   5000000,    10000000,
    25000000, 50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000u};
static const char *const bucket_le[METRICS_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",     "0.25",   "0.5",   "1",      "2.5",   "+Inf"};

const char *
metrics_bucket_le(size_t i)
{
        return i < METRICS_BUCKETS ? bucket_le[i] : NULL;
}

void
metrics_init(struct metrics *m, const char *version, const char *commit)
{
        memset(m, 0, sizeof(*m));
        m->start_ns = now_real_ns();
        m->version = version;
        m->commit = commit;
        atomic_store(&m->last_reload_ok, 1);
}

/*
 * Which shard the calling thread adds to. Thread-local because the threads
 * belong to the serving layer and nothing here knows them; a thread keeps
 * its shard for life, and threads past METRICS_SHARDS share (still
 * atomically). next_shard is global for the same reason: it hands out
 * shards to threads, whichever struct metrics they add to.
 */
static _Thread_local unsigned thread_shard = ~0u;
static atomic_uint next_shard;

static struct metrics_shard *
my_shard(struct metrics *m)
{
        if (thread_shard == ~0u)
                thread_shard = atomic_fetch_add(&next_shard, 1) % METRICS_SHARDS;
        return &m->shards[thread_shard];
}

static size_t
code_index(int status)
{
        for (size_t i = 0; i < METRICS_CODES - 1; i++) {
                if (codes[i] == status)
                        return i;
        }
        return METRICS_CODES - 1;
}

void
metrics_request(struct metrics *m, unsigned route, int status, uint64_t ns)
{
        struct metrics_shard *s = my_shard(m);
        size_t b = 0;

        if (route >= METRICS_ROUTES_MAX)
                return;
        while (b < METRICS_BUCKETS - 1 && ns > bucket_ns[b])
                b++;
        atomic_fetch_add_explicit(&s->requests[route][code_index(status)], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->buckets[route][b], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->sum_ns[route], ns, memory_order_relaxed);
}

void
metrics_reload(struct metrics *m, enum metrics_reload result)
{
        atomic_fetch_add(&m->reloads[result], 1);
        atomic_store(&m->last_reload_ok, result == METRICS_RELOAD_APPLIED);
}

void
metrics_gauge_add(struct metrics *m, enum metrics_gauge g, int64_t delta)
{
        if (m != NULL)
                atomic_fetch_add_explicit(&m->gauges[g], delta, memory_order_relaxed);
}

int64_t
metrics_gauge(const struct metrics *m, enum metrics_gauge g)
{
        return atomic_load_explicit(&m->gauges[g], memory_order_relaxed);
}

const char *
metrics_code_name(size_t i)
{
        return i < METRICS_CODES ? code_names[i] : NULL;
}

uint64_t
metrics_requests(const struct metrics *m, unsigned route, size_t code)
{
        uint64_t n = 0;

        for (size_t s = 0; s < METRICS_SHARDS; s++)
                n +=
                    atomic_load_explicit(&m->shards[s].requests[route][code], memory_order_relaxed);
        return n;
}

uint64_t
metrics_bucket(const struct metrics *m, unsigned route, size_t bucket)
{
        uint64_t n = 0;

        for (size_t s = 0; s < METRICS_SHARDS; s++)
                n += atomic_load_explicit(&m->shards[s].buckets[route][bucket],
                                          memory_order_relaxed);
        return n;
}

uint64_t
metrics_sum_ns(const struct metrics *m, unsigned route)
{
        uint64_t n = 0;

        for (size_t s = 0; s < METRICS_SHARDS; s++)
                n += atomic_load_explicit(&m->shards[s].sum_ns[route], memory_order_relaxed);
        return n;
}
