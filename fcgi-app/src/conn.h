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
        atomic_llong idle_since;   /* CLOCK_MONOTONIC ns it began to wait for a request; 0: busy */
        int64_t deadline;      /* pending: CLOCK_MONOTONIC ms by which the request must be whole */
        struct parked *parked; /* park.c's answer, freed by the next owner */
        int spare;             /* one of conns.spares: goes back there, not to free() */
};

/*
 * Events that a peer can cause at any rate, counted, and logged at most once
 * every 10 s with the running count: a hostile peer or a stall must not fill
 * the log.
 */
struct conn_tally {
        atomic_ullong n;
        atomic_llong logged; /* when it was last logged (ms, CLOCK_MONOTONIC) */
};

/*
 * The registry of open connections, so that stopping closes every one, the
 * workers' epoll set they wait in, and what the descriptor limit leaves
 * them.
 *
 * A connection waiting in the workers' set for its next request says since
 * when in idle_since; a worker that picks one up clears it. That costs a
 * request no lock (the lock is taken once per connection: registering and
 * freeing it), and lets the accepting worker, when the connections already
 * hold every descriptor they may (room), pause accepting (as OpenBSD's
 * slowcgi does at its limit) and close a kept-alive one to make room for a
 * new one: the next whose answer is out, or with none in flight, the one
 * idle the longest, found by a walk of the registry under the lock, at the
 * limit only (conn.c says why). nginx keeps up to 1024 connections alive per
 * worker, more than a low limit allows, and would otherwise hold the
 * descriptors while new connections wait unaccepted. The close re-arms the
 * listening socket.
 */
struct conns {
        pthread_mutex_t mu;
        LIST_HEAD(conn_list, conn) all;
        struct conn_list spares; /* allocated at start, for when malloc fails */
        int count;               /* registered connections */
        int room;                /* connections the descriptor limit allows */
        atomic_int paused;       /* accepting paused at the limit; a close resumes it */
        atomic_int closing;      /* one is to close to make room: no other is */
        struct conn *listen_tag; /* the listening socket's tag, re-armed to resume */
        int epoll_fd;
        atomic_int stopping;
        struct conn_tally refused;   /* closed for breaking the protocol or the deadline */
        struct conn_tally abandoned; /* visits dropped unread: nginx had hung up */
        struct conn_tally no_memory; /* connections closed for want of memory */
        atomic_ullong closed_idle;   /* kept-alive connections closed to make room */
};

/* An empty registry with room for any number of connections, and no listening socket. */
void conns_init(struct conns *s, int epoll_fd);

/*
 * The listening socket's tag in the workers' set (armed EPOLLIN |
 * EPOLLONESHOT): a close re-arms it when accepting was paused.
 */
void conns_listen(struct conns *s, struct conn *listen_tag);

/* The connections the descriptor limit allows (at least 1); the limit can change while running. */
void conns_set_room(struct conns *s, int room);

/* 1 if the connections hold every descriptor they may. */
int conns_full(struct conns *s);

/*
 * From the worker that accepts, before each accept: 1 if there is room for
 * one more connection. 0 if not: accepting is paused (the caller must not
 * re-arm the listening socket), a kept-alive connection is to close to make
 * room, and its close resumes accepting.
 */
int conns_admit(struct conns *s);

/*
 * accept() failed for want of descriptors or memory that the accounting did
 * not see coming (another thread's files): paused as conns_admit() pauses,
 * until a connection closes or conns_resume().
 */
void conns_pause(struct conns *s);

/* Resumes accepting if it was paused (a timer's fallback). 1 if it was paused. */
int conns_resume(struct conns *s);

/* Connections registered now, and kept-alive ones closed to make room so far. */
int conns_count(struct conns *s);

/*
 * n connections allocated now, for conn_new() to use when calloc() fails:
 * under a memory limit the responder still takes that many at once (nginx
 * keeps them alive) instead of closing each new one. 0, or -1 if no memory.
 */
int conns_spare(struct conns *s, int n);

/* Registers fd; NULL (fd left open) if no memory, and no spare left. */
struct conn *conn_new(struct conns *s, int fd);

/* Forgets c, closes its descriptor and frees it (c->parked must be freed first). */
void conn_free(struct conns *s, struct conn *c);

/* epoll_ctl(op) of c in epoll_fd with events, handing c on (see struct conn). */
int conn_watch(int epoll_fd, int op, struct conn *c, uint32_t events);

/* c came out of an epoll set: this thread owns it now (and it is no longer idle). */
void conn_take(struct conns *s, struct conn *c);

/*
 * c into the workers' set (level-triggered: bytes already queued wake a
 * worker) for a request on its way: a new connection (op EPOLL_CTL_ADD:
 * nginx writes its first request right after connecting) or one whose
 * request is whole (pending.c, EPOLL_CTL_MOD). Not idle: never closed to
 * make room, which would fail that request. Closes c instead if stopping or
 * if epoll fails.
 */
void conn_arm(struct conns *s, struct conn *c, int op);

/*
 * c answered: waits for its next request in the workers' set, listed as
 * idle; closes c instead if stopping, if accepting is paused and c is the
 * one to close to make room, or if epoll fails.
 */
void conn_rearm(struct conns *s, struct conn *c);

/*
 * For the committer, which takes no part in freeing connections and no lock
 * but the counter's: c back to the workers' set after its parked visit's
 * answer, idle as conn_rearm() leaves it; shut down first if close is set or
 * c is the one to close to make room, so that the worker the hang-up wakes
 * frees it. Not re-armed while stopping.
 */
void conn_return(struct conns *s, struct conn *c, int close);

/*
 * Closes fd, a new connection that could not be registered for want of
 * memory (what: the allocation that failed); one line at most every 10 s.
 * nginx answers its request 502; the responder goes on.
 */
void conns_no_memory(struct conns *s, int fd, const char *what);

/*
 * Closes a connection that broke the protocol or took too long. One line at
 * most every 10 s: a hostile peer must not fill the log.
 */
void conn_refuse(struct conns *s, struct conn *c, const char *why);

/*
 * Closes a connection whose whole request is a visit that nobody will see:
 * nginx closed the connection before the request was read (its client got a
 * 504 or went away). The visit is not counted; one line at most every 10 s.
 */
void conn_abandon(struct conns *s, struct conn *c);

/* Closes every registered connection and frees the spares; no other thread may run. */
void conns_close_all(struct conns *s);

#endif
