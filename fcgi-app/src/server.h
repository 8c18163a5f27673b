#ifndef MT_SERVER_H
#define MT_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "config.h"
#include "routes.h"

enum server_status { SERVER_OK = 0, SERVER_IN_USE, SERVER_OSERR };

struct conn;
struct pending;
struct worker;

struct server {
        const struct config *cfg;
        const struct app *app;
        int listen_fd;
        int epoll_fd;   /* idle connections and the socket: the workers wait on it */
        int pending_fd; /* connections whose request is incomplete: the pending thread's */
        int wake_fd;    /* eventfd: readable once shutdown begins, for every thread */
        struct conn *listener, *waker; /* epoll tags of listen_fd and wake_fd */
        dev_t sock_dev;
        ino_t sock_ino; /* the socket file we created, so we remove only ours */
        atomic_int stopping;
        int nthreads; /* [server] workers, or fewer: see server.c */
        int nworkers;
        struct worker *workers;
        struct pending *pending;
        pthread_mutex_t conns_mu; /* guards conns; taken once per connection, not per request */
        struct conn *conns;       /* every open connection, so that server_stop() closes all */
        atomic_ullong refused;    /* connections closed for breaking the protocol or the deadline */
        atomic_llong refused_logged; /* when a refusal was last logged (ms, CLOCK_MONOTONIC) */
        atomic_int parked;           /* sync=always: visits waiting for their batch's outcome */
        struct worker *late;         /* the committer's buffers, to answer parked visits itself */
};

/* Creates the listening socket with the configured mode; refuses to replace a live one. */
enum server_status server_open(struct server *s, const struct config *cfg, char *err,
                               size_t errlen);

/* Starts the worker threads. */
int server_start(struct server *s, const struct app *app, char *err, size_t errlen);

/*
 * Stops taking connections (the socket file goes first), lets the workers
 * finish the requests already sent, joins them and closes the socket.
 */
void server_stop(struct server *s);

#endif
