/*
 * The durable visits counter: the count in memory, the file (counter_file.c)
 * written through for each visit, and when it is fsynced:
 *   always    group commit: each visit waits for an fdatasync that started
 *             after its write; concurrent visits share one (see counter.h
 *             for what a failed batch means).
 *   interval  a flusher thread fdatasyncs at most every sync_interval_ms,
 *             counted from the end of the last one.
 *   never     only at shutdown.
 * Every call takes the mutex; only fsyncs run without it.
 */
#include "counter.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define WHY_MAX (CONFIG_PATH_MAX + 256)

/* write_error: it failed before the fsync (sync_file() counts its own). */
static void
note_failure(struct counter *c, const char *why, int write_error)
{
        c->write_errors += write_error != 0;
        if (!c->failing)
                log_error("%s; visits get 503 until it works again", why);
        c->failing = 1;
}

static void
note_success(struct counter *c)
{
        if (c->failing)
                log_info("counter file %s works again at %" PRIu64 "; visits get 200", c->file.path,
                         c->file.value);
        c->failing = 0;
}

/* The highest number handed out: the next visit needs one more. */
static uint64_t
top_number(const struct counter *c)
{
        return c->mode == SYNC_ALWAYS ? c->assigned : c->file.value;
}

/* Not a failure that a later visit could recover from: logged once, not through note_failure. */
static int
at_maximum(struct counter *c, char *why, size_t whylen)
{
        if (top_number(c) < COUNTER_MAX)
                return 0;
        snprintf(why, whylen, "the counter is at its maximum");
        if (!c->max_logged)
                log_error("counter file %s: the count is at its maximum, %" PRIu64
                          ": visits get 503 from now on",
                          c->file.path, top_number(c));
        c->max_logged = 1;
        return 1;
}

/*
 * Called and returns with c->mu held; drops it around the fsyncs. The
 * descriptor is duplicated because a visit may replace the file meanwhile
 * (sync=interval: visits do not wait for the flusher).
 */
static int
sync_file(struct counter *c, char *why, size_t whylen)
{
        uint64_t upto = c->file.value;
        int dir = c->file.dir_dirty;

        int fd = dup(c->file.fd);
        if (fd < 0) {
                snprintf(why, whylen, "cannot fsync the counter file %s: dup: %s", c->file.path,
                         strerror(errno));
                return -1;
        }
        c->file.dir_dirty = 0;
        pthread_mutex_unlock(&c->mu);
        int rc = fdatasync(fd);
        if (rc != 0)
                snprintf(why, whylen, "cannot fsync the counter file %s: %s", c->file.path,
                         strerror(errno));
        else if (dir)
                rc = cfile_fsync_dir(&c->file, why, whylen);
        close(fd);
        pthread_mutex_lock(&c->mu);
        if (rc == 0) {
                c->last_fsync_ns = now_real_ns();
                if (upto > c->synced)
                        c->synced = upto;
        } else {
                c->fsync_errors++;
                if (dir)
                        c->file.dir_dirty = 1;
        }
        return rc;
}

static void
enqueue(struct counter *c, struct counter_waiter *w)
{
        w->batch = 0;
        STAILQ_INSERT_TAIL(&c->pending, w, link);
}

/*
 * Sets the outcome of every waiter of list. A visit that waited without a
 * number while the path was failing takes one now that it works, and goes
 * into the next batch instead. Parked waiters are put on *parked for the
 * committer to call back once it has let go of the lock: a thread's waiter
 * may be gone as soon as its outcome is set and its condition signalled.
 */
static void
complete(struct counter *c, struct counter_waiters *list, int rc, const char *why,
         struct counter_waiters *parked)
{
        struct counter_waiter *w;

