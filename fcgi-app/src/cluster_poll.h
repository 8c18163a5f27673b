#ifndef MT_CLUSTER_POLL_H
#define MT_CLUSTER_POLL_H

#include <stddef.h>

#include "cluster.h"

/* The thread that polls the peers' counts into c. */
struct cluster_poll;

/*
 * Starts the poller thread, also with no peers: cluster_configure() may add
 * some. Run it before other threads start: libcurl's global set-up is not
 * thread-safe.
 */
int cluster_poll_start(struct cluster_poll **out, struct cluster *c, char *err, size_t errlen);

/* The settings changed (cluster_configure()): the next round uses them, without waiting. */
void cluster_poll_wake(struct cluster_poll *p);

/* Stops and joins the poller; NULL is nothing. */
void cluster_poll_stop(struct cluster_poll *p);

#endif
