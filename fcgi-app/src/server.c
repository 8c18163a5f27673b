/*
 * The FastCGI side: a unix socket, a pool of worker threads, libfcgi for the
 * protocol.
 *
 * libfcgi's own accept loop gives each thread one connection and reads from
 * it until nginx closes it. With nginx keeping FastCGI connections alive,
 * a thread then sits on an idle connection and serves nobody else: once
 * nginx holds as many idle connections as there are threads, new requests
 * wait forever. Here the connections live in one epoll set instead
 * (EPOLLONESHOT), and a thread picks up a connection only when a request has
 * arrived on it; libfcgi reads and writes that request on the descriptor we
 * hand it (FCGX_Request.ipcFd, public in fcgiapp.h). Idle connections cost
 * no thread, so no keep-alive pool size or thread count can stall the
 * service.
 *
 * A thread never waits on a peer either. Before libfcgi reads a byte, the
 * thread peeks at everything queued on the connection (one recv(MSG_PEEK))
 * and fcgi_scan() checks that it is one complete request of the shape nginx
 * sends (fcgi_record.h). Only then does libfcgi parse it, from the socket
 * buffer, on a non-blocking descriptor: its reads cannot wait, and a write
 * the peer does not take fails at once. A request still arriving moves to
 * the pending thread, which watches such connections in an edge-triggered
 * epoll set of its own (a level-triggered or one-shot re-arm would report
 * the bytes already queued again and again), hands a connection back once
 * its request is complete, and closes it when its request is not complete
 * REQUEST_DEADLINE_MS after its first byte, or when more than PENDING_MAX
 * wait (the oldest first). Anything nginx does not send is closed at once:
 * libfcgi 2.4.2 leaks 48 bytes for each management record of an unknown
 * type, and its close path shuts the socket down and reads for as long as
 * the peer keeps sending (OS_Close), so libfcgi never closes a connection
 * itself here but with a plain close() (FCGX_Request.detached).
 *
 * With sync=always a visit waits for the fdatasync of its batch without a
 * thread: the worker takes its number, hands libfcgi's request back
 * (FCGX_Free) and parks the connection; the counter's committer thread, once
 * the batch is on disk (or failed), writes each of its answers' FastCGI
 * records itself (one non-blocking send) and re-arms the connection: handing
 * them to a worker cost a wake-up per batch and, on a busy machine, a wait
 * for that worker's turn on a CPU (sync=always 0.14x -> 0.24x of the
 * ceiling, measured side by side). So a batch is as large as the visits that
 * arrived during the last fsync, not as the thread count. Beyond PARKED_MAX
 * parked visits a worker waits for its visit's batch itself (back-pressure:
 * it reads no new request meanwhile).
 *
 * Threads: [server] workers, but no more than CPUs. A request never waits
 * on anything but the CPU, so extra threads would not serve more, but each
 * request would wake a sleeping thread instead of being picked up by the
 * one that just finished, which on two CPUs cost a quarter of the
 * throughput.
 */
#include "server.h"

#include <errno.h>
#include <fcgiapp.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fcgi_record.h"
#include "log.h"

#define ACCEPT_BATCH        64
#define PENDING_BATCH       64
#define REQUEST_DEADLINE_MS 2000 /* first byte to last; nginx writes a request at once */
#define PENDING_MAX         256  /* incomplete requests; each holds < FCGI_REQUEST_MAX */
#define REFUSAL_LOG_MS      10000
#define PARKED_MAX          4096 /* visits waiting for their batch; beyond, a visit holds its thread */
#define FCGI_STDOUT         6
#define FCGI_END_REQUEST    3

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* One connection from nginx (or from anything else that can reach the socket). */
struct conn {
        int fd;
        int listed;        /* the pending thread has it in its deadline list */
        int64_t deadline;  /* pending: CLOCK_MONOTONIC ms by which the request must be whole */
        struct conn *prev; /* s->conns: every open connection, so that stopping frees all */
        struct conn *next;
        struct conn *older; /* the pending thread's list, oldest first */
        struct conn *newer;
        /* A visit parked while its batch is written and fsynced (sync=always). */
        struct server *s;
        struct counter_waiter visit;
        struct routes_visit route;
        unsigned request_id;
        int keep;
        char why[128];
};

