/*
 * The service's total: a grow-only counter (G-counter) over the pods.
 *
 * Each pod owns its count and only ever adds to it, so the service's total
 * is the sum of the pods' counts, and taking the largest count ever seen of
 * each pod is a correct merge in any order and with any delay. This file is
 * the state and its merge: no network and no rendering. The poller
 * (cluster_poll.c) reports each peer's answer here; the workers answer
 * /visits?scope=cluster from a view of the state taken under one mutex and
 * never wait on the network. A peer asked for its count answers only its
 * own, so counts never travel in loops.
 *
 * A pod whose count went back (a replaced volume) keeps its largest count
 * in the total, and the answer shows what it reported: the total never goes
 * down while this responder runs; visits on the new volume show again once
 * it passes the old count.
 */
#include "cluster.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

static const char *const state_names[] = {"self", "fresh", "stale", "unreached"};

const char *
cluster_state_name(enum cluster_state st)
{
        return state_names[st];
}

int
cluster_parse_answer(const char *body, size_t len, uint64_t *visits, char *pod, size_t podlen)
{
        char buf[CLUSTER_ANSWER_MAX + 1];

        if (len == 0 || len > CLUSTER_ANSWER_MAX)
                return -1;
        memcpy(buf, body, len);
        buf[len] = '\0';
        if (buf[0] != '{')
                return -1;
        const char *v = strstr(buf, "\"visits\":");
        if (v == NULL)
                return -1;
        v += strlen("\"visits\":");
        while (*v == ' ')
                v++;
        uint64_t n = 0;
        if (!isdigit((unsigned char)*v))
                return -1;
        for (; isdigit((unsigned char)*v); v++) {
                unsigned d = (unsigned)(*v - '0');
                if (n > ((uint64_t)INT64_MAX - d) / 10)
                        return -1;
                n = n * 10 + d;
        }
        pod[0] = '\0';
        const char *name = strstr(buf, "\"pod\":\"");
        if (name != NULL) {
                char why[128];
                name += strlen("\"pod\":\"");
                size_t k = strcspn(name, "\"");
                if (name[k] != '"' || k >= podlen)
                        return -1;
                memcpy(pod, name, k);
                pod[k] = '\0';
                if (peer_name_check(pod, why, sizeof(why)) != 0)
                        return -1;
        }
        *visits = n;
        return 0;
}

/* State. */

/* A peer listed by this pod's own name ("pod-0" or "pod-0.headless.ns.svc..."): never polled. */
static int
addr_is_self(const char *addr, const char *self)
{
        size_t n = strlen(self);

        return strncasecmp(addr, self, n) == 0 && (addr[n] == ':' || addr[n] == '.');
}

/* The slot of a listed peer; by address, as a poll that was out during a reload reports. */
static struct cluster_peer *
find_peer(struct cluster *c, const char *addr)
{
        for (size_t i = 0; i < c->npeers; i++) {
                if (c->peers[i].listed && strcasecmp(c->peers[i].addr, addr) == 0)
                        return &c->peers[i];
        }
        return NULL;
}

/*
 * The new list into out: listed peers first (each keeping what is known of
 * it), then the peers that left the list and had answered, whose counts stay
 * in the total. Returns the number of slots, or -1 if they do not fit.
 */
static int
merge_peers(const struct cluster *c, const struct peer_list *list, struct cluster_peer *out)
{
        size_t n = 0;

        for (size_t i = 0; i < list->n; i++) {
                struct cluster_peer *p = &out[n++];
                memset(p, 0, sizeof(*p));
                snprintf(p->addr, sizeof(p->addr), "%s", list->addr[i]);
                p->self = addr_is_self(p->addr, c->self);
                for (size_t j = 0; j < c->npeers; j++) {
                        if (strcasecmp(c->peers[j].addr, p->addr) == 0)
                                *p = c->peers[j];
                }
                p->listed = 1;
        }
        for (size_t j = 0; j < c->npeers; j++) {
                const struct cluster_peer *old = &c->peers[j];
                int kept = 0;
                for (size_t i = 0; i < list->n; i++)
                        kept |= strcasecmp(old->addr, list->addr[i]) == 0;
                if (kept || old->self || old->name[0] == '\0')
                        continue;
                if (n == CLUSTER_SLOTS_MAX)
                        return -1;
                out[n] = *old;
                out[n++].listed = 0;
        }
        return (int)n;
}

