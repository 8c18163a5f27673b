#include "park.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fastcgi.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* A parked visit: its waiter, and both answers it may send, encoded as FastCGI records. */
struct parked {
        struct counter_waiter w;
        struct routes_visit v;
        struct park *park;
        struct conn *c;
        int keep;
        int status; /* of the answer sent */
        size_t ok_len, fail_len;
        char why[128];
        unsigned char bytes[]; /* the 200 answer, then the 503 */
};

/* Room for the largest answer a response holds. */
#define ANSWER_ROOM                                                                                \
        fcgi_answer_size(sizeof(((struct response *)0)->head) +                                    \
                         sizeof(((struct response *)0)->body))

void
park_init(struct park *p, const struct app *app, struct conns *conns)
{
        p->app = app;
        p->conns = conns;
        atomic_init(&p->parked, 0);
}

int
park_count(struct park *p)
{
        return atomic_load(&p->parked);
}

static size_t
encode(unsigned char *out, size_t cap, unsigned id, const struct response *r)
{
        return fcgi_encode_answer(out, cap, id, r->head, r->head_len, r->body,
                                  r->send_body ? r->body_len : 0);
}

/*
 * The committer, once the visit's batch is fsynced or failed: one
 * non-blocking send of the bytes made for that outcome, then the connection
 * back to the workers. A connection to close is shut down and re-armed, so
 * that a worker frees it: this thread frees nothing, and takes only the
 * registry's lock, to list the connection as idle.
 */
static void
visit_done(struct counter_waiter *w)
{
        struct parked *pk = container_of(w, struct parked, w);
        struct park *p = pk->park;
        struct conn *c = pk->c;
        int ok = w->state == COUNTER_WAIT_DONE;
        const unsigned char *bytes = ok ? pk->bytes : pk->bytes + pk->ok_len;
        size_t len = ok ? pk->ok_len : pk->fail_len;

        routes_visit_finished(p->app, &pk->v, ok ? pk->status : 503);
        ssize_t sent = send(c->fd, bytes, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        /* Not kept, or nginx did not take the answer: closed by the worker it goes to. */
        conn_return(p->conns, c, sent != (ssize_t)len || !pk->keep);
        /* Last: once none is parked, stopping may close c and free what this used. */
        atomic_fetch_sub(&p->parked, 1);
}

int
park_visit(struct park *p, struct conn *c, unsigned id, int keep, const struct routes_visit *v,
           struct clock_text *clock, struct response *resp)
{
        size_t room = ANSWER_ROOM + fcgi_answer_size(sizeof(resp->head) + 128);
        struct parked *pk = NULL;
        struct counter_waiter local = {0};

        if (atomic_load(&p->parked) < PARK_MAX)
                pk = malloc(sizeof(*pk) + room);
        struct counter_waiter *w = pk != NULL ? &pk->w : &local;
        if (pk != NULL) {
                memset(pk, 0, sizeof(*pk));
                w->why = pk->why;
                w->whylen = sizeof(pk->why);
        }
        if (routes_visit(p->app, clock, v, pk != NULL, w, resp) == ROUTES_ANSWERED) {
                free(pk);
                return 0;
        }
        /* Reserved: the answer for the visit's number is in resp. */
        pk->v = *v;
        pk->park = p;
        pk->c = c;
        pk->keep = keep;
        pk->status = resp->status;
        pk->ok_len = encode(pk->bytes, room, id, resp);
        routes_visit_refused(v, resp);
        pk->fail_len = encode(pk->bytes + pk->ok_len, room - pk->ok_len, id, resp);
        struct parked *small = realloc(pk, sizeof(*pk) + pk->ok_len + pk->fail_len);
        if (small != NULL)
                pk = small; /* not submitted yet: nothing points into it */
        pk->w.why = pk->why;
        pk->w.done = visit_done;
        free(c->parked);
        c->parked = pk;
        atomic_fetch_add(&p->parked, 1);
        /* From here on the committer owns c until visit_done(): c must not be touched. */
        atomic_fetch_add_explicit(&c->handoff, 1, memory_order_release);
        routes_visit_submit(p->app, &pk->w);
        return 1;
}
