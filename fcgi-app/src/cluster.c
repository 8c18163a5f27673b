/*
 * The service's total: a grow-only counter (G-counter) over the pods.
 *
 * Each pod owns its count and only ever adds to it, so the service's total
 * is the sum of the pods' counts, and taking the largest count ever seen of
 * each pod is a correct merge in any order and with any delay. A poller
 * thread of its own asks each peer's nginx for GET /visits (JSON) with
 * libcurl's multi interface: all peers at once, each transfer with its own
 * short timeout, so a slow or dead peer delays nobody. The workers answer
 * /visits?scope=cluster from the state under one mutex and never wait on
 * the network. A peer asked for its count answers only its own, so counts
 * never travel in loops.
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
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "log.h"

#define ANSWER_MAX        512 /* {"visits":N,"pod":"..."} is far shorter */
#define DNS_CACHE_SECONDS 5   /* a restarted pod comes back on a new address */

#ifndef MT_VERSION
#define MT_VERSION "dev"
#endif

int64_t
cluster_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *const state_names[] = {"self", "fresh", "stale", "unreached"};

const char *
cluster_state_name(enum cluster_state st)
{
        return state_names[st];
}

/* Parsing and validation. */

static int
name_char(char ch)
{
        return isalnum((unsigned char)ch) || ch == '-' || ch == '.' || ch == '_';
}

int
cluster_name_check(const char *name, char *why, size_t len)
{
        size_t n = strlen(name);

        if (n == 0 || n >= CLUSTER_NAME_MAX) {
                snprintf(why, len, "expected a pod name of 1 to %d characters",
                         CLUSTER_NAME_MAX - 1);
                return -1;
        }
        for (const char *p = name; *p; p++) {
                if (!name_char(*p)) {
                        snprintf(why, len,
                                 "expected a pod name of letters, digits, '-', '.' and '_'");
                        return -1;
                }
        }
        return 0;
}

/* One "host:port" of n bytes at s into out; 0 or -1 and why. */
static int
parse_peer(const char *s, size_t n, char *out, char *why, size_t len)
{
        const char *colon;
        size_t host_len;

        if (n == 0) {
                snprintf(why, len, "an empty entry; expected host:port, host:port");
                return -1;
        }
        if (n >= CLUSTER_ADDR_MAX) {
                snprintf(why, len, "\"%.40s...\" is too long for host:port", s);
                return -1;
        }
        if (s[0] == '[') {
                const char *close = memchr(s, ']', n);
                if (close == NULL || close + 1 >= s + n || close[1] != ':')
                        goto bad;
                for (const char *p = s + 1; p < close; p++) {
                        if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                                goto bad;
                }
                colon = close + 1;
                host_len = (size_t)(close - s) + 1;
        } else {
                colon = memchr(s, ':', n);
                if (colon == NULL)
                        goto bad;
                for (const char *p = s; p < colon; p++) {
                        if (!name_char(*p))
                                goto bad;
                }
                host_len = (size_t)(colon - s);
        }
        size_t port_len = (size_t)(s + n - colon - 1);
        if (host_len == 0 || port_len == 0 || port_len > 5)
                goto bad;
        long port = 0;
        for (const char *p = colon + 1; p < s + n; p++) {
                if (!isdigit((unsigned char)*p))
                        goto bad;
                port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
                goto bad;
        memcpy(out, s, n);
        out[n] = '\0';
        return 0;
bad:
        snprintf(why, len, "\"%.*s\" is not host:port (a port from 1 to 65535)",
                 (int)(n > 80 ? 80 : n), s);
        return -1;
}

int
cluster_parse_peers(const char *text, struct cluster_peer_list *out, char *why, size_t len)
{
        const char *p = text;

        out->n = 0;
        while (*p == ' ' || *p == '\t')
                p++;
        if (*p == '\0')
                return 0;
        for (;;) {
                while (*p == ' ' || *p == '\t')
                        p++;
                size_t n = strcspn(p, ",");
                size_t trimmed = n;
                while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
                        trimmed--;
                if (out->n == CLUSTER_PEERS_MAX) {
                        snprintf(why, len, "more than %d peers", CLUSTER_PEERS_MAX);
                        return -1;
                }
                if (parse_peer(p, trimmed, out->addr[out->n], why, len) != 0)
                        return -1;
                for (size_t i = 0; i < out->n; i++) {
                        if (strcasecmp(out->addr[i], out->addr[out->n]) == 0) {
                                snprintf(why, len, "%s is listed twice", out->addr[i]);
                                return -1;
                        }
                }
                out->n++;
                p += n;
                if (*p == '\0')
                        return 0;
                p++; /* the comma */
        }
}

int
cluster_parse_answer(const char *body, size_t len, uint64_t *visits, char *pod, size_t podlen)
{
        char buf[ANSWER_MAX + 1];

        if (len == 0 || len > ANSWER_MAX)
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
                if (cluster_name_check(pod, why, sizeof(why)) != 0)
                        return -1;
        }
        *visits = n;
        return 0;
}

