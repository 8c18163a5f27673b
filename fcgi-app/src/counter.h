#ifndef MT_COUNTER_H
#define MT_COUNTER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "config.h"
#include "counter_file.h"

enum counter_wait { COUNTER_WAIT_PENDING, COUNTER_WAIT_DONE, COUNTER_WAIT_FAILED };

/*
 * sync=always: a visit or probe waiting for a batch. A thread's waiter lives
 * on its stack; a parked visit's lives in its connection (park.c), and the
 * committer calls done() once its batch has an outcome.
 */
struct counter_waiter {
        uint64_t number; /* the visit's count; 0: none yet (a probe, or while failing) */
        uint64_t batch;  /* the batch it is in; 0 while it waits for the next one */
        enum counter_wait state;
        int counts; /* a visit, not a probe */
        char *why;  /* where a failure's reason goes (may be NULL) */
        size_t whylen;
        void (*done)(struct counter_waiter *w); /* parked: called without the lock; else NULL */
        STAILQ_ENTRY(counter_waiter) link;
};

STAILQ_HEAD(counter_waiters, counter_waiter);

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
 * A committer thread runs the batches, one after another, each with every
 * waiter queued while the last one ran; completing a batch sets each
 * waiter's outcome, so a waiter needs no thread of its own: it can as well
 * be a parked request (counter_visit_start()).
 */
struct counter {
        pthread_mutex_t mu;
        pthread_cond_t batch_cv[2]; /* sync=always: the waiters of batch n sleep on [n % 2] */
        pthread_cond_t flusher_cv;  /* wakes the interval flusher to stop */
        pthread_cond_t commit_cv;   /* sync=always: wakes the committer for a batch or to stop */
        pthread_t flusher;          /* the interval flusher, or the sync=always committer */
        int has_flusher;
        int stopping;
        struct counter_file file;
        enum sync_mode mode;
        int interval_ms;
        uint64_t synced;                /* what the last fsync that succeeded covered */
        uint64_t assigned;              /* sync=always: the highest number handed out */
        uint64_t batch;                 /* sync=always: the number of the last batch started */
        struct counter_waiters pending; /* sync=always: the waiters of the next batch */
        int failing;                    /* visits get 503: logged once until one succeeds */
        int sync_failing;               /* sync=interval: fsyncs fail, visits still get 200 */
        int max_logged;                 /* the count reached COUNTER_MAX: said once */
        uint64_t write_errors;          /* failed writes, creates, renames, reads, checks */
        uint64_t fsync_errors;          /* failed fsyncs of the file or its directory */
        int64_t last_fsync_ns;          /* CLOCK_REALTIME of the last good fsync; 0: none */
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

/*
 * A visit in two steps, so that it can wait for its batch without a thread
 * and its answer can be made before: counter_reserve() hands out the
 * visit's number, counter_submit() puts it into the next batch.
 *
 * counter_reserve(): sync=always only. w->why, w->whylen and w->done are
 * the caller's; the rest is the counter's until the outcome. Returns 1 with
 * the number in w->number; 0 while the path is failing or in another mode (no
 * number is handed out: use counter_visit(), which waits for one, or submit
 * the visit without one: it takes one when a batch succeeds); -1 at the
 * maximum.
 * A reserved number is the caller's: it must be submitted. Until it is, a
 * batch may write it anyway (the file may count a visit before its answer,
 * never after).
 *
 * counter_submit(): the committer calls w->done(w), without the lock, once
 * the batch that fsyncs the visit succeeded (w->state COUNTER_WAIT_DONE) or
 * failed (COUNTER_WAIT_FAILED, the reason in w->why). With w->done NULL it
 * waits for that outcome itself instead: 0 done, -1 failed.
 */
int counter_reserve(struct counter *c, struct counter_waiter *w);
int counter_submit(struct counter *c, struct counter_waiter *w);

uint64_t counter_get(struct counter *c);

/*
 * Readiness: would the next visit be acknowledged? Walks the steps the next
 * visit would take (the check for changes from outside, the write in place
 * or to a new file, the fsync if sync=always) with the current count, so
 * that the count does not change. 0 if they all work; else -1 and why.
 */
int counter_check(struct counter *c, char *why, size_t whylen);

/*
 * Looks for a change made to the file from outside, as before a visit, and
 * repairs what that check repairs (a deleted file written again from
 * memory, a larger count taken, a smaller one overwritten). A file that is
 * not a count is left alone and logged once; visits then get 503. With
 * patient, an empty file at the path (someone between truncating and
 * writing it) is left for later: returns 1, and nothing was done.
 */
int counter_recheck(struct counter *c, int patient);

void counter_health(struct counter *c, struct counter_health *h);

/* Flushes, fsyncs and closes. 0 on success. */
int counter_close(struct counter *c);

#endif
