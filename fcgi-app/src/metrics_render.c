/*
 * The text exposition format (version 0.0.4) a scrape of /metrics returns:
 * the request counters (metrics.c), the counter's health and the cluster's
 * view, written into a bounded text so that a scrape is whole or refused.
 *
 * Names follow the Prometheus naming conventions: the moscow_time_ prefix,
 * base units (seconds), _total on counters, _info with a constant 1 for
 * build information, and the client libraries' process_start_time_seconds.
 */
#include "metrics_render.h"

#include <inttypes.h>
#include <stdatomic.h>

void
prom_family(struct text *e, const char *name, const char *type, const char *help)
{
        text_printf(e, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with backslash, double quote and newline escaped, as the format requires. */
static void
prom_label_value(struct text *e, const char *v)
{
        for (; *v; v++) {
                switch (*v) {
                case '\\': text_printf(e, "\\\\"); break;
                case '"': text_printf(e, "\\\""); break;
                case '\n': text_printf(e, "\\n"); break;
                default: text_printf(e, "%c", *v);
                }
        }
}

static void
prom_name(struct text *e, const char *name, const char *const *labels)
{
        text_printf(e, "%s", name);
        if (labels == NULL || labels[0] == NULL)
                return;
        for (size_t i = 0; labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
                text_printf(e, "%s%s=\"", i ? "," : "{", labels[i]);
                prom_label_value(e, labels[i + 1]);
                text_printf(e, "\"");
        }
        text_printf(e, "}");
}

void
prom_u64(struct text *e, const char *name, const char *const *labels, uint64_t v)
{
        prom_name(e, name, labels);
        text_printf(e, " %" PRIu64 "\n", v);
}

void
prom_i64(struct text *e, const char *name, const char *const *labels, int64_t v)
{
        prom_name(e, name, labels);
        text_printf(e, " %" PRId64 "\n", v);
}

void
prom_seconds(struct text *e, const char *name, const char *const *labels, int64_t ns)
{
        /* Exact decimals: a double would print 0.1 s as 0.10000000000000001. */
        const char *sign = ns < 0 ? "-" : "";
        uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

        prom_name(e, name, labels);
        text_printf(e, " %s%" PRIu64 ".%09" PRIu64 "\n", sign, a / 1000000000, a % 1000000000);
}

/* Rendering. */

static void
render_requests(const struct metrics *m, const struct metrics_routes *r, struct text *e)
{
        prom_family(e, "moscow_time_http_requests_total", "counter",
                    "Requests the responder answered, by route and HTTP status code.");
        for (unsigned i = 0; i < r->n; i++) {
                for (size_t c = 0; c < METRICS_CODES; c++) {
                        uint64_t n = metrics_requests(m, i, c);
                        /* Every route's 200 from the start, so that rate() has a series. */
                        if (n == 0 && !(c == 0 && i != r->other))
                                continue;
                        const char *labels[] = {"route", r->names[i], "code", metrics_code_name(c),
                                                NULL};
                        prom_u64(e, "moscow_time_http_requests_total", labels, n);
                }
        }
}

/*
 * The shards are read one after the other while workers add to them, so a
 * bucket may count a request whose _count does not yet: each series still
 * only grows, which is all Prometheus needs of a counter.
 */
static void
render_durations(const struct metrics *m, const struct metrics_routes *r, struct text *e)
{
        static const char name[] = "moscow_time_http_request_duration_seconds";

        prom_family(e, name, "histogram",
                    "Time from a request's parameters to its response, spent in the responder "
                    "(counter write and fsync included, the transfer to nginx not).");
        for (unsigned i = 0; i < r->n; i++) {
                uint64_t cumulative = 0, sum = metrics_sum_ns(m, i);
                for (size_t b = 0; b < METRICS_BUCKETS; b++) {
                        cumulative += metrics_bucket(m, i, b);
                        const char *labels[] = {"route", r->names[i], "le", metrics_bucket_le(b),
                                                NULL};
                        prom_u64(e, "moscow_time_http_request_duration_seconds_bucket", labels,
                                 cumulative);
                }
                const char *labels[] = {"route", r->names[i], NULL};
                prom_seconds(e, "moscow_time_http_request_duration_seconds_sum", labels,
                             (int64_t)sum);
                prom_u64(e, "moscow_time_http_request_duration_seconds_count", labels, cumulative);
        }
}

static void
render_reloads(const struct metrics *m, struct text *e)
{
        static const char *const results[METRICS_RELOADS] = {"applied", "rejected"};

        prom_family(e, "moscow_time_config_reloads_total", "counter",
                    "Re-reads of config.ini (SIGHUP or a change of the file), by result; "
                    "rejected: invalid, the running configuration was kept.");
        for (size_t i = 0; i < METRICS_RELOADS; i++) {
                const char *labels[] = {"result", results[i], NULL};
                prom_u64(e, "moscow_time_config_reloads_total", labels,
                         atomic_load(&m->reloads[i]));
        }
        prom_family(e, "moscow_time_config_last_reload_successful", "gauge",
                    "1 if the last re-read of config.ini was applied (or none happened), 0 if it "
                    "was rejected.");
        prom_u64(e, "moscow_time_config_last_reload_successful", NULL,
                 (uint64_t)atomic_load_explicit(&m->last_reload_ok, memory_order_relaxed));
}

void
metrics_render(struct text *e, const struct metrics *m, const struct metrics_routes *r)
{
        render_requests(m, r, e);
        render_durations(m, r, e);
        render_reloads(m, e);
        prom_family(e, "moscow_time_parked_visits", "gauge",
                    "Visits with sync=always waiting for the fsync of their batch, holding no "
                    "thread.");
        prom_i64(e, "moscow_time_parked_visits", NULL, metrics_gauge(m, METRICS_PARKED));
        prom_family(e, "moscow_time_pending_requests", "gauge",
                    "FastCGI requests not yet whole, waiting for the rest of their bytes.");
        prom_i64(e, "moscow_time_pending_requests", NULL, metrics_gauge(m, METRICS_PENDING));
        prom_family(e, "moscow_time_build_info", "gauge",
                    "Always 1; the labels say which build of the responder runs.");
        const char *labels[] = {"version", m->version, "commit", m->commit, NULL};
        prom_u64(e, "moscow_time_build_info", labels, 1);
        prom_family(e, "process_start_time_seconds", "gauge",
                    "Start time of the process since the Unix epoch, in seconds.");
        prom_seconds(e, "process_start_time_seconds", NULL, m->start_ns);
}

void
metrics_render_counter(struct text *e, const struct counter_health *c)
{
        prom_family(e, "moscow_time_visits_total", "counter",
                    "Visits this pod has counted: the number in its counter file.");
        prom_u64(e, "moscow_time_visits_total", NULL, c->count);
        prom_family(
            e, "moscow_time_visits_file_write_errors_total", "counter",
            "Failed writes (or reads) of the counter file since start: visits answered 503, "
            "readiness checks that failed.");
        prom_u64(e, "moscow_time_visits_file_write_errors_total", NULL, c->write_errors);
        prom_family(e, "moscow_time_visits_file_fsync_errors_total", "counter",
                    "Failed fsyncs of the counter file or its directory since start.");
        prom_u64(e, "moscow_time_visits_file_fsync_errors_total", NULL, c->fsync_errors);
        prom_family(e, "moscow_time_visits_file_last_fsync_timestamp_seconds", "gauge",
                    "When the counter file was last fsynced successfully, since the Unix epoch; "
                    "0 if not since start.");
        prom_seconds(e, "moscow_time_visits_file_last_fsync_timestamp_seconds", NULL,
                     c->last_fsync_ns);
}

void
metrics_render_cluster(struct text *e, const struct cluster_view *v)
{
        static const enum cluster_outcome refusals[] = {CLUSTER_MALFORMED, CLUSTER_IMPLAUSIBLE,
                                                        CLUSTER_CONFLICTING};

        prom_family(e, "moscow_time_cluster_visits", "gauge",
                    "The service's visits as this pod knows them: its own count and the largest "
                    "count seen of every other pod (at most 2^63-1).");
        prom_u64(e, "moscow_time_cluster_visits", NULL, v->total);
        prom_family(e, "moscow_time_cluster_partial", "gauge",
                    "1 if some pod's count is stale, was never received or is in conflict, or "
                    "discovery fails, else 0.");
        prom_u64(e, "moscow_time_cluster_partial", NULL, (uint64_t)v->partial);
        prom_family(e, "moscow_time_cluster_saturated", "gauge",
                    "1 if the counts add up to more than 2^63-1, the most the total can say.");
        prom_u64(e, "moscow_time_cluster_saturated", NULL, (uint64_t)v->saturated);
        prom_family(e, "moscow_time_cluster_answers_refused_total", "counter",
                    "Peers' answers refused since start: malformed (not a count), implausible "
                    "(more visits than a pod can serve in the time), conflict (another pod's "
                    "name, or one pod at two addresses).");
        for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
                const char *labels[] = {"reason", cluster_outcome_name(refusals[i]), NULL};
                prom_u64(e, "moscow_time_cluster_answers_refused_total", labels,
                         v->refused[refusals[i]]);
        }
        prom_family(e, "moscow_time_cluster_pod_visits", "gauge",
                    "Each pod's count as this pod has seen it (its largest answer); pods are "
                    "those listed or found in DNS, and those that left.");
        size_t polled = 0;
        for (size_t i = 0; i < v->n; i++) {
                polled += v->e[i].peer[0] != '\0';
                /* Named by DNS, the list or an address's first answer: never more than the slots.
                 */
                if (v->e[i].name[0] == '\0' || v->e[i].age_ns < 0)
                        continue;
                const char *labels[] = {"pod", v->e[i].name, NULL};
                prom_u64(e, "moscow_time_cluster_pod_visits", labels, v->e[i].visits);
        }
        if (polled > 0)
                prom_family(e, "moscow_time_peer_up", "gauge",
                            "1 if the peer answered the last poll of its count and it was taken, "
                            "else 0.");
        for (size_t i = 0; i < v->n; i++) {
                if (v->e[i].peer[0] == '\0')
                        continue;
                const char *labels[] = {"peer", v->e[i].peer, NULL};
                prom_u64(e, "moscow_time_peer_up", labels, (uint64_t)v->e[i].up);
        }
}
