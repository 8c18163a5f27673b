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
        /*
         * The directory's parent, watched for the directory's name: its
         * deletion is seen there at once (the directory's own DELETE_SELF
         * waits for the last reference to it, and the counter file held open
         * in it is one), and so is a new directory of that name. While the
         * parent is missing too, the nearest folder above that exists.
         */
        int up_wd;         /* -1 if none is watched */
        int missing;       /* the directory was found missing (and said so) */
        int up_warned;     /* the folder above could not be watched (and it was said) */
        char up[PATH_MAX]; /* the folder up_wd watches */
        int above_wd;      /* while the directory is missing: up's parent, for up's name; or -1 */
        char above[PATH_MAX];
        char parent[PATH_MAX];       /* dirname(dir) */
        char dir_name[NAME_MAX + 1]; /* basename(dir) */
};

/*
 * Watches the directory of path. If that fails, unwatched (what it means)
 * is logged with the reason, unless it is NULL.
 */
void cwatch_init(struct counter_watch *w, const char *path, const char *unwatched);

/*
 * Reads the pending events: 1 if one may concern the file at the path (or
 * some were lost). The watch follows the directory's name: when the
 * directory is deleted or moved away, it watches the folders above until a
 * directory of that name is back (made again, with mkdir -p too, or moved
 * in), then watches that one, and returns 1: the file in it is to be looked
 * at.
 */
int cwatch_drain(struct counter_watch *w);

/*
 * 1 if the directory is watched, so that every change of the name since the
 * last drain is in the queue; 0 if not (inotify unavailable, or the
 * directory moved or deleted and not back yet). A directory that is back but
 * not yet seen by a drain is watched here, and this call still returns 0:
 * what was done to the name before the new watch is in no queue.
 */
int cwatch_watching(struct counter_watch *w);

void cwatch_close(struct counter_watch *w);

#endif
