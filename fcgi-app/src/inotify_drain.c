/*
 * The read loop shared by the main thread's two watches (config.ini's
 * folder in reload.c, the counter file's in counter_watch.c): a buffer
 * aligned for struct inotify_event, EINTR retried, EAGAIN the end.
 */
#include "inotify_drain.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int
inotify_drain(int fd, inotify_each each, void *arg, const char *what, const char *dir)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        int changed = 0;

        if (fd < 0)
                return 0;
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                for (ssize_t off = 0; off < n;) {
                        const struct inotify_event *ev = (const void *)(buf + off);
                        changed |= each(arg, ev);
                        off += (ssize_t)(sizeof(*ev) + ev->len);
                }
                if (n > 0 || (n < 0 && errno == EINTR))
                        continue;
                if (n < 0 && errno != EAGAIN) {
                        log_error("%s: reading inotify events on %s: %s", what, dir,
                                  strerror(errno));
                        changed = 1;
                }
                return changed;
        }
}
