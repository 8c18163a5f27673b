#ifndef MT_CONN_H
#define MT_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>

struct parked;

/*
 * One connection from nginx (or from anything else that can reach the
 * socket). At any moment one thread owns it: the worker an epoll event
 * handed it to, the pending thread while its request is incomplete, or the
 * committer while its parked visit waits (park.c). Whoever hands it on
 * calls conn_watch(), whoever gets it calls conn_take(): a release and an
 * acquire on handoff, which orders what one owner wrote before what the
 * next reads for ThreadSanitizer too (it does not see through epoll).
 */
struct conn {
        int fd;
        atomic_uint handoff;
        LIST_ENTRY(conn) all;      /* the registry: every open connection */
        TAILQ_ENTRY(conn) waiting; /* pending.c's deadline list, oldest first */
        int pending_listed;        /* in that list */
        int64_t deadline;      /* pending: CLOCK_MONOTONIC ms by which the request must be whole */
        struct parked *parked; /* park.c's answer, freed by the next owner */
};

/*
 * The registry of open connections, so that stopping closes every one, and
 * the workers' epoll set they wait in. The lock is taken once per
 * connection, not per request.
 */
struct conns {
        pthread_mutex_t mu;
        LIST_HEAD(conn_list, conn) all;
        int epoll_fd;
        atomic_int stopping;
        atomic_ullong refused; /* connections closed for breaking the protocol or the deadline */
        atomic_llong refused_logged; /* when a refusal was last logged (ms, CLOCK_MONOTONIC) */
};

void conns_init(struct conns *s, int epoll_fd);

/* Registers fd; NULL (fd left open) if no memory. */
struct conn *conn_new(struct conns *s, int fd);

/* Forgets c, closes its descriptor and frees it (c->parked must be freed first). */
void conn_free(struct conns *s, struct conn *c);

/* epoll_ctl(op) of c in epoll_fd with events, handing c on (see struct conn). */
int conn_watch(int epoll_fd, int op, struct conn *c, uint32_t events);

/* c came out of an epoll set: this thread owns it now. */
void conn_take(struct conn *c);

/*
 * Waits for the next request on c in the workers' set (level-triggered:
 * bytes already queued wake a worker); closes c if stopping or if epoll
 * fails.
 */
void conn_rearm(struct conns *s, struct conn *c);

/*
 * Closes a connection that broke the protocol or took too long. One line at
 * most every 10 s: a hostile peer must not fill the log.
 */
void conn_refuse(struct conns *s, struct conn *c, const char *why);

/* Closes every registered connection; no other thread may run. */
void conns_close_all(struct conns *s);

#endif
