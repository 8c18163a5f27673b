/*
 * `moscow-time --probe`: the responder container's liveness probe. It speaks
 * FastCGI to the configured socket itself, so that it needs neither nginx
 * (an nginx outage must not restart the responder) nor curl in the image.
 * libfcgi has no client side; the few records of one request are written
 * here (FastCGI 1.0 specification, sections 3 and 5).
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

enum {
        FCGI_VERSION_1 = 1,
        FCGI_BEGIN_REQUEST = 1,
        FCGI_END_REQUEST = 3,
        FCGI_PARAMS = 4,
        FCGI_STDIN = 5,
        FCGI_STDOUT = 6,
        FCGI_STDERR = 7,
        FCGI_RESPONDER = 1,
        FCGI_REQUEST_COMPLETE = 0,
        FCGI_HEADER_LEN = 8,
        REQUEST_ID = 1,
};

#define PROBE_PATH "/visits"

/* The answer as it arrives: records are parsed byte by byte, whatever the reads' sizes. */
struct reader {
        unsigned char hdr[FCGI_HEADER_LEN];
        size_t hdr_len;
        size_t content_left, pad_left;
        unsigned char end[8]; /* FCGI_EndRequestBody */
        size_t end_len;
        char out[512]; /* the start of FCGI_STDOUT: the status line */
        size_t out_len;
        int done;
        const char *bad; /* not a FastCGI answer to our request */
};

static size_t
put_header(unsigned char *p, int type, size_t len)
{
        p[0] = FCGI_VERSION_1;
        p[1] = (unsigned char)type;
        p[2] = 0;
        p[3] = REQUEST_ID;
        p[4] = (unsigned char)(len >> 8);
        p[5] = (unsigned char)(len & 0xff);
        p[6] = 0; /* no padding */
        p[7] = 0;
        return FCGI_HEADER_LEN;
}

/* A name-value pair with one-byte lengths: every name and value here is short. */
static size_t
put_param(unsigned char *p, const char *name, const char *value)
{
        size_t n = strlen(name), v = strlen(value);

        p[0] = (unsigned char)n;
        p[1] = (unsigned char)v;
        memcpy(p + 2, name, n);
        memcpy(p + 2 + n, value, v);
        return 2 + n + v;
}

/* BEGIN_REQUEST (responder, close after), PARAMS, an empty PARAMS and an empty STDIN. */
static size_t
build_request(unsigned char *buf)
{
        static const unsigned char begin[8] = {0, FCGI_RESPONDER, 0, 0, 0, 0, 0, 0};
        unsigned char params[128];
        size_t n = 0, len = 0;

        len += put_param(params + len, "REQUEST_METHOD", "GET");
        len += put_param(params + len, "DOCUMENT_URI", PROBE_PATH);
        len += put_param(params + len, "REQUEST_URI", PROBE_PATH);
        n += put_header(buf + n, FCGI_BEGIN_REQUEST, sizeof(begin));
        memcpy(buf + n, begin, sizeof(begin));
        n += sizeof(begin);
        n += put_header(buf + n, FCGI_PARAMS, len);
        memcpy(buf + n, params, len);
        n += len;
        n += put_header(buf + n, FCGI_PARAMS, 0);
        n += put_header(buf + n, FCGI_STDIN, 0);
        return n;
}

static void
feed_byte(struct reader *r, unsigned char c)
{
        int type = r->hdr[1];

        if (r->hdr_len < FCGI_HEADER_LEN) {
                r->hdr[r->hdr_len++] = c;
                if (r->hdr_len < FCGI_HEADER_LEN)
                        return;
                type = r->hdr[1];
                if (r->hdr[0] != FCGI_VERSION_1 || ((r->hdr[2] << 8) | r->hdr[3]) != REQUEST_ID ||
                    (type != FCGI_STDOUT && type != FCGI_STDERR && type != FCGI_END_REQUEST)) {
                        r->bad = "not a FastCGI answer to the probe's request";
                        return;
                }
                r->content_left = ((size_t)r->hdr[4] << 8) | r->hdr[5];
                r->pad_left = r->hdr[6];
                r->end_len = 0;
        } else if (r->content_left > 0) {
                r->content_left--;
                if (type == FCGI_STDOUT && r->out_len < sizeof(r->out) - 1)
                        r->out[r->out_len++] = (char)c;
                else if (type == FCGI_END_REQUEST && r->end_len < sizeof(r->end))
                        r->end[r->end_len++] = c;
        } else if (r->pad_left > 0) {
                r->pad_left--;
        }
        if (r->hdr_len == FCGI_HEADER_LEN && r->content_left == 0 && r->pad_left == 0) {
                if (type == FCGI_END_REQUEST)
                        r->done = 1;
                r->hdr_len = 0;
        }
}

static long long
now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline: 1 ready, 0 timed out, -1 error (errno). */
static int
wait_fd(int fd, short events, long long deadline)
{
        for (;;) {
                long long left = deadline - now_ms();
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
read_answer(int fd, struct reader *r, long long deadline, char *err, size_t errlen)
{
        unsigned char buf[4096];

        while (!r->done && !r->bad) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n > 0) {
                        for (ssize_t i = 0; i < n && !r->done && !r->bad; i++)
                                feed_byte(r, buf[i]);
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

/* The status of the CGI-style answer: its Status header, or 200 without one. */
static int
answer_status(const struct reader *r)
{
        if (strncmp(r->out, "Status: ", 8) != 0)
                return 200;
        return atoi(r->out + 8);
}

int
probe_run(const char *socket_path, int timeout_ms, char *err, size_t errlen)
{
        unsigned char req[256];
        struct reader r = {0};
        long long deadline = now_ms() + timeout_ms;

        int fd = connect_socket(socket_path, timeout_ms, err, errlen);
        if (fd < 0)
                return -fd;
        int rc = send_all(fd, req, build_request(req), deadline, err, errlen);
        if (rc == 0)
                rc = read_answer(fd, &r, deadline, err, errlen);
        close(fd);
        if (rc != 0)
                return rc;
        int app_status = (r.end[0] << 24) | (r.end[1] << 16) | (r.end[2] << 8) | r.end[3];
        if (r.end_len < 5 || r.end[4] != FCGI_REQUEST_COMPLETE || app_status != 0) {
                snprintf(err, errlen, "the request was not completed (protocol status %d)",
                         r.end_len < 5 ? -1 : r.end[4]);
                return EX_UNAVAILABLE;
        }
        int status = answer_status(&r);
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
