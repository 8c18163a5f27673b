#ifndef MT_PENDING_H
#define MT_PENDING_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "conn.h"
#include "fastcgi.h"
#include "metrics.h"

/*
 * Connections whose request is still arriving, watched by a thread of their
 * own in an edge-triggered epoll set (a level-triggered or one-shot re-arm
 * would report the bytes already queued again and again). A connection goes
 * back to the workers once its request is whole, and is closed when its
 * request is not whole REQUEST_DEADLINE_MS after its first byte, or when
 * more than PENDING_MAX wait (the oldest first). Only the pending thread
 * touches the list.
 */
struct pending {
        pthread_t thread;
        int running;
        int epoll_fd;
        struct conns *conns;
        struct metrics *metrics; /* counts them; NULL: not counted */
        struct conn waker;       /* the epoll tag of the stop eventfd */
        TAILQ_HEAD(pending_list, conn) waiting;
        int count;
        unsigned char peek[FCGI_REQUEST_MAX + 1];
};

/* Sets up the set; wake_fd becomes readable when everything stops. */
int pending_open(struct pending *p, struct conns *conns, int wake_fd, char *err, size_t errlen);

/* From a worker: c's request is partial. The pending thread owns c from here. */
void pending_add(struct pending *p, struct conn *c);

/* New bytes (or a hang-up) on c; exported so that a fuzzer runs it without the thread. */
void pending_event(struct pending *p, struct conn *c, uint32_t events);

/* Closes what waited too long, and the oldest beyond PENDING_MAX. */
void pending_expire(struct pending *p);

int pending_start(struct pending *p, char *err, size_t errlen);

/* Joins the thread (the wake eventfd must be readable); the connections stay registered. */
void pending_stop(struct pending *p);

void pending_close(struct pending *p);

#endif
