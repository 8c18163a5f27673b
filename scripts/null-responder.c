/*
 * A FastCGI responder that does nothing: `make bench` runs it behind the
 * same nginx to measure what nginx's FastCGI path costs by itself. It
 * answers every request with the same headers as GET / and a body of
 * NULL_BODY_BYTES bytes (default 3155, the page's size), from one
 * read and one write per request, one thread per CPU, no libfcgi, no counter, no clock. No
 * responder can be faster than this one: its ratio to the `return 200`
 * ceiling is the floor of what GET / can reach on the machine.
 *
 *   null-responder --config FILE   (the socket from FILE's `socket = ` line)
 *
 * Not part of the product: it trusts its peer (nginx) to send whole,
 * well-formed requests, as nginx does.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define THREADS_MAX 16
#define BODY_MAX    60000

struct conn {
        int fd;
        size_t len;
        unsigned char in[4096];
};

static int listen_fd, epoll_fd;
static unsigned char out[BODY_MAX + 512];
static size_t out_len;

static void
die(const char *what)
{
        fprintf(stderr, "null-responder: %s: %s\n", what, strerror(errno));
        exit(71);
}

/* The answer, built once; the request id is patched into its three record headers. */
static void
build_answer(size_t body)
{
        char head[256];
        int hl = snprintf(head, sizeof(head),
                          "Status: 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                          "Content-Length: %zu\r\nCache-Control: no-store\r\nVary: Accept\r\n\r\n",
                          body);
        size_t len = (size_t)hl + body, pad = (8 - len % 8) % 8;
        unsigned char *p = out;

        *p++ = 1, *p++ = 6, *p++ = 0, *p++ = 0, *p++ = (unsigned char)(len >> 8),
        *p++ = (unsigned char)len, *p++ = (unsigned char)pad, *p++ = 0;
        memcpy(p, head, (size_t)hl);
        memset(p + hl, 'x', body + pad);
        p += len + pad;
        static const unsigned char tail[24] = {1, 6, 0, 0, 0, 0, 0, 0, 1, 3, 0, 0,
                                               0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        memcpy(p, tail, sizeof(tail));
        out_len = (size_t)(p - out) + sizeof(tail);
}

static void
arm(struct conn *c, int op)
{
        struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = c};

        if (epoll_ctl(epoll_fd, op, c->fd, &ev) != 0)
                die("epoll_ctl");
}

/* 1 when in[0..len) ends with the request's empty FCGI_STDIN record. */
static int
complete(const unsigned char *in, size_t len)
{
        for (size_t i = 0; i + 8 <= len;) {
                size_t clen = (size_t)in[i + 4] << 8 | in[i + 5], next = i + 8 + clen + in[i + 6];
                if (in[i + 1] == 5 && clen == 0)
                        return next <= len;
                i = next;
        }
        return 0;
}

static void
serve(struct conn *c, unsigned char *answer)
{
        ssize_t n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
        if (n <= 0) {
                if (n < 0 && errno == EAGAIN) {
                        arm(c, EPOLL_CTL_MOD);
                        return;
                }
                close(c->fd);
                free(c);
                return;
        }
        c->len += (size_t)n;
        if (!complete(c->in, c->len) && c->len < sizeof(c->in)) {
                arm(c, EPOLL_CTL_MOD);
                return;
        }
        /* The request id of BEGIN_REQUEST, in each record of the answer. */
        const size_t at[3] = {0, out_len - 24, out_len - 16};
        for (int i = 0; i < 3; i++)
                answer[at[i] + 2] = c->in[2], answer[at[i] + 3] = c->in[3];
        c->len = 0;
        if (write(c->fd, answer, out_len) != (ssize_t)out_len) {
                close(c->fd);
                free(c);
                return;
        }
        arm(c, EPOLL_CTL_MOD);
}

static void *
worker(void *arg)
{
        unsigned char *answer = malloc(out_len);
        struct epoll_event ev;

        (void)arg;
        if (answer == NULL)
                die("malloc");
        memcpy(answer, out, out_len);
        for (;;) {
                if (epoll_wait(epoll_fd, &ev, 1, -1) != 1)
                        continue;
                if (ev.data.ptr != NULL) {
                        serve(ev.data.ptr, answer);
                        continue;
                }
                int fd;
                while ((fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                        struct conn *c = calloc(1, sizeof(*c));
                        if (c == NULL)
                                die("calloc");
                        c->fd = fd;
                        arm(c, EPOLL_CTL_ADD);
                }
                struct epoll_event lev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = NULL};
                if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &lev) != 0)
                        die("epoll_ctl (listener)");
        }
        return NULL;
}

int
main(int argc, char **argv)
{
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        char line[512];
        const char *bytes = getenv("NULL_BODY_BYTES");

        if (argc != 3 || strcmp(argv[1], "--config") != 0) {
                fprintf(stderr, "usage: null-responder --config FILE\n");
                return 64;
        }
        FILE *f = fopen(argv[2], "r");
        if (f == NULL)
                die(argv[2]);
        while (fgets(line, sizeof(line), f) != NULL) {
                if (strncmp(line, "socket = ", 9) == 0)
                        sscanf(line + 9, "%107s", addr.sun_path);
        }
        fclose(f);
        size_t body = bytes != NULL ? strtoul(bytes, NULL, 10) : 3155;
        build_answer(body < BODY_MAX ? body : BODY_MAX);
        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (listen_fd < 0)
                die("socket");
        unlink(addr.sun_path);
        if (bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
            listen(listen_fd, SOMAXCONN) != 0)
                die(addr.sun_path);
        epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event lev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = NULL};
        if (epoll_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &lev) != 0)
                die("epoll");
        fprintf(stderr, "level=info ready: null responder on %s, %zu-byte body\n", addr.sun_path,
                body);
        /* As many threads as the responder runs: one per usable CPU. */
        cpu_set_t set;
        int threads = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
        threads = threads < THREADS_MAX ? threads : THREADS_MAX;
        pthread_t t[THREADS_MAX];
        for (int i = 0; i < threads; i++) {
                if (pthread_create(&t[i], NULL, worker, NULL) != 0)
                        die("pthread_create");
        }
        pthread_join(t[0], NULL);
        return 0;
}
