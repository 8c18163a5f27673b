/*
 * libFuzzer harness: the responder's reading of FastCGI records, end to end.
 *
 * The input is what a peer writes to the responder's socket, in two parts
 * (the first two bytes say where it splits). Each part goes into one end of
 * a socketpair; the other end is a connection of a real struct server, and
 * this single thread runs the serving layer's own event handling on it,
 * linked as the responder links it: server_handle() as a worker does (peek,
 * fcgi_parse(), routes, the encoded answer), pending_event() as the pending
 * thread does for a request still arriving.
 *
 * Checked beyond the sanitizers (any failure aborts, saying what broke):
 *  - fcgi_scan(): a prefix of a complete request is partial, a complete
 *    request with one byte more is invalid;
 *  - whatever the server writes back is whole FastCGI responses: STDOUT
 *    records, then END_REQUEST with FCGI_REQUEST_COMPLETE, for the request
 *    id asked, one per complete request sent;
 *  - the server never waits, and leaves no byte of a request unread.
 *
 *   tests/fuzz/run.sh fastcgi     (builds build/fuzz/fastcgi; see tests/fuzz/run.sh)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "counter.h"
#include "fuzz.h"
#include "log.h"
#include "server.h"
#include "timeutil.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzzer's one server, set up once: its epoll sets, a counter in a temporary folder. */
static struct server server;
static struct config config;
static struct counter counter;
static struct app app;
static struct worker worker;

static void
die(const char *what)
{
        fprintf(stderr, "fuzz-fastcgi: %s: %s\n", what, strerror(errno));
        abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
        char dir[] = "/tmp/fuzz-fastcgi-XXXXXX", err[512];

        (void)argc;
        (void)argv;
        signal(SIGPIPE, SIG_IGN);
        log_set_level(LOG_LEVEL_ERROR);
        if (mkdtemp(dir) == NULL || clock_init("Europe/Moscow") != 0)
                die("set-up");
        config_defaults(&config);
        snprintf(config.counter_path, sizeof(config.counter_path), "%s/visits", dir);
        snprintf(config.socket_path, sizeof(config.socket_path), "%s/sock", dir);
        config.sync = SYNC_NEVER;
        if (counter_open(&counter, &config, err, sizeof(err)) != COUNTER_OK) {
                fprintf(stderr, "fuzz-fastcgi: %s\n", err);
                abort();
        }
        app.cfg = &config;
        app.counter = &counter;
        memset(&server, 0, sizeof(server));
        server.cfg = &config;
        server.app = &app;
        server.listener.fd = -1;
        server.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        server.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (server.epoll_fd < 0 || server.wake_fd < 0)
                die("server set-up");
        conns_init(&server.conns, server.epoll_fd);
        if (pending_open(&server.pending, &server.conns, server.wake_fd, err, sizeof(err)) != 0) {
                fprintf(stderr, "fuzz-fastcgi: %s\n", err);
                abort();
        }
        park_init(&server.park, &app, &server.conns);
        worker.s = &server;
        return 0;
}

/* Runs the server's handlers until neither epoll set has anything to say. */
static void
run_events(void)
{
        struct epoll_event ev[64];
        int busy = 1;

        while (busy) {
                busy = 0;
                int n = epoll_wait(server.epoll_fd, ev, 1, 0);
                if (n < 0)
                        die("epoll_wait");
                if (n == 1) {
                        server_handle(&worker, ev[0].data.ptr);
                        busy = 1;
                }
                n = epoll_wait(server.pending.epoll_fd, ev, 64, 0);
                if (n < 0)
                        die("epoll_wait (pending)");
                for (int i = 0; i < n; i++)
                        pending_event(&server.pending, ev[i].data.ptr, ev[i].events);
                busy |= n > 0;
        }
}

/*
 * After close() of the peer's end, the hang-up does not always reach epoll
 * at once: once in about a million inputs (Linux 6.18) an epoll_wait with
 * timeout 0 right after close() saw nothing, and the same wait with a
 * timeout reported EPOLLIN|EPOLLHUP|EPOLLRDHUP a moment later. Checking
 * after one pass of run_events() then reported a held connection that the
 * server frees as soon as the event comes. So wait for the event, bounded:
 * a connection still held after HANGUP_WAIT_MS is a real leak.
 */
#define HANGUP_WAIT_MS 2000

static void
run_events_until_released(void)
{
        int64_t deadline = now_mono_ms() + HANGUP_WAIT_MS;

        run_events();
        while (!LIST_EMPTY(&server.conns.all) && now_mono_ms() < deadline) {
                struct pollfd p[2] = {{.fd = server.epoll_fd, .events = POLLIN},
                                      {.fd = server.pending.epoll_fd, .events = POLLIN}};
                if (poll(p, 2, 10) < 0 && errno != EINTR)
                        die("poll");
                run_events();
        }
}

/* The scanner's own promises on whole requests. */
static void
check_scan(const uint8_t *data, size_t size)
{
        static unsigned char more[FCGI_REQUEST_MAX + 1];
        char why[256];

        if (fcgi_scan(data, size, why, sizeof(why)) != FCGI_SCAN_COMPLETE)
                return;
        fuzz_assert(fcgi_scan(data, size - 1, why, sizeof(why)) == FCGI_SCAN_PARTIAL &&
                        fcgi_scan(data, size / 2, why, sizeof(why)) == FCGI_SCAN_PARTIAL,
                    "a prefix of a complete request of %zu bytes is not partial", size);
        if (size < sizeof(more)) {
                memcpy(more, data, size);
                more[size] = data[size / 2];
                fuzz_assert(fcgi_scan(more, size + 1, why, sizeof(why)) == FCGI_SCAN_INVALID,
                            "a complete request and one byte more is not invalid");
        }
}