static int
apply_settings(struct cluster *c, const struct config *s, char *err, size_t errlen)
{
        struct peer_list *list = malloc(sizeof(*list));
        struct cluster_peer *slots = malloc(CLUSTER_SLOTS_MAX * sizeof(*slots));
        char why[256];
        int rc = -1;

        if (list == NULL || slots == NULL) {
                snprintf(err, errlen, "[cluster] peers: %s", strerror(errno));
                goto out;
        }
        if (peer_list_parse(s->cluster_peers, list, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "[cluster] peers: %s", why);
                goto out;
        }
        pthread_mutex_lock(&c->mu);
        int n = merge_peers(c, list, slots);
        if (n >= 0) {
                memcpy(c->peers, slots, (size_t)n * sizeof(*slots));
                c->npeers = (size_t)n;
                c->poll_interval_ms =
                    s->cluster_poll_interval_ms > 0 ? s->cluster_poll_interval_ms : 1000;
                c->timeout_ms = s->cluster_timeout_ms > 0 ? s->cluster_timeout_ms : 500;
                c->generation++;
                rc = 0;
        }
        pthread_mutex_unlock(&c->mu);
        if (rc != 0)
                snprintf(err, errlen,
                         "[cluster] peers: with the pods that left the list, more than %d would "
                         "be known; restart the responder to forget those",
                         CLUSTER_SLOTS_MAX);
out:
        free(slots);
        free(list);
        return rc;
}

int
cluster_init(struct cluster *c, const struct config *s, char *err, size_t errlen)
{
        char why[128];

        memset(c, 0, sizeof(*c));
        pthread_mutex_init(&c->mu, NULL);
        if (s->cluster_name[0] != '\0') {
                snprintf(c->self, sizeof(c->self), "%s", s->cluster_name);
        } else if (gethostname(c->self, sizeof(c->self)) != 0) {
                snprintf(err, errlen, "[cluster] name is empty and gethostname() failed: %s",
                         strerror(errno));
                return -1;
        }
        c->self[sizeof(c->self) - 1] = '\0';
        if (peer_name_check(c->self, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "[cluster] name \"%s\"%s: %s", c->self,
                         s->cluster_name[0] ? "" : " (the hostname)", why);
                return -1;
        }
        return apply_settings(c, s, err, errlen);
}

int
cluster_configure(struct cluster *c, const struct config *s, char *err, size_t errlen)
{
        return apply_settings(c, s, err, errlen);
}

/* Two addresses answering as one pod are both counted (the total must not go down): say so. */
static void
warn_name_clash(struct cluster *c, struct cluster_peer *p)
{
        for (size_t i = 0; i < c->npeers; i++) {
                const struct cluster_peer *q = &c->peers[i];
                if (q == p || q->self || strcmp(q->name, p->name) != 0 || p->warned)
                        continue;
                log_warn("cluster: peers %s and %s both answer as pod %s; both are counted: list "
                         "each pod once",
                         q->addr, p->addr, p->name);
                p->warned = 1;
        }
}

/*
 * A new address answering for the first time as a pod that answered before
 * at an address no longer listed (the peer list went from names to
 * addresses, or a pod moved): it is that pod, so it takes over the old
 * entry's count instead of being counted a second time. The old entry had
 * its count in the total, and p had none yet, so the total does not move.
 */
static void
adopt_retired(struct cluster *c, struct cluster_peer *p)
{
        for (size_t i = 0; i < c->npeers; i++) {
                struct cluster_peer *q = &c->peers[i];
                if (q->listed || q->self || strcmp(q->name, p->name) != 0)
                        continue;
                log_info("cluster: pod %s now at %s, no longer at %s: counted once", p->name,
                         p->addr, q->addr);
                if (q->visits > p->visits)
                        p->visits = q->visits;
                /* p points into the listed part, before every retired entry: it does not move. */
                memmove(q, q + 1, (c->npeers - i - 1) * sizeof(*q));
                c->npeers--;
                i--;
        }
}

void
cluster_record(struct cluster *c, const char *addr, uint64_t visits, const char *pod,
               int64_t now_ns)
{
        pthread_mutex_lock(&c->mu);
        struct cluster_peer *p = find_peer(c, addr);
        if (p == NULL)
                goto out;
        /* An answer without a name is filed under the address it came from. */
        const char *name = pod && *pod ? pod : p->addr;
        if (strcmp(name, c->self) == 0) {
                if (!p->self)
                        log_info("cluster: peer %s is this pod (%s): not polled", p->addr, name);
                p->self = 1;
                goto out;
        }
        if (strcmp(p->name, name) != 0) {
                int first = p->name[0] == '\0';
                if (!first)
                        log_info("cluster: peer %s answers as pod %s, no longer %s; its largest "
                                 "count is kept",
                                 p->addr, name, p->name);
                else
                        log_info("cluster: peer %s answers as pod %s", p->addr, name);
                snprintf(p->name, sizeof(p->name), "%s", name);
                p->warned = 0;
                if (first)
                        adopt_retired(c, p);
                warn_name_clash(c, p);
        } else if (!p->up && p->polled_ns != 0) {
                log_info("cluster: peer %s (%s) answers again", p->addr, name);
        }
        if (visits < p->visits && p->reported >= p->visits)
                log_warn("cluster: pod %s (%s) answered %" PRIu64 ", less than the %" PRIu64
                         " it answered before; the total keeps %" PRIu64,
                         name, p->addr, visits, p->visits, p->visits);
        if (visits > p->visits)
                p->visits = visits;
        p->reported = visits;
        p->seen_ns = now_ns;
        p->up = 1;
        p->polled_ns = now_ns;
        p->error[0] = '\0';
out:
        pthread_mutex_unlock(&c->mu);
}

