#ifndef MT_ANSWER_H
#define MT_ANSWER_H

#include "cluster.h"
#include "metrics.h"

/*
 * GET /visits?scope=cluster, from a view of the cluster state:
 * JSON {"visits":TOTAL,"partial":BOOL,"pod":SELF,"pods":{NAME:{...},...}}
 * and text with the total on the first line.
 */
void answer_cluster_json(const struct cluster_view *v, struct expo *e);
void answer_cluster_text(const struct cluster_view *v, struct expo *e);

/* s as a JSON string, quotes included. */
void answer_json_string(struct expo *e, const char *s);

#endif
