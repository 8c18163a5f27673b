#ifndef MT_COUNTER_WATCH_H
#define MT_COUNTER_WATCH_H

#include <limits.h>

/*
 * inotify on the counter file's directory: says, without a syscall on the
 * path, whether the file at the path may have been deleted, renamed over,
 * rewritten or replaced since the last look. It only tells; counter.c
 * looks and repairs. Two instances read the same events independently:
 * the main thread's, which wakes it within milliseconds without a visit
 * (counter_recheck), and the counter file's own, which lets a visit skip
 * looking the path up when nothing happened to the name (counter_file.c).
 * Each is used by one thread at a time.
 */
struct counter_watch {
        const char *path;
        char dir[PATH_MAX];
        char name[NAME_MAX + 1];
        char what[PATH_MAX + 16]; /* "counter file PATH", for inotify_drain's error */
        const char *unwatched;    /* what it means when nothing is watched; NULL: not logged */
        int fd;                   /* inotify; -1 if unavailable (the per-visit check still runs) */
        int wd;                   /* the directory's watch; -1 if not watched */
};

/*
 * Watches the directory of path. If that fails, unwatched (what it means)
 * is logged with the reason, unless it is NULL.
 */
void cwatch_init(struct counter_watch *w, const char *path, const char *unwatched);

/* Reads the pending events: 1 if one may concern the file at the path (or some were lost). */
int cwatch_drain(struct counter_watch *w);

/*
 * 1 if the directory is watched, so that every change of the name since the
 * last drain is in the queue; 0 if not (inotify unavailable, or the
 * directory moved or deleted and not watched again yet): tries to watch it
 * again first.
 */
int cwatch_watching(struct counter_watch *w);

void cwatch_close(struct counter_watch *w);

#endif