static enum fcgi_scan
scan(const uint8_t *data, size_t size)
{
        char why[256];

        return fcgi_scan(data, size, why, sizeof(why));
}

static unsigned
request_id(const uint8_t *data)
{
        return (unsigned)data[2] << 8 | data[3];
}

/*
 * Reads what the server wrote back: nothing, or one whole response to
 * request id (STDOUT records, then END_REQUEST, FCGI_REQUEST_COMPLETE).
 * Returns whether there was one.
 */
static int
read_response(int fd, unsigned id)
{
        static unsigned char buf[1 << 16];
        size_t len = 0, off = 0;
        ssize_t n;

        while ((n = recv(fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT)) > 0)
                len += (size_t)n;
        while (off < len) {
                fuzz_assert(len - off >= 8 && buf[off] == 1 && request_id(buf + off) == id,
                            "answer: no record header of request %u at byte %zu of %zu", id, off,
                            len);
                size_t content = (size_t)buf[off + 4] << 8 | buf[off + 5];
                size_t end = off + 8 + content + buf[off + 6];
                fuzz_assert(end <= len, "answer: a record cut off at byte %zu of %zu", off, len);
                if (buf[off + 1] == 3) { /* FCGI_END_REQUEST */
                        fuzz_assert(content == 8 && buf[off + 8 + 4] == 0 && end == len,
                                    "answer: END_REQUEST of %zu bytes, status %u, %zu bytes after",
                                    content, buf[off + 8 + 4], len - end);
                        return 1;
                }
                fuzz_assert(buf[off + 1] == 6, "answer: record type %u", buf[off + 1]);
                off = end;
        }
        fuzz_assert(len == 0, "answer: %zu bytes of STDOUT without an END_REQUEST", len);
        return 0;
}

/* One write, all of it, as nginx sends a request; or the server has closed. */
static void
send_part(int fd, const uint8_t *data, size_t size)
{
        if (size == 0)
                return;
        ssize_t n = write(fd, data, size);
        fuzz_assert(n == (ssize_t)size || (n < 0 && (errno == EPIPE || errno == ECONNRESET)),
                    "write of %zu bytes: %zd (%s)", size, n, n < 0 ? strerror(errno) : "short");
}

/* What is left of the server's connections, for a failure message. */
static const char *
left(void)
{
        static char out[512];
        size_t n = 0;

        out[0] = '\0';
        struct conn *l;
        LIST_FOREACH (l, &server.conns.all, all) {
                if (n >= sizeof(out) - 80)
                        break;
                int queued = -1;
                ioctl(l->fd, FIONREAD, &queued);
                n += (size_t)snprintf(out + n, sizeof(out) - n,
                                      "[fd %d listed %d queued %d deadline %lld] ", l->fd,
                                      l->pending_listed, queued, (long long)l->deadline);
        }
        return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int sv[2];

        if (size < 3 || size > FCGI_REQUEST_MAX + 64)
                return 0;
        size_t split = ((size_t)data[0] << 8 | data[1]) % (size - 1); /* 0 to all of it */
        const uint8_t *first = data + 2, *second = first + split;
        size -= 2;
        check_scan(first, size);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
                die("socketpair");
        struct conn *c = conn_new(&server.conns, sv[1]);
        if (c == NULL ||
            conn_watch(server.epoll_fd, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLRDHUP | EPOLLONESHOT) != 0)
                die("adding the connection");

        /* First part: answered exactly when it is one whole request. */
        send_part(sv[0], first, split);
        run_events();
        enum fcgi_scan st = scan(first, split);
        fuzz_assert(read_response(sv[0], st == FCGI_SCAN_COMPLETE ? request_id(first) : 0) ==
                        (st == FCGI_SCAN_COMPLETE),
                    "first part of %zu bytes (scan %d): answered when it should not or not when "
                    "it should",
                    split, st);
        int keep = st == FCGI_SCAN_COMPLETE && (first[8 + 2] & 1);
        int queued = 0;
        fuzz_assert(!keep || (LIST_FIRST(&server.conns.all) == c &&
                              ioctl(sv[1], FIONREAD, &queued) == 0 && queued == 0),
                    "kept connection: held %d, %d bytes of the request left unread",
                    LIST_FIRST(&server.conns.all) == c, queued);

        /* Second part: a request of its own on a kept connection, or the rest of the first. */
        send_part(sv[0], second, size - split);
        run_events();
        int answer = keep ? scan(second, size - split) == FCGI_SCAN_COMPLETE
                          : st == FCGI_SCAN_PARTIAL && scan(first, size) == FCGI_SCAN_COMPLETE;
        fuzz_assert(read_response(sv[0], !answer ? 0 : request_id(keep ? second : first)) == answer,
                    "second part of %zu bytes (first %d, kept %d): answered %s", size - split, st,
                    keep, answer ? "not" : "unasked");

        /* Once the peer hangs up, the server holds nothing of it. */
        close(sv[0]);
        run_events_until_released();
        fuzz_assert(LIST_EMPTY(&server.conns.all),
                    "the peer hung up (parts of %zu and %zu bytes, first %d, kept %d) and the "
                    "server still holds %s",
                    split, size - split, st, keep, left());
        return 0;
}
