#ifndef MT_CLUSTER_POLL_H
#define MT_CLUSTER_POLL_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

/* The threads that find the peers in DNS and poll their counts into c. */
struct cluster_poll;

/*
 * Starts the poller thread and the discovery thread, also with no peers:
 * cluster_configure() may add some. Run it before other threads start:
 * libcurl's global set-up is not thread-safe.
 */
int cluster_poll_start(struct cluster_poll **out, struct cluster *c, char *err, size_t errlen);

/* The settings changed (cluster_configure()): discovery and polls use them at once. */
void cluster_poll_wake(struct cluster_poll *p);

/* Stops and joins both threads; NULL is nothing. */
void cluster_poll_stop(struct cluster_poll *p);

/* What the peers said of this pod when it started without its counter file. */
struct cluster_recovery {
        size_t asked;    /* peers asked */
        size_t answered; /* peers that answered (a count of this pod or none) */
        int found;       /* some peer had a count of this pod */
        uint64_t visits; /* the largest */
        char by[CLUSTER_NAME_MAX];
        int64_t age_ms; /* how old that count was at the peer that had it */
};

/*
 * Asks every peer (the list, or what discovery finds first) what it last
 * saw of this pod, GET /visits?scope=cluster&pod=SELF, all at once, for at
 * most wait_ms, and keeps the largest answer. An answer is read strictly
 * and must name the pod asked about and the pod that answers (a pod found
 * by name must answer as itself). Returns when every peer answered or the
 * time is up.
 */
void cluster_recover(struct cluster_poll *p, int wait_ms, struct cluster_recovery *out);

#endif