        while ((w = STAILQ_FIRST(list)) != NULL) {
                STAILQ_REMOVE_HEAD(list, link);
                int ok = rc == 0;
                if (ok && w->counts && w->number == 0) {
                        if (!at_maximum(c, w->why, w->whylen)) {
                                w->number = ++c->assigned;
                                enqueue(c, w);
                                continue;
                        }
                        ok = 0;
                } else if (!ok && w->why != NULL) {
                        snprintf(w->why, w->whylen, "%s", why);
                }
                w->state = ok ? COUNTER_WAIT_DONE : COUNTER_WAIT_FAILED;
                if (w->done != NULL)
                        STAILQ_INSERT_TAIL(parked, w, link);
        }
}

/*
 * sync=always: one batch for the waiters queued so far. With numbers to
 * write it writes the highest; without (probes, visits while failing) it
 * rewrites the count as the next visit would. Then one fdatasync for all.
 * Writing in the committer, not in each visit, also keeps pwrite away from
 * a page under writeback. Called by the committer with mu held; returns the
 * parked waiters it completed, for their callbacks.
 */
static void
run_batch(struct counter *c, struct counter_waiters *parked)
{
        char why[WHY_MAX] = "";
        struct counter_waiters list = STAILQ_HEAD_INITIALIZER(list);
        struct counter_waiter *w;
        uint64_t b = ++c->batch;
        int numbered = 0;

        STAILQ_CONCAT(&list, &c->pending);
        STAILQ_FOREACH (w, &list, link) {
                w->batch = b;
                /* Filled in before it was queued; cppcheck does not follow the queue. */
                // cppcheck-suppress uninitvar
                numbered |= w->number != 0;
        }
        /* A batch of probes only looks the path up, as a probe does with the other modes. */
        int rc = numbered ? cfile_verify_visit(&c->file, why, sizeof(why))
                          : cfile_verify(&c->file, why, sizeof(why));
        if (rc == 0 && c->assigned < c->file.value)
                c->assigned = c->file.value; /* took a larger count from outside */
        /*
         * The newest number handed out is in this batch if any is: writing it
         * covers the batch and the numbers of failed batches before it. A
         * batch of probes leaves those alone: a probe does not count.
         */
        if (rc == 0)
                rc = numbered && c->assigned > c->file.value
                         ? cfile_write(&c->file, c->assigned, why, sizeof(why))
                         : cfile_rewrite(&c->file, why, sizeof(why));
        int wrote = rc == 0;
        if (wrote)
                rc = sync_file(c, why, sizeof(why));
        if (rc != 0) {
                /* Those queued meanwhile are refused too: no number is tried twice. */
                struct counter_waiters queued = STAILQ_HEAD_INITIALIZER(queued);
                STAILQ_CONCAT(&queued, &c->pending);
                complete(c, &list, rc, why, parked);
                complete(c, &queued, rc, why, parked);
                note_failure(c, why, !wrote);
                pthread_cond_broadcast(&c->batch_cv[(b + 1) % 2]);
        } else {
                complete(c, &list, rc, why, parked);
                note_success(c);
        }
        pthread_cond_broadcast(&c->batch_cv[b % 2]);
}

/*
 * sync=always: runs a batch whenever waiters are queued, until
 * counter_close(). The committer only commits: it writes and fsyncs, then
 * hands each parked waiter its outcome through done(), outside the lock.
 * What a visit answers was decided before it was submitted (park.c).
 */
static void *
committer_main(void *arg)
{
        struct counter *c = arg;

        pthread_mutex_lock(&c->mu);
        for (;;) {
                if (STAILQ_EMPTY(&c->pending)) {
                        if (c->stopping)
                                break;
                        pthread_cond_wait(&c->commit_cv, &c->mu);
                        continue;
                }
                struct counter_waiters parked = STAILQ_HEAD_INITIALIZER(parked);
                run_batch(c, &parked);
                pthread_mutex_unlock(&c->mu);
                struct counter_waiter *w, *next;
                for (w = STAILQ_FIRST(&parked); w != NULL; w = next) {
                        next = STAILQ_NEXT(w, link); /* done() may hand w on at once */
                        w->done(w);
                }
                pthread_mutex_lock(&c->mu);
        }
        pthread_mutex_unlock(&c->mu);
        return NULL;
}

