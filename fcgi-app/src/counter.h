#ifndef MT_COUNTER_H
#define MT_COUNTER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "counter_file.h"
#include "metrics.h"

struct counter_waiter; /* sync=always: a visit or probe waiting for a batch (counter.c) */

/*
 * The visits counter: the count lives in memory and every visit is written
 * through to the file before its response leaves, so that a SIGKILL loses
 * nothing. fsync follows [counter] sync. One responder per file (flock).
 *
 * sync=always batches: a visit takes the next number and waits for the batch
 * that writes and fdatasyncs it. A number once handed out is never handed
 * out again, whatever becomes of its batch; every visit of a failed batch,
 * and every one already queued for the next, is refused (503). While the
 * path is failing, visits take no number: they wait for a batch that only
 * rewrites and fsyncs the count, and take one when it succeeds. So the file
 * may count the refused visits of a failed batch, once, and never more.
 * Completing a batch sets each waiter's outcome; nothing else about a
 * waiter needs its thread, so a waiter can as well be a parked request.
 */
struct counter {
        pthread_mutex_t mu;
        pthread_cond_t batch_cv[2]; /* sync=always: the waiters of batch n sleep on [n % 2] */
        pthread_cond_t flusher_cv;  /* wakes the interval flusher to stop */
        pthread_t flusher;
        int has_flusher;
        int stopping;
        struct counter_file file;
        enum sync_mode mode;
        int interval_ms;
        uint64_t synced;                /* what the last fsync that succeeded covered */
        int syncing;                    /* an fsync runs with mu released */
        uint64_t assigned;              /* sync=always: the highest number handed out */
        uint64_t batch;                 /* sync=always: the number of the last batch started */
        struct counter_waiter *pending; /* sync=always: the waiters of the next batch */
        struct counter_waiter **pending_tail;
        int failing;           /* visits get 503: logged once until one succeeds */
        int sync_failing;      /* sync=interval: fsyncs fail, visits still get 200 */
        int max_logged;        /* the count reached COUNTER_MAX: said once */
        uint64_t write_errors; /* failed writes, creates, renames, reads, checks */
        uint64_t fsync_errors; /* failed fsyncs of the file or its directory */
        int64_t last_fsync_ns; /* CLOCK_REALTIME of the last good fsync; 0: none */
};

/* What can be seen of the counter's state from outside (metrics, tests). */
struct counter_health {
        uint64_t count;
        int refusing;          /* the visit path fails: visits get 503, /readyz too */
        int sync_failing;      /* sync=interval: the last fsync failed; visits still get 200 */
        uint64_t write_errors; /* since the start: failed writes (visits, probes, checks) */
        uint64_t fsync_errors; /* since the start: failed fsyncs of the file or its directory */
        int64_t last_fsync_ns; /* CLOCK_REALTIME of the last fsync that succeeded; 0: none */
};

enum counter_status counter_open(struct counter *c, const struct config *cfg, char *err,
                                 size_t errlen);

/* Counts one visit: 0 and the new count once it is in the file (and synced if sync=always). */
int counter_visit(struct counter *c, uint64_t *out, char *why, size_t whylen);

uint64_t counter_get(struct counter *c);

/*
 * Readiness: would the next visit be acknowledged? Walks the steps the next
 * visit would take (the check for changes from outside, the write in place
 * or to a new file, the fsync if sync=always) with the current count, so
 * that the count does not change. 0 if they all work; else -1 and why.
 */
int counter_check(struct counter *c, char *why, size_t whylen);

void counter_health(struct counter *c, struct counter_health *h);

/* The same, for /metrics: the count, the errors since start and the last fsync. */
void counter_stats(struct counter *c, struct metrics_counter *out);

/* Flushes, fsyncs and closes. 0 on success. */
int counter_close(struct counter *c);

#endif
