/*
 * Prometheus metrics: counters the workers add to without locks, and the
 * text exposition format (version 0.0.4) a scrape of /metrics returns.
 *
 * Names follow the Prometheus naming conventions: the moscow_time_ prefix,
 * base units (seconds), _total on counters, _info with a constant 1 for
 * build information, and the client libraries' process_start_time_seconds.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const int codes[METRICS_CODES - 1] = {200, 400, 404, 405, 500, 503};
static const char *const code_names[METRICS_CODES] = {"200", "400", "404",  "405",
                                                      "500", "503", "other"};
static const char *const route_names[METRICS_ROUTES] = {"/", "/visits", "/readyz", "/metrics",
                                                        "other"};

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

static int64_t
realtime_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
metrics_init(struct metrics *m, const char *version, const char *commit)
{
        memset(m, 0, sizeof(*m));
        m->start_ns = realtime_ns();
        m->version = version;
        m->commit = commit;
        atomic_store(&m->last_reload_ok, 1);
}

/*
 * Which shard the calling thread adds to. Thread-local because the threads
 * belong to server.c and routes.c knows nothing of them; a thread keeps its
 * shard for life, and threads past METRICS_SHARDS share (still atomically).
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
metrics_request(struct metrics *m, enum metrics_route route, int status, uint64_t ns)
{
        struct metrics_shard *s = my_shard(m);
        size_t b = 0;

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

/* The exposition writer. */

void
expo_init(struct expo *e, char *buf, size_t cap)
{
        e->buf = buf;
        e->cap = cap;
        e->len = 0;
        e->overflow = cap == 0;
        if (cap > 0)
                buf[0] = '\0';
}

void
expo_printf(struct expo *e, const char *fmt, ...)
{
        va_list ap;

        if (e->overflow)
                return;
        size_t room = e->cap - e->len;
        va_start(ap, fmt);
        int n = vsnprintf(e->buf + e->len, room, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= room) {
                e->overflow = 1;
                e->buf[e->len] = '\0';
                return;
        }
        e->len += (size_t)n;
}

void
expo_put(struct expo *e, const char *s, size_t n)
{
        if (e->overflow)
                return;
        if (n >= e->cap - e->len) {
                e->overflow = 1;
                e->buf[e->len] = '\0';
                return;
        }
        memcpy(e->buf + e->len, s, n);
        e->len += n;
        e->buf[e->len] = '\0';
}

void
expo_str(struct expo *e, const char *s)
{
        expo_put(e, s, strlen(s));
}

void
expo_dec(struct expo *e, uint64_t v)
{
        char digits[20];
        size_t i = sizeof(digits);

        do
                digits[--i] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        expo_put(e, digits + i, sizeof(digits) - i);
}

