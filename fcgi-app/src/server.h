#ifndef MT_SERVER_H
#define MT_SERVER_H

#include <pthread.h>
#include <stddef.h>

#include "clock.h"
#include "config.h"
#include "conn.h"
#include "fastcgi.h"
#include "listener.h"
#include "park.h"
#include "pending.h"
#include "routes.h"

enum server_status { SERVER_OK = 0, SERVER_IN_USE, SERVER_OSERR };

struct server;

/* A worker thread and what it needs per request, allocated once. */
struct worker {
        struct server *s;
        pthread_t thread;
        struct clock_text clock;
        struct response resp;
        struct fcgi_request req;
        unsigned char peek[FCGI_REQUEST_MAX + 1]; /* one more: "too long" is seen as such */
        unsigned char
            out[sizeof(((struct response *)0)->head) + sizeof(((struct response *)0)->body) + 64];
};

struct server {
        const struct config *cfg;
        const struct app *app;
        struct listener listener;
        struct conns conns;     /* every connection, and the workers' epoll set */
        struct pending pending; /* connections whose request is incomplete */
        struct park park;       /* sync=always visits waiting for their batch */
        int epoll_fd;           /* idle connections and the socket: the workers wait on it */
        int wake_fd;            /* eventfd: readable once stopping begins, for every thread */
        int timer_fd;           /* timerfd: resumes accepting paused by an unforeseen EMFILE */
        struct conn listen_tag, wake_tag,
            timer_tag; /* epoll tags of the socket, wake_fd, timer_fd */
        int nthreads;  /* [server] workers, or fewer: see server.c */
        int nworkers;
        struct worker *workers;
};

/* Creates the listening socket with the configured mode; refuses to replace a live one. */
enum server_status server_open(struct server *s, const struct config *cfg, char *err,
                               size_t errlen);

/*
 * Starts the pending thread and the workers. Call once every descriptor the
 * process keeps is open: what is open then, but for connections, is the
 * base of the descriptor budget (listener.h).
 */
int server_start(struct server *s, const struct app *app, char *err, size_t errlen);

/* The descriptor budget, for the start-up line: the limit, the base, the reserve, the room. */
void server_fd_budget(struct server *s, unsigned long long *limit, int *base, int *reserve,
                      int *room);

/* [cluster] peers changed (a reload): the reserve follows the number of peers. */
void server_set_peers(struct server *s, const char *peers);

/*
 * Stops taking connections (the socket file goes first), lets the workers
 * finish the requests already sent and the parked visits get their answers,
 * joins every thread and closes every connection and the socket. Safe after
 * a failed server_open() or server_start().
 */
void server_stop(struct server *s);

/*
 * What a worker does with an event on c: peek at what is queued, and serve
 * a whole request, hand a partial one to the pending thread, or close what
 * nginx never sends. Exported so that the FastCGI fuzzer runs it without
 * threads.
 */
void server_handle(struct worker *w, struct conn *c);

#endif
