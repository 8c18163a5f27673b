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
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define ACCEPT_BATCH 64
/*
 * An accept that fails for want of descriptors or memory the accounting did
 * not see coming (another thread's files) pauses accepting until a
 * connection closes; this is the fallback when none is open to close.
 */
#define UNFORESEEN_PAUSE_MS 100
/*
 * Connections allocated at start for when malloc fails: a few hundred
 * concurrent requests' worth (nginx keeps as many alive), some 100 bytes
 * each.
 */
#define SPARE_CONNECTIONS 256

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
        s->epoll_fd = s->wake_fd = s->timer_fd = -1;
        s->listener.fd = s->pending.epoll_fd = -1;
        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        conns_init(&s->conns, s->epoll_fd);
        conns_listen(&s->conns, &s->listen_tag);
        switch (listener_open(&s->listener, cfg->socket_path, cfg->socket_mode, err, errlen)) {
        case LISTENER_OK: break;
        case LISTENER_IN_USE: return SERVER_IN_USE;
        case LISTENER_OSERR: return SERVER_OSERR;
        }
        s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        s->listen_tag.fd = s->listener.fd;
        s->wake_tag.fd = s->wake_fd;
        s->timer_tag.fd = s->timer_fd;
        if (s->epoll_fd < 0 || s->wake_fd < 0 || s->timer_fd < 0 ||
            conn_watch(s->epoll_fd, EPOLL_CTL_ADD, &s->listen_tag, EPOLLIN | EPOLLONESHOT) != 0 ||
            conn_watch(s->epoll_fd, EPOLL_CTL_ADD, &s->wake_tag, EPOLLIN) != 0 ||
            conn_watch(s->epoll_fd, EPOLL_CTL_ADD, &s->timer_tag, EPOLLIN) != 0) {
                snprintf(err, errlen, "epoll set-up: %s", strerror(errno));
                return SERVER_OSERR;
        }
        if (pending_open(&s->pending, &s->conns, s->wake_fd, err, errlen) != 0)
                return SERVER_OSERR;
        if (conns_spare(&s->conns, SPARE_CONNECTIONS) != 0) {
                snprintf(err, errlen, "allocating %d spare connections: %s", SPARE_CONNECTIONS,
                         strerror(errno));
                return SERVER_OSERR;
        }
        return SERVER_OK;
}

static void
add_connection(struct server *s, int fd)
{
        struct conn *c = conn_new(&s->conns, fd);

        if (c == NULL) {
                conns_no_memory(&s->conns, fd, "a new connection");
                return;
        }
        conn_arm(&s->conns, c, EPOLL_CTL_ADD);
}

/* Accepting paused by an accept that failed unforeseen: resumed by a close, or by the timer. */
static void
pause_unforeseen(struct server *s, int e)
{
        struct itimerspec in = {.it_value = {.tv_nsec = UNFORESEEN_PAUSE_MS * 1000000L}};
        char why[160];

        conns_pause(&s->conns);
        if (timerfd_settime(s->timer_fd, 0, &in, NULL) != 0) {
                /* Without the timer, only a close resumes: resume now rather than maybe never. */
                log_error("arming the accept timer: %s", strerror(errno));
                conns_resume(&s->conns);
        }
        snprintf(why, sizeof(why), "accept on %s: %s", s->cfg->socket_path, strerror(e));
        listener_full(&s->listener, conns_count(&s->conns), why);
}

/*
 * The listening socket is readable and this worker holds its event
 * (EPOLLONESHOT): accepts while the descriptor budget has room, then
 * re-arms it. At the limit it returns without re-arming: accepting is
 * paused (no thread sleeps on it, as OpenBSD's slowcgi does), a kept-alive
 * connection is closed to make room (conn.c: which one), and that close
 * re-arms it. The old way, a 50 ms sleep and an error line per EMFILE, held
 * a worker and wrote 20 lines a second while nginx's idle connections kept
 * every descriptor.
 */