void
expo_family(struct expo *e, const char *name, const char *type, const char *help)
{
        expo_printf(e, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with backslash, double quote and newline escaped, as the format requires. */
static void
expo_label_value(struct expo *e, const char *v)
{
        for (; *v; v++) {
                switch (*v) {
                case '\\': expo_printf(e, "\\\\"); break;
                case '"': expo_printf(e, "\\\""); break;
                case '\n': expo_printf(e, "\\n"); break;
                default: expo_printf(e, "%c", *v);
                }
        }
}

static void
expo_name(struct expo *e, const char *name, const char *const *labels)
{
        expo_printf(e, "%s", name);
        if (labels == NULL || labels[0] == NULL)
                return;
        for (size_t i = 0; labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
                expo_printf(e, "%s%s=\"", i ? "," : "{", labels[i]);
                expo_label_value(e, labels[i + 1]);
                expo_printf(e, "\"");
        }
        expo_printf(e, "}");
}

void
expo_u64(struct expo *e, const char *name, const char *const *labels, uint64_t v)
{
        expo_name(e, name, labels);
        expo_printf(e, " %" PRIu64 "\n", v);
}

void
expo_i64(struct expo *e, const char *name, const char *const *labels, int64_t v)
{
        expo_name(e, name, labels);
        expo_printf(e, " %" PRId64 "\n", v);
}

void
expo_seconds(struct expo *e, const char *name, const char *const *labels, int64_t ns)
{
        /* Exact decimals: a double would print 0.1 s as 0.10000000000000001. */
        const char *sign = ns < 0 ? "-" : "";
        uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

        expo_name(e, name, labels);
        expo_printf(e, " %s%" PRIu64 ".%09" PRIu64 "\n", sign, a / 1000000000, a % 1000000000);
}

/* Rendering. */

static uint64_t
sum_requests(struct metrics *m, size_t route, size_t code)
{
        uint64_t n = 0;

        for (size_t s = 0; s < METRICS_SHARDS; s++)
                n +=
                    atomic_load_explicit(&m->shards[s].requests[route][code], memory_order_relaxed);
        return n;
}

static void
render_requests(struct metrics *m, struct expo *e)
{
        expo_family(e, "moscow_time_http_requests_total", "counter",
                    "Requests the responder answered, by route and HTTP status code.");
        for (size_t r = 0; r < METRICS_ROUTES; r++) {
                for (size_t c = 0; c < METRICS_CODES; c++) {
                        uint64_t n = sum_requests(m, r, c);
                        /* Every route's 200 from the start, so that rate() has a series. */
                        if (n == 0 && !(c == 0 && r != METRICS_ROUTE_OTHER))
                                continue;
                        const char *labels[] = {"route", route_names[r], "code", code_names[c],
                                                NULL};
                        expo_u64(e, "moscow_time_http_requests_total", labels, n);
                }
        }
}

/*
 * The shards are read one after the other while workers add to them, so a
 * bucket may count a request whose _count does not yet: each series still
 * only grows, which is all Prometheus needs of a counter.
 */
static void
render_durations(struct metrics *m, struct expo *e)
{
        static const char name[] = "moscow_time_http_request_duration_seconds";

        expo_family(e, name, "histogram",
                    "Time from a request's parameters to its response, spent in the responder "
                    "(counter write and fsync included, the transfer to nginx not).");
        for (size_t r = 0; r < METRICS_ROUTES; r++) {
                uint64_t cumulative = 0, sum = 0;
                for (size_t b = 0; b < METRICS_BUCKETS; b++) {
                        for (size_t s = 0; s < METRICS_SHARDS; s++)
                                cumulative += atomic_load_explicit(&m->shards[s].buckets[r][b],
                                                                   memory_order_relaxed);
                        const char *labels[] = {"route", route_names[r], "le", bucket_le[b], NULL};
                        expo_u64(e, "moscow_time_http_request_duration_seconds_bucket", labels,
                                 cumulative);
                }
                for (size_t s = 0; s < METRICS_SHARDS; s++)
                        sum += atomic_load_explicit(&m->shards[s].sum_ns[r], memory_order_relaxed);
                const char *labels[] = {"route", route_names[r], NULL};
                expo_seconds(e, "moscow_time_http_request_duration_seconds_sum", labels,
                             (int64_t)sum);
                expo_u64(e, "moscow_time_http_request_duration_seconds_count", labels, cumulative);
        }
}

static void
render_reloads(struct metrics *m, struct expo *e)
{
        static const char *const results[METRICS_RELOADS] = {"applied", "rejected"};

        expo_family(e, "moscow_time_config_reloads_total", "counter",
                    "Re-reads of config.ini (SIGHUP or a change of the file), by result; "
                    "rejected: invalid, the running configuration was kept.");
        for (size_t i = 0; i < METRICS_RELOADS; i++) {
                const char *labels[] = {"result", results[i], NULL};
                expo_u64(e, "moscow_time_config_reloads_total", labels,
                         atomic_load(&m->reloads[i]));
        }
        expo_family(e, "moscow_time_config_last_reload_successful", "gauge",
                    "1 if the last re-read of config.ini was applied (or none happened), 0 if it "
                    "was rejected.");
        expo_u64(e, "moscow_time_config_last_reload_successful", NULL,
                 (uint64_t)atomic_load(&m->last_reload_ok));
}

void
metrics_render(struct metrics *m, struct expo *e)
{
        render_requests(m, e);
        render_durations(m, e);
        render_reloads(m, e);
        expo_family(e, "moscow_time_build_info", "gauge",
                    "Always 1; the labels say which build of the responder runs.");
        const char *labels[] = {"version", m->version, "commit", m->commit, NULL};
        expo_u64(e, "moscow_time_build_info", labels, 1);
        expo_family(e, "process_start_time_seconds", "gauge",
                    "Start time of the process since the Unix epoch, in seconds.");
        expo_seconds(e, "process_start_time_seconds", NULL, m->start_ns);
}

void
metrics_render_counter(const struct metrics_counter *c, struct expo *e)
{
        expo_family(e, "moscow_time_visits_total", "counter",
                    "Visits this pod has counted: the number in its counter file.");
        expo_u64(e, "moscow_time_visits_total", NULL, c->visits);
        expo_family(
            e, "moscow_time_visits_file_write_errors_total", "counter",
            "Failed writes (or reads) of the counter file since start: visits answered 503, "
            "readiness checks that failed.");
        expo_u64(e, "moscow_time_visits_file_write_errors_total", NULL, c->write_errors);
        expo_family(e, "moscow_time_visits_file_fsync_errors_total", "counter",
                    "Failed fsyncs of the counter file or its directory since start.");
        expo_u64(e, "moscow_time_visits_file_fsync_errors_total", NULL, c->fsync_errors);
        expo_family(e, "moscow_time_visits_file_last_fsync_timestamp_seconds", "gauge",
                    "When the counter file was last fsynced successfully, since the Unix epoch; "
                    "0 if not since start.");
        expo_seconds(e, "moscow_time_visits_file_last_fsync_timestamp_seconds", NULL,
                     c->last_fsync_ns);
}
