#ifndef MT_COUNTER_WATCH_H
#define MT_COUNTER_WATCH_H

#include <limits.h>

/*
 * inotify on the counter file's directory: tells the main thread, within
 * milliseconds and without a visit, that the file at the path may have been
 * deleted, renamed over, rewritten or replaced. It only tells; counter.c
 * looks and repairs (counter_recheck), and the check before each visit
 * stays, since a watch can overflow or be lost. Only the main thread uses it.
 */
struct counter_watch {
        const char *path;
        char dir[PATH_MAX];
        char name[NAME_MAX + 1];
        int fd; /* inotify; -1 if unavailable (the per-visit check still runs) */
        int wd; /* the directory's watch; -1 if not watched */
};

void cwatch_init(struct counter_watch *w, const char *path);

/* Reads the pending events: 1 if one may concern the file at the path (or some were lost). */
int cwatch_drain(struct counter_watch *w);

void cwatch_close(struct counter_watch *w);

#endif
