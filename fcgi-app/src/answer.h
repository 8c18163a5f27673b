#ifndef MT_ANSWER_H
#define MT_ANSWER_H

#include "cluster.h"
#include "text.h"

/*
 * GET /visits?scope=cluster, from a view of the cluster state:
 * JSON {"visits":TOTAL,"partial":BOOL,"pod":SELF,"pods":{NAME:{...},...}}
 * and text with the total on the first line.
 */
void answer_cluster_json(const struct cluster_view *v, struct text *e);
void answer_cluster_text(const struct cluster_view *v, struct text *e);

#endif