struct worker {
        struct server *s;
        pthread_t thread;
        FCGX_Request req;
        struct clock_text clock;
        struct response resp;
        unsigned char peek[FCGI_REQUEST_MAX + 1]; /* one more: "too long" is seen as such */
        /* A parked visit's answer as FastCGI records: STDOUT, its padding, empty STDOUT, END. */
        unsigned char out[8 + sizeof(((struct response *)0)->head) +
                          sizeof(((struct response *)0)->body) + 7 + 8 + 16];
};

/* The connections whose request is still arriving; only the pending thread touches it. */
struct pending {
        pthread_t thread;
        int running;
        struct conn *oldest;
        struct conn *newest;
        int count;
        unsigned char peek[FCGI_REQUEST_MAX + 1];
};

static int64_t
now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

static void
unix_addr(const char *path, struct sockaddr_un *addr)
{
        memset(addr, 0, sizeof(*addr));
        addr->sun_family = AF_UNIX;
        /* config.c guarantees the length. */
        memcpy(addr->sun_path, path, strlen(path) + 1);
}

/* A socket file left by a responder that died is replaced; a live one is not. */
static enum server_status
clear_stale(const char *path, char *err, size_t errlen)
{
        struct sockaddr_un addr;
        struct stat st;

        if (lstat(path, &st) != 0) {
                if (errno == ENOENT)
                        return SERVER_OK;
                snprintf(err, errlen, "socket %s: lstat: %s", path, strerror(errno));
                return SERVER_OSERR;
        }
        if (!S_ISSOCK(st.st_mode)) {
                snprintf(err, errlen,
                         "socket %s: exists and is not a socket; refusing to "
                         "replace it",
                         path);
                return SERVER_IN_USE;
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                snprintf(err, errlen, "socket(): %s", strerror(errno));
                return SERVER_OSERR;
        }
        unix_addr(path, &addr);
        int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
        int e = errno;
        close(fd);
        if (rc == 0 || e == EAGAIN) {
                snprintf(err, errlen,
                         "socket %s: another process is listening on it; stop it "
                         "first",
                         path);
                return SERVER_IN_USE;
        }
        if (e != ECONNREFUSED) {
                snprintf(err, errlen, "socket %s: probing for a live listener: %s", path,
                         strerror(e));
                return SERVER_OSERR;
        }
        if (unlink(path) != 0) {
                snprintf(err, errlen, "socket %s: removing the stale file: %s", path,
                         strerror(errno));
                return SERVER_OSERR;
        }
        log_info("removed stale socket %s", path);
        return SERVER_OK;
}

static enum server_status
bind_socket(struct server *s, const struct config *cfg, char *err, size_t errlen)
{
        struct sockaddr_un addr;
        struct stat st;

        unix_addr(cfg->socket_path, &addr);
        /* Created 0600 whatever the umask, then widened to exactly socket_mode: no window. */
        mode_t old = umask(0177);
        int rc = bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
        int e = errno;
        umask(old);
        if (rc != 0) {
                snprintf(err, errlen, "socket %s: bind: %s", cfg->socket_path, strerror(e));
                return e == EADDRINUSE ? SERVER_IN_USE : SERVER_OSERR;
        }
        if (chmod(cfg->socket_path, cfg->socket_mode) != 0 || lstat(cfg->socket_path, &st) != 0) {
                snprintf(err, errlen, "socket %s: chmod %04o: %s", cfg->socket_path,
                         cfg->socket_mode, strerror(errno));
                return SERVER_OSERR;
        }
        s->sock_dev = st.st_dev;
        s->sock_ino = st.st_ino;
        if (listen(s->listen_fd, SOMAXCONN) != 0) {
                snprintf(err, errlen, "socket %s: listen: %s", cfg->socket_path, strerror(errno));
                return SERVER_OSERR;
        }
        return SERVER_OK;
}

