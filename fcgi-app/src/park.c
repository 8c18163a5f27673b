#include "park.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "fastcgi.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/*
 * A parked visit. It is submitted as soon as it has its number, so that it
 * joins the next batch, and its page is rendered while the batch runs: the
 * worker that made the answer and the committer that knows the outcome
 * meet in stage, and whichever comes second sends.
 */
enum { STAGE_NONE, STAGE_ANSWER_MADE, STAGE_OUTCOME_KNOWN, STAGE_WORKER_WAITS };

struct parked {
        struct counter_waiter w;
        struct routes_visit v;
        struct park *park;
        struct conn *c;
        unsigned id;
        int keep;
        int status;           /* of the answer made */
        atomic_int stage;     /* STAGE_*: what has happened; the second to arrive sends */
        unsigned char *bytes; /* the answer, encoded; NULL: no memory, the worker waits */
        size_t len;
        char why[128];
};

void
park_init(struct park *p, const struct app *app, struct conns *conns)
{
        /* A response has room for the largest answer: on the heap once, not in p for ever. */
        struct response *r = malloc(sizeof(*r));

        p->app = app;
        p->conns = conns;
        atomic_init(&p->parked, 0);
        p->refused_len = 0;
        if (r == NULL)
                return; /* no 503 to send: a refused parked visit's connection is closed */
        /* The 503 of a failed batch, made once: only the request id differs between visits. */
        routes_visit_refused(NULL, r);
        p->refused_len = fcgi_encode_answer(p->refused_bytes, sizeof(p->refused_bytes), 0, r->head,
                                            r->head_len, r->body, r->body_len);
        free(r);
}

void
park_free(struct parked *pk)
{
        if (pk != NULL)
                free(pk->bytes);
        free(pk);
}

int
park_count(struct park *p)
{
        return atomic_load(&p->parked);
}

/*
 * One non-blocking send of the answer made for the visit, or of the
 * prepared 503 with its request id; then the connection back to the
 * workers, idle. A connection to close is shut down and re-armed, so that a
 * worker frees it: this takes no lock, and frees only the answer it sent.
 */
static void
send_parked(struct parked *pk)
{
        struct park *p = pk->park;
        struct conn *c = pk->c;
        int ok = pk->w.state == COUNTER_WAIT_DONE && pk->bytes != NULL;
        unsigned char refused[sizeof(p->refused_bytes)];
        const unsigned char *bytes = pk->bytes;
        size_t len = pk->len;

        if (!ok) {
                memcpy(refused, p->refused_bytes, p->refused_len);
                fcgi_set_request_id(refused, p->refused_len, pk->id);
                bytes = refused;
                len = p->refused_len;
        }
        routes_visit_finished(p->app, &pk->v, ok ? pk->status : 503);
        ssize_t sent = send(c->fd, bytes, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        int close = len == 0 || sent != (ssize_t)len || !pk->keep;
        /*
         * Freed now, not when c's next request comes: nginx keeps up to a
         * thousand connections alive, and each would hold its last answer.
         */
        c->parked = NULL;
        park_free(pk);
        /* Not kept, or nginx did not take the answer: closed by the worker it goes to. */
        conn_return(p->conns, c, close);
        metrics_gauge_add(p->app->metrics, METRICS_PARKED, -1);
        /* Last: once none is parked, stopping may close c and free what this used. */
        atomic_fetch_sub(&p->parked, 1);
}

/* The committer, once the visit's batch is fsynced or failed. */
static void
visit_done(struct counter_waiter *w)
{
        struct parked *pk = container_of(w, struct parked, w);

        /* STAGE_WORKER_WAITS: the worker polls the stage; nothing more here. */
        if (atomic_exchange_explicit(&pk->stage, STAGE_OUTCOME_KNOWN, memory_order_acq_rel) ==
            STAGE_ANSWER_MADE)
                send_parked(pk);
}

/*
 * No memory for the answer's bytes. Sending the 503 would refuse a visit
 * its batch may count; rather, the worker waits for the outcome here, as a
 * visit beyond PARK_MAX does, and c stays its own: the caller sends resp,
 * the 200 rendered with the visit's number, or the 503 if the batch failed.
 * It polls the stage every millisecond rather than sleep on a condition, so
 * that the committer signals nothing and takes no lock: this is the path of
 * an exhausted memory, where a millisecond is nothing.
 */
static int
wait_for_outcome(struct parked *pk, const struct routes_visit *v, struct response *resp)
{
        struct park *p = pk->park;
        struct timespec ms = {.tv_nsec = 1000000L};

        if (atomic_exchange_explicit(&pk->stage, STAGE_WORKER_WAITS, memory_order_acq_rel) !=
            STAGE_OUTCOME_KNOWN) {
                while (atomic_load_explicit(&pk->stage, memory_order_acquire) !=
                       STAGE_OUTCOME_KNOWN)
                        nanosleep(&ms, NULL);
        }
        if (pk->w.state != COUNTER_WAIT_DONE)
                routes_visit_refused(v, resp);
        routes_visit_finished(p->app, v, resp->status);
        metrics_gauge_add(p->app->metrics, METRICS_PARKED, -1);
        atomic_fetch_sub(&p->parked, 1);
        return 0;
}

/* The worker, once the answer is made (or could not be kept). */
static void
answer_made(struct parked *pk)
{
        if (atomic_exchange_explicit(&pk->stage, STAGE_ANSWER_MADE, memory_order_acq_rel) ==
            STAGE_OUTCOME_KNOWN)
                send_parked(pk);
}

int
park_visit(struct park *p, struct conn *c, unsigned id, int keep, const struct routes_visit *v,
           struct clock_text *clock, struct response *resp)
{
        char why[128];
        struct counter_waiter local = {.why = why, .whylen = sizeof(why)};
        struct parked *pk = NULL;

        /* Only sync=always visits wait for a batch; the others are answered at once. */
        if (p->app->cfg->sync == SYNC_ALWAYS && atomic_load(&p->parked) < PARK_MAX)
                pk = calloc(1, sizeof(*pk));
        struct counter_waiter *w = pk != NULL ? &pk->w : &local;
        if (pk != NULL)
                *w = (struct counter_waiter){.why = pk->why, .whylen = sizeof(pk->why)};
        if (routes_visit(p->app, clock, v, pk != NULL, w, resp) == ROUTES_ANSWERED) {
                free(pk);
                return 0;
        }
        uint64_t number = w->number;
        pk->v = *v;
        pk->park = p;
        pk->c = c;
        pk->id = id;
        pk->keep = keep;
        atomic_init(&pk->stage, STAGE_NONE);
        pk->w.done = visit_done;
        park_free(c->parked);
        c->parked = pk;
        atomic_fetch_add(&p->parked, 1);
        metrics_gauge_add(p->app->metrics, METRICS_PARKED, 1);
        /* In the next batch from here on: the committer may call visit_done() at any time. */
        routes_visit_submit(p->app, &pk->w);
        routes_visit_render(p->app, clock, v, number, resp);
        size_t len = fcgi_answer_size(resp->head_len + resp->body_len);
        pk->bytes = malloc(len);
        if (pk->bytes == NULL)
                return wait_for_outcome(pk, v, resp);
        pk->len = fcgi_encode_answer(pk->bytes, len, id, resp->head, resp->head_len, resp->body,
                                     resp->body_len);
        pk->status = resp->status;
        /* c, and pk with it, must not be touched after this: the sender hands c on. */
        answer_made(pk);
        return 1;
}
