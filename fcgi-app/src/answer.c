/*
 * The cluster-wide answer of GET /visits?scope=cluster, in JSON and in
 * text. Both say the same: the total, whether it is partial, and for each
 * pod its count, its state and how old its count is.
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

static void
pod_json(const struct cluster_view_entry *p, struct text *e)
{
        text_json_string(e, p->name);
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
        text_printf(e, ",\"reported\":%" PRIu64 ",\"went_back\":%s,\"peer\":", p->reported,
                    p->reported < p->visits ? "true" : "false");
        if (p->peer[0])
                text_json_string(e, p->peer);
        else
                text_printf(e, "null");
        if (p->error[0]) {
                text_printf(e, ",\"error\":");
                text_json_string(e, p->error);
        }
        text_printf(e, "}");
}

void
answer_cluster_json(const struct cluster_view *v, struct text *e)
{
        text_printf(e, "{\"visits\":%" PRIu64 ",\"partial\":%s,\"pod\":", v->total,
                    v->partial ? "true" : "false");
        text_json_string(e, v->self);
        text_printf(e, ",\"pods\":{");
        for (size_t i = 0; i < v->n; i++) {
                if (i > 0)
                        text_printf(e, ",");
                pod_json(&v->e[i], e);
        }
        text_printf(e, "}}\n");
}

static void
pod_text(const struct cluster_view_entry *p, struct text *e)
{
        text_printf(e, "%s %" PRIu64 " %s", p->name, p->visits, cluster_state_name(p->state));
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
        if (p->peer[0] && strcmp(p->peer, p->name) != 0)
                text_printf(e, ", at %s", p->peer);
        if (p->error[0])
                text_printf(e, ": %s", p->error);
        text_printf(e, "\n");
}

void
answer_cluster_text(const struct cluster_view *v, struct text *e)
{
        text_printf(e, "%" PRIu64 "\n", v->total);
        text_printf(e, "%s\n",
                    v->partial ? "partial: some pods are stale or were never reached"
                               : "complete: every pod answered lately");
        for (size_t i = 0; i < v->n; i++)
                pod_text(&v->e[i], e);
}