static int
watch(int epoll_fd, int op, struct conn *c, uint32_t events)
{
        struct epoll_event ev = {.events = events, .data.ptr = c};

        return epoll_ctl(epoll_fd, op, c->fd, &ev);
}

static struct conn *
conn_new(struct server *s, int fd)
{
        struct conn *c = calloc(1, sizeof(*c));

        if (c == NULL)
                return NULL;
        c->fd = fd;
        c->s = s;
        pthread_mutex_lock(&s->conns_mu);
        c->next = s->conns;
        if (s->conns != NULL)
                s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->conns_mu);
        return c;
}

/* Forgets c; closes its descriptor unless libfcgi already did. */
static void
conn_free(struct server *s, struct conn *c, int close_fd)
{
        pthread_mutex_lock(&s->conns_mu);
        if (c->prev != NULL)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next != NULL)
                c->next->prev = c->prev;
        pthread_mutex_unlock(&s->conns_mu);
        if (close_fd)
                close(c->fd);
        free(c);
}

/* Waits for the next request on c (level-triggered: bytes already queued wake a worker). */
static void
rearm(struct server *s, struct conn *c)
{
        if (atomic_load(&s->stopping) ||
            watch(s->epoll_fd, EPOLL_CTL_MOD, c, EPOLLIN | EPOLLRDHUP | EPOLLONESHOT) != 0)
                conn_free(s, c, 1);
}

/*
 * Closes a connection that broke the protocol or took too long. One line at
 * most every REFUSAL_LOG_MS: a hostile peer must not fill the log.
 */
static void
refuse(struct server *s, struct conn *c, const char *why)
{
        unsigned long long n = atomic_fetch_add(&s->refused, 1) + 1;
        long long now = now_ms(), last = atomic_load(&s->refused_logged);

        if (now - last >= REFUSAL_LOG_MS &&
            atomic_compare_exchange_strong(&s->refused_logged, &last, now))
                log_warn("closed a FastCGI connection: %s (%llu so far; logged at most every "
                         "%d s)",
                         why, n, REFUSAL_LOG_MS / 1000);
        conn_free(s, c, 1);
}

enum server_status
server_open(struct server *s, const struct config *cfg, char *err, size_t errlen)
{
        memset(s, 0, sizeof(*s));
        s->cfg = cfg;
        s->listen_fd = s->epoll_fd = s->pending_fd = s->wake_fd = -1;
        pthread_mutex_init(&s->conns_mu, NULL);
        atomic_store(&s->refused_logged, now_ms() - REFUSAL_LOG_MS);
        enum server_status st = clear_stale(cfg->socket_path, err, errlen);
        if (st != SERVER_OK)
                return st;
        s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->listen_fd < 0) {
                snprintf(err, errlen, "socket(): %s", strerror(errno));
                return SERVER_OSERR;
        }
        st = bind_socket(s, cfg, err, errlen);
        if (st != SERVER_OK)
                return st;
        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        s->pending_fd = epoll_create1(EPOLL_CLOEXEC);
        s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        s->listener = calloc(1, sizeof(*s->listener));
        s->waker = calloc(1, sizeof(*s->waker));
        if (s->listener == NULL || s->waker == NULL) {
                snprintf(err, errlen, "allocating the server: %s", strerror(errno));
                return SERVER_OSERR;
        }
        s->listener->fd = s->listen_fd;
        s->waker->fd = s->wake_fd;
        if (s->epoll_fd < 0 || s->pending_fd < 0 || s->wake_fd < 0 ||
            watch(s->epoll_fd, EPOLL_CTL_ADD, s->listener, EPOLLIN | EPOLLONESHOT) != 0 ||
            watch(s->epoll_fd, EPOLL_CTL_ADD, s->waker, EPOLLIN) != 0 ||
            watch(s->pending_fd, EPOLL_CTL_ADD, s->waker, EPOLLIN) != 0) {
                snprintf(err, errlen, "epoll set-up: %s", strerror(errno));
                return SERVER_OSERR;
        }
        return SERVER_OK;
}