/* State. */

static void wake_poller(struct cluster_poller *p);

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
merge_peers(const struct cluster *c, const struct cluster_peer_list *list, struct cluster_peer *out)
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
apply_settings(struct cluster *c, const struct cluster_settings *s, char *err, size_t errlen)
{
        struct cluster_peer_list *list = malloc(sizeof(*list));
        struct cluster_peer *slots = malloc(CLUSTER_SLOTS_MAX * sizeof(*slots));
        char why[256];
        int rc = -1;

        if (list == NULL || slots == NULL) {
                snprintf(err, errlen, "[cluster] peers: %s", strerror(errno));
                goto out;
        }
        if (cluster_parse_peers(s->peers, list, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "[cluster] peers: %s", why);
                goto out;
        }
        pthread_mutex_lock(&c->mu);
        int n = merge_peers(c, list, slots);
        if (n >= 0) {
                memcpy(c->peers, slots, (size_t)n * sizeof(*slots));
                c->npeers = (size_t)n;
                c->poll_interval_ms = s->poll_interval_ms > 0 ? s->poll_interval_ms : 1000;
                c->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : 500;
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
cluster_init(struct cluster *c, const struct cluster_settings *s, cluster_count_fn own_count,
             void *own_arg, char *err, size_t errlen)
{
        char why[128];

        memset(c, 0, sizeof(*c));
        pthread_mutex_init(&c->mu, NULL);
        c->own_count = own_count;
        c->own_arg = own_arg;
        if (s->name[0] != '\0') {
                snprintf(c->self, sizeof(c->self), "%s", s->name);
        } else if (gethostname(c->self, sizeof(c->self)) != 0) {
                snprintf(err, errlen, "[cluster] name is empty and gethostname() failed: %s",
                         strerror(errno));
                return -1;
        }
        c->self[sizeof(c->self) - 1] = '\0';
        if (cluster_name_check(c->self, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "[cluster] name \"%s\"%s: %s", c->self,
                         s->name[0] ? "" : " (the hostname)", why);
                return -1;
        }
        return apply_settings(c, s, err, errlen);
}

int
cluster_configure(struct cluster *c, const struct cluster_settings *s, char *err, size_t errlen)
{
        if (apply_settings(c, s, err, errlen) != 0)
                return -1;
        if (c->poller != NULL)
                wake_poller(c->poller); /* the new list from the next poll on */
        return 0;
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
cluster_view(struct cluster *c, struct cluster_view *v, int64_t now_ns)
{
        /* Outside the lock: the counter has a lock of its own. */
        uint64_t own = c->own_count ? c->own_count(c->own_arg) : 0;

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
        e->visits = e->reported = own;
        e->age_ns = 0;
        for (size_t k = 0; k < c->npeers; k++) {
                if (!c->peers[k].self)
                        view_peer(c, &c->peers[k], v, now_ns);
        }
        pthread_mutex_unlock(&c->mu);
}

void
cluster_render_metrics(struct cluster *c, struct expo *e, int64_t now_ns)
{
        struct cluster_view *v = malloc(sizeof(*v));

        if (v == NULL) {
                e->overflow = 1;
                return;
        }
        cluster_view(c, v, now_ns);
        expo_family(e, "moscow_time_cluster_visits", "gauge",
                    "The service's visits as this pod knows them: its own count and the largest "
                    "count seen of every other pod.");
        expo_u64(e, "moscow_time_cluster_visits", NULL, v->total);
        expo_family(e, "moscow_time_cluster_partial", "gauge",
                    "1 if some pod's count is stale or was never received, else 0.");
        expo_u64(e, "moscow_time_cluster_partial", NULL, (uint64_t)v->partial);
        expo_family(e, "moscow_time_cluster_pod_visits", "gauge",
                    "Each pod's count as this pod has seen it (its largest answer).");
        for (size_t i = 0; i < v->n; i++) {
                if (v->e[i].state == CLUSTER_UNREACHED)
                        continue;
                const char *labels[] = {"pod", v->e[i].name, NULL};
                expo_u64(e, "moscow_time_cluster_pod_visits", labels, v->e[i].visits);
        }
        free(v);
        pthread_mutex_lock(&c->mu);
        size_t polled = 0;
        for (size_t k = 0; k < c->npeers; k++)
                polled += c->peers[k].listed && !c->peers[k].self;
        if (polled > 0)
                expo_family(e, "moscow_time_peer_up", "gauge",
                            "1 if the peer answered the last poll of its count, else 0.");
        for (size_t k = 0; k < c->npeers; k++) {
                if (!c->peers[k].listed || c->peers[k].self)
                        continue;
                const char *labels[] = {"peer", c->peers[k].addr, NULL};
                expo_u64(e, "moscow_time_peer_up", labels, (uint64_t)c->peers[k].up);
        }
        pthread_mutex_unlock(&c->mu);
}

/*
 * The poller: one thread, one curl multi handle, one easy handle per peer,
 * reused so that connections to the peers' nginx stay alive between polls.
 */

struct transfer {
        CURL *easy;
        char addr[CLUSTER_ADDR_MAX];
        char url[CLUSTER_ADDR_MAX + 32];
        char body[ANSWER_MAX];
        size_t len;
        int too_long;
        char error[CURL_ERROR_SIZE];
};

struct cluster_poller {
        struct cluster *c;
        pthread_t thread;
        CURLM *multi;
        struct curl_slist *headers;
        atomic_int stopping;
        uint64_t generation;
        int interval_ms;
        int timeout_ms;
        size_t n;
        struct transfer t[CLUSTER_PEERS_MAX];
};

static void
wake_poller(struct cluster_poller *p)
{
        CURLMcode mc = curl_multi_wakeup(p->multi);

        if (mc != CURLM_OK)
                log_error("cluster: waking the poller: %s", curl_multi_strerror(mc));
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
        struct transfer *t = arg;
        size_t n = size * nmemb;

        if (n > sizeof(t->body) - t->len) {
                t->too_long = 1;
                return 0; /* makes curl fail the transfer */
        }
        memcpy(t->body + t->len, data, n);
        t->len += n;
        return n;
}

static void
drop_transfers(struct cluster_poller *p)
{
        for (size_t i = 0; i < p->n; i++)
                curl_easy_cleanup(p->t[i].easy);
        p->n = 0;
}

static int
setup_transfer(struct cluster_poller *p, struct transfer *t, const char *addr)
{
        snprintf(t->url, sizeof(t->url), "http://%s/visits", addr);
        t->easy = curl_easy_init();
        if (t->easy == NULL)
                return -1;
        CURL *h = t->easy;
        long ms = p->timeout_ms;
        /* NOSIGNAL: curl must not use SIGALRM for timeouts in a threaded process. */
        if (curl_easy_setopt(h, CURLOPT_URL, t->url) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms) != CURLE_OK ||
            /* Pod to pod directly, whatever http_proxy the environment has. */
            curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, (long)DNS_CACHE_SECONDS) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, p->headers) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_USERAGENT, "moscow-time/" MT_VERSION) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_WRITEDATA, t) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->error) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_PRIVATE, t) != CURLE_OK) {
                curl_easy_cleanup(h);
                t->easy = NULL;
                return -1;
        }
        return 0;
}