/* Queues w for the next batch; the committer runs it. Called with mu held. */
static void
queue_for_batch(struct counter *c, struct counter_waiter *w)
{
        w->state = COUNTER_WAIT_PENDING;
        enqueue(c, w);
        pthread_cond_signal(&c->commit_cv);
}

/* Queues w and waits for its outcome. */
static int
wait_for_batch(struct counter *c, struct counter_waiter *w)
{
        queue_for_batch(c, w);
        while (w->state == COUNTER_WAIT_PENDING) {
                uint64_t b = w->batch != 0 ? w->batch : c->batch + 1;
                pthread_cond_wait(&c->batch_cv[b % 2], &c->mu);
        }
        return w->state == COUNTER_WAIT_DONE ? 0 : -1;
}

/*
 * sync=always: w becomes a visit of the next batch. While the path fails it
 * takes no number (complete() gives it one once a batch succeeds). Called
 * with mu held; -1 if the count is at its maximum.
 */
static int
start_group_visit(struct counter *c, struct counter_waiter *w)
{
        w->counts = 1;
        w->number = 0;
        if (!c->failing) {
                if (at_maximum(c, w->why, w->whylen))
                        return -1;
                w->number = ++c->assigned;
        }
        queue_for_batch(c, w);
        return 0;
}

static int
visit_group(struct counter *c, uint64_t *out, char *why, size_t whylen)
{
        struct counter_waiter w = {.why = why, .whylen = whylen};

        if (start_group_visit(c, &w) != 0)
                return -1;
        while (w.state == COUNTER_WAIT_PENDING) {
                uint64_t b = w.batch != 0 ? w.batch : c->batch + 1;
                pthread_cond_wait(&c->batch_cv[b % 2], &c->mu);
        }
        if (w.state != COUNTER_WAIT_DONE)
                return -1;
        *out = w.number;
        return 0;
}

/* sync=interval and never: each visit writes through at once. */
static int
visit_one(struct counter *c, uint64_t *out, char *why, size_t whylen)
{
        if (cfile_verify_visit(&c->file, why, whylen) != 0) {
                note_failure(c, why, 1);
                return -1;
        }
        if (at_maximum(c, why, whylen))
                return -1;
        if (cfile_write(&c->file, c->file.value + 1, why, whylen) != 0) {
                note_failure(c, why, 1);
                return -1;
        }
        note_success(c);
        *out = c->file.value;
        return 0;
}

int
counter_visit(struct counter *c, uint64_t *out, char *why, size_t whylen)
{
        int rc;

        pthread_mutex_lock(&c->mu);
        if (c->mode == SYNC_ALWAYS)
                rc = visit_group(c, out, why, whylen);
        else
                rc = visit_one(c, out, why, whylen);
        pthread_mutex_unlock(&c->mu);
        return rc;
}

int
counter_reserve(struct counter *c, struct counter_waiter *w)
{
        int rc = 0;

        pthread_mutex_lock(&c->mu);
        w->counts = 1;
        w->number = 0;
        w->state = COUNTER_WAIT_PENDING;
        if (c->mode != SYNC_ALWAYS || c->failing) {
                rc = 0;
        } else if (at_maximum(c, w->why, w->whylen)) {
                w->state = COUNTER_WAIT_FAILED;
                rc = -1;
        } else {
                w->number = ++c->assigned;
                rc = 1;
        }
        pthread_mutex_unlock(&c->mu);
        return rc;
}

int
counter_submit(struct counter *c, struct counter_waiter *w)
{
        int rc = 0;

        pthread_mutex_lock(&c->mu);
        if (w->done != NULL)
                queue_for_batch(c, w); /* from here on w is the committer's until done() */
        else
                rc = wait_for_batch(c, w);
        pthread_mutex_unlock(&c->mu);
        return rc;
}

