/*
 * The counter file on disk.
 *
 * The file holds the count as decimal text and a newline, the Python
 * version's format, and is rewritten for each visit:
 *   - same length (41 -> 42): one pwrite at offset 0, in place. A write of a
 *     few bytes inside the first page is not split by a signal, so SIGKILL at
 *     any moment leaves the old or the new number.
 *   - longer (99 -> 100): growing in place would let a reader whose first
 *     read() saw the old length pick up the new tail with its second one
 *     ("99\n" + "\n"). So the new number goes to path.tmp (with the old
 *     file's mode and group), is fsynced, and is renamed over path: readers
 *     see one whole file or the other. This happens once per power of ten.
 * Nothing is ever truncated and no number written is ever smaller than one
 * the file held.
 *
 * Others may touch the file while we run. Before a visit is acknowledged,
 * cfile_verify() compares the inode the path names (lstat) with the one we
 * have locked, and the file's bytes (pread) with the ones we wrote. A visit
 * does the lstat, a walk of the whole path and the dearer of the two, only
 * when an inotify watch on the directory saw the name change: otherwise one
 * read of the watch's queue, which finds it empty (measured in `make bench`).
 */
#include "counter_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define COUNTER_FILE_MAX  64 /* bytes; a count with generous whitespace fits */
#define OPEN_TRIES        8  /* a path renamed over this often while we lock it is in use */
#define COUNTER_FILE_MODE 0640

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

static size_t
format_count(uint64_t v, char *text, size_t len)
{
        return (size_t)snprintf(text, len, "%" PRIu64 "\n", v);
}

static void
set_text(struct counter_file *f, uint64_t v)
{
        f->value = v;
        f->text_len = format_count(v, f->text, sizeof(f->text));
}

static int
cannot(char *why, size_t whylen, const char *op, const char *path, const char *what)
{
        snprintf(why, whylen, "cannot %s the counter file %s: %s", op, path, what);
        return -1;
}