/* Takes the peers and timings from the state when cluster_configure() changed them. */
static void
sync_settings(struct cluster_poller *p)
{
        struct cluster *c = p->c;
        struct cluster_peer_list *list = malloc(sizeof(*list));

        if (list == NULL) {
                log_error("cluster poller: %s", strerror(errno));
                return;
        }
        pthread_mutex_lock(&c->mu);
        int changed = c->generation != p->generation;
        if (changed) {
                p->generation = c->generation;
                p->interval_ms = c->poll_interval_ms;
                p->timeout_ms = c->timeout_ms;
                list->n = 0;
                for (size_t i = 0; i < c->npeers && list->n < CLUSTER_PEERS_MAX; i++) {
                        if (c->peers[i].listed)
                                snprintf(list->addr[list->n++], sizeof(list->addr[0]), "%s",
                                         c->peers[i].addr);
                }
        }
        pthread_mutex_unlock(&c->mu);
        if (changed) {
                drop_transfers(p);
                for (size_t i = 0; i < list->n; i++) {
                        struct transfer *t = &p->t[p->n];
                        memset(t, 0, sizeof(*t));
                        snprintf(t->addr, sizeof(t->addr), "%s", list->addr[i]);
                        if (setup_transfer(p, t, list->addr[i]) != 0) {
                                log_error("cluster: cannot set up a transfer to %s", list->addr[i]);
                                continue;
                        }
                        p->n++;
                }
        }
        free(list);
}

