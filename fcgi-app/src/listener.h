#ifndef MT_LISTENER_H
#define MT_LISTENER_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * The unix socket nginx connects to: made with exactly the configured mode
 * (never world-writable, no window at a wider one), never replacing a live
 * responder's, and removed at the end only if it is still ours.
 */
enum listener_status { LISTENER_OK = 0, LISTENER_IN_USE, LISTENER_OSERR };

struct listener {
        int fd;
        const char *path;
        dev_t dev;
        ino_t ino;            /* the socket file we created, so we remove only ours */
        int base;             /* descriptors open when serving began, connections aside */
        atomic_int reserve;   /* kept free for the counter's files, reloads and the poller */
        atomic_llong full_ms; /* when accepting last paused for want of descriptors (0: never) */
};

/*
 * Descriptors, OpenBSD slowcgi's way: connections may use what the soft
 * RLIMIT_NOFILE leaves after the descriptors open when serving began (base)
 * and a reserve: FD_RESERVE for the counter's own files (visits.tmp and its
 * folder, for a digit growth and its fsync) and the main thread's reads
 * (config.ini and a zone file at a reload), and FD_PER_PEER for each peer
 * the poller reaches (its socket, libcurl's resolver pair). So the counter
 * can always open visits.tmp, however many connections nginx keeps alive.
 */
#define FD_RESERVE  4
#define FD_PER_PEER 3

enum listener_status listener_open(struct listener *l, const char *path, unsigned mode, char *err,
                                   size_t errlen);

/* One new connection, non-blocking and close-on-exec; -1 with errno (EAGAIN: none). */
int listener_accept(struct listener *l);

/* 1 if a connection is waiting to be accepted (or poll failed: logged). */
int listener_waiting(struct listener *l);

/*
 * Counts the descriptors open now (before any connection is accepted), and
 * sets the reserve for npeers peers. 0, or -1 with err (the count then
 * stays a guess).
 */
int listener_measure(struct listener *l, size_t npeers, char *err, size_t errlen);

/* The reserve for npeers peers (a reload changed them). */
void listener_set_peers(struct listener *l, size_t npeers);

/* The soft RLIMIT_NOFILE (read each time: prlimit can change it), and what it leaves connections.
 */
unsigned long long listener_fd_limit(void);
int listener_room(struct listener *l);

/*
 * Accepting paused for want of descriptors (why), with held connections:
 * one warning per episode (none in the 10 s before).
 */
void listener_full(struct listener *l, int held, const char *why);

/* Removes the socket file, if it is still the one we made: nginx stops connecting. */
void listener_unlink(struct listener *l);

void listener_close(struct listener *l);

#endif