uint64_t
counter_get(struct counter *c)
{
        pthread_mutex_lock(&c->mu);
        uint64_t v = c->file.value;
        pthread_mutex_unlock(&c->mu);
        return v;
}

int
counter_check(struct counter *c, char *why, size_t whylen)
{
        int rc = -1;

        pthread_mutex_lock(&c->mu);
        if (c->mode == SYNC_ALWAYS) {
                struct counter_waiter w = {.why = why, .whylen = whylen}; /* a probe: no number */
                if (!at_maximum(c, why, whylen))
                        rc = wait_for_batch(c, &w);
        } else if (cfile_verify(&c->file, why, whylen) != 0) {
                note_failure(c, why, 1);
        } else if (!at_maximum(c, why, whylen)) {
                if (cfile_rewrite(&c->file, why, whylen) != 0) {
                        note_failure(c, why, 1);
                } else {
                        note_success(c);
                        rc = 0;
                }
        }
        pthread_mutex_unlock(&c->mu);
        return rc;
}

/*
 * The per-visit check, without a visit: the main thread calls it when the
 * watch on the directory (counter_watch.c) saw the file's name change. With
 * sync=always a file created again or taken over gets its directory fsynced
 * here too, since no batch may come for a long time to do it.
 */
int
counter_recheck(struct counter *c, int patient)
{
        char why[WHY_MAX];

        pthread_mutex_lock(&c->mu);
        if (patient && cfile_outside_empty(&c->file)) {
                pthread_mutex_unlock(&c->mu);
                return 1; /* being written: its close brings another event */
        }
        if (cfile_verify(&c->file, why, sizeof(why)) != 0) {
                note_failure(c, why, 1);
        } else {
                if (c->mode == SYNC_ALWAYS && c->assigned < c->file.value)
                        c->assigned = c->file.value; /* took a larger count from outside */
                if (c->mode == SYNC_ALWAYS && c->file.dir_dirty &&
                    sync_file(c, why, sizeof(why)) != 0)
                        note_failure(c, why, 0);
        }
        pthread_mutex_unlock(&c->mu);
        return 0;
}

void
counter_health(struct counter *c, struct counter_health *h)
{
        pthread_mutex_lock(&c->mu);
        h->count = c->file.value;
        h->refusing = c->failing || top_number(c) >= COUNTER_MAX;
        h->sync_failing = c->sync_failing;
        h->write_errors = c->write_errors;
        h->fsync_errors = c->fsync_errors;
        h->last_fsync_ns = c->last_fsync_ns;
        pthread_mutex_unlock(&c->mu);
}

/*
 * sync=interval. After a failed fsync the kernel may have dropped the dirty
 * page without writing it, and the next fsync would succeed with nothing to
 * do: the count is written again first, so that a success means it is on disk.
 */
static void
flush(struct counter *c)
{
        char why[WHY_MAX];

        int rc = c->sync_failing ? cfile_touch(&c->file, why, sizeof(why)) : 0;
        if (rc == 0)
                rc = sync_file(c, why, sizeof(why));
        if (rc != 0) {
                if (!c->sync_failing)
                        log_error("%s; visits still get 200, but they are not on disk: a power "
                                  "loss would lose them (retrying every %d ms)",
                                  why, c->interval_ms);
                c->sync_failing = 1;
        } else if (c->sync_failing) {
                log_info("counter file %s: fsync works again, %" PRIu64 " is on disk", c->file.path,
                         c->synced);
                c->sync_failing = 0;
        }
}

static void
add_ms(struct timespec *t, int ms)
{
        t->tv_sec += ms / 1000;
        t->tv_nsec += (long)(ms % 1000) * 1000000L;
        if (t->tv_nsec >= 1000000000L) {
                t->tv_sec++;
                t->tv_nsec -= 1000000000L;
        }
}