int
cfile_fsync_dir(const struct counter_file *f, char *why, size_t whylen)
{
        char copy[CONFIG_PATH_MAX];

        snprintf(copy, sizeof(copy), "%s", f->path);
        const char *dir = dirname(copy);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0) {
                snprintf(why, whylen, "cannot fsync the directory %s of the counter file: %s", dir,
                         strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return 0;
}

/*
 * The new file gets the old one's mode and group, so that a digit growth
 * does not undo an operator's chmod or chgrp (and its owner too, when we may).
 */
static int
keep_owner_and_mode(const struct counter_file *f, int fd, char *what, size_t len)
{
        struct stat old, now;

        if (fstat(f->fd, &old) != 0 || fstat(fd, &now) != 0) {
                snprintf(what, len, "fstat: %s", strerror(errno));
                return -1;
        }
        uid_t uid = geteuid() == 0 ? old.st_uid : (uid_t)-1;
        if ((old.st_gid != now.st_gid || (uid != (uid_t)-1 && uid != now.st_uid)) &&
            fchown(fd, uid, old.st_gid) != 0)
                log_warn("counter file %s: cannot give the new file group %u of the old one: %s",
                         f->path, (unsigned)old.st_gid, strerror(errno));
        if (fchmod(fd, old.st_mode & 07777) != 0) {
                snprintf(what, len, "fchmod %04o: %s", (unsigned)(old.st_mode & 07777),
                         strerror(errno));
                return -1;
        }
        return 0;
}

static int
write_all(int fd, const char *text, size_t n, char *what, size_t len)
{
        ssize_t w = pwrite(fd, text, n, 0);

        if (w == (ssize_t)n)
                return 0;
        if (w >= 0)
                snprintf(what, len, "short write (%zd of %zu bytes)", w, n);
        else
                snprintf(what, len, "%s", strerror(errno));
        return -1;
}

/* Puts tmp_path at path: over the old file, or only where nothing is (the old one vanished). */
static int
put_in_place(const struct counter_file *f, int noreplace)
{
        if (!noreplace)
                return rename(f->tmp_path, f->path);
        if (renameat2(AT_FDCWD, f->tmp_path, AT_FDCWD, f->path, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -1;
        /* A file system without RENAME_NOREPLACE: link() never replaces either. */
        if (link(f->tmp_path, f->path) != 0)
                return -1;
        (void)unlink(f->tmp_path); /* a leftover is removed at the next start */
        return 0;
}

/*
 * The descriptor a visit reads and writes: without atime updates. Each
 * visit's check reads the file right after the previous visit's write, so
 * relatime would update the atime (a journalled inode change) on every
 * visit. Only the file's owner may ask (EPERM otherwise): then atime stays.
 */
static void
no_atime(int fd)
{
        int fl = fcntl(fd, F_GETFL);

        if (fl >= 0 && fcntl(fd, F_SETFL, fl | O_NOATIME) != 0 && errno != EPERM)
                log_warn("counter file: setting O_NOATIME: %s", strerror(errno));
}

/*
 * Writes the count v to a new file and renames it over the path. first, if
 * given, is written first and then replaced by v's text: the readiness probe
 * tries the longer text the next visit needs without changing the count.
 */
static int
replace_file(struct counter_file *f, uint64_t v, const char *first, int noreplace, char *why,
             size_t whylen)
{
        /* Room for the detail or strerror(), " (", tmp_path and ")": no truncation. */
        char what[sizeof(f->tmp_path) + 128], detail[96] = "", text[COUNTER_TEXT];
        size_t n = format_count(v, text, sizeof(text));
        const char *op = "create";
        struct stat st;

        int fd = open(f->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                      COUNTER_FILE_MODE);
        if (fd < 0)
                goto fail;
        op = "write";
        if (first != NULL && (write_all(fd, first, strlen(first), detail, sizeof(detail)) != 0 ||
                              ftruncate(fd, 0) != 0))
                goto fail;
        if (write_all(fd, text, n, detail, sizeof(detail)) != 0)
                goto fail;
        op = "set the mode of";
        if (keep_owner_and_mode(f, fd, detail, sizeof(detail)) != 0)
                goto fail;
        /* Taken before the rename, so the file is never visible unlocked. */
        op = "lock";
        if (flock(fd, LOCK_EX | LOCK_NB) != 0)
                goto fail;
        /* Its bytes reach the disk before its name does: never an empty file after a crash. */
        op = "fsync";
        if (fsync(fd) != 0 || fstat(fd, &st) != 0)
                goto fail;
        op = "rename";
        if (put_in_place(f, noreplace) != 0)
                goto fail;
        close(f->fd); /* the old file: nobody writes it again */
        no_atime(fd);
        f->fd = fd;
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->dir_dirty = 1;
        set_text(f, v);
        return 0;
fail:
        snprintf(what, sizeof(what), "%s (%s)", detail[0] ? detail : strerror(errno), f->tmp_path);
        if (fd >= 0) {
                unlink(f->tmp_path);
                close(fd);
        }
        return cannot(why, whylen, op, f->path, what);
}

/*
 * A short write in place (RLIMIT_FSIZE, a full disk) left the first bytes of
 * the new text over the old one; writing the old text (of the same length)
 * back covers exactly those bytes again, so the file never shows a mixed
 * number.
 */
int
cfile_write(struct counter_file *f, uint64_t v, char *why, size_t whylen)
{
        char text[COUNTER_TEXT], what[96];
        size_t n = format_count(v, text, sizeof(text));

        if (n != f->text_len)
                return replace_file(f, v, NULL, 0, why, whylen);
        ssize_t w = pwrite(f->fd, text, n, 0);
        if (w == (ssize_t)n) {
                set_text(f, v);
                return 0;
        }
        if (w < 0) {
                snprintf(what, sizeof(what), "%s", strerror(errno));
        } else {
                snprintf(what, sizeof(what), "short write (%zd of %zu bytes)", w, n);
                if (pwrite(f->fd, f->text, f->text_len, 0) < 0)
                        log_error("counter file %s: restoring %" PRIu64 " after a short write: %s",
                                  f->path, f->value, strerror(errno));
        }
        return cannot(why, whylen, "write", f->path, what);
}

int
cfile_touch(struct counter_file *f, char *why, size_t whylen)
{
        char what[96];

        if (write_all(f->fd, f->text, f->text_len, what, sizeof(what)) != 0)
                return cannot(why, whylen, "write", f->path, what);
        return 0;
}

int
cfile_rewrite(struct counter_file *f, char *why, size_t whylen)
{
        char next[COUNTER_TEXT];

        if (format_count(f->value + 1, next, sizeof(next)) == f->text_len)
                return cfile_touch(f, why, whylen);
        return replace_file(f, f->value, next, 0, why, whylen);
}

/*
 * Someone else left buf (n bytes) in the file we now have open. A count
 * larger than ours is taken; ours is kept over a smaller one; the file is
 * rewritten unless it already holds the result exactly as a visit writes it.
 */
static int
take_outside_value(struct counter_file *f, const char *buf, size_t n, const char *how, char *why,
                   size_t whylen)
{
        char reason[128], shown[160], text[COUNTER_TEXT];
        uint64_t v, ours = f->value;

        excerpt(buf, n, shown, sizeof(shown));
        if (n > COUNTER_FILE_MAX)
                snprintf(reason, sizeof(reason), "too long for a count");
        if (n > COUNTER_FILE_MAX || counter_parse(buf, n, &v, reason, sizeof(reason)) != 0) {
                snprintf(why, whylen,
                         "the counter file %s was changed from outside (%s) and does not hold "
                         "a count: %s (holds \"%s\"); left untouched",
                         f->path, how, reason, shown);
                return -1;
        }
        uint64_t keep = v > ours ? v : ours;
        if (format_count(keep, text, sizeof(text)) == n && memcmp(text, buf, n) == 0) {
                set_text(f, keep);
                log_warn("counter file %s was changed from outside (%s) and holds %" PRIu64
                         ": counting on from there",
                         f->path, how, keep);
                return 0;
        }
        if (replace_file(f, keep, NULL, 0, why, whylen) != 0)
                return -1;
        if (v < ours)
                log_warn("counter file %s was changed from outside (%s) to %" PRIu64
                         ", less than the %" PRIu64 " counted here: rewritten with %" PRIu64
                         " (to lower the count, stop the responder first)",
                         f->path, how, v, ours, ours);
        else
                log_warn("counter file %s was changed from outside (%s) to \"%s\": rewritten as "
                         "%" PRIu64 ", counting on from there",
                         f->path, how, shown, keep);
        return 0;
}

/* The path names another file: take it if it is a regular file with a count that we can lock. */
static int
adopt(struct counter_file *f, const struct stat *st, char *why, size_t whylen)
{
        char buf[COUNTER_FILE_MAX + 1], reason[128];
        struct stat now;
        uint64_t v;

        if (S_ISLNK(st->st_mode) || !S_ISREG(st->st_mode)) {
                snprintf(why, whylen, "the counter file %s was replaced by %s; left untouched",
                         f->path,
                         S_ISLNK(st->st_mode) ? "a symbolic link"
                                              : "something that is not a regular file");
                return -1;
        }
        int fd = open(f->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return cannot(why, whylen, "open", f->path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
                int busy = errno == EWOULDBLOCK;
                snprintf(why, whylen, "the counter file %s was replaced by %s%s; left untouched",
                         f->path,
                         busy ? "a file another process holds locked (another responder?)"
                              : "a file that cannot be locked: ",
                         busy ? "" : strerror(errno));
                close(fd);
                return -1;
        }
        ssize_t n = pread(fd, buf, sizeof(buf), 0);
        if (n < 0 || fstat(fd, &now) != 0) {
                cannot(why, whylen, "read", f->path, strerror(errno));
                close(fd);
                return -1;
        }
        if (now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
                snprintf(why, whylen, "the counter file %s changed again while being checked",
                         f->path);
                close(fd);
                return -1;
        }
        if ((size_t)n > COUNTER_FILE_MAX ||
            counter_parse(buf, (size_t)n, &v, reason, sizeof(reason)) != 0) {
                close(fd); /* we keep ours, and its lock, and leave that one alone */
                return take_outside_value(f, buf, (size_t)n, "replaced", why, whylen);
        }
        close(f->fd);
        no_atime(fd);
        f->fd = fd;
        f->dev = now.st_dev;
        f->ino = now.st_ino;
        return take_outside_value(f, buf, (size_t)n, "replaced", why, whylen);
}

int
cfile_outside_empty(const struct counter_file *f)
{
        struct stat st;

        return lstat(f->path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0;
}

/* Does the file still hold exactly the bytes we wrote? */
static int
verify_bytes(struct counter_file *f, char *why, size_t whylen)
{
        char buf[COUNTER_FILE_MAX + 1];

        ssize_t n = pread(f->fd, buf, sizeof(buf), 0);
        if (n < 0)
                return cannot(why, whylen, "read", f->path, strerror(errno));
        if ((size_t)n == f->text_len && memcmp(buf, f->text, f->text_len) == 0)
                return 0;
        return take_outside_value(f, buf, (size_t)n, "rewritten in place", why, whylen);
}

int
cfile_verify_visit(struct counter_file *f, char *why, size_t whylen)
{
#ifdef MT_BENCH_NO_OUTSIDE_CHECK
        return 0;
#endif
        /* Drained first: a change after it is seen by the next visit, as after an lstat. */
        int moved = cwatch_drain(&f->names);
        if (moved || !cwatch_watching(&f->names))
                return cfile_verify(f, why, whylen);
        return verify_bytes(f, why, whylen);
}

int
cfile_verify(struct counter_file *f, char *why, size_t whylen)
{
#ifdef MT_BENCH_NO_OUTSIDE_CHECK
        /* Only in the binary `make bench` builds to measure what this check costs. */
        return 0;
#endif
        struct stat st;

        if (lstat(f->path, &st) != 0) {
                if (errno != ENOENT)
                        return cannot(why, whylen, "stat", f->path, strerror(errno));
                /* Deleted or moved away: ours is the count, so it goes back. */
                if (replace_file(f, f->value, NULL, 1, why, whylen) == 0) {
                        log_warn("counter file %s was deleted or moved away: created it again "
                                 "with %" PRIu64 ", the count kept here",
                                 f->path, f->value);
                        return 0;
                }
                /* Someone put a new file there meanwhile (rm, then a restore): look at it. */
                if (lstat(f->path, &st) != 0)
                        return -1;
        }
        if (st.st_dev != f->dev || st.st_ino != f->ino)
                return adopt(f, &st, why, whylen);
        return verify_bytes(f, why, whylen);
}

/*
 * Opens and locks the file, and proves the lock is on the file the path
 * names: between our open() and flock() another responder may rename a new
 * file over the path and let go of the old one, whose lock we would then
 * get. Retried a few times, then refused as in use.
 */
static enum counter_status
open_locked(struct counter_file *f, int *created, char *err, size_t errlen)
{
        struct stat fst, pst;

        for (int tries = 0; tries < OPEN_TRIES; tries++) {
                int fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                              COUNTER_FILE_MODE);
                int existed = fd < 0 && errno == EEXIST;
                *created = fd >= 0;
                if (existed)
                        fd = open(f->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 && errno == ENOENT && existed)
                        continue; /* deleted between the two opens */
                if (fd < 0 && errno == ELOOP && lstat(f->path, &pst) == 0 && S_ISLNK(pst.st_mode)) {
                        snprintf(err, errlen,
                                 "counter file %s is a symbolic link: refused (set [counter] "
                                 "path to the file itself)",
                                 f->path);
                        return COUNTER_IOERR;
                }
                if (fd < 0) {
                        snprintf(err, errlen,
                                 "counter file %s: cannot open for reading and writing: %s",
                                 f->path, strerror(errno));
                        return COUNTER_IOERR;
                }
                if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
                        int busy = errno == EWOULDBLOCK;
                        snprintf(err, errlen, "counter file %s: %s", f->path,
                                 busy ? "another responder is using it (flock held)"
                                      : strerror(errno));
                        close(fd);
                        return busy ? COUNTER_BUSY : COUNTER_IOERR;
                }
                if (fstat(fd, &fst) != 0) {
                        snprintf(err, errlen, "counter file %s: fstat: %s", f->path,
                                 strerror(errno));
                        close(fd);
                        return COUNTER_IOERR;
                }
                if (lstat(f->path, &pst) == 0 && pst.st_dev == fst.st_dev &&
                    pst.st_ino == fst.st_ino) {
                        no_atime(fd);
                        f->fd = fd;
                        f->dev = fst.st_dev;
                        f->ino = fst.st_ino;
                        return COUNTER_OK;
                }
                close(fd); /* locked a file the path no longer names */
        }
        snprintf(err, errlen,
                 "counter file %s: another responder is using it (replaced %d times while we "
                 "locked it)",
                 f->path, OPEN_TRIES);
        return COUNTER_BUSY;
}

/* *canonical: the file holds exactly the count's own text, as a visit writes it. */
static enum counter_status
load_value(struct counter_file *f, int *canonical, char *err, size_t errlen)
{
        char buf[COUNTER_FILE_MAX + 1], why[128], shown[160];
        struct stat st;

        if (fstat(f->fd, &st) != 0) {
                snprintf(err, errlen, "counter file %s: fstat: %s", f->path, strerror(errno));
                return COUNTER_IOERR;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "counter file %s: not a regular file", f->path);
                return COUNTER_IOERR;
        }
        ssize_t n = pread(f->fd, buf, sizeof(buf), 0);
        if (n < 0) {
                snprintf(err, errlen, "counter file %s: read: %s", f->path, strerror(errno));
                return COUNTER_IOERR;
        }
        uint64_t v;
        excerpt(buf, (size_t)n, shown, sizeof(shown));
        if (n > COUNTER_FILE_MAX || st.st_size > COUNTER_FILE_MAX) {
                snprintf(err, errlen,
                         "counter file %s is corrupt: %lld bytes is too long for a "
                         "count (starts \"%s\"); left untouched",
                         f->path, (long long)st.st_size, shown);
                return COUNTER_CORRUPT;
        }
        if (counter_parse(buf, (size_t)n, &v, why, sizeof(why)) != 0) {
                snprintf(err, errlen,
                         "counter file %s is corrupt: %s (holds \"%s\"); left "
                         "untouched",
                         f->path, why, shown);
                return COUNTER_CORRUPT;
        }
        set_text(f, v);
        *canonical = (size_t)n == f->text_len && memcmp(buf, f->text, f->text_len) == 0;
        return COUNTER_OK;
}

enum counter_status
cfile_open(struct counter_file *f, const char *path, char *err, size_t errlen)
{
        int created = 0, canonical = 0;

        memset(f, 0, sizeof(*f));
        f->fd = -1;
        f->path = path;
        snprintf(f->tmp_path, sizeof(f->tmp_path), "%s.tmp", path);
        /* Before the file is opened, so that a change after it is seen; quiet: visits look. */
        cwatch_init(&f->names, path, NULL);
        enum counter_status st = open_locked(f, &created, err, errlen);
        if (st == COUNTER_OK)
                st = load_value(f, &canonical, err, errlen);
        /* Left by a crash between writing and renaming a longer number: never acknowledged. */
        if (st == COUNTER_OK && unlink(f->tmp_path) == 0)
                log_warn("removed %s left by an interrupted update", f->tmp_path);
        /*
         * A count with blanks or leading zeros ("  42 \n", "007") is longer than
         * its text, and visits and the readiness probe overwrite only that many
         * bytes: "43\n" over "  42 \n" leaves "43\n2 \n", which the next start
         * refuses. Replace such a file whole, once, before anything writes it.
         */
        if (st == COUNTER_OK && !created && !canonical) {
                char why[CONFIG_PATH_MAX + 256];
                if (replace_file(f, f->value, NULL, 0, why, sizeof(why)) != 0) {
                        snprintf(err, errlen, "%s", why);
                        st = COUNTER_IOERR;
                } else {
                        log_info("counter file %s rewritten as \"%" PRIu64 "\\n\"", f->path,
                                 f->value);
                }
        }
        if (st == COUNTER_OK && created) {
                /* A first start, as every new pod has: nothing is wrong. */
                log_info("counter file %s did not exist: created, starting at 0", f->path);
                if (pwrite(f->fd, f->text, f->text_len, 0) != (ssize_t)f->text_len ||
                    fdatasync(f->fd) != 0) {
                        snprintf(err, errlen, "counter file %s: writing 0: %s", f->path,
                                 strerror(errno));
                        st = COUNTER_IOERR;
                } else if (cfile_fsync_dir(f, err, errlen) != 0) {
                        st = COUNTER_IOERR;
                }
        }
        if (st != COUNTER_OK)
                cfile_close(f);
        return st;
}

int
cfile_create(const char *path, uint64_t v, char *why, size_t whylen)
{
        char tmp[CONFIG_PATH_MAX + 8], text[COUNTER_TEXT];
        struct counter_file dir = {.path = path};
        int len = snprintf(text, sizeof(text), "%" PRIu64 "\n", v);

        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, COUNTER_FILE_MODE);
        if (fd < 0) {
                snprintf(why, whylen, "cannot create %s: %s", tmp, strerror(errno));
                return -1;
        }
        if (write(fd, text, (size_t)len) != len || fdatasync(fd) != 0) {
                snprintf(why, whylen, "writing %s: %s", tmp, strerror(errno));
                close(fd);
                unlink(tmp);
                return -1;
        }
        close(fd);
        int rc = link(tmp, path);
        int saved = errno;
        unlink(tmp);
        if (rc != 0 && saved == EEXIST)
                return 1;
        if (rc != 0) {
                snprintf(why, whylen, "linking %s to %s: %s", tmp, path, strerror(saved));
                return -1;
        }
        return cfile_fsync_dir(&dir, why, whylen);
}

void
cfile_close(struct counter_file *f)
{
        if (f->fd >= 0 && close(f->fd) != 0)
                log_error("counter file %s: close: %s", f->path, strerror(errno));
        f->fd = -1;
        cwatch_close(&f->names);
}
