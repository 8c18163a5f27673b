/*
 * The cluster-wide answer of GET /visits?scope=cluster, in JSON and in
 * text. Both say the same: the total, whether it is partial, and for each
 * pod its count, its state and how old its count is.
 */
#include "answer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void
answer_json_string(struct expo *e, const char *s)
{
        expo_printf(e, "\"");
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        expo_printf(e, "\\%c", c);
                else if (c < 0x20)
                        expo_printf(e, "\\u%04x", c);
                else
                        expo_printf(e, "%c", c);
        }
        expo_printf(e, "\"");
}

/* Seconds with milliseconds: 1.234 */
static void
age(struct expo *e, int64_t ns)
{
        int64_t ms = ns / 1000000;

        expo_printf(e, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
}

static void
pod_json(const struct cluster_view_entry *p, struct expo *e)
{
        answer_json_string(e, p->name);
        expo_printf(e, ":{\"visits\":%" PRIu64 ",\"state\":\"%s\"", p->visits,
                    cluster_state_name(p->state));
        if (p->state == CLUSTER_SELF) {
                expo_printf(e, "}");
                return;
        }
        expo_printf(e, ",\"age_seconds\":");
        if (p->age_ns < 0)
                expo_printf(e, "null");
        else
                age(e, p->age_ns);
        expo_printf(e, ",\"reported\":%" PRIu64 ",\"went_back\":%s,\"peer\":", p->reported,
                    p->reported < p->visits ? "true" : "false");
        if (p->peer[0])
                answer_json_string(e, p->peer);
        else
                expo_printf(e, "null");
        if (p->error[0]) {
                expo_printf(e, ",\"error\":");
                answer_json_string(e, p->error);
        }
        expo_printf(e, "}");
}

void
answer_cluster_json(const struct cluster_view *v, struct expo *e)
{
        expo_printf(e, "{\"visits\":%" PRIu64 ",\"partial\":%s,\"pod\":", v->total,
                    v->partial ? "true" : "false");
        answer_json_string(e, v->self);
        expo_printf(e, ",\"pods\":{");
        for (size_t i = 0; i < v->n; i++) {
                if (i > 0)
                        expo_printf(e, ",");
                pod_json(&v->e[i], e);
        }
        expo_printf(e, "}}\n");
}

static void
pod_text(const struct cluster_view_entry *p, struct expo *e)
{
        expo_printf(e, "%s %" PRIu64 " %s", p->name, p->visits, cluster_state_name(p->state));
        if (p->state == CLUSTER_SELF) {
                expo_printf(e, " (this pod)\n");
                return;
        }
        if (p->age_ns >= 0) {
                expo_printf(e, ", ");
                age(e, p->age_ns);
                expo_printf(e, " s ago");
        }
        if (p->reported < p->visits)
                expo_printf(e, ", went back to %" PRIu64 " (the total keeps %" PRIu64 ")",
                            p->reported, p->visits);
        if (p->peer[0] && strcmp(p->peer, p->name) != 0)
                expo_printf(e, ", at %s", p->peer);
        if (p->error[0])
                expo_printf(e, ": %s", p->error);
        expo_printf(e, "\n");
}

void
answer_cluster_text(const struct cluster_view *v, struct expo *e)
{
        expo_printf(e, "%" PRIu64 "\n", v->total);
        expo_printf(e, "%s\n",
                    v->partial ? "partial: some pods are stale or were never reached"
                               : "complete: every pod answered lately");
        for (size_t i = 0; i < v->n; i++)
                pod_text(&v->e[i], e);
}
