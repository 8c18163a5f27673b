#ifndef MT_INOTIFY_DRAIN_H
#define MT_INOTIFY_DRAIN_H

#include <sys/inotify.h>

/* Says whether one event concerns what the caller watches: 1 or 0. */
typedef int (*inotify_each)(void *arg, const struct inotify_event *ev);

/*
 * Reads every event queued on the non-blocking inotify descriptor fd and
 * passes each to each. Returns 1 if any call returned 1, and also when a
 * read failed (logged, with what and dir): events may then have been lost,
 * and the caller must look for itself. 0 otherwise.
 */
int inotify_drain(int fd, inotify_each each, void *arg, const char *what, const char *dir);

#endif
