/*
 * Requests not yet whole. nginx writes a request at once, so a connection
 * lands here only when the socket buffer held part of one: a peer that
 * trickles bytes costs a list entry, never a worker thread.
 */
#include "pending.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define PENDING_BATCH       64
#define REQUEST_DEADLINE_MS 2000 /* first byte to last; nginx writes a request at once */
#define PENDING_MAX         256  /* incomplete requests; each holds < FCGI_REQUEST_MAX */

int
pending_open(struct pending *p, struct conns *conns, int wake_fd, char *err, size_t errlen)
{
        memset(p, 0, sizeof(*p));
        p->conns = conns;
        TAILQ_INIT(&p->waiting);
        p->waker.fd = wake_fd;
        p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (p->epoll_fd < 0 || conn_watch(p->epoll_fd, EPOLL_CTL_ADD, &p->waker, EPOLLIN) != 0) {
                snprintf(err, errlen, "epoll set-up for pending requests: %s", strerror(errno));
                return -1;
        }
        return 0;
}

void
pending_add(struct pending *p, struct conn *c)
{
        c->deadline = now_mono_ms() + REQUEST_DEADLINE_MS;
        /*
         * Bytes are queued, so the pending thread gets an event for c at once
         * and takes it over from there; the caller must not touch c again.
         */
        if (conn_watch(p->epoll_fd, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLRDHUP | EPOLLET) != 0) {
                log_error("waiting for the rest of a request: epoll: %s", strerror(errno));
                conn_free(p->conns, c);
        }
}

static void
unlist(struct pending *p, struct conn *c)
{
        TAILQ_REMOVE(&p->waiting, c, waiting);
        c->pending_listed = 0;
        p->count--;
        metrics_gauge_add(p->metrics, METRICS_PENDING, -1);
}

/* c's request is whole: back to the workers' set, where its queued bytes wake one. */
static void
release(struct pending *p, struct conn *c)
{
        unlist(p, c);
        if (epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL) != 0) {
                log_error("releasing a pending request: epoll: %s", strerror(errno));
                conn_free(p->conns, c);
                return;
        }
        conn_arm(p->conns, c, EPOLL_CTL_MOD); /* from here on a worker may own c */
}

void
pending_event(struct pending *p, struct conn *c, uint32_t events)
{
        char why[192];

        conn_take(p->conns, c);
        if (!c->pending_listed) {
                TAILQ_INSERT_TAIL(&p->waiting, c, waiting);
                c->pending_listed = 1;
                p->count++;
                metrics_gauge_add(p->metrics, METRICS_PENDING, 1);
        }
        ssize_t n = recv(c->fd, p->peek, sizeof(p->peek), MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        enum fcgi_scan scan =
            n > 0 ? fcgi_scan(p->peek, (size_t)n, why, sizeof(why)) : FCGI_SCAN_INVALID;
        if (scan == FCGI_SCAN_COMPLETE) {
                release(p, c);
                return;
        }
        if (scan == FCGI_SCAN_PARTIAL && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                return;
        unlist(p, c);
        if (scan == FCGI_SCAN_INVALID && n > 0)
                conn_refuse(p->conns, c, why);
        else
                conn_refuse(p->conns, c, "the peer hung up in the middle of a request");
}

void
pending_expire(struct pending *p)
{
        int64_t now = now_mono_ms();
        char why[128];
        struct conn *c;

        while ((c = TAILQ_FIRST(&p->waiting)) != NULL &&
               (p->count > PENDING_MAX || c->deadline <= now)) {
                if (p->count > PENDING_MAX)
                        snprintf(why, sizeof(why), "the oldest of more than %d incomplete requests",
                                 PENDING_MAX);
                else
                        snprintf(why, sizeof(why), "no whole request %d ms after its first byte",
                                 REQUEST_DEADLINE_MS);
                unlist(p, c);
                conn_refuse(p->conns, c, why);
        }
}

static void *
pending_main(void *arg)
{
        struct pending *p = arg;
        struct epoll_event ev[PENDING_BATCH];

        for (;;) {
                int timeout = -1;
                struct conn *oldest = TAILQ_FIRST(&p->waiting);
                if (oldest != NULL) {
                        int64_t left = oldest->deadline - now_mono_ms();
                        timeout = left < 0 ? 0 : (int)left;
                }
                int n = epoll_wait(p->epoll_fd, ev, PENDING_BATCH, timeout);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("epoll_wait (pending requests): %s", strerror(errno));
                        return NULL;
                }
                for (int i = 0; i < n; i++) {
                        if (ev[i].data.ptr == &p->waker)
                                return NULL; /* stopping: the registry closes what is left */
                }
                /* Each connection appears at most once per batch; expiry frees only after it. */
                for (int i = 0; i < n; i++)
                        pending_event(p, ev[i].data.ptr, ev[i].events);
                pending_expire(p);
        }
}

int
pending_start(struct pending *p, char *err, size_t errlen)
{
        int rc = pthread_create(&p->thread, NULL, pending_main, p);

        if (rc != 0) {
                snprintf(err, errlen, "starting the pending thread: %s", strerror(rc));
                return -1;
        }
        p->running = 1;
        return 0;
}

void
pending_stop(struct pending *p)
{
        if (p->running)
                pthread_join(p->thread, NULL);
        p->running = 0;
}

void
pending_close(struct pending *p)
{
        if (p->epoll_fd >= 0)
                close(p->epoll_fd);
        p->epoll_fd = -1;
}
