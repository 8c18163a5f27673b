#ifndef MT_PARK_H
#define MT_PARK_H

#include <pthread.h>
#include <stdatomic.h>

#include "clock.h"
#include "conn.h"
#include "routes.h"

/*
 * Parked visits (sync=always): a visit waits for the fdatasync of its batch
 * without a thread. The worker takes the visit's number, renders its answer
 * with that number and parks the connection; the counter's committer, once
 * the batch is on disk (or failed), hands the visit its outcome and park.c
 * sends the bytes made for it: the 200 answer, or the 503 prepared once.
 * Sending from the committer's thread costs no wake-up of a worker per batch
 * (handing the answers to a worker cost a wake-up and, on a busy machine, a
 * wait for that worker's turn on a CPU: sync=always 0.14x -> 0.24x of the
 * ceiling, measured side by side); it renders nothing and takes no lock.
 * Beyond PARK_MAX parked visits, or without memory for an answer, a worker
 * waits for its visit's batch itself (back-pressure, not failure).
 */
/*
 * Each parked visit holds its answer (a page is about 3.5 KiB): at most
 * PARK_MAX of them bound that memory to about 1 MiB. 256 visits in one
 * batch are far more than a batch needs to keep up (one fsync per 256
 * visits), so the cap costs no throughput (make bench: sync=always at
 * c=1000); beyond it a visit holds its worker for one batch.
 */
#define PARK_MAX 256

struct park {
        const struct app *app;
        struct conns *conns;
        atomic_int parked;       /* visits waiting for their batch's outcome */
        struct response refused; /* the 503 of a failed batch, made once */
        unsigned char refused_bytes[1024];
        size_t refused_len;
};

void park_init(struct park *p, const struct app *app, struct conns *conns);

/*
 * GET / on c as request id of a FastCGI connection (keep: FCGI_KEEP_CONN).
 * Returns 1 if parked: c is the committer's until the answer is sent, and
 * the caller must not touch it. Returns 0 if the visit was answered into
 * resp, for the caller to send.
 */
int park_visit(struct park *p, struct conn *c, unsigned id, int keep, const struct routes_visit *v,
               struct clock_text *clock, struct response *resp);

/* What a parked visit left in its connection once its answer was sent; NULL is nothing. */
void park_free(struct parked *pk);

/* Visits still parked: stopping waits for none. */
int park_count(struct park *p);

#endif
