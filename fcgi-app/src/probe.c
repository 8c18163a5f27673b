/*
 * `moscow-time --probe`: the responder container's liveness probe. It speaks
 * FastCGI to the configured socket itself, so that it needs neither nginx
 * (an nginx outage must not restart the responder) nor curl in the image.
 * libfcgi has no client side: the request and the reading of the answer are
 * fastcgi.c's, with the responder's own record format; here are the socket
 * and the deadline.
 *
 * Alive means: the responder accepts the connection, a worker reads the
 * request and answers GET /visits with 200 before the deadline. /visits reads
 * the count from memory, so a full or read-only disk (which /readyz reports,
 * and which a restart would not cure) does not fail liveness.
 */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fastcgi.h"
#include "timeutil.h"

#define REQUEST_ID 1
#define PROBE_PATH "/visits"

/* Waits for events on fd until the deadline: 1 ready, 0 timed out, -1 error (errno). */
static int
wait_fd(int fd, short events, long long deadline)
{
        for (;;) {
                long long left = deadline - now_mono_ms();
                if (left <= 0)
                        return 0;
                struct pollfd p = {.fd = fd, .events = events};
                int n = poll(&p, 1, (int)left);
                if (n < 0 && errno == EINTR)
                        continue;
                return n < 0 ? -1 : n > 0;
        }
}

/*
 * A unix socket's connect blocks while the listener's backlog is full (a hung
 * responder): SO_SNDTIMEO bounds it (Linux applies it to connect).
 */
static int
connect_socket(const char *path, int timeout_ms, char *err, size_t errlen)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};

        if (strlen(path) >= sizeof(sa.sun_path)) {
                snprintf(err, errlen, "socket path %s is too long", path);
                return -EX_UNAVAILABLE;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                snprintf(err, errlen, "socket: %s", strerror(errno));
                return -EX_OSERR;
        }
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
                snprintf(err, errlen, "setsockopt(SO_SNDTIMEO): %s", strerror(errno));
                close(fd);
                return -EX_OSERR;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
                snprintf(err, errlen, "connect to %s: %s", path,
                         errno == EAGAIN ? "no room in its backlog (responder not accepting)"
                                         : strerror(errno));
                close(fd);
                return -EX_UNAVAILABLE;
        }
        if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
                snprintf(err, errlen, "fcntl(O_NONBLOCK): %s", strerror(errno));
                close(fd);
                return -EX_OSERR;
        }
        return fd;
}

static int
send_all(int fd, const unsigned char *buf, size_t len, long long deadline, char *err, size_t errlen)
{
        size_t off = 0;

        while (off < len) {
                ssize_t n = write(fd, buf + off, len - off);
                if (n > 0) {
                        off += (size_t)n;
                        continue;
                }
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        snprintf(err, errlen, "sending the request: %s", strerror(errno));
                        return EX_UNAVAILABLE;
                }
                if (wait_fd(fd, POLLOUT, deadline) <= 0) {
                        snprintf(err, errlen, "the request could not be sent in time");
                        return EX_UNAVAILABLE;
                }
        }
        return 0;
}

static int
read_answer(int fd, struct fcgi_reply *r, long long deadline, char *err, size_t errlen)
{
        unsigned char buf[4096];

        while (!r->done && !r->bad) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n > 0) {
                        fcgi_reply_feed(r, buf, (size_t)n);
                        continue;
                }
                if (n == 0) {
                        snprintf(err, errlen,
                                 "the responder closed the connection before answering");
                        return EX_UNAVAILABLE;
                }
                if (errno != EAGAIN && errno != EINTR) {
                        snprintf(err, errlen, "reading the answer: %s", strerror(errno));
                        return EX_UNAVAILABLE;
                }
                int w = wait_fd(fd, POLLIN, deadline);
                if (w <= 0) {
                        snprintf(err, errlen, "%s", w == 0 ? "no answer in time" : strerror(errno));
                        return EX_UNAVAILABLE;
                }
        }
        if (r->bad) {
                snprintf(err, errlen, "%s", r->bad);
                return EX_UNAVAILABLE;
        }
        return 0;
}

int
probe_run(const char *socket_path, int timeout_ms, char *err, size_t errlen)
{
        static const char *const params[] = {
            "REQUEST_METHOD", "GET", "DOCUMENT_URI", PROBE_PATH, "REQUEST_URI", PROBE_PATH, NULL};
        unsigned char req[256];
        struct fcgi_reply r;
        long long deadline = now_mono_ms() + timeout_ms;

        fcgi_reply_init(&r, REQUEST_ID);
        size_t len = fcgi_encode_request(req, sizeof(req), REQUEST_ID, 0, params);
        int fd = connect_socket(socket_path, timeout_ms, err, errlen);
        if (fd < 0)
                return -fd;
        int rc = send_all(fd, req, len, deadline, err, errlen);
        if (rc == 0)
                rc = read_answer(fd, &r, deadline, err, errlen);
        close(fd);
        if (rc != 0)
                return rc;
        if (fcgi_reply_complete(&r, err, errlen) != 0)
                return EX_UNAVAILABLE;
        int status = fcgi_reply_status(&r);
        if (status != 200) {
                snprintf(err, errlen, "GET %s answered %d", PROBE_PATH, status);
                return EX_UNAVAILABLE;
        }
        return 0;
}

int
probe_main(const char *config_path, const char *seconds)
{
        struct config cfg;
        char err[1024];
        long timeout = PROBE_TIMEOUT_DEFAULT_S;

        if (seconds) {
                char *end;
                errno = 0;
                timeout = strtol(seconds, &end, 10);
                if (errno || *end || end == seconds || timeout < 1 ||
                    timeout > PROBE_TIMEOUT_MAX_S) {
                        fprintf(stderr, "moscow-time: --probe: timeout %s is not 1 to %d seconds\n",
                                seconds, PROBE_TIMEOUT_MAX_S);
                        return EX_USAGE;
                }
        }
        if (config_load(config_path, &cfg, err, sizeof(err)) != 0) {
                fprintf(stderr, "moscow-time: %s\n", err);
                return EX_CONFIG;
        }
        int rc = probe_run(cfg.socket_path, (int)timeout * 1000, err, sizeof(err));
        if (rc != 0)
                fprintf(stderr, "moscow-time: probe: %s: %s\n", cfg.socket_path, err);
        return rc;
}
