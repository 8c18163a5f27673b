#ifndef MT_LISTENER_H
#define MT_LISTENER_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The unix socket nginx connects to: made with exactly the configured mode
 * (never world-writable, no window at a wider one), never replacing a live
 * responder's, and removed at the end only if it is still ours.
 */
enum listener_status { LISTENER_OK = 0, LISTENER_IN_USE, LISTENER_OSERR };

struct listener {
        int fd;
        const char *path;
        dev_t dev;
        ino_t ino; /* the socket file we created, so we remove only ours */
};

enum listener_status listener_open(struct listener *l, const char *path, unsigned mode, char *err,
                                   size_t errlen);

/* One new connection, non-blocking and close-on-exec; -1 with errno (EAGAIN: none). */
int listener_accept(struct listener *l);

/* Removes the socket file, if it is still the one we made: nginx stops connecting. */
void listener_unlink(struct listener *l);

void listener_close(struct listener *l);

#endif
