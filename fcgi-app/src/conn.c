/*
 * Connections: the registry and the hand-off of a connection between the
 * threads that serve it. Nothing here reads a request.
 */
#include "conn.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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

static void
tally_init(struct conn_tally *t)
{
        atomic_init(&t->n, 0);
        atomic_init(&t->logged, now_mono_ms() - REFUSAL_LOG_MS);
}

/* Counts one event; returns the count so far if this one is to be logged, else 0. */
static unsigned long long
tally(struct conn_tally *t)
{
        unsigned long long n = atomic_fetch_add(&t->n, 1) + 1;
        long long now = now_mono_ms(), last = atomic_load(&t->logged);

        if (now - last >= REFUSAL_LOG_MS && atomic_compare_exchange_strong(&t->logged, &last, now))
                return n;
        return 0;
}

void
conns_init(struct conns *s, int epoll_fd)
{
        pthread_mutex_init(&s->mu, NULL);
        LIST_INIT(&s->all);
        LIST_INIT(&s->spares);
        s->count = 0;
        atomic_init(&s->paused, 0);
        atomic_init(&s->closing, 0);
        s->room = INT_MAX;
        s->listen_tag = NULL;
        s->epoll_fd = epoll_fd;
        atomic_init(&s->stopping, 0);
        atomic_init(&s->closed_idle, 0);
        tally_init(&s->refused);
        tally_init(&s->abandoned);
        tally_init(&s->no_memory);
}

void
conns_listen(struct conns *s, struct conn *listen_tag)
{
        pthread_mutex_lock(&s->mu);
        s->listen_tag = listen_tag;
        pthread_mutex_unlock(&s->mu);
}

void
conns_set_room(struct conns *s, int room)
{
        pthread_mutex_lock(&s->mu);
        s->room = room < 1 ? 1 : room;
        pthread_mutex_unlock(&s->mu);
}

int
conns_count(struct conns *s)
{
        pthread_mutex_lock(&s->mu);
        int n = s->count;
        pthread_mutex_unlock(&s->mu);
        return n;
}

/* c waits for its next request from now on. */
static void
mark_idle(struct conn *c)
{
        atomic_store_explicit(&c->idle_since, now_mono_ns(), memory_order_relaxed);
}

/*
 * Under s->mu, accepting paused: one kept-alive connection is to close to
 * make room, unless one already is. Preferably one in flight (a request
 * being answered, parked or arriving), closed once its answer is out: nginx
 * sees the close with the answer and does not keep the connection. With
 * none in flight, the one idle the longest whose next request has not begun
 * to arrive (one that has is about to be served) is shut down now: nginx
 * reuses its kept-alive connections most recently used first, so it is the
 * one nginx is least likely to be sending a request on; if it is, nginx
 * retries that request once, on a new connection. Its descriptor stays
 * valid while it is registered, since conn_free() takes it out under the
 * lock before closing it; the hang-up wakes a worker, which frees it. A worker
 * that took it meanwhile sees the hang-up before it counts a visit
 * (server.c). The close that follows resumes accepting.
 */
/*
 * Under s->mu: the connection idle the longest among those idle since after
 * after (ns; 0: all), or NULL; *idle counts the idle ones.
 */
static struct conn *
oldest_idle(struct conns *s, long long after, int *idle)
{
        struct conn *c, *oldest = NULL;
        long long best = 0;

        *idle = 0;
        LIST_FOREACH (c, &s->all, all) {
                long long since = atomic_load_explicit(&c->idle_since, memory_order_relaxed);
                if (since == 0)
                        continue;
                ++*idle;
                /* cppcheck does not see <sys/queue.h>'s loop go round: best and c change. */
                // cppcheck-suppress knownConditionTrueFalse
                if (since > after && (best == 0 || since < best)) {
                        // cppcheck-suppress uninitvar
                        oldest = c;
                        best = since;
                }
        }
        return oldest;
}