static void
add_connection(struct server *s, int fd)
{
        struct conn *c = conn_new(s, fd);

        if (c == NULL) {
                log_error("new connection: %s", strerror(errno));
                close(fd);
                return;
        }
        if (watch(s->epoll_fd, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLRDHUP | EPOLLONESHOT) != 0) {
                log_error("new connection: epoll: %s", strerror(errno));
                conn_free(s, c, 1);
        }
}

static void
accept_batch(struct server *s)
{
        for (int i = 0; i < ACCEPT_BATCH; i++) {
                /* Non-blocking: libfcgi's reads and writes on it must never wait on the peer. */
                int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
        if (watch(s->epoll_fd, EPOLL_CTL_MOD, s->listener, EPOLLIN | EPOLLONESHOT) != 0)
                log_error("re-arming %s: %s", s->cfg->socket_path, strerror(errno));
}

static void
read_request(FCGX_Request *req, struct request *r)
{
        r->method = FCGX_GetParam("REQUEST_METHOD", req->envp);
        r->path = FCGX_GetParam("DOCUMENT_URI", req->envp);
        r->accept = FCGX_GetParam("HTTP_ACCEPT", req->envp);
        r->query = FCGX_GetParam("QUERY_STRING", req->envp);
        if (r->method == NULL)
                r->method = "";
        if (r->path != NULL) {
                r->path_len = strlen(r->path);
                return;
        }
        r->path = FCGX_GetParam("REQUEST_URI", req->envp);
        if (r->path == NULL)
                r->path = "";
        r->path_len = strcspn(r->path, "?");
}

/*
 * Reads the request body to its end (fcgi_scan() bounded it). Besides
 * politeness this consumes the closing empty FCGI_STDIN record, which would
 * otherwise be taken for the start of the next request on a kept-alive
 * connection.
 */
static void
drain_stdin(FCGX_Stream *in)
{
        char buf[1024];
        int n;

        do
                n = FCGX_GetStr(buf, sizeof(buf), in);
        while (n > 0);
}

/*
 * A parked visit's answer, written as libfcgi's FCGX_Finish_r() would: the
 * head and body in one FCGI_STDOUT record padded to 8 bytes, the empty
 * FCGI_STDOUT, FCGI_END_REQUEST (complete, status 0); one non-blocking write.
 */
static int
put_answer(int fd, unsigned id, const struct response *resp, unsigned char *out)
{
        size_t len = resp->head_len + resp->body_len, pad = (8 - len % 8) % 8, n = 0;
        unsigned char hdr[8] = {1,
                                FCGI_STDOUT,
                                (unsigned char)(id >> 8),
                                (unsigned char)id,
                                (unsigned char)(len >> 8),
                                (unsigned char)len,
                                (unsigned char)pad};

        memcpy(out, hdr, 8);
        memcpy(out + 8, resp->head, resp->head_len);
        memcpy(out + 8 + resp->head_len, resp->body, resp->body_len);
        memset(out + 8 + len, 0, pad);
        n = 8 + len + pad;
        hdr[4] = hdr[5] = hdr[6] = 0;
        memcpy(out + n, hdr, 8);
        hdr[1] = FCGI_END_REQUEST;
        hdr[5] = 8;
        memcpy(out + n + 8, hdr, 8);
        memset(out + n + 16, 0, 8);
        n += 24;
        return send(fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* The batch of c's visit has an outcome: a worker answers it. */
static void
answer_visit(struct worker *w, struct conn *c)
{
        struct server *s = w->s;

        routes_visit_answer(s->app, &w->clock, &c->route, &c->visit, &w->resp);
        int sent = put_answer(c->fd, c->request_id, &w->resp, w->out) == 0;
        if (sent && c->keep)
                rearm(s, c);
        else
                conn_free(s, c, 1); /* not kept, or nginx did not take the answer */
        /* Last: once none is parked, server_stop() may free what this used. */
        atomic_fetch_sub(&s->parked, 1);
}

/*
 * The committer, once the visit's batch is fsynced or failed: it answers the
 * visit itself, with buffers of its own (s->late), as only it calls this.
 */
static void
visit_done(struct counter_waiter *v)
{
        struct conn *c = container_of(v, struct conn, visit);

        answer_visit(c->s->late, c);
}

/*
 * GET / with sync=always: the visit waits for its batch without this thread.
 * libfcgi forgets the request (FCGX_Free() writes nothing); the answer goes
 * out from answer_visit() once the committer has an outcome for the batch.
 */
static void
park_visit(struct worker *w, struct conn *c)
{
        struct server *s = w->s;
        FCGX_Request *req = &w->req;

        c->request_id = (unsigned)req->requestId;
        c->keep = req->keepConnection;
        FCGX_Free(req, 0);
        req->ipcFd = -1;
        c->visit =
            (struct counter_waiter){.why = c->why, .whylen = sizeof(c->why), .done = visit_done};
        atomic_fetch_add(&s->parked, 1);
        /* From a 1 on, the committer owns c until visit_done(): c must not be touched. */
        if (counter_visit_start(s->app->counter, &c->visit) != 1)
                answer_visit(w, c); /* refused at once: the count is at its maximum */
}

/*
 * A visit with sync=always: parked (0), unless PARKED_MAX visits already
 * wait; then this thread waits for the visit's batch itself (1, the answer
 * in w->resp for libfcgi to send): back-pressure, not failure, and no new
 * request is read meanwhile.
 */
static int
visit(struct worker *w, struct conn *c)
{
        struct server *s = w->s;

        if (atomic_load(&s->parked) < PARKED_MAX) {
                park_visit(w, c);
                return 0;
        }
        struct counter_waiter now = {.why = c->why, .whylen = sizeof(c->why)};
        now.state = counter_visit(s->app->counter, &now.number, c->why, sizeof(c->why)) == 0
                        ? COUNTER_WAIT_DONE
                        : COUNTER_WAIT_FAILED;
        routes_visit_answer(s->app, &w->clock, &c->route, &now, &w->resp);
        return 1;
}

/* c holds one whole request (fcgi_scan()): libfcgi parses it without waiting. */
static void
serve(struct worker *w, struct conn *c)
{
        struct server *s = w->s;
        FCGX_Request *req = &w->req;
        struct request r;

        req->ipcFd = c->fd;
        /* FCGX_Accept_r() first "finishes" the previous request; this keeps it from closing fd. */
        req->keepConnection = 1;
        /* Should libfcgi close fd, a plain close(): no shutdown and drain (see the top). */
        req->detached = 1;
        if (FCGX_Accept_r(req) != 0) {
                /* libfcgi refused what fcgi_scan() let through, and closed fd. */
                log_error("libfcgi refused a request fcgi_scan() accepted");
                req->ipcFd = -1;
                conn_free(s, c, 0);
                return;
        }
        read_request(req, &r);
        drain_stdin(req->in);
        if (s->cfg->sync != SYNC_ALWAYS)
                routes_handle(s->app, &w->clock, &r, &w->resp);
        else if (routes_begin(s->app, &w->clock, &r, &w->resp, &c->route) && !visit(w, c))
                return; /* parked */
        FCGX_PutStr(w->resp.head, (int)w->resp.head_len, req->out);
        if (w->resp.send_body)
                FCGX_PutStr(w->resp.body, (int)w->resp.body_len, req->out);
        FCGX_Finish_r(req);
        if (req->ipcFd < 0) {
                /* nginx did not ask to keep it, or did not take the answer: libfcgi closed it. */
                conn_free(s, c, 0);
                return;
        }
        req->ipcFd = -1;
        rearm(s, c);
}

/* A connection whose request is still arriving goes to the pending thread. */
static void
wait_for_rest(struct server *s, struct conn *c)
{
        c->deadline = now_ms() + REQUEST_DEADLINE_MS;
        /*
         * Bytes are queued, so the pending thread gets an event for c at once
         * and takes it over from there; this thread must not touch c again.
         */
        if (watch(s->pending_fd, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLRDHUP | EPOLLET) != 0) {
                log_error("waiting for the rest of a request: epoll: %s", strerror(errno));
                conn_free(s, c, 1);
        }
}

/* An event on c from the epoll set: what is queued decides. */
static void
handle(struct worker *w, struct conn *c)
{
        struct server *s = w->s;
        char why[192];

        ssize_t n = recv(c->fd, w->peek, sizeof(w->peek), MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                rearm(s, c);
                return;
        }
        if (n <= 0) {
                /*
                 * nginx closed a pooled connection (under a small pool, after
                 * most requests), or the peer reset it: closed here, never
                 * through libfcgi.
                 */
                conn_free(s, c, 1);
                return;
        }
        switch (fcgi_scan(w->peek, (size_t)n, why, sizeof(why))) {
        case FCGI_SCAN_COMPLETE: serve(w, c); break;
        case FCGI_SCAN_PARTIAL: wait_for_rest(s, c); break;
        case FCGI_SCAN_INVALID: refuse(s, c, why); break;
        }
}

static void
pending_unlink(struct pending *p, struct conn *c)
{
        if (c->older != NULL)
                c->older->newer = c->newer;
        else
                p->oldest = c->newer;
        if (c->newer != NULL)
                c->newer->older = c->older;
        else
                p->newest = c->older;
        c->older = c->newer = NULL;
        c->listed = 0;
        p->count--;
}

static void
pending_append(struct pending *p, struct conn *c)
{
        c->older = p->newest;
        c->newer = NULL;
        if (p->newest != NULL)
                p->newest->newer = c;
        else
                p->oldest = c;
        p->newest = c;
        c->listed = 1;
        p->count++;
}

/* c's request is whole: back to the workers' set, where its queued bytes wake one. */
static void
pending_release(struct server *s, struct conn *c)
{
        pending_unlink(s->pending, c);
        if (epoll_ctl(s->pending_fd, EPOLL_CTL_DEL, c->fd, NULL) != 0) {
                log_error("releasing a pending request: epoll: %s", strerror(errno));
                conn_free(s, c, 1);
                return;
        }
        rearm(s, c); /* from here on a worker may own c */
}

/* New bytes (or a hang-up) on a connection whose request was incomplete. */
static void
pending_event(struct server *s, struct conn *c, uint32_t events)
{
        struct pending *p = s->pending;
        char why[192];

        if (!c->listed)
                pending_append(p, c);
        ssize_t n = recv(c->fd, p->peek, sizeof(p->peek), MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        enum fcgi_scan scan =
            n > 0 ? fcgi_scan(p->peek, (size_t)n, why, sizeof(why)) : FCGI_SCAN_INVALID;
        if (scan == FCGI_SCAN_COMPLETE) {
                pending_release(s, c);
                return;
        }
        if (scan == FCGI_SCAN_PARTIAL && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                return;
        pending_unlink(p, c);
        if (scan == FCGI_SCAN_INVALID && n > 0)
                refuse(s, c, why);
        else
                refuse(s, c, "the peer hung up in the middle of a request");
}

/* Closes what waited too long, and the oldest beyond PENDING_MAX. */
static void
pending_expire(struct server *s)
{
        struct pending *p = s->pending;
        int64_t now = now_ms();
        char why[128];

        while (p->oldest != NULL && (p->count > PENDING_MAX || p->oldest->deadline <= now)) {
                struct conn *c = p->oldest;
                if (p->count > PENDING_MAX)
                        snprintf(why, sizeof(why), "the oldest of more than %d incomplete requests",
                                 PENDING_MAX);
                else
                        snprintf(why, sizeof(why), "no whole request %d ms after its first byte",
                                 REQUEST_DEADLINE_MS);
                pending_unlink(p, c);
                refuse(s, c, why);
        }
}

static void *
pending_main(void *arg)
{
        struct server *s = arg;
        struct pending *p = s->pending;
        struct epoll_event ev[PENDING_BATCH];

        for (;;) {
                int timeout = -1;
                if (p->oldest != NULL) {
                        int64_t left = p->oldest->deadline - now_ms();
                        timeout = left < 0 ? 0 : (int)left;
                }
                int n = epoll_wait(s->pending_fd, ev, PENDING_BATCH, timeout);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("epoll_wait (pending requests): %s", strerror(errno));
                        return NULL;
                }
                for (int i = 0; i < n; i++) {
                        if (ev[i].data.ptr == s->waker)
                                return NULL; /* stopping: server_stop() closes what is left */
                }
                /* Each connection appears at most once per batch; expiry frees only after it. */
                for (int i = 0; i < n; i++)
                        pending_event(s, ev[i].data.ptr, ev[i].events);
                pending_expire(s);
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
                int stopping = atomic_load(&s->stopping);
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
                        if (c == s->waker)
                                continue;
                        if (c == s->listener)
                                accept_batch(s);
                        else
                                handle(w, c);
                        served = 1;
                }
                if (stopping && !served) {
                        if (atomic_load(&s->parked) == 0)
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
        int rc = FCGX_Init();
        if (rc != 0) {
                snprintf(err, errlen, "FCGX_Init failed (%d)", rc);
                return -1;
        }
        s->pending = calloc(1, sizeof(*s->pending));
        if (s->pending == NULL) {
                snprintf(err, errlen, "allocating the pending set: %s", strerror(errno));
                return -1;
        }
        rc = pthread_create(&s->pending->thread, NULL, pending_main, s);
        if (rc != 0) {
                snprintf(err, errlen, "starting the pending thread: %s", strerror(rc));
                return -1;
        }
        s->pending->running = 1;
        s->late = calloc(1, sizeof(*s->late));
        if (s->late == NULL) {
                snprintf(err, errlen, "allocating the committer's buffers: %s", strerror(errno));
                return -1;
        }
        s->late->s = s;
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
                FCGX_InitRequest(&w->req, -1, 0); /* -1: we accept, never libfcgi */
                rc = pthread_create(&w->thread, NULL, worker_main, w);
                if (rc != 0) {
                        snprintf(err, errlen, "starting worker %d: %s", i, strerror(rc));
                        return -1;
                }
                s->nworkers++;
        }
        return 0;
}

static void
remove_socket_file(struct server *s)
{
        struct stat st;
        const char *path = s->cfg->socket_path;

        /* Remove only the file we created: a successor may already own the path. */
        if (lstat(path, &st) != 0 || st.st_dev != s->sock_dev || st.st_ino != s->sock_ino)
                return;
        if (unlink(path) != 0)
                log_error("socket %s: unlink: %s", path, strerror(errno));
}

void
server_stop(struct server *s)
{
        uint64_t one = 1;

        if (s->listen_fd >= 0)
                remove_socket_file(s); /* first, so that nginx stops connecting */
        atomic_store(&s->stopping, 1);
        if (s->wake_fd >= 0 && write(s->wake_fd, &one, sizeof(one)) != sizeof(one))
                log_error("waking workers: %s", strerror(errno));
        for (int i = 0; i < s->nworkers; i++)
                pthread_join(s->workers[i].thread, NULL);
        if (s->pending != NULL && s->pending->running)
                pthread_join(s->pending->thread, NULL);
        /* No thread is left: close every connection, idle, pending or handed back. */
        while (s->conns != NULL)
                conn_free(s, s->conns, 1);
        free(s->workers);
        free(s->late);
        s->late = NULL;
        free(s->pending);
        free(s->listener);
        free(s->waker);
        s->workers = NULL;
        s->pending = NULL;
        s->listener = s->waker = NULL;
        s->nworkers = 0;
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        if (s->epoll_fd >= 0)
                close(s->epoll_fd);
        if (s->pending_fd >= 0)
                close(s->pending_fd);
        if (s->wake_fd >= 0)
                close(s->wake_fd);
        s->listen_fd = s->epoll_fd = s->pending_fd = s->wake_fd = -1;
}
