#ifndef MT_ANSWER_H
#define MT_ANSWER_H

#include <stdint.h>

#include "cluster.h"
#include "text.h"

/*
 * GET /visits?scope=cluster, from a view of the cluster state:
 * JSON {"visits":TOTAL,"partial":BOOL,"saturated":BOOL,"pod":SELF,"pods":{NAME:{...},...}}
 * and text with the total on the first line. Names, counts and states are
 * shown to anyone; with detail (a request on nginx's metrics listener) also
 * each peer's address and why its last poll was not taken. Every string
 * that came from a peer is escaped for where it goes: \u escapes and valid
 * UTF-8 in JSON, \xNN in text.
 */
void answer_cluster_json(const struct cluster_view *v, int detail, struct text *e);
void answer_cluster_text(const struct cluster_view *v, int detail, struct text *e);

/*
 * GET /visits?scope=cluster&pod=OF, what a pod that lost its counter file
 * asks its peers at start: {"pod":SELF,"of":OF,"visits":N,"state":...,"age_ms":MS}.
 */
void answer_cluster_seen(struct text *e, const char *self, const char *of, uint64_t visits,
                         enum cluster_state st, int64_t age_ns);

#endif