void
cluster_record_failure(struct cluster *c, const char *addr, const char *why, int64_t now_ns)
{
        pthread_mutex_lock(&c->mu);
        struct cluster_peer *p = find_peer(c, addr);
        if (p != NULL) {
                /* Once per outage, not once per poll. */
                if (p->up || p->polled_ns == 0)
                        log_warn("cluster: peer %s: %s", p->addr, why);
                p->up = 0;
                p->polled_ns = now_ns;
                snprintf(p->error, sizeof(p->error), "%s", why);
        }
        pthread_mutex_unlock(&c->mu);
}

static int64_t
stale_after_ns(const struct cluster *c)
{
        int ms = c->poll_interval_ms > c->timeout_ms ? c->poll_interval_ms : c->timeout_ms;

        return 3 * (int64_t)ms * 1000000;
}

/* The entry's key: the pod's name, made unique with its address if another entry has it. */
static void
entry_name(const struct cluster_view *v, const struct cluster_peer *p, struct cluster_view_entry *e)
{
        snprintf(e->name, sizeof(e->name), "%s", p->name[0] ? p->name : p->addr);
        for (size_t i = 0; i + 1 < v->n; i++) {
                if (strcmp(v->e[i].name, e->name) == 0) {
                        snprintf(e->name, sizeof(e->name), "%s@%s", p->name, p->addr);
                        return;
                }
        }
}

static void
view_peer(const struct cluster *c, const struct cluster_peer *p, struct cluster_view *v,
          int64_t now_ns)
{
        struct cluster_view_entry *e = &v->e[v->n++];

        entry_name(v, p, e);
        snprintf(e->peer, sizeof(e->peer), "%s", p->listed ? p->addr : "");
        snprintf(e->error, sizeof(e->error), "%s", p->up ? "" : p->error);
        e->visits = p->visits;
        e->reported = p->reported;
        e->up = p->up;
        if (p->name[0] == '\0') {
                e->state = CLUSTER_UNREACHED;
                e->age_ns = -1;
                if (e->error[0] == '\0')
                        snprintf(e->error, sizeof(e->error), "not polled yet");
        } else {
                e->age_ns = now_ns - p->seen_ns;
                e->state =
                    p->listed && e->age_ns <= stale_after_ns(c) ? CLUSTER_FRESH : CLUSTER_STALE;
        }
        v->total += p->visits;
        v->partial |= e->state != CLUSTER_FRESH;
}

void
cluster_view(struct cluster *c, uint64_t own, struct cluster_view *v, int64_t now_ns)
{
        pthread_mutex_lock(&c->mu);
        /* *v is output only: cppcheck takes this first write for a read of it. */
        // cppcheck-suppress ctuuninitvar
        snprintf(v->self, sizeof(v->self), "%s", c->self);
        v->own = v->total = own;
        v->partial = 0;
        v->n = 1;
        struct cluster_view_entry *e = &v->e[0];
        snprintf(e->name, sizeof(e->name), "%s", c->self);
        e->peer[0] = e->error[0] = '\0';
        e->state = CLUSTER_SELF;
        e->up = 1;
        e->visits = e->reported = own;
        e->age_ns = 0;
        for (size_t k = 0; k < c->npeers; k++) {
                if (!c->peers[k].self)
                        view_peer(c, &c->peers[k], v, now_ns);
        }
        pthread_mutex_unlock(&c->mu);
}

int
cluster_targets(struct cluster *c, uint64_t *generation, struct cluster_targets *out)
{
        pthread_mutex_lock(&c->mu);
        int changed = c->generation != *generation;
        if (changed) {
                *generation = c->generation;
                out->interval_ms = c->poll_interval_ms;
                out->timeout_ms = c->timeout_ms;
                out->list.n = 0;
                for (size_t i = 0; i < c->npeers && out->list.n < PEER_LIST_MAX; i++) {
                        if (c->peers[i].listed)
                                snprintf(out->list.addr[out->list.n++], sizeof(out->list.addr[0]),
                                         "%s", c->peers[i].addr);
                }
        }
        pthread_mutex_unlock(&c->mu);
        return changed;
}

int
cluster_changed(struct cluster *c, uint64_t generation)
{
        pthread_mutex_lock(&c->mu);
        int changed = c->generation != generation;
        pthread_mutex_unlock(&c->mu);
        return changed;
}

int
cluster_is_self(struct cluster *c, const char *addr)
{
        pthread_mutex_lock(&c->mu);
        const struct cluster_peer *peer = find_peer(c, addr);
        int self = peer != NULL && peer->self;
        pthread_mutex_unlock(&c->mu);
        return self;
}
