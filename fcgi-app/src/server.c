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
 * Threads: with sync=always, [server] workers of them. Every visit then
 * waits for an fsync without using a CPU, and the more visits wait, the more
 * share one fsync. Otherwise a request never waits on anything but the CPU,
 * so no more threads than CPUs: extra ones would not serve more, but each
 * request would wake a sleeping thread instead of being picked up by the one
 * that just finished, which on two CPUs cost a quarter of the throughput.
 */
#include "server.h"

#include <errno.h>
#include <fcgiapp.h>
#include <sched.h>
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

#include "log.h"

#define ACCEPT_BATCH   64
#define IO_TIMEOUT_SEC 5           /* a peer that stalls mid-request loses its connection */
#define STDIN_MAX      (64 * 1024) /* nginx caps bodies far below this */

struct worker {
        struct server *s;
        pthread_t thread;
        FCGX_Request req;
        struct clock_text clock;
        struct response resp;
};

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
watch(struct server *s, int op, int fd, uint32_t events)
{
        struct epoll_event ev = {.events = events, .data.fd = fd};

        return epoll_ctl(s->epoll_fd, op, fd, &ev);
}

enum server_status
server_open(struct server *s, const struct config *cfg, char *err, size_t errlen)
{
        memset(s, 0, sizeof(*s));
        s->cfg = cfg;
        s->listen_fd = s->epoll_fd = s->wake_fd = -1;
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
        s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (s->epoll_fd < 0 || s->wake_fd < 0 ||
            watch(s, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN | EPOLLONESHOT) != 0 ||
            watch(s, EPOLL_CTL_ADD, s->wake_fd, EPOLLIN) != 0) {
                snprintf(err, errlen, "epoll set-up: %s", strerror(errno));
                return SERVER_OSERR;
        }
        return SERVER_OK;
}

static void
add_connection(struct server *s, int fd)
{
        struct timeval tv = {.tv_sec = IO_TIMEOUT_SEC};

        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
            watch(s, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP | EPOLLONESHOT) != 0) {
                log_error("new connection: %s", strerror(errno));
                close(fd);
        }
}

static void
accept_batch(struct server *s)
{
        for (int i = 0; i < ACCEPT_BATCH; i++) {
                int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
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
        if (watch(s, EPOLL_CTL_MOD, s->listen_fd, EPOLLIN | EPOLLONESHOT) != 0)
                log_error("re-arming %s: %s", s->cfg->socket_path, strerror(errno));
}

static void
read_request(FCGX_Request *req, struct request *r)
{
        r->method = FCGX_GetParam("REQUEST_METHOD", req->envp);
        r->path = FCGX_GetParam("DOCUMENT_URI", req->envp);
        r->accept = FCGX_GetParam("HTTP_ACCEPT", req->envp);
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
 * Reads the request body to its end. Besides politeness this consumes the
 * closing empty FCGI_STDIN record, which would otherwise be taken for the
 * start of the next request on a kept-alive connection.
 */
static void
drain_stdin(FCGX_Stream *in)
{
        char buf[1024];
        size_t total = 0;
        int n;

        while (total < STDIN_MAX && (n = FCGX_GetStr(buf, sizeof(buf), in)) > 0)
                total += (size_t)n;
}

static void
serve(struct worker *w, int fd)
{
        struct server *s = w->s;
        FCGX_Request *req = &w->req;
        struct request r;

        req->ipcFd = fd;
        /* FCGX_Accept_r() first "finishes" the previous request; this keeps it from closing fd. */
        req->keepConnection = 1;
        if (FCGX_Accept_r(req) != 0) {
                /* nginx closed the connection, or broke the protocol: libfcgi closed fd. */
                req->ipcFd = -1;
                return;
        }
        read_request(req, &r);
        drain_stdin(req->in);
        routes_handle(s->app, &w->clock, &r, &w->resp);
        FCGX_PutStr(w->resp.head, (int)w->resp.head_len, req->out);
        if (w->resp.send_body)
                FCGX_PutStr(w->resp.body, (int)w->resp.body_len, req->out);
        FCGX_Finish_r(req);
        if (req->ipcFd < 0)
                return; /* nginx did not ask to keep the connection: libfcgi closed it */
        if (atomic_load(&s->stopping) ||
            watch(s, EPOLL_CTL_MOD, fd, EPOLLIN | EPOLLRDHUP | EPOLLONESHOT) != 0)
                close(fd);
        req->ipcFd = -1;
}

/*
 * nginx closed a pooled connection and sent nothing before: close it here
 * rather than through libfcgi, which would read, shut down, poll and read
 * again first. Under a small pool nginx does this for most requests.
 */
static int
hung_up(const struct epoll_event *ev)
{
        char c;

        return (ev->events & (EPOLLRDHUP | EPOLLHUP)) &&
               recv(ev->data.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
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
                        if (ev[i].data.fd == s->wake_fd)
                                continue;
                        if (ev[i].data.fd == s->listen_fd)
                                accept_batch(s);
                        else if (hung_up(&ev[i]))
                                close(ev[i].data.fd);
                        else
                                serve(w, ev[i].data.fd);
                        served = 1;
                }
                if (stopping && !served)
                        break;
        }
        return NULL;
}

int
server_start(struct server *s, const struct app *app, char *err, size_t errlen)
{
        s->app = app;
        /*
         * libfcgi drains a connection it closes for up to 2 s; nginx closes its
         * end at once, so anything longer only pins a thread on a broken peer.
         */
        setenv("LIBFCGI_OS_CLOSE_POLL_TIMEOUT", "200", 0);
        int rc = FCGX_Init();
        if (rc != 0) {
                snprintf(err, errlen, "FCGX_Init failed (%d)", rc);
                return -1;
        }
        s->nthreads = s->cfg->workers;
        if (s->cfg->sync != SYNC_ALWAYS && usable_cpus() < s->nthreads)
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
                        server_stop(s);
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
        free(s->workers);
        s->workers = NULL;
        s->nworkers = 0;
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        if (s->epoll_fd >= 0)
                close(s->epoll_fd);
        if (s->wake_fd >= 0)
                close(s->wake_fd);
        s->listen_fd = s->epoll_fd = s->wake_fd = -1;
}