static int
is_self(struct cluster *c, const char *addr)
{
        pthread_mutex_lock(&c->mu);
        const struct cluster_peer *peer = find_peer(c, addr);
        int self = peer != NULL && peer->self;
        pthread_mutex_unlock(&c->mu);
        return self;
}

static void
finish_transfer(struct cluster_poller *p, struct transfer *t, CURLcode rc)
{
        char why[CLUSTER_ERROR_MAX], pod[CLUSTER_NAME_MAX];
        long status = 0;
        uint64_t visits;
        int64_t now = cluster_now_ns();

        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        if (t->too_long) {
                snprintf(why, sizeof(why), "answer longer than %d bytes", ANSWER_MAX);
        } else if (rc != CURLE_OK) {
                snprintf(why, sizeof(why), "%.200s",
                         t->error[0] ? t->error : curl_easy_strerror(rc));
        } else if (status != 200) {
                snprintf(why, sizeof(why), "GET /visits answered HTTP %ld", status);
        } else if (cluster_parse_answer(t->body, t->len, &visits, pod, sizeof(pod)) != 0) {
                snprintf(why, sizeof(why), "GET /visits: not a count: \"%.*s\"",
                         (int)(t->len < 40 ? t->len : 40), t->body);
        } else {
                cluster_record(p->c, t->addr, visits, pod, now);
                return;
        }
        cluster_record_failure(p->c, t->addr, why, now);
}

static void
collect(struct cluster_poller *p)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
                if (msg->msg != CURLMSG_DONE)
                        continue;
                struct transfer *t = NULL;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
                CURLcode rc = msg->data.result;
                curl_multi_remove_handle(p->multi, msg->easy_handle);
                if (t != NULL)
                        finish_transfer(p, t, rc);
        }
}

