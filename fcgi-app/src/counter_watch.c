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
#include <unistd.h>

#include "inotify_drain.h"
#include "log.h"

/* Every way the name can change: removed, renamed to or from, created, written, chmod/link. */
#define WATCH_MASK                                                                                 \
        (IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE | IN_ATTRIB |        \
         IN_DELETE_SELF | IN_MOVE_SELF)

static void
watch_dir(struct counter_watch *w)
{
        w->wd = inotify_add_watch(w->fd, w->dir, WATCH_MASK);
        if (w->wd < 0 && w->unwatched != NULL)
                log_warn("counter file %s: watching its directory %s: %s; %s", w->path, w->dir,
                         strerror(errno), w->unwatched);
}

void
cwatch_init(struct counter_watch *w, const char *path, const char *unwatched)
{
        char copy[PATH_MAX];

        memset(w, 0, sizeof(*w));
        w->path = path;
        w->unwatched = unwatched;
        w->wd = -1;
        snprintf(w->what, sizeof(w->what), "counter file %s", path);
        snprintf(copy, sizeof(copy), "%s", path);
        snprintf(w->dir, sizeof(w->dir), "%s", dirname(copy));
        snprintf(copy, sizeof(copy), "%s", path);
        snprintf(w->name, sizeof(w->name), "%s", basename(copy));
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0) {
                if (unwatched != NULL)
                        log_warn("counter file %s: inotify_init1: %s; %s", path, strerror(errno),
                                 unwatched);
                return;
        }
        watch_dir(w);
}

/* 1 if ev may mean that the path names another file, none, or other bytes. */
static int
concerns_file(struct counter_watch *w, const struct inotify_event *ev)
{
        if (ev->mask & IN_Q_OVERFLOW)
                return 1; /* events were dropped: any of them may have been ours */
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                /*
                 * The directory went away or moved: watch what bears its name
                 * now. Until then nothing is watched (cwatch_watching() is 0).
                 */
                if (ev->mask & (IN_MOVE_SELF | IN_DELETE_SELF))
                        w->wd = -1;
                if (ev->mask & IN_MOVE_SELF)
                        inotify_rm_watch(w->fd, ev->wd); /* its IN_IGNORED follows */
                else if (ev->mask & IN_IGNORED)
                        watch_dir(w);
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
        if (w->fd >= 0 && w->wd < 0)
                watch_dir(w); /* the directory may be back (silent when unwatched is NULL) */
        return w->fd >= 0 && w->wd >= 0;
}

void
cwatch_close(struct counter_watch *w)
{
        if (w->fd >= 0 && close(w->fd) != 0)
                log_error("counter file %s: closing its inotify descriptor: %s", w->path,
                          strerror(errno));
        w->fd = w->wd = -1;
}
