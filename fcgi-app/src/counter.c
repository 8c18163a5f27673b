/*
 * The durable visits counter.
 *
 * The file holds the count as decimal text and a newline, the Python
 * version's format. The count is kept in memory (one responder owns the file,
 * enforced with flock) and each visit rewrites the file before its response
 * is sent:
 *   - same length (41 -> 42): one pwrite at offset 0, in place. A write of a
 *     few bytes inside the first page is not split by a signal, so SIGKILL at
 *     any moment leaves the old or the new number.
 *   - longer (99 -> 100): growing in place would let a reader whose first
 *     read() saw the old length pick up the new tail with its second one
 *     ("99\n" + "\n"). So the new number goes to path.tmp, is fsynced, and
 *     is renamed over path: readers see one whole file or the other. This
 *     happens once per power of ten.
 * The count never shrinks, so nothing is ever truncated. fsync policy:
 *   always    group commit: each visit waits for an fdatasync that started
 *             after its write; concurrent visits share one.
 *   interval  a flusher thread fdatasyncs at most every sync_interval_ms.
 *   never     only at shutdown.
 */
#include "counter.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define COUNTER_FILE_MAX 64 /* bytes; a count with generous whitespace fits */

static int
is_blank(char ch)
{
        return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int
counter_parse(const char *buf, size_t len, uint64_t *out, char *why, size_t whylen)
{
        size_t i = 0, end = len;
        uint64_t v = 0;

        while (i < end && is_blank(buf[i]))
                i++;
        while (end > i && is_blank(buf[end - 1]))
                end--;
        if (i < end && buf[i] == '-') {
                snprintf(why, whylen, "a negative number is not a count");
                return -1;
        }
        for (; i < end; i++) {
                if (buf[i] < '0' || buf[i] > '9') {
                        snprintf(why, whylen, "not a decimal number");
                        return -1;
                }
                unsigned d = (unsigned)(buf[i] - '0');
                if (v > ((uint64_t)COUNTER_MAX - d) / 10) {
                        snprintf(why, whylen, "too large: more than %" PRId64,
                                 (int64_t)COUNTER_MAX);
                        return -1;
                }
                v = v * 10 + d;
        }
        *out = v;
        return 0;
}

/* The first bytes of buf, escaped, so that an error message shows what the file holds. */
static void
excerpt(const char *buf, size_t len, char *out, size_t outlen)
{
        size_t n = 0;

        for (size_t i = 0; i < len && i < 32 && n + 5 < outlen; i++) {
                unsigned char ch = (unsigned char)buf[i];
                if (ch == '\n')
                        n += (size_t)snprintf(out + n, outlen - n, "\\n");
                else if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
                        n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", ch);
                else
                        out[n++] = (char)ch;
        }
        out[n] = '\0';
        if (len > 32 && n + 4 < outlen)
                strcat(out, "...");
}

static void
set_text(struct counter *c, uint64_t v)
{
        c->value = v;
        c->text_len = (size_t)snprintf(c->text, sizeof(c->text), "%" PRIu64 "\n", v);
}

static int64_t
realtime_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
note_failure(struct counter *c, const char *op, const char *what, char *why, size_t whylen)
{
        snprintf(why, whylen, "cannot %s the counter file %s: %s", op, c->path, what);
        if (strcmp(op, "fsync") == 0)
                c->fsync_errors++;
        else
                c->write_errors++;
        if (!c->failing)
                log_error("%s; visits get 503 until it works again", why);
        c->failing = 1;
}

static void
note_success(struct counter *c)
{
        if (c->failing)
                log_info("counter file %s works again at %" PRIu64, c->path, c->value);
        c->failing = 0;
}

static int
fsync_dir(const char *path, char *what, size_t len)
{
        char copy[CONFIG_PATH_MAX];

        snprintf(copy, sizeof(copy), "%s", path);
        const char *dir = dirname(copy);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0) {
                snprintf(what, len, "fsync of directory %s: %s", dir, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return 0;
}

/* The new, longer number goes to a fresh file renamed over the old one. */
static int
replace_file(struct counter *c, uint64_t v, const char *text, size_t n, char *why, size_t whylen)
{
        /* Room for the detail or strerror(), " (", tmp_path and ")": no truncation. */
        char what[sizeof(c->tmp_path) + 96], detail[64] = "";
        const char *op = "create";

        int fd = open(c->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0)
                goto fail;
        op = "write";
        ssize_t w = pwrite(fd, text, n, 0);
        if (w != (ssize_t)n) {
                if (w >= 0)
                        snprintf(detail, sizeof(detail), "short write (%zd of %zu bytes)", w, n);
                goto fail;
        }
        /* Taken before the rename, so the file is never visible unlocked. */
        op = "lock";
        if (flock(fd, LOCK_EX | LOCK_NB) != 0)
                goto fail;
        op = "fsync";
        if (fdatasync(fd) != 0)
                goto fail;
        op = "rename";
        if (rename(c->tmp_path, c->path) != 0)
                goto fail;
        close(c->fd); /* the old file: nobody writes it again */
        c->fd = fd;
        c->dir_dirty = 1;
        set_text(c, v);
        note_success(c);
        return 0;
fail:
        snprintf(what, sizeof(what), "%s (%s)", detail[0] ? detail : strerror(errno), c->tmp_path);
        if (fd >= 0) {
                unlink(c->tmp_path);
                close(fd);
        }
        note_failure(c, op, what, why, whylen);
        return -1;
}

/*
 * Writes v over the file. A short write in place (RLIMIT_FSIZE, a full disk)
 * left the first bytes of the new text over the old one; writing the old text
 * (of the same length) back covers exactly those bytes again, so the file
 * never shows a mixed number.
 */
static int
write_value(struct counter *c, uint64_t v, char *why, size_t whylen)
{
        char text[COUNTER_TEXT], what[96];
        size_t n = (size_t)snprintf(text, sizeof(text), "%" PRIu64 "\n", v);

        if (n != c->text_len)
                return replace_file(c, v, text, n, why, whylen);
        ssize_t w = pwrite(c->fd, text, n, 0);
        if (w == (ssize_t)n) {
                set_text(c, v);
                note_success(c);
                return 0;
        }
        if (w < 0) {
                snprintf(what, sizeof(what), "%s", strerror(errno));
        } else {
                snprintf(what, sizeof(what), "short write (%zd of %zu bytes)", w, n);
                if (pwrite(c->fd, c->text, c->text_len, 0) < 0)
                        log_error("counter file %s: restoring %" PRIu64 " after a short write: %s",
                                  c->path, c->value, strerror(errno));
        }
        note_failure(c, "write", what, why, whylen);
        return -1;
}

/*
 * Called and returns with c->mu held; drops it around the fsyncs. The
 * descriptor is duplicated because a growing number may replace c->fd
 * meanwhile.
 */
static int
sync_now(struct counter *c, char *why, size_t whylen)
{
        uint64_t upto = c->value;
        int dir = c->dir_dirty;
        char what[CONFIG_PATH_MAX + 64] = "";

        int fd = dup(c->fd);
        if (fd < 0) {
                note_failure(c, "fsync", strerror(errno), why, whylen);
                return -1;
        }
        c->syncing = 1;
        c->dir_dirty = 0;
        c->batch++;
        c->batch_upto = upto;
        pthread_mutex_unlock(&c->mu);
        int rc = fdatasync(fd);
        if (rc != 0)
                snprintf(what, sizeof(what), "%s", strerror(errno));
        else if (dir)
                rc = fsync_dir(c->path, what, sizeof(what));
        close(fd);
        pthread_mutex_lock(&c->mu);
        c->syncing = 0;
        if (rc == 0) {
                c->last_fsync_ns = realtime_ns();
                if (upto > c->synced)
                        c->synced = upto;
        }
        if (rc != 0 && dir)
                c->dir_dirty = 1;
        /* Wake this batch's visits, and one of the next batch's to lead it. */
        pthread_cond_broadcast(&c->batch_cv[c->batch % 2]);
        if (c->assigned > c->synced)
                pthread_cond_signal(&c->batch_cv[(c->batch + 1) % 2]);
        if (rc != 0) {
                note_failure(c, "fsync", what, why, whylen);
                return -1;
        }
        return 0;
}

/*
 * Group commit for sync=always. The visits that arrive while an fsync runs
 * take the next numbers and wait; the next leader writes the highest of them
 * and fdatasyncs once for the lot. Each batch sleeps on its own condition
 * variable, so the end of an fsync wakes its visits and one leader for the
 * next, not everybody. Writing in the leader, not in each visit,
 * also keeps pwrite away from a page under writeback. A failed batch hands
 * its numbers out again (its visits answer 503); if only the fsync failed the
 * file already counts them: a few visits may be counted that were not
 * acknowledged, never the other way round.
 */
static void
fail_batch(struct counter *c, const char *why)
{
        snprintf(c->batch_error, sizeof(c->batch_error), "%s", why);
        c->batch_failures++;
        c->assigned = c->value;
        pthread_cond_broadcast(&c->batch_cv[0]);
        pthread_cond_broadcast(&c->batch_cv[1]);
}

static void
commit_batch(struct counter *c, char *why, size_t whylen)
{
        if ((c->assigned > c->value && write_value(c, c->assigned, why, whylen) != 0) ||
            sync_now(c, why, whylen) != 0)
                fail_batch(c, why);
}

static int
visit_group(struct counter *c, uint64_t *out, char *why, size_t whylen)
{
        uint64_t mine = ++c->assigned;
        uint64_t generation = c->batch_failures;

        while (c->synced < mine) {
                if (c->batch_failures != generation) {
                        snprintf(why, whylen, "%s", c->batch_error);
                        return -1;
                }
                if (!c->syncing) {
                        commit_batch(c, why, whylen);
                        continue;
                }
                /* Covered by the fsync in flight, or by the one after it. */
                uint64_t b = mine <= c->batch_upto ? c->batch : c->batch + 1;
                pthread_cond_wait(&c->batch_cv[b % 2], &c->mu);
        }
        *out = mine;
        return 0;
}

/* sync=interval and never: each visit writes through at once. */
static int
visit_one(struct counter *c, uint64_t *out, char *why, size_t whylen)
{
        if (write_value(c, c->value + 1, why, whylen) != 0)
                return -1;
        *out = c->value;
        return 0;
}

int
counter_visit(struct counter *c, uint64_t *out, char *why, size_t whylen)
{
        int rc = -1;

        pthread_mutex_lock(&c->mu);
        if (c->value >= COUNTER_MAX || c->assigned >= COUNTER_MAX)
                snprintf(why, whylen, "the counter is at its maximum");
        else if (c->mode == SYNC_ALWAYS)
                rc = visit_group(c, out, why, whylen);
        else
                rc = visit_one(c, out, why, whylen);
        pthread_mutex_unlock(&c->mu);
        return rc;
}

uint64_t
counter_get(struct counter *c)
{
        pthread_mutex_lock(&c->mu);
        uint64_t v = c->value;
        pthread_mutex_unlock(&c->mu);
        return v;
}

void
counter_stats(struct counter *c, struct metrics_counter *out)
{
        pthread_mutex_lock(&c->mu);
        out->visits = c->value;
        out->write_errors = c->write_errors;
        out->fsync_errors = c->fsync_errors;
        out->last_fsync_ns = c->last_fsync_ns;
        pthread_mutex_unlock(&c->mu);
}

int
counter_check(struct counter *c, char *why, size_t whylen)
{
        char buf[COUNTER_TEXT];
        int rc = -1;

        pthread_mutex_lock(&c->mu);
        if (pread(c->fd, buf, sizeof(buf), 0) < 0) {
                note_failure(c, "read", strerror(errno), why, whylen);
                goto out;
        }
        /* Rewriting the same bytes proves the volume takes writes and changes nothing. */
        ssize_t w = pwrite(c->fd, c->text, c->text_len, 0);
        if (w != (ssize_t)c->text_len) {
                note_failure(c, "write", w < 0 ? strerror(errno) : "short write", why, whylen);
                goto out;
        }
        note_success(c);
        rc = 0;
out:
        pthread_mutex_unlock(&c->mu);
        return rc;
}

static void *
flusher_main(void *arg)
{
        struct counter *c = arg;
        struct timespec deadline;
        char why[256];

        pthread_mutex_lock(&c->mu);
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        while (!c->stopping) {
                deadline.tv_sec += c->interval_ms / 1000;
                deadline.tv_nsec += (long)(c->interval_ms % 1000) * 1000000L;
                if (deadline.tv_nsec >= 1000000000L) {
                        deadline.tv_sec++;
                        deadline.tv_nsec -= 1000000000L;
                }
                while (!c->stopping &&
                       pthread_cond_timedwait(&c->flusher_cv, &c->mu, &deadline) != ETIMEDOUT)
                        ;
                if (!c->stopping && c->synced < c->value && !c->syncing)
                        (void)sync_now(c, why, sizeof(why)); /* note_failure() logged it */
        }
        pthread_mutex_unlock(&c->mu);
        return NULL;
}

static int
start_flusher(struct counter *c, char *err, size_t errlen)
{
        pthread_condattr_t attr;

        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&c->flusher_cv, &attr);
        pthread_condattr_destroy(&attr);
        if (c->mode != SYNC_INTERVAL)
                return 0;
        int rc = pthread_create(&c->flusher, NULL, flusher_main, c);
        if (rc != 0) {
                snprintf(err, errlen, "starting the counter flusher: %s", strerror(rc));
                return -1;
        }
        c->has_flusher = 1;
        return 0;
}

static enum counter_status
open_file(struct counter *c, int *created, char *err, size_t errlen)
{
        *created = 0;
        c->fd = open(c->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (c->fd >= 0)
                *created = 1;
        else if (errno == EEXIST)
                c->fd = open(c->path, O_RDWR | O_CLOEXEC);
        if (c->fd < 0) {
                snprintf(err, errlen, "counter file %s: cannot open for reading and writing: %s",
                         c->path, strerror(errno));
                return COUNTER_IOERR;
        }
        if (flock(c->fd, LOCK_EX | LOCK_NB) != 0) {
                int busy = errno == EWOULDBLOCK;
                snprintf(err, errlen, "counter file %s: %s", c->path,
                         busy ? "another responder is using it (flock held)" : strerror(errno));
                return busy ? COUNTER_BUSY : COUNTER_IOERR;
        }
        return COUNTER_OK;
}

/* *canonical: the file holds exactly the count's own text, as a visit writes it. */
static enum counter_status
load_value(struct counter *c, int *canonical, char *err, size_t errlen)
{
        char buf[COUNTER_FILE_MAX + 1], why[128], shown[160];
        struct stat st;

        if (fstat(c->fd, &st) != 0) {
                snprintf(err, errlen, "counter file %s: fstat: %s", c->path, strerror(errno));
                return COUNTER_IOERR;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "counter file %s: not a regular file", c->path);
                return COUNTER_IOERR;
        }
        ssize_t n = pread(c->fd, buf, sizeof(buf), 0);
        if (n < 0) {
                snprintf(err, errlen, "counter file %s: read: %s", c->path, strerror(errno));
                return COUNTER_IOERR;
        }
        uint64_t v;
        excerpt(buf, (size_t)n, shown, sizeof(shown));
        if (n > COUNTER_FILE_MAX || st.st_size > COUNTER_FILE_MAX) {
                snprintf(err, errlen,
                         "counter file %s is corrupt: %lld bytes is too long for a "
                         "count (starts \"%s\"); left untouched",
                         c->path, (long long)st.st_size, shown);
                return COUNTER_CORRUPT;
        }
        if (counter_parse(buf, (size_t)n, &v, why, sizeof(why)) != 0) {
                snprintf(err, errlen,
                         "counter file %s is corrupt: %s (holds \"%s\"); left "
                         "untouched",
                         c->path, why, shown);
                return COUNTER_CORRUPT;
        }
        set_text(c, v);
        c->synced = c->assigned = v;
        *canonical = (size_t)n == c->text_len && memcmp(buf, c->text, c->text_len) == 0;
        return COUNTER_OK;
}

enum counter_status
counter_open(struct counter *c, const struct config *cfg, char *err, size_t errlen)
{
        int created, canonical = 0;

        memset(c, 0, sizeof(*c));
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->batch_cv[0], NULL);
        pthread_cond_init(&c->batch_cv[1], NULL);
        c->path = cfg->counter_path;
        snprintf(c->tmp_path, sizeof(c->tmp_path), "%s.tmp", c->path);
        c->mode = cfg->sync;
        c->interval_ms = cfg->sync_interval_ms;
        enum counter_status st = open_file(c, &created, err, errlen);
        if (st == COUNTER_OK)
                st = load_value(c, &canonical, err, errlen);
        /* Left by a crash between writing and renaming a longer number: never acknowledged. */
        if (st == COUNTER_OK && unlink(c->tmp_path) == 0)
                log_warn("removed %s left by an interrupted update", c->tmp_path);
        /*
         * A count with blanks or leading zeros ("  42 \n", "007") is longer than
         * its text, and visits and the readiness probe overwrite only that many
         * bytes: "43\n" over "  42 \n" leaves "43\n2 \n", which the next start
         * refuses. Replace such a file whole, once, before anything writes it.
         */
        if (st == COUNTER_OK && !created && !canonical) {
                char why[CONFIG_PATH_MAX + 256];
                if (replace_file(c, c->value, c->text, c->text_len, why, sizeof(why)) != 0) {
                        snprintf(err, errlen, "%s", why);
                        st = COUNTER_IOERR;
                } else {
                        log_info("counter file %s rewritten as \"%" PRIu64 "\\n\"", c->path,
                                 c->value);
                }
        }
        if (st == COUNTER_OK && created) {
                log_warn("counter file %s did not exist: created, starting at 0", c->path);
                if (pwrite(c->fd, c->text, c->text_len, 0) != (ssize_t)c->text_len ||
                    fdatasync(c->fd) != 0) {
                        snprintf(err, errlen, "counter file %s: writing 0: %s", c->path,
                                 strerror(errno));
                        st = COUNTER_IOERR;
                } else if (fsync_dir(c->path, err, errlen) != 0) {
                        st = COUNTER_IOERR;
                }
        }
        if (st == COUNTER_OK && start_flusher(c, err, errlen) != 0)
                st = COUNTER_IOERR;
        if (st != COUNTER_OK && c->fd >= 0) {
                close(c->fd);
                c->fd = -1;
        }
        return st;
}

int
counter_close(struct counter *c)
{
        int rc = 0;

        pthread_mutex_lock(&c->mu);
        c->stopping = 1;
        pthread_cond_broadcast(&c->flusher_cv);
        pthread_mutex_unlock(&c->mu);
        if (c->has_flusher)
                pthread_join(c->flusher, NULL);
        char what[CONFIG_PATH_MAX + 64];
        if (fdatasync(c->fd) != 0) {
                log_error("counter file %s: final fsync: %s", c->path, strerror(errno));
                rc = -1;
        } else if (c->dir_dirty && fsync_dir(c->path, what, sizeof(what)) != 0) {
                log_error("counter file %s: final %s", c->path, what);
                rc = -1;
        }
        if (close(c->fd) != 0) {
                log_error("counter file %s: close: %s", c->path, strerror(errno));
                rc = -1;
        }
        c->fd = -1;
        if (rc == 0)
                log_info("counter file %s flushed at %" PRIu64, c->path, c->value);
        return rc;
}
