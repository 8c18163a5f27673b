/*
 * Watching the counter file's directory for changes made from outside.
 *
 * The per-visit check (cfile_verify) sees a deleted or replaced file only
 * when the next visit or probe comes; a SIGKILL before that loses the count
 * that then lives only in memory and in an unlinked inode. The directory is
 * watched, not the file: a rename over the path or a deletion is an event of
 * the directory, and a watch on the file would stay on the orphaned inode.
 * Events of other names in the directory are ignored; our own renames are
 * seen too, and the recheck they cause finds nothing to do.
 */
#include "counter_watch.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inotify_drain.h"
#include "log.h"

/* Every way the name can change: removed, renamed to or from, created, written, chmod/link. */
#define WATCH_MASK                                                                                 \
        (IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE | IN_ATTRIB |        \
         IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
/* A folder above: a name going or coming (the directory's, or one on the way to it), or itself. */
#define UP_MASK                                                                                    \
        (IN_DELETE | IN_MOVED_FROM | IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |     \
         IN_ONLYDIR)

/* Stops watching a directory that went: what has its name now is another one, or none. */
static void
drop_dir(struct counter_watch *w)
{
        /* EINVAL: the kernel already removed it (IN_IGNORED is queued). */
        if (w->wd >= 0 && inotify_rm_watch(w->fd, w->wd) != 0 && errno != EINVAL)
                log_error("counter file %s: removing the watch on %s: %s", w->path, w->dir,
                          strerror(errno));
        w->wd = -1;
}

/* Removes watch *wd (on what) unless keep is the same watch. */
static void
drop(struct counter_watch *w, int *wd, const char *what, int keep)
{
        if (*wd >= 0 && *wd != keep && inotify_rm_watch(w->fd, *wd) != 0 && errno != EINVAL)
                log_error("counter file %s: removing the watch on %s: %s", w->path, what,
                          strerror(errno));
        *wd = -1;
}

/*
 * The parent, or the nearest folder above the directory that exists (A):
 * 0 if one is watched. inotify gives one watch per inode: a folder watched
 * above A before is the new A's watch now, not to be removed with the old.
 */
static int
watch_up(struct counter_watch *w)
{
        char cur[PATH_MAX], copy[PATH_MAX];

        snprintf(cur, sizeof(cur), "%s", w->dir);
        for (;;) {
                snprintf(copy, sizeof(copy), "%s", cur);
                const char *above = dirname(copy);
                if (strcmp(above, cur) == 0) {
                        errno = 0; /* "/" or "." itself: nothing above it to watch */
                        return -1;
                }
                snprintf(cur, sizeof(cur), "%s", above);
                int wd = inotify_add_watch(w->fd, cur, UP_MASK);
                if (wd >= 0) {
                        if (w->above_wd == wd)
                                w->above_wd = -1; /* it is A's watch from now on */
                        drop(w, &w->up_wd, w->up, wd);
                        w->up_wd = wd;
                        snprintf(w->up, sizeof(w->up), "%s", cur);
                        return 0;
                }
                if (errno != ENOENT && errno != ENOTDIR)
                        return -1;
        }
}

/*
 * While the directory is missing, A's parent too, for A's name: A's own
 * DELETE_SELF waits for its last reference, and the counter file held open
 * below it is one (rm -rf takes A next). 0 if A's deletion will be seen.
 */
static int
watch_above(struct counter_watch *w)
{
        char copy[PATH_MAX];

        snprintf(copy, sizeof(copy), "%s", w->up);
        const char *above = dirname(copy);
        if (strcmp(above, w->up) == 0) {
                drop(w, &w->above_wd, w->above, w->up_wd);
                return 0; /* "/" is not deleted */
        }
        int wd = inotify_add_watch(w->fd, above, UP_MASK);
        if (wd < 0)
                return -1;
        if (w->above_wd != wd)
                drop(w, &w->above_wd, w->above, w->up_wd);
        w->above_wd = wd;
        snprintf(w->above, sizeof(w->above), "%s", above);
        return 0;
}

/* 1 if path names something inside folder (both as written, without "." or ".."). */
static int
is_below(const char *path, const char *folder)
{
        size_t n = strlen(folder);

        if (strncmp(path, folder, n) != 0)
                return 0;
        return n > 0 && (path[n] == '/' || folder[n - 1] == '/') && path[n + (path[n] == '/')] != 0;
}

/*
 * 1 if the folder one level below the one watched above (on the way to the
 * directory) is there: made before that watch was, so its IN_CREATE was not
 * seen (mkdir -p is faster than a look up the path).
 */
static int
made_below_up(const struct counter_watch *w)
{
        char next[PATH_MAX];
        struct stat st;
        size_t n = strlen(w->up);

        if (!is_below(w->dir, w->up))
                return 0; /* not a folder above the directory: nothing between */
        const char *end = strchr(w->dir + n + (w->dir[n] == '/'), '/');
        size_t len = end != NULL ? (size_t)(end - w->dir) : strlen(w->dir);
        snprintf(next, sizeof(next), "%.*s", (int)len, w->dir);
        return stat(next, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Watches the folder above, then the directory (in this order, so that a
 * directory made between the two is seen either way). 1 if the directory is
 * watched now. quiet: a directory still missing is not logged again.
 */
static int
follow(struct counter_watch *w, int quiet)
{
        int up = -1, up_errno = 0, e = 0;
        char was[PATH_MAX];

        snprintf(was, sizeof(was), "%s", w->up); /* where the directory was looked for */

        /* Bounded: a folder deleted and made again as fast as we look could keep us here. */
        for (int tries = 0; tries < 64; tries++) {
                up = watch_up(w);
                up_errno = errno;
                w->wd = inotify_add_watch(w->fd, w->dir, WATCH_MASK);
                if (w->wd >= 0)
                        break;
                e = errno;
                if (up == 0 && made_below_up(w))
                        continue; /* a folder on the way was made before the watch above it */
                /* A gone between the two watches: its deletion was not seen, look again. */
                if (up != 0 || (watch_above(w) == 0 && access(w->up, F_OK) == 0))
                        break;
        }
        if (w->wd >= 0) {
                drop(w, &w->above_wd, w->above, w->up_wd);
                if (w->missing && w->unwatched != NULL)
                        log_info("counter file %s: its directory %s is back; watching it again",
                                 w->path, w->dir);
                w->missing = 0;
                if (up != 0 && up_errno != 0 && !w->up_warned && w->unwatched != NULL)
                        log_warn("counter file %s: watching %s, above its directory: %s; a "
                                 "deletion of the directory is seen at the next visit or probe",
                                 w->path, w->parent, strerror(up_errno));
                w->up_warned |= up != 0;
                return 1;
        }
        if (w->unwatched != NULL && quiet && w->missing && up == 0 && strcmp(was, w->up) != 0) {
                if (is_below(w->up, was)) /* deeper: a folder on the way came */
                        log_info("counter file %s: %s is there now; looking for %s from %s",
                                 w->path, w->up, w->dir, w->up);
                else
                        log_info("counter file %s: %s is gone or moved too; looking for %s from %s",
                                 w->path, was, w->dir, w->up);
        } else if (w->unwatched != NULL && !(quiet && w->missing)) {
                if (up == 0 && (e == ENOENT || e == ENOTDIR))
                        log_warn("counter file %s: watching its directory %s: %s; %s, until a "
                                 "directory of that name is back (looked for from %s)",
                                 w->path, w->dir, strerror(e), w->unwatched, w->up);
                else
                        log_warn("counter file %s: watching its directory %s: %s; %s", w->path,
                                 w->dir, strerror(e), w->unwatched);
        }
        w->missing = 1;
        return 0;
}

void
cwatch_init(struct counter_watch *w, const char *path, const char *unwatched)
{
        char copy[PATH_MAX];

        memset(w, 0, sizeof(*w));
        w->path = path;
        w->unwatched = unwatched;
        w->wd = w->up_wd = w->above_wd = -1;
        snprintf(w->what, sizeof(w->what), "counter file %s", path);
        snprintf(copy, sizeof(copy), "%s", path);
        snprintf(w->dir, sizeof(w->dir), "%s", dirname(copy));
        snprintf(copy, sizeof(copy), "%s", path);
        snprintf(w->name, sizeof(w->name), "%s", basename(copy));
        snprintf(copy, sizeof(copy), "%s", w->dir);
        snprintf(w->parent, sizeof(w->parent), "%s", dirname(copy));
        snprintf(copy, sizeof(copy), "%s", w->dir);
        snprintf(w->dir_name, sizeof(w->dir_name), "%s", basename(copy));
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0) {
                if (unwatched != NULL)
                        log_warn("counter file %s: inotify_init1: %s; %s", path, strerror(errno),
                                 unwatched);
                return;
        }
        follow(w, 0);
}

/* A watch of a folder that went or moved: removed if it moved (its IN_IGNORED follows). */
static void
gone(struct counter_watch *w, const struct inotify_event *ev, const char *what)
{
        if ((ev->mask & IN_MOVE_SELF) && inotify_rm_watch(w->fd, ev->wd) != 0 && errno != EINVAL)
                log_error("counter file %s: removing the watch on %s: %s", w->path, what,
                          strerror(errno));
}

/* An event of the folder above (A): 1 if the directory went, or is watched again. */
static int
up_event(struct counter_watch *w, const struct inotify_event *ev)
{
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                /* That folder went, and the directory with it, wherever it is now. */
                gone(w, ev, w->up);
                w->up_wd = -1;
                drop_dir(w);
                follow(w, 0);
                return 1;
        }
        int at_parent = strcmp(w->up, w->parent) == 0;
        if (ev->len == 0 || (at_parent && strcmp(ev->name, w->dir_name) != 0))
                return 0; /* the parent's other names are not ours */
        if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
                if (!at_parent)
                        return 0;
                drop_dir(w); /* the directory went: look for its name */
                follow(w, 0);
                return 1;
        }
        /* A name appeared: the directory (another one than any watched), or one on its way. */
        if (at_parent)
                drop_dir(w);
        return follow(w, 1) || at_parent;
}