static void
accept_batch(struct server *s)
{
        conns_set_room(&s->conns, listener_room(&s->listener));
        for (int i = 0; i < ACCEPT_BATCH; i++) {
                /*
                 * At the limit, a connection waiting to be accepted makes
                 * room for itself; with none, nothing is closed (and accept4
                 * must not race one in beyond the limit).
                 */
                if (conns_full(&s->conns)) {
                        if (!listener_waiting(&s->listener))
                                break;
                        if (!conns_admit(&s->conns)) {
                                listener_full(&s->listener, conns_count(&s->conns),
                                              "FastCGI connections hold every descriptor the "
                                              "limit leaves them");
                                return;
                        }
                }
                int fd = listener_accept(&s->listener);
                if (fd >= 0) {
                        add_connection(s, fd);
                        continue;
                }
                int e = errno;
                if (e == EINTR || e == ECONNABORTED)
                        continue;
                if (e == EAGAIN || e == EWOULDBLOCK)
                        break;
                if (e == EMFILE || e == ENFILE || e == ENOMEM || e == ENOBUFS) {
                        pause_unforeseen(s, e);
                        return;
                }
                log_error("accept on %s: %s", s->cfg->socket_path, strerror(e));
                break;
        }
        if (conn_watch(s->epoll_fd, EPOLL_CTL_MOD, &s->listen_tag, EPOLLIN | EPOLLONESHOT) != 0)
                log_error("re-arming %s: %s", s->cfg->socket_path, strerror(errno));
}

/* The timer of an unforeseen pause went off: accept again (a close may have come first). */
static void
timer_expired(struct server *s)
{
        uint64_t expirations;

        /* Level-triggered: every worker may wake for it; the one that reads it resumes. */
        if (read(s->timer_fd, &expirations, sizeof(expirations)) != sizeof(expirations)) {
                if (errno != EAGAIN)
                        log_error("reading the accept timer: %s", strerror(errno));
                return;
        }
        conns_resume(&s->conns);
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

/*
 * 1 if nginx has closed c: its end is closed (or both directions are shut
 * down), so that no answer can reach anyone. On a unix stream socket that
 * is POLLHUP; a half-close, shutdown(SHUT_WR) after a whole request, shows
 * only POLLRDHUP and is answered. nginx closes a connection when it gives up
 * on the request (fastcgi_read_timeout: its client got a 504) or when its
 * client leaves.
 */
static int
hung_up(int fd)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 0);

        if (n < 0) {
                /* Unknown: the visit is served, as it was before the check existed. */
                log_error("polling a FastCGI connection for a hang-up: %s", strerror(errno));
                return 0;
        }
        return n == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
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
        if (!routes_begin(s->app, &w->clock, &r, &w->resp, &v)) {
                answer(w, c);
                return;
        }
        /*
         * A visit is counted only if nginx is still there to pass its answer
         * on. Checked last before the count: a hang-up after this moment is
         * counted (the count comes first, then the answer that may not arrive).
         */
        if (hung_up(c->fd)) {
                conn_abandon(&s->conns, c);
                return;
        }
        if (park_visit(&s->park, c, w->req.id, w->req.keep_conn, &v, &w->clock, &w->resp))
                return; /* parked: the committer answers it */
        answer(w, c);
}

void
server_handle(struct worker *w, struct conn *c)
{
        struct server *s = w->s;
        char why[192];

        conn_take(&s->conns, c);
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
                        if (c == &s->timer_tag)
                                timer_expired(s);
                        else if (c == &s->listen_tag)
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

/* The entries of a checked [cluster] peers list: its commas, plus one unless it is empty. */
static size_t
count_peers(const char *peers)
{
        size_t n = 0;
        int item = 0;

        for (const char *p = peers; *p; p++) {
                if (*p == ',') {
                        n += item;
                        item = 0;
                } else if (*p != ' ' && *p != '\t') {
                        item = 1;
                }
        }
        return n + (size_t)item;
}

void
server_set_peers(struct server *s, const char *peers)
{
        listener_set_peers(&s->listener, count_peers(peers));
}

void
server_fd_budget(struct server *s, unsigned long long *limit, int *base, int *reserve, int *room)
{
        *limit = listener_fd_limit();
        *base = s->listener.base;
        *reserve = atomic_load(&s->listener.reserve);
        *room = listener_room(&s->listener);
}

int
server_start(struct server *s, const struct app *app, char *err, size_t errlen)
{
        s->app = app;
        park_init(&s->park, app, &s->conns);
        s->pending.metrics = app->metrics;
        /* Before the workers: they may accept at once. The pending thread opens nothing. */
        if (listener_measure(&s->listener, count_peers(s->cfg->cluster_peers), err, errlen) != 0)
                log_warn("%s; assuming %d", err, s->listener.base);
        conns_set_room(&s->conns, listener_room(&s->listener));
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
        if (s->timer_fd >= 0)
                close(s->timer_fd);
        s->epoll_fd = s->wake_fd = s->timer_fd = -1;
}