/* One poll of every peer at once; returns when all have answered or timed out. */
static void
poll_round(struct cluster_poller *p)
{
        int running = 0;

        for (size_t i = 0; i < p->n; i++) {
                struct transfer *t = &p->t[i];
                if (is_self(p->c, t->addr))
                        continue;
                t->len = 0;
                t->too_long = 0;
                t->error[0] = '\0';
                CURLMcode mc = curl_multi_add_handle(p->multi, t->easy);
                if (mc != CURLM_OK)
                        log_error("cluster: polling %s: %s", t->url, curl_multi_strerror(mc));
        }
        do {
                CURLMcode mc = curl_multi_perform(p->multi, &running);
                if (mc == CURLM_OK && running > 0)
                        mc = curl_multi_poll(p->multi, NULL, 0, 1000, NULL);
                if (mc != CURLM_OK) {
                        log_error("cluster: curl multi: %s", curl_multi_strerror(mc));
                        break;
                }
                collect(p);
        } while (running > 0 && !atomic_load(&p->stopping));
        collect(p);
        /* Whatever is still in flight (stopping) is dropped, not reported. */
        for (size_t i = 0; i < p->n; i++)
                curl_multi_remove_handle(p->multi, p->t[i].easy);
}

/* Sleeps until next_ns, or less when stopping or when the settings change. */
static void
pause_until(struct cluster_poller *p, int64_t next_ns)
{
        for (;;) {
                int64_t left = next_ns - cluster_now_ns();
                if (left <= 0 || atomic_load(&p->stopping))
                        return;
                pthread_mutex_lock(&p->c->mu);
                int changed = p->c->generation != p->generation;
                pthread_mutex_unlock(&p->c->mu);
                if (changed)
                        return;
                int ms = (int)((left + 999999) / 1000000);
                CURLMcode mc = curl_multi_poll(p->multi, NULL, 0, ms, NULL);
                if (mc != CURLM_OK) {
                        log_error("cluster: curl multi: %s", curl_multi_strerror(mc));
                        return;
                }
        }
}

static void *
poller_main(void *arg)
{
        struct cluster_poller *p = arg;

        while (!atomic_load(&p->stopping)) {
                sync_settings(p);
                int64_t start = cluster_now_ns();
                poll_round(p);
                pause_until(p, start + (int64_t)p->interval_ms * 1000000);
        }
        return NULL;
}

int
cluster_start(struct cluster *c, char *err, size_t errlen)
{
        CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (rc != CURLE_OK) {
                snprintf(err, errlen, "curl_global_init: %s", curl_easy_strerror(rc));
                return -1;
        }
        struct cluster_poller *p = calloc(1, sizeof(*p));
        if (p == NULL) {
                snprintf(err, errlen, "cluster poller: %s", strerror(errno));
                curl_global_cleanup();
                return -1;
        }
        p->c = c;
        p->multi = curl_multi_init();
        p->headers = curl_slist_append(NULL, "Accept: application/json");
        if (p->multi == NULL || p->headers == NULL) {
                snprintf(err, errlen, "cluster poller: curl set-up failed");
                goto fail;
        }
        int e = pthread_create(&p->thread, NULL, poller_main, p);
        if (e != 0) {
                snprintf(err, errlen, "starting the cluster poller: %s", strerror(e));
                goto fail;
        }
        c->poller = p;
        return 0;
fail:
        if (p->multi != NULL)
                curl_multi_cleanup(p->multi);
        curl_slist_free_all(p->headers);
        free(p);
        curl_global_cleanup();
        return -1;
}

void
cluster_stop(struct cluster *c)
{
        struct cluster_poller *p = c->poller;

        if (p == NULL)
                return;
        atomic_store(&p->stopping, 1);
        wake_poller(p);
        pthread_join(p->thread, NULL);
        drop_transfers(p);
        curl_multi_cleanup(p->multi);
        curl_slist_free_all(p->headers);
        free(p);
        c->poller = NULL;
        curl_global_cleanup();
}
