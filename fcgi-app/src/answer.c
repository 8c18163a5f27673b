/*
 * The cluster-wide answer of GET /visits?scope=cluster, in JSON and in
 * text. Both say the same: the total, whether it is partial or saturated,
 * and for each pod its count, its state and how old its count is; with
 * detail, where each peer is polled and why a poll was not taken.
 */
#include "answer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Seconds with milliseconds: 1.234 */
static void
age(struct text *e, int64_t ns)
{
        int64_t ms = ns / 1000000;

        text_printf(e, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
}

/*
 * An entry's key: the pod's name; an address that never answered has none,
 * and is shown by its address with detail, else by its number (peer#3, '#'
 * being no pod name's, so that no pod can take its place).
 */
static void
key(const struct cluster_view_entry *p, int detail, char *out, size_t len)
{
        if (p->name[0] != '\0')
                snprintf(out, len, "%s", p->name);
        else if (detail)
                snprintf(out, len, "%s", p->peer);
        else
                snprintf(out, len, "peer#%u", p->index);
}

static void
pod_json(const struct cluster_view_entry *p, int detail, struct text *e)
{
        char k[CLUSTER_ADDR_MAX];

        key(p, detail, k, sizeof(k));
        text_json_string(e, k);
        text_printf(e, ":{\"visits\":%" PRIu64 ",\"state\":\"%s\"", p->visits,
                    cluster_state_name(p->state));
        if (p->state == CLUSTER_SELF) {
                text_printf(e, "}");
                return;
        }
        text_printf(e, ",\"age_seconds\":");
        if (p->age_ns < 0)
                text_printf(e, "null");
        else
                age(e, p->age_ns);
        text_printf(e, ",\"reported\":%" PRIu64 ",\"went_back\":%s", p->reported,
                    p->reported < p->visits ? "true" : "false");
        if (detail) {
                text_printf(e, ",\"peer\":");
                if (p->peer[0])
                        text_json_string(e, p->peer);
                else
                        text_printf(e, "null");
                if (p->error[0]) {
                        text_printf(e, ",\"error\":");
                        text_json_string(e, p->error);
                }
        }
        text_printf(e, "}");
}

void
answer_cluster_json(const struct cluster_view *v, int detail, struct text *e)
{
        text_printf(e, "{\"visits\":%" PRIu64 ",\"partial\":%s,\"saturated\":%s,\"pod\":", v->total,
                    v->partial ? "true" : "false", v->saturated ? "true" : "false");
        text_json_string(e, v->self);
        if (v->discovery != CLUSTER_DISCOVERY_OFF) {
                text_printf(e, ",\"discovery\":\"%s\"",
                            v->discovery == CLUSTER_DISCOVERY_OK ? "ok" : "failing");
                if (detail && v->discovery_error[0]) {
                        text_printf(e, ",\"discovery_error\":");
                        text_json_string(e, v->discovery_error);
                }
        }
        if (v->not_polled)
                text_printf(e, ",\"not_polled\":%zu", v->not_polled);
        text_printf(e, ",\"pods\":{");
        for (size_t i = 0; i < v->n; i++) {
                if (i > 0)
                        text_printf(e, ",");
                pod_json(&v->e[i], detail, e);
        }
        text_printf(e, "}}\n");
}

static void
pod_text(const struct cluster_view_entry *p, int detail, struct text *e)
{
        char k[CLUSTER_ADDR_MAX];

        key(p, detail, k, sizeof(k));
        text_printable(e, k);
        text_printf(e, " %" PRIu64 " %s", p->visits, cluster_state_name(p->state));
        if (p->state == CLUSTER_SELF) {
                text_printf(e, " (this pod)\n");
                return;
        }
        if (p->age_ns >= 0) {
                text_printf(e, ", ");
                age(e, p->age_ns);
                text_printf(e, " s ago");
        }
        if (p->reported < p->visits)
                text_printf(e, ", went back to %" PRIu64 " (the total keeps %" PRIu64 ")",
                            p->reported, p->visits);
        if (detail && p->peer[0] && strcmp(p->peer, k) != 0) {
                text_printf(e, ", at ");
                text_printable(e, p->peer);
        }
        if (detail && p->error[0]) {
                text_printf(e, ": ");
                text_printable(e, p->error);
        }
        text_printf(e, "\n");
}

void
answer_cluster_text(const struct cluster_view *v, int detail, struct text *e)
{
        text_printf(e, "%" PRIu64 "\n", v->total);
        text_printf(e, "%s\n",
                    v->partial ? "partial: some pods are stale, unreached or in conflict, or "
                                 "discovery fails"
                               : "complete: every pod answered lately");
        if (v->saturated)
                text_printf(e,
                            "saturated: the counts add up to more than %" PRIu64
                            ", the most the total can say\n",
                            (uint64_t)INT64_MAX);
        if (v->discovery == CLUSTER_DISCOVERY_FAILING) {
                text_printf(e, "discovery fails");
                if (detail && v->discovery_error[0]) {
                        text_printf(e, ": ");
                        text_printable(e, v->discovery_error);
                }
                text_printf(e, "\n");
        }
        if (v->not_polled)
                text_printf(e, "not polled: %zu pods past the most this pod polls (%d)\n",
                            v->not_polled, CLUSTER_PODS_MAX);
        for (size_t i = 0; i < v->n; i++)
                pod_text(&v->e[i], detail, e);
}

void
answer_cluster_seen(struct text *e, const char *self, const char *of, uint64_t visits,
                    enum cluster_state st, int64_t age_ns)
{
        text_printf(e, "{\"pod\":");
        text_json_string(e, self);
        text_printf(e, ",\"of\":");
        text_json_string(e, of);
        text_printf(e, ",\"visits\":%" PRIu64 ",\"state\":\"%s\",\"age_ms\":%" PRId64 "}\n", visits,
                    cluster_state_name(st), age_ns / 1000000);
}