static void
make_room(struct conns *s)
{
        int idle;

        if (atomic_load(&s->closing))
                return;
        struct conn *c = oldest_idle(s, 0, &idle);
        if (idle < s->count)
                return; /* one in flight: its answer makes room */
        for (int looked = 0; c != NULL; looked++) {
                int queued = 0;
                if (ioctl(c->fd, FIONREAD, &queued) != 0)
                        log_error("FIONREAD on an idle FastCGI connection: %s", strerror(errno));
                if (queued == 0)
                        break;
                /* A request on its way on it: about to be served. The next oldest, up to 8. */
                if (looked == 7)
                        return; /* requests on all of them: the first answer makes room */
                c = oldest_idle(s, atomic_load_explicit(&c->idle_since, memory_order_relaxed),
                                &idle);
        }
        if (c == NULL)
                return;
        atomic_store_explicit(&c->idle_since, 0, memory_order_relaxed);
        if (shutdown(c->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
                log_error("closing an idle FastCGI connection to make room: %s", strerror(errno));
        atomic_store(&s->closing, 1);
        atomic_fetch_add(&s->closed_idle, 1);
}

/*
 * 1 if a connection whose answer is out is the one to close to make room:
 * accepting is paused and no other is closing. Lock-free: the committer
 * asks it too.
 */
static int
close_after_answer(struct conns *s)
{
        int no = 0;

        if (!atomic_load(&s->paused) || !atomic_compare_exchange_strong(&s->closing, &no, 1))
                return 0;
        atomic_fetch_add(&s->closed_idle, 1);
        return 1;
}

/* Re-arms the listening socket (accepting was paused); any thread. */
static void
resume(struct conns *s, struct conn *listen_tag)
{
        if (listen_tag == NULL || atomic_load(&s->stopping))
                return;
        if (conn_watch(s->epoll_fd, EPOLL_CTL_MOD, listen_tag, EPOLLIN | EPOLLONESHOT) != 0)
                log_error("resuming accept on the FastCGI socket: epoll: %s", strerror(errno));
}

int
conns_full(struct conns *s)
{
        pthread_mutex_lock(&s->mu);
        int full = s->count >= s->room;
        pthread_mutex_unlock(&s->mu);
        return full;
}

int
conns_admit(struct conns *s)
{
        pthread_mutex_lock(&s->mu);
        int room = s->count < s->room;
        if (!room) {
                atomic_store(&s->paused, 1);
                make_room(s);
        }
        pthread_mutex_unlock(&s->mu);
        return room;
}

void
conns_pause(struct conns *s)
{
        pthread_mutex_lock(&s->mu);
        atomic_store(&s->paused, 1);
        make_room(s);
        pthread_mutex_unlock(&s->mu);
}

int
conns_resume(struct conns *s)
{
        pthread_mutex_lock(&s->mu);
        int was = atomic_exchange(&s->paused, 0);
        struct conn *tag = s->listen_tag;
        pthread_mutex_unlock(&s->mu);
        if (was)
                resume(s, tag);
        return was;
}

int
conns_spare(struct conns *s, int n)
{
        for (int i = 0; i < n; i++) {
                struct conn *c = calloc(1, sizeof(*c));
                if (c == NULL)
                        return -1;
                c->spare = 1;
                pthread_mutex_lock(&s->mu);
                LIST_INSERT_HEAD(&s->spares, c, all);
                pthread_mutex_unlock(&s->mu);
        }
        return 0;
}

struct conn *
conn_new(struct conns *s, int fd)
{
        struct conn *c = calloc(1, sizeof(*c));

        pthread_mutex_lock(&s->mu);
        if (c == NULL && (c = LIST_FIRST(&s->spares)) != NULL) {
                /* Out of memory: one allocated at start, as good as new. */
                LIST_REMOVE(c, all);
                memset(c, 0, sizeof(*c));
                atomic_init(&c->handoff, 0);
                atomic_init(&c->idle_since, 0);
                c->spare = 1;
        }
        if (c != NULL) {
                c->fd = fd;
                LIST_INSERT_HEAD(&s->all, c, all);
                s->count++;
        }
        pthread_mutex_unlock(&s->mu);
        return c;
}

void
conns_no_memory(struct conns *s, int fd, const char *what)
{
        unsigned long long n = tally(&s->no_memory);

        if (n != 0)
                log_error("out of memory for %s: a FastCGI connection closed unanswered (nginx "
                          "answers 502) (%llu so far; logged at most every %d s)",
                          what, n, REFUSAL_LOG_MS / 1000);
        if (close(fd) != 0 && errno != EINTR)
                log_error("closing a FastCGI connection: %s", strerror(errno));
}

void
conn_free(struct conns *s, struct conn *c)
{
        int fd = c->fd;

        pthread_mutex_lock(&s->mu);
        LIST_REMOVE(c, all);
        s->count--;
        /* Paused for want of descriptors: this one frees one. */
        int resuming = atomic_exchange(&s->paused, 0);
        struct conn *tag = s->listen_tag;
        atomic_store(&s->closing, 0);
        int spare = c->spare;
        if (spare)
                LIST_INSERT_HEAD(&s->spares, c, all); /* c may be another's from here on */
        pthread_mutex_unlock(&s->mu);
        if (close(fd) != 0 && errno != EINTR)
                log_error("closing a FastCGI connection: %s", strerror(errno));
        if (!spare)
                free(c);
        if (resuming)
                resume(s, tag); /* after the close: the descriptor is free for the accept */
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
conn_take(struct conns *s, struct conn *c)
{
        (void)s;
        (void)atomic_load_explicit(&c->handoff, memory_order_acquire);
        atomic_store_explicit(&c->idle_since, 0, memory_order_relaxed);
}

/* c into the workers' set (op); idle: marked as such, or closed to make room. */
static void
arm(struct conns *s, struct conn *c, int op, int idle)
{
        int keep = !atomic_load(&s->stopping);
        if (keep && idle) {
                keep = !close_after_answer(s);
                if (keep)
                        mark_idle(c);
        }
        if (!keep) {
                conn_free(s, c);
                return;
        }
        if (conn_watch(s->epoll_fd, op, c, EPOLLIN | EPOLLRDHUP | EPOLLONESHOT) != 0) {
                log_error("waiting for a FastCGI request: epoll: %s", strerror(errno));
                conn_free(s, c); /* not armed: still ours */
        }
}

void
conn_arm(struct conns *s, struct conn *c, int op)
{
        arm(s, c, op, 0);
}

void
conn_rearm(struct conns *s, struct conn *c)
{
        arm(s, c, EPOLL_CTL_MOD, 1);
}

void
conn_return(struct conns *s, struct conn *c, int close)
{
        int stopping = atomic_load(&s->stopping);
        close = close || close_after_answer(s);
        if (!close && !stopping)
                mark_idle(c);
        /* The worker the hang-up wakes frees it. */
        if (close && shutdown(c->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
                log_error("closing a FastCGI connection after a parked visit: %s", strerror(errno));
        if (!stopping &&
            conn_watch(s->epoll_fd, EPOLL_CTL_MOD, c, EPOLLIN | EPOLLRDHUP | EPOLLONESHOT) != 0)
                log_error("re-arming a FastCGI connection after a parked visit: epoll: %s",
                          strerror(errno));
}

void
conn_refuse(struct conns *s, struct conn *c, const char *why)
{
        unsigned long long n = tally(&s->refused);

        if (n != 0)
                log_warn("closed a FastCGI connection: %s (%llu so far; logged at most every "
                         "%d s)",
                         why, n, REFUSAL_LOG_MS / 1000);
        conn_free(s, c);
}

void
conn_abandon(struct conns *s, struct conn *c)
{
        unsigned long long n = tally(&s->abandoned);

        if (n != 0)
                log_warn("a visit was not counted: nginx had closed its connection before the "
                         "request was read (its client got a 504, or went away) (%llu so far; "
                         "logged at most every %d s)",
                         n, REFUSAL_LOG_MS / 1000);
        log_debug("a visit dropped unread: its connection was closed by nginx");
        conn_free(s, c);
}

void
conns_close_all(struct conns *s)
{
        struct conn *c;

        while ((c = LIST_FIRST(&s->all)) != NULL)
                conn_free(s, c);
        while ((c = LIST_FIRST(&s->spares)) != NULL) {
                LIST_REMOVE(c, all);
                free(c);
        }
}