/* The next fsync is due an interval after the last one ended: no catching up after a stall. */
static void *
flusher_main(void *arg)
{
        struct counter *c = arg;
        struct timespec due;

        pthread_mutex_lock(&c->mu);
        while (!c->stopping) {
                clock_gettime(CLOCK_MONOTONIC, &due);
                add_ms(&due, c->interval_ms);
                while (!c->stopping &&
                       pthread_cond_timedwait(&c->flusher_cv, &c->mu, &due) != ETIMEDOUT)
                        ;
                if (!c->stopping &&
                    (c->synced < c->file.value || c->file.dir_dirty || c->sync_failing))
                        flush(c);
        }
        pthread_mutex_unlock(&c->mu);
        return NULL;
}

/* The background thread of the mode: the interval flusher, or the sync=always committer. */
static int
start_flusher(struct counter *c, char *err, size_t errlen)
{
        pthread_condattr_t attr;

        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&c->flusher_cv, &attr);
        pthread_condattr_destroy(&attr);
        pthread_cond_init(&c->commit_cv, NULL);
        if (c->mode == SYNC_NEVER)
                return 0;
        int rc = pthread_create(&c->flusher, NULL,
                                c->mode == SYNC_ALWAYS ? committer_main : flusher_main, c);
        if (rc != 0) {
                snprintf(err, errlen, "starting the counter %s: %s",
                         c->mode == SYNC_ALWAYS ? "committer" : "flusher", strerror(rc));
                return -1;
        }
        c->has_flusher = 1;
        return 0;
}

enum counter_status
counter_open(struct counter *c, const struct config *cfg, char *err, size_t errlen)
{
        memset(c, 0, sizeof(*c));
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->batch_cv[0], NULL);
        pthread_cond_init(&c->batch_cv[1], NULL);
        STAILQ_INIT(&c->pending);
        c->mode = cfg->sync;
        c->interval_ms = cfg->sync_interval_ms;
        enum counter_status st = cfile_open(&c->file, cfg->counter_path, err, errlen);
        if (st != COUNTER_OK)
                return st;
        c->synced = c->assigned = c->file.value;
        if (start_flusher(c, err, errlen) != 0) {
                cfile_close(&c->file);
                return COUNTER_IOERR;
        }
        return COUNTER_OK;
}

/*
 * The last look at the path (a deleted file is put back here too), then the
 * final fsync. Called once no visit runs any more.
 */
int
counter_close(struct counter *c)
{
        char why[WHY_MAX];
        int rc = 0;

        pthread_mutex_lock(&c->mu);
        c->stopping = 1; /* the committer runs what is queued first */
        pthread_cond_broadcast(&c->flusher_cv);
        pthread_cond_signal(&c->commit_cv);
        pthread_mutex_unlock(&c->mu);
        if (c->has_flusher)
                pthread_join(c->flusher, NULL);
        pthread_mutex_lock(&c->mu);
        if (cfile_verify(&c->file, why, sizeof(why)) != 0) {
                log_error("%s: the count %" PRIu64 " is not in it", why, c->file.value);
                rc = -1;
        }
        if (c->sync_failing && cfile_touch(&c->file, why, sizeof(why)) != 0) {
                log_error("%s", why);
                rc = -1;
        }
        if (fdatasync(c->file.fd) != 0) {
                log_error("counter file %s: final fsync: %s", c->file.path, strerror(errno));
                rc = -1;
        } else if (c->file.dir_dirty && cfile_fsync_dir(&c->file, why, sizeof(why)) != 0) {
                log_error("final %s", why);
                rc = -1;
        }
        uint64_t last = c->file.value;
        cfile_close(&c->file);
        pthread_mutex_unlock(&c->mu);
        if (rc == 0)
                log_info("counter file %s flushed at %" PRIu64, c->file.path, last);
        return rc;
}
