/*
 * The FastCGI side: a unix socket, a pool of worker threads, and one epoll
 * set of connections.
 *
 * A worker picks up a connection only when a request has arrived on it
 * (EPOLLONESHOT): idle connections that nginx keeps alive cost no thread,
 * so no keep-alive pool size or thread count can stall the service (with
 * libfcgi's own accept loop a thread sits on each idle connection and,
 * once nginx holds as many idle connections as there are threads, new
 * requests wait forever).
 *
 * A thread never waits on a peer either. It peeks at everything queued on
 * the connection (one recv(MSG_PEEK)) and fastcgi.c parses it: one whole
 * request of the shape nginx sends is decoded in that pass and then read
 * off the socket; a request still arriving moves to the pending thread
 * (pending.c); anything else is closed at once. An answer leaves in one
 * non-blocking send of its encoded records; a peer that does not take it is
 * closed. With sync=always a visit waits for its fsync without a thread
 * (park.c).
 *
 * Threads: [server] workers, but no more than CPUs. A request never waits
 * on anything but the CPU, so extra threads would not serve more, but each
 * request would wake a sleeping thread instead of being picked up by the
 * one that just finished, which on two CPUs cost a quarter of the
 * throughput.
 */
#include "server.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define ACCEPT_BATCH 64

/* CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota. */
static int
usable_cpus(void)
{
        cpu_set_t set;
        int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;

        /* "max 100000" or "150000 100000": a pod's CPU limit of 1.5 is 2 threads. */
        FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
        if (f != NULL) {
                char quota[32];
                long period;
                if (fscanf(f, "%31s %ld", quota, &period) == 2 && strcmp(quota, "max") != 0 &&
                    period > 0) {
                        long limit = (atol(quota) + period - 1) / period;
                        if (limit < n)
                                n = (int)limit;
                }
                fclose(f);
        }
        return n > 0 ? n : 1;
}

enum server_status
server_open(struct server *s, const struct config *cfg, char *err, size_t errlen)
{
        memset(s, 0, sizeof(*s));
        s->cfg = cfg;
        s->epoll_fd = s->wake_fd = -1;
        s->listener.fd = s->pending.epoll_fd = -1;
        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        conns_init(&s->conns, s->epoll_fd);
        switch (listener_open(&s->listener, cfg->socket_path, cfg->socket_mode, err, errlen)) {
        case LISTENER_OK: break;
        case LISTENER_IN_USE: return SERVER_IN_USE;
        case LISTENER_OSERR: return SERVER_OSERR;
        }
        s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        s->listen_tag.fd = s->listener.fd;
        s->wake_tag.fd = s->wake_fd;
        if (s->epoll_fd < 0 || s->wake_fd < 0 ||
            conn_watch(s->epoll_fd, EPOLL_CTL_ADD, &s->listen_tag, EPOLLIN | EPOLLONESHOT) != 0 ||
            conn_watch(s->epoll_fd, EPOLL_CTL_ADD, &s->wake_tag, EPOLLIN) != 0) {
                snprintf(err, errlen, "epoll set-up: %s", strerror(errno));
                return SERVER_OSERR;
        }
        if (pending_open(&s->pending, &s->conns, s->wake_fd, err, errlen) != 0)
                return SERVER_OSERR;
        return SERVER_OK;
}

static void
add_connection(struct server *s, int fd)
{
        struct conn *c = conn_new(&s->conns, fd);

        if (c == NULL) {
                log_error("new connection: %s", strerror(errno));
                close(fd);
                return;
        }
        if (conn_watch(s->epoll_fd, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLRDHUP | EPOLLONESHOT) != 0) {
                log_error("new connection: epoll: %s", strerror(errno));
                conn_free(&s->conns, c);
        }
}

static void
accept_batch(struct server *s)
{
        for (int i = 0; i < ACCEPT_BATCH; i++) {
                int fd = listener_accept(&s->listener);
                if (fd >= 0) {
                        add_connection(s, fd);
                        continue;
                }
                if (errno == EINTR || errno == ECONNABORTED)
                        continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        break;
                log_error("accept on %s: %s", s->cfg->socket_path, strerror(errno));
                if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
                        /* The pending connection stays queued: back off instead of spinning. */
                        struct timespec ts = {.tv_nsec = 50 * 1000000L};
                        nanosleep(&ts, NULL);
                }
                break;
        }
        if (conn_watch(s->epoll_fd, EPOLL_CTL_MOD, &s->listen_tag, EPOLLIN | EPOLLONESHOT) != 0)
                log_error("re-arming %s: %s", s->cfg->socket_path, strerror(errno));
}

/* What the routes read of a request, from its FastCGI params. */
static void
read_request(struct fcgi_request *fr, struct request *r)
{
        r->method = fcgi_param(fr, "REQUEST_METHOD");
        r->path = fcgi_param(fr, "DOCUMENT_URI");
        r->accept = fcgi_param(fr, "HTTP_ACCEPT");
        r->query = fcgi_param(fr, "QUERY_STRING");
        r->listener = fcgi_param(fr, "MT_LISTENER");
        if (r->method == NULL)
                r->method = "";
        if (r->path != NULL) {
                r->path_len = strlen(r->path);
                return;
        }
        r->path = fcgi_param(fr, "REQUEST_URI");
        if (r->path == NULL)
                r->path = "";
        r->path_len = strcspn(r->path, "?");
}

