#ifndef MT_RELOAD_H
#define MT_RELOAD_H

#include <limits.h>
#include <stdint.h>

#include "cluster.h"
#include "cluster_poll.h"
#include "config.h"
#include "metrics.h"
#include "routes.h"
#include "server.h"

/* What a reload changes in the running responder. */
struct reload_targets {
        struct routes_live *live;  /* [clock] format */
        struct cluster *cluster;   /* [cluster] peers, poll_interval_ms, timeout_ms */
        struct cluster_poll *poll; /* woken when those change */
        struct metrics *metrics;   /* counts reloads; NULL with metrics off */
        struct server *server;     /* its descriptor reserve follows the number of peers */
};

/*
 * Re-reads config.ini on SIGHUP and when its directory changes (inotify on
 * the directory, not the file: a Kubernetes ConfigMap update swaps the
 * ..data symlink, which no watch on the file would see). Only the main
 * thread uses it.
 */
struct reload {
        const char *path;
        char dir[PATH_MAX];
        int fd; /* inotify; -1 if unavailable (SIGHUP still works) */
        struct config running;
        uint64_t digest; /* of the file as last read, applied or rejected */
        struct reload_targets t;
};

/* Starts watching path's directory; cfg is the configuration the responder runs with. */
void reload_init(struct reload *r, const char *path, const struct config *cfg,
                 const struct reload_targets *t);

/* Reads the pending inotify events: 1 if the directory changed. */
int reload_drain(struct reload *r);

/*
 * Re-reads config.ini; why says what asked ("SIGHUP"). Unless force, a file
 * whose bytes did not change since it was last read is left alone. Valid:
 * the live keys that differ are applied, the others logged as needing a
 * restart. Invalid: the message of --check-config is logged, nothing
 * changes, and moscow_time_config_reloads_total{result="rejected"} counts
 * it. Returns 1 applied, 0 nothing to do, -1 rejected.
 */
int reload_now(struct reload *r, const char *why, int force);

void reload_close(struct reload *r);

#endif