/* An event of A's parent, watched while the directory is missing: 1 if it is back. */
static int
above_event(struct counter_watch *w, const struct inotify_event *ev)
{
        char copy[PATH_MAX];

        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                gone(w, ev, w->above);
                w->above_wd = -1;
                return follow(w, 1);
        }
        snprintf(copy, sizeof(copy), "%s", w->up);
        if (ev->len == 0 || strcmp(ev->name, basename(copy)) != 0)
                return 0;
        /* A went (look from further up), or a folder of its name came: look again. */
        return follow(w, 1);
}

/* 1 if ev may mean that the path names another file, none, or other bytes. */
static int
concerns_file(struct counter_watch *w, const struct inotify_event *ev)
{
        if (ev->mask & IN_Q_OVERFLOW) {
                /* Events were dropped: any of them may have been ours, the directory's too. */
                drop_dir(w);
                follow(w, 1);
                return 1;
        }
        if (w->up_wd >= 0 && ev->wd == w->up_wd)
                return up_event(w, ev);
        if (w->above_wd >= 0 && ev->wd == w->above_wd)
                return above_event(w, ev);
        if (w->wd < 0 || ev->wd != w->wd)
                return 0; /* a watch given up: its last events, IN_IGNORED */
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                /*
                 * The directory went away or moved (also unmounted): watch
                 * what bears its name now, or what is above it until one
                 * does. Until then nothing is watched (cwatch_watching() is 0).
                 */
                drop_dir(w);
                follow(w, 0);
                return 1;
        }
        return ev->len > 0 && strcmp(ev->name, w->name) == 0;
}

static int
each_event(void *arg, const struct inotify_event *ev)
{
        return concerns_file(arg, ev);
}

int
cwatch_drain(struct counter_watch *w)
{
        return inotify_drain(w->fd, each_event, w, w->what, w->dir);
}

int
cwatch_watching(struct counter_watch *w)
{
        if (w->fd < 0)
                return 0;
        if (w->wd >= 0)
                return 1;
        /*
         * The directory may be back: watched from now on, but whatever was
         * done to the name before this is in no queue, so not this time.
         */
        follow(w, 1);
        return 0;
}

void
cwatch_close(struct counter_watch *w)
{
        if (w->fd >= 0 && close(w->fd) != 0)
                log_error("counter file %s: closing its inotify descriptor: %s", w->path,
                          strerror(errno));
        w->fd = w->wd = w->up_wd = w->above_wd = -1;
}
