/*
 * Connections: the registry and the hand-off of a connection between the
 * threads that serve it. Nothing here reads a request.
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define REFUSAL_LOG_MS 10000

#if defined(__SANITIZE_THREAD__)
#define MT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MT_TSAN 1
#endif
#endif

/*
 * epoll_ctl(). Under ThreadSanitizer the system call is made directly: its
 * interceptor records a use of fd after our release in conn_watch(), where
 * the next owner may already close it, and reports that as a race; it
 * cannot know that the kernel has read fd before the event is armed, so
 * before any other thread can own it. The hand-off itself is the atomic
 * release and acquire of struct conn, which it sees.
 */
static int
ctl(int epoll_fd, int op, int fd, struct epoll_event *ev)
{
#ifdef MT_TSAN
        return (int)syscall(SYS_epoll_ctl, epoll_fd, op, fd, ev);
#else
        return epoll_ctl(epoll_fd, op, fd, ev);
#endif
}

void
conns_init(struct conns *s, int epoll_fd)
{
        pthread_mutex_init(&s->mu, NULL);
        LIST_INIT(&s->all);
        s->epoll_fd = epoll_fd;
        atomic_init(&s->stopping, 0);
        atomic_init(&s->refused, 0);
        atomic_init(&s->refused_logged, now_mono_ms() - REFUSAL_LOG_MS);
}

struct conn *
conn_new(struct conns *s, int fd)
{
        struct conn *c = calloc(1, sizeof(*c));

        if (c == NULL)
                return NULL;
        c->fd = fd;
        pthread_mutex_lock(&s->mu);
        LIST_INSERT_HEAD(&s->all, c, all);
        pthread_mutex_unlock(&s->mu);
        return c;
}

void
conn_free(struct conns *s, struct conn *c)
{
        pthread_mutex_lock(&s->mu);
        LIST_REMOVE(c, all);
        pthread_mutex_unlock(&s->mu);
        if (close(c->fd) != 0 && errno != EINTR)
                log_error("closing a FastCGI connection: %s", strerror(errno));
        free(c);
}

int
conn_watch(int epoll_fd, int op, struct conn *c, uint32_t events)
{
        struct epoll_event ev = {.events = events, .data.ptr = c};
        int fd = c->fd;

        /*
         * The release is the last touch of c: once epoll_ctl() arms the
         * event, another thread may own c, and free it, before it returns.
         */
        atomic_fetch_add_explicit(&c->handoff, 1, memory_order_release);
        return ctl(epoll_fd, op, fd, &ev);
}

void
conn_take(struct conn *c)
{
        (void)atomic_load_explicit(&c->handoff, memory_order_acquire);
}

void
conn_rearm(struct conns *s, struct conn *c)
{
        if (atomic_load(&s->stopping) ||
            conn_watch(s->epoll_fd, EPOLL_CTL_MOD, c, EPOLLIN | EPOLLRDHUP | EPOLLONESHOT) != 0)
                conn_free(s, c);
}

void
conn_refuse(struct conns *s, struct conn *c, const char *why)
{
        unsigned long long n = atomic_fetch_add(&s->refused, 1) + 1;
        long long now = now_mono_ms(), last = atomic_load(&s->refused_logged);

        if (now - last >= REFUSAL_LOG_MS &&
            atomic_compare_exchange_strong(&s->refused_logged, &last, now))
                log_warn("closed a FastCGI connection: %s (%llu so far; logged at most every "
                         "%d s)",
                         why, n, REFUSAL_LOG_MS / 1000);
        conn_free(s, c);
}

void
conns_close_all(struct conns *s)
{
        struct conn *c;

        while ((c = LIST_FIRST(&s->all)) != NULL)
                conn_free(s, c);
}