/* The answer in w->resp, in one non-blocking send; then the next request, or the close. */
static void
answer(struct worker *w, struct conn *c)
{
        struct response *r = &w->resp;
        size_t len = fcgi_encode_answer(w->out, sizeof(w->out), w->req.id, r->head, r->head_len,
                                        r->body, r->send_body ? r->body_len : 0);
        ssize_t sent = len ? send(c->fd, w->out, len, MSG_DONTWAIT | MSG_NOSIGNAL) : -1;

        if (sent == (ssize_t)len && w->req.keep_conn)
                conn_rearm(&w->s->conns, c);
        else
                conn_free(&w->s->conns, c); /* not kept, or nginx did not take the answer */
}

/* c holds one whole request, parsed into w->req: read it off the socket and answer it. */
static void
serve(struct worker *w, struct conn *c)
{
        struct server *s = w->s;
        struct routes_visit v;
        struct request r;

        /* The bytes parsed are exactly those queued: nothing else reads this socket. */
        ssize_t got = recv(c->fd, w->peek, w->req.len, MSG_DONTWAIT);
        if (got != (ssize_t)w->req.len) {
                log_error("reading a parsed request: %s",
                          got < 0 ? strerror(errno) : "fewer bytes than peeked");
                conn_free(&s->conns, c);
                return;
        }
        read_request(&w->req, &r);
        if (routes_begin(s->app, &w->clock, &r, &w->resp, &v) &&
            park_visit(&s->park, c, w->req.id, w->req.keep_conn, &v, &w->clock, &w->resp))
                return; /* parked: the committer answers it */
        answer(w, c);
}

void
server_handle(struct worker *w, struct conn *c)
{
        struct server *s = w->s;
        char why[192];

        conn_take(c);
        park_free(c->parked); /* a parked visit's, its answer sent before c came back */
        c->parked = NULL;
        ssize_t n = recv(c->fd, w->peek, sizeof(w->peek), MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                conn_rearm(&s->conns, c);
                return;
        }
        if (n <= 0) {
                /* nginx closed a pooled connection, or the peer reset it. */
                conn_free(&s->conns, c);
                return;
        }
        switch (fcgi_parse(w->peek, (size_t)n, &w->req, why, sizeof(why))) {
        case FCGI_SCAN_COMPLETE: serve(w, c); break;
        case FCGI_SCAN_PARTIAL: pending_add(&s->pending, c); break;
        case FCGI_SCAN_INVALID: conn_refuse(&s->conns, c, why); break;
        }
}

static void *
worker_main(void *arg)
{
        struct worker *w = arg;
        struct server *s = w->s;
        struct epoll_event ev[2];

        for (;;) {
                /* While stopping: serve what is already there, leave when nothing is. */
                int stopping = atomic_load(&s->conns.stopping);
                int n = epoll_wait(s->epoll_fd, ev, stopping ? 2 : 1, stopping ? 0 : -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("epoll_wait: %s", strerror(errno));
                        break;
                }
                int served = 0;
                for (int i = 0; i < n; i++) {
                        struct conn *c = ev[i].data.ptr;
                        if (c == &s->wake_tag)
                                continue;
                        if (c == &s->listen_tag)
                                accept_batch(s);
                        else
                                server_handle(w, c);
                        served = 1;
                }
                if (stopping && !served) {
                        if (park_count(&s->park) == 0)
                                break;
                        /* Parked visits wait for their batch: their answers are still owed. */
                        struct timespec ts = {.tv_nsec = 1000000L};
                        nanosleep(&ts, NULL);
                }
        }
        return NULL;
}

int
server_start(struct server *s, const struct app *app, char *err, size_t errlen)
{
        s->app = app;
        park_init(&s->park, app, &s->conns);
        s->pending.metrics = app->metrics;
        if (pending_start(&s->pending, err, errlen) != 0)
                return -1;
        s->nthreads = s->cfg->workers;
        if (usable_cpus() < s->nthreads)
                s->nthreads = usable_cpus();
        s->workers = calloc((size_t)s->nthreads, sizeof(*s->workers));
        if (s->workers == NULL) {
                snprintf(err, errlen, "allocating %d workers: %s", s->nthreads, strerror(errno));
                return -1;
        }
        for (int i = 0; i < s->nthreads; i++) {
                struct worker *w = &s->workers[i];
                w->s = s;
                int rc = pthread_create(&w->thread, NULL, worker_main, w);
                if (rc != 0) {
                        snprintf(err, errlen, "starting worker %d: %s", i, strerror(rc));
                        return -1;
                }
                s->nworkers++;
        }
        return 0;
}

void
server_stop(struct server *s)
{
        uint64_t one = 1;

        listener_unlink(&s->listener); /* first, so that nginx stops connecting */
        atomic_store(&s->conns.stopping, 1);
        if (s->wake_fd >= 0 && write(s->wake_fd, &one, sizeof(one)) != sizeof(one))
                log_error("waking workers: %s", strerror(errno));
        for (int i = 0; i < s->nworkers; i++)
                pthread_join(s->workers[i].thread, NULL);
        pending_stop(&s->pending);
        /* No thread is left: close every connection, idle, pending or handed back. */
        struct conn *c;
        LIST_FOREACH (c, &s->conns.all, all) {
                /* Set when registered; cppcheck does not follow the list. */
                // cppcheck-suppress uninitvar
                park_free(c->parked);
                c->parked = NULL;
        }
        conns_close_all(&s->conns);
        free(s->workers);
        s->workers = NULL;
        s->nworkers = 0;
        listener_close(&s->listener);
        pending_close(&s->pending);
        if (s->epoll_fd >= 0)
                close(s->epoll_fd);
        if (s->wake_fd >= 0)
                close(s->wake_fd);
        s->epoll_fd = s->wake_fd = -1;
}
