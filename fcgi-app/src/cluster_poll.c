/*
 * The poller: one thread asks each peer's nginx for GET /visits (JSON) with
 * libcurl's multi interface, every peer on its own clock: a peer is polled
 * again poll_interval_ms after its last poll began, or when that poll ends
 * if it took longer, so a slow or hanging peer delays nobody but itself.
 * One easy handle per peer, reused so that connections to the peers' nginx
 * stay alive between polls.
 *
 * A second thread finds the peers in DNS ([cluster] discover) every
 * interval: the SRV records of a named port (each target a pod's own name)
 * or the A records of a name. DNS lookups block (the resolver's own
 * timeouts and retries over the search path: tens of seconds when DNS is
 * down), so they run apart from the polls, and the stop does not wait for
 * one: the thread is detached, touches the state only under dmu while not
 * stopped, and the last of it and the stop frees what they share.
 *
 * What a peer answered and what DNS said go to the state (cluster.c);
 * nothing else here is shared. The only file that knows libcurl.
 */
#include "cluster_poll.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "log.h"
#include "text.h"
#include "timeutil.h"

#define DNS_CACHE_SECONDS 5 /* a restarted pod comes back on a new address */
#define MS                1000000LL
#define EXCERPT           24 /* bytes of a bad answer shown (escaped) in its error */

#ifndef MT_VERSION
#define MT_VERSION "dev"
#endif

struct transfer {
        CURL *easy;
        char addr[CLUSTER_ADDR_MAX];
        char name[CLUSTER_NAME_MAX]; /* the pod DNS puts here, if it does */
        char url[CLUSTER_ADDR_MAX + 96];
        char body[CLUSTER_ANSWER_MAX];
        size_t len;
        int too_long;
        int busy;           /* in the multi handle */
        int done;           /* recovery: answered or failed */
        int64_t started_ns; /* of the poll in flight, or the last one */
        int64_t next_ns;    /* when it is polled next */
        char error[CURL_ERROR_SIZE];
};

struct cluster_poll {
        struct cluster *c;
        pthread_t thread, finder; /* the finder is detached */
        CURLM *multi;
        struct curl_slist *headers;
        atomic_int stopping;
        uint64_t generation;
        int interval_ms;
        int timeout_ms;
        size_t n;
        /* Each one on the heap: libcurl holds pointers into it, so it never moves. */
        struct transfer *t[CLUSTER_TARGETS_MAX];
        struct cluster_targets next; /* sync_settings()'s, too large for the stack */
        /* Discovery: woken by cluster_poll_wake() and at the stop. */
        pthread_mutex_t dmu;
        pthread_cond_t dcv;
        int dwake;
        int dstop; /* the stop began: the finder touches nothing outside this struct */
        int refs;  /* the finder and the stop: the last one frees it */
        struct peer_list found;
        unsigned char answer[65536]; /* a whole DNS message, TCP included */
};

void
cluster_poll_wake(struct cluster_poll *p)
{
        CURLMcode mc = curl_multi_wakeup(p->multi);

        if (mc != CURLM_OK)
                log_error("cluster: waking the poller: %s", curl_multi_strerror(mc));
        pthread_mutex_lock(&p->dmu);
        p->dwake = 1;
        pthread_cond_signal(&p->dcv);
        pthread_mutex_unlock(&p->dmu);
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
free_transfer(CURLM *multi, struct transfer *t)
{
        if (t->busy)
                curl_multi_remove_handle(multi, t->easy);
        curl_easy_cleanup(t->easy);
        free(t);
}

static struct transfer *
new_transfer(const struct peer_target *pt, const char *path, struct curl_slist *headers)
{
        struct transfer *t = calloc(1, sizeof(*t));

        if (t == NULL)
                return NULL;
        snprintf(t->addr, sizeof(t->addr), "%s", pt->addr);
        snprintf(t->name, sizeof(t->name), "%s", pt->name);
        snprintf(t->url, sizeof(t->url), "http://%s%s", pt->addr, path);
        t->easy = curl_easy_init();
        if (t->easy == NULL) {
                free(t);
                return NULL;
        }
        CURL *h = t->easy;
        /* NOSIGNAL: curl must not use SIGALRM for timeouts in a threaded process. */
        if (curl_easy_setopt(h, CURLOPT_URL, t->url) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            /* Pod to pod directly, whatever http_proxy the environment has. */
            curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, (long)DNS_CACHE_SECONDS) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_USERAGENT, "moscow-time/" MT_VERSION) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_WRITEDATA, t) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->error) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_PRIVATE, t) != CURLE_OK) {
                curl_easy_cleanup(h);
                free(t);
                return NULL;
        }
        return t;
}

/* Adds t to multi with a timeout of ms; 0, or -1 if curl refused. */
static int
start(CURLM *multi, struct transfer *t, long ms, int64_t now)
{
        t->len = 0;
        t->too_long = 0;
        t->error[0] = '\0';
        t->started_ns = now;
        if (curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK ||
            curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, ms) != CURLE_OK)
                return -1;
        CURLMcode mc = curl_multi_add_handle(multi, t->easy);
        if (mc != CURLM_OK) {
                log_error("cluster: polling %s: %s", t->url, curl_multi_strerror(mc));
                return -1;
        }
        t->busy = 1;
        return 0;
}

/*
 * Takes the targets, interval and timeout from the state when they changed:
 * an address still there keeps its transfer (a poll in flight, its clock,
 * its connection); a new one is polled at once.
 */
static void
sync_settings(struct cluster_poll *p)
{
        static const size_t none = (size_t)-1;
        const struct peer_list *list = &p->next.list;
        struct transfer *next[CLUSTER_TARGETS_MAX];
        size_t n = 0;

        if (!cluster_targets(p->c, &p->generation, &p->next))
                return;
        p->interval_ms = p->next.interval_ms;
        p->timeout_ms = p->next.timeout_ms;
        int64_t now = now_mono_ns();
        for (size_t i = 0; i < list->n; i++) {
                size_t old = none;
                for (size_t j = 0; j < p->n && old == none; j++) {
                        if (p->t[j] != NULL && strcmp(p->t[j]->addr, list->t[i].addr) == 0)
                                old = j;
                }
                if (old != none) {
                        next[n++] = p->t[old];
                        p->t[old] = NULL;
                        continue;
                }
                struct transfer *t = new_transfer(&list->t[i], "/visits", p->headers);
                if (t == NULL) {
                        log_error("cluster: cannot set up a transfer to %s", list->t[i].addr);
                        continue;
                }
                t->next_ns = now;
                next[n++] = t;
        }
        for (size_t j = 0; j < p->n; j++) {
                if (p->t[j] != NULL)
                        free_transfer(p->multi, p->t[j]);
        }
        memcpy(p->t, next, n * sizeof(next[0]));
        p->n = n;
}

/* Up to EXCERPT bytes of what a peer sent, escaped, for an error. */
static void
excerpt(const struct transfer *t, char *out, size_t len)
{
        struct text e;

        text_init(&e, out, len);
        text_escape(&e, t->body, t->len < EXCERPT ? t->len : EXCERPT);
        if (t->len > EXCERPT)
                TEXT_LIT(&e, "...");
}

static void
finish_poll(struct cluster_poll *p, struct transfer *t, CURLcode rc)
{
        char why[CLUSTER_ERROR_MAX], shown[4 * EXCERPT + 8], bad[96];
        struct cluster_answer a;
        long status = 0;
        int64_t now = now_mono_ns();

        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        if (t->too_long) {
                snprintf(why, sizeof(why), "GET /visits: an answer longer than %d bytes",
                         CLUSTER_ANSWER_MAX);
                cluster_record_failure(p->c, t->addr, CLUSTER_MALFORMED, why, now);
        } else if (rc != CURLE_OK) {
                snprintf(why, sizeof(why), "%.150s",
                         t->error[0] ? t->error : curl_easy_strerror(rc));
                cluster_record_failure(p->c, t->addr, CLUSTER_UNREACHABLE, why, now);
        } else if (status != 200) {
                snprintf(why, sizeof(why), "GET /visits answered HTTP %ld", status);
                cluster_record_failure(p->c, t->addr, CLUSTER_UNREACHABLE, why, now);
        } else if (cluster_parse_answer(t->body, t->len, &a, bad, sizeof(bad)) != 0 ||
                   a.of[0] != '\0') {
                excerpt(t, shown, sizeof(shown));
                snprintf(why, sizeof(why), "GET /visits: not a count (%.60s): \"%.60s\"",
                         a.of[0] ? "an answer about another pod" : bad, shown);
                cluster_record_failure(p->c, t->addr, CLUSTER_MALFORMED, why, now);
        } else {
                cluster_record(p->c, t->addr, &a, now);
        }
}

/* Polls that ended: reported, and each peer's next poll one interval after this one began. */
static void
collect(struct cluster_poll *p)
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
                if (t == NULL)
                        continue;
                t->busy = 0;
                finish_poll(p, t, rc);
                int64_t now = now_mono_ns();
                t->next_ns = t->started_ns + (int64_t)p->interval_ms * MS;
                if (t->next_ns < now)
                        t->next_ns = now;
        }
}

static void *
poller_main(void *arg)
{
        struct cluster_poll *p = arg;

        while (!atomic_load(&p->stopping)) {
                sync_settings(p);
                int64_t now = now_mono_ns();
                for (size_t i = 0; i < p->n; i++) {
                        struct transfer *t = p->t[i];
                        if (!t->busy && t->next_ns <= now &&
                            start(p->multi, t, p->timeout_ms, now) != 0)
                                t->next_ns = now + (int64_t)p->interval_ms * MS;
                }
                int running = 0;
                CURLMcode mc = curl_multi_perform(p->multi, &running);
                if (mc != CURLM_OK)
                        log_error("cluster: curl multi: %s", curl_multi_strerror(mc));
                collect(p);
                now = now_mono_ns();
                cluster_tick(p->c, now);
                /* Until the next peer is due (curl wakes earlier for its own timers). */
                int64_t wake = now + 1000 * MS;
                for (size_t i = 0; i < p->n; i++) {
                        if (!p->t[i]->busy && p->t[i]->next_ns < wake)
                                wake = p->t[i]->next_ns;
                }
                if (wake <= now || atomic_load(&p->stopping) ||
                    cluster_changed(p->c, p->generation))
                        continue;
                mc = curl_multi_poll(p->multi, NULL, 0, (int)((wake - now + MS - 1) / MS), NULL);
                if (mc != CURLM_OK)
                        log_error("cluster: curl multi: %s", curl_multi_strerror(mc));
        }
        return NULL;
}

/* Discovery. */

static const char *
dns_error(int h)
{
        switch (h) {
        case HOST_NOT_FOUND: return "no such name (NXDOMAIN)";
        case NO_DATA: return "no records of that type";
        case TRY_AGAIN: return "no answer from the DNS server (timed out or SERVFAIL)";
        case NO_RECOVERY: return "the DNS server refused or failed";
        default: return "the lookup failed";
        }
}

/* The pods of an SRV name into out, with answer as room; 0, or -1 and why. */
static int
find_srv(const char *name, unsigned char *answer, size_t room, struct peer_list *out, size_t *more,
         char *why, size_t len)
{
        struct __res_state rs;
        size_t bad = 0;

        memset(&rs, 0, sizeof(rs));
        /* Read afresh each time: a changed /etc/resolv.conf is taken. */
        if (res_ninit(&rs) != 0) {
                snprintf(why, len, "SRV %.100s: the resolver cannot start (/etc/resolv.conf)",
                         name);
                return -1;
        }
        int n = res_nsearch(&rs, name, ns_c_in, ns_t_srv, answer, (int)room);
        int h = rs.res_h_errno;
        res_nclose(&rs);
        if (n < 0) {
                snprintf(why, len, "SRV %.100s: %s", name, dns_error(h));
                return -1;
        }
        char perr[96];
        if (peer_srv_parse(answer, (size_t)n, out, more, &bad, perr, sizeof(perr)) != 0) {
                snprintf(why, len, "SRV %.60s: %.60s", name, perr);
                return -1;
        }
        if (out->n == 0) {
                snprintf(why, len, "SRV %.100s: no record names a pod (%zu left out)", name, bad);
                return -1;
        }
        return 0;
}

/* The addresses of name, each with port, into out; 0, or -1 and why. */
static int
find_addresses(const char *name, int port, struct peer_list *out, size_t *more, char *why,
               size_t len)
{
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
        char host[INET6_ADDRSTRLEN];

        out->n = 0;
        *more = 0;
        int rc = getaddrinfo(name, NULL, &hints, &res);
        if (rc != 0) {
                snprintf(why, len, "%.100s: %s", name,
                         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
                return -1;
        }
        for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
                const void *a;
                int v6 = ai->ai_family == AF_INET6;
                if (ai->ai_family == AF_INET)
                        a = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
                else if (v6)
                        a = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
                else
                        continue;
                if (inet_ntop(ai->ai_family, a, host, sizeof(host)) == NULL)
                        continue;
                char addr[CLUSTER_ADDR_MAX];
                snprintf(addr, sizeof(addr), v6 ? "[%s]:%d" : "%s:%d", host, port);
                int dup = 0;
                for (size_t i = 0; i < out->n && !dup; i++)
                        dup = strcmp(out->t[i].addr, addr) == 0;
                if (dup)
                        continue;
                if (out->n == PEER_FOUND_MAX) {
                        (*more)++;
                        continue;
                }
                snprintf(out->t[out->n].addr, sizeof(out->t[0].addr), "%s", addr);
                out->t[out->n++].name[0] = '\0';
        }
        freeaddrinfo(res);
        peer_list_sort(out);
        return 0;
}

/* Frees p once neither the finder nor the stop needs it. */
static void
release(struct cluster_poll *p)
{
        pthread_mutex_lock(&p->dmu);
        int last = --p->refs == 0;
        pthread_mutex_unlock(&p->dmu);
        if (!last)
                return;
        pthread_cond_destroy(&p->dcv);
        pthread_mutex_destroy(&p->dmu);
        free(p);
}

/* One lookup; what it found goes to the state unless the stop began meanwhile. */
static void
discover_once(struct cluster_poll *p, uint64_t settings, const struct peer_discover *d)
{
        char why[CLUSTER_ERROR_MAX];
        size_t more = 0;
        int rc = d->kind == PEER_DISCOVER_SRV
                     ? find_srv(d->name, p->answer, sizeof(p->answer), &p->found, &more, why,
                                sizeof(why))
                     : find_addresses(d->name, d->port, &p->found, &more, why, sizeof(why));

        pthread_mutex_lock(&p->dmu);
        if (!p->dstop) {
                cluster_discovered(p->c, settings, rc == 0 ? &p->found : NULL, more, why,
                                   now_mono_ns());
                CURLMcode mc = curl_multi_wakeup(p->multi);
                if (mc != CURLM_OK)
                        log_error("cluster: waking the poller: %s", curl_multi_strerror(mc));
        }
        pthread_mutex_unlock(&p->dmu);
}

static void *
finder_main(void *arg)
{
        struct cluster_poll *p = arg;

        pthread_mutex_lock(&p->dmu);
        while (!p->dstop) {
                struct peer_discover d;
                int interval_ms;
                uint64_t settings = cluster_discovery(p->c, &d, &interval_ms);
                pthread_mutex_unlock(&p->dmu);
                int64_t due = now_mono_ns() + (int64_t)interval_ms * MS;
                if (d.kind != PEER_DISCOVER_NONE)
                        discover_once(p, settings, &d);
                pthread_mutex_lock(&p->dmu);
                while (!p->dwake && !p->dstop) {
                        if (d.kind == PEER_DISCOVER_NONE) {
                                pthread_cond_wait(&p->dcv, &p->dmu);
                                continue;
                        }
                        int64_t left = due - now_mono_ns();
                        if (left <= 0)
                                break;
                        struct timespec ts;
                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + left;
                        ts.tv_sec = at / 1000000000;
                        ts.tv_nsec = at % 1000000000;
                        pthread_cond_timedwait(&p->dcv, &p->dmu, &ts);
                }
                p->dwake = 0;
        }
        pthread_mutex_unlock(&p->dmu);
        release(p);
        return NULL;
}

int
cluster_poll_start(struct cluster_poll **out, struct cluster *c, char *err, size_t errlen)
{
        pthread_condattr_t ca;
        CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (rc != CURLE_OK) {
                snprintf(err, errlen, "curl_global_init: %s", curl_easy_strerror(rc));
                return -1;
        }
        struct cluster_poll *p = calloc(1, sizeof(*p));
        if (p == NULL) {
                snprintf(err, errlen, "cluster poller: %s", strerror(errno));
                curl_global_cleanup();
                return -1;
        }
        p->c = c;
        pthread_mutex_init(&p->dmu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->dcv, &ca);
        pthread_condattr_destroy(&ca);
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
        p->refs = 2;
        e = pthread_create(&p->finder, NULL, finder_main, p);
        if (e != 0) {
                snprintf(err, errlen, "starting the cluster discovery: %s", strerror(e));
                atomic_store(&p->stopping, 1);
                curl_multi_wakeup(p->multi);
                pthread_join(p->thread, NULL);
                goto fail;
        }
        pthread_detach(p->finder);
        *out = p;
        return 0;
fail:
        if (p->multi != NULL)
                curl_multi_cleanup(p->multi);
        curl_slist_free_all(p->headers);
        pthread_cond_destroy(&p->dcv);
        pthread_mutex_destroy(&p->dmu);
        free(p);
        curl_global_cleanup();
        return -1;
}

void
cluster_poll_stop(struct cluster_poll *p)
{
        if (p == NULL)
                return;
        atomic_store(&p->stopping, 1);
        pthread_mutex_lock(&p->dmu);
        p->dstop = 1;
        pthread_cond_signal(&p->dcv);
        pthread_mutex_unlock(&p->dmu);
        curl_multi_wakeup(p->multi);
        pthread_join(p->thread, NULL);
        for (size_t i = 0; i < p->n; i++)
                free_transfer(p->multi, p->t[i]);
        curl_multi_cleanup(p->multi);
        curl_slist_free_all(p->headers);
        curl_global_cleanup();
        release(p); /* the finder may still be in a lookup: it frees p when it is back */
}

/* Recovery. */

/* One peer's answer about this pod into out, if it is one. */
static void
take_recovery(const char *self, struct transfer *t, CURLcode rc, struct cluster_recovery *out)
{
        struct cluster_answer a;
        char why[96];
        long status = 0;

        t->done = 1;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || t->too_long)
                return;
        if (status == 404) {
                out->answered++; /* it never had a count of this pod */
                return;
        }
        if (status != 200 || cluster_parse_answer(t->body, t->len, &a, why, sizeof(why)) != 0 ||
            strcmp(a.of, self) != 0 || strcmp(a.pod, self) == 0 ||
            (t->name[0] != '\0' && strcmp(a.pod, t->name) != 0))
                return;
        out->answered++;
        if (!out->found || a.visits > out->visits) {
                out->found = 1;
                out->visits = a.visits;
                out->age_ms = a.age_ms;
                snprintf(out->by, sizeof(out->by), "%s", a.pod);
        }
}

void
cluster_recover(struct cluster_poll *p, int wait_ms, struct cluster_recovery *out)
{
        struct transfer *t[CLUSTER_TARGETS_MAX];
        char path[CLUSTER_NAME_MAX + 48];
        const char *self = p->c->self; /* fixed at start */
        int64_t deadline = now_mono_ns() + (int64_t)wait_ms * MS;
        uint64_t gen = 0;
        size_t n = 0;

        memset(out, 0, sizeof(*out));
        /* With discovery: once it has answered (its first lookup), or the time is up. */
        while (!cluster_ready(p->c) && now_mono_ns() < deadline) {
                struct timespec ts = {.tv_nsec = 10 * MS};
                nanosleep(&ts, NULL);
        }
        struct cluster_targets *targets = malloc(sizeof(*targets));
        CURLM *multi = curl_multi_init();
        if (targets == NULL || multi == NULL) {
                free(targets);
                if (multi != NULL)
                        curl_multi_cleanup(multi);
                log_error("cluster: no memory to ask the peers for this pod's count");
                return;
        }
        cluster_targets(p->c, &gen, targets);
        snprintf(path, sizeof(path), "/visits?scope=cluster&pod=%s", self);
        int64_t now = now_mono_ns();
        long ms = deadline > now ? (long)((deadline - now + MS - 1) / MS) : 1;
        for (size_t i = 0; i < targets->list.n; i++) {
                struct transfer *x = new_transfer(&targets->list.t[i], path, p->headers);
                if (x == NULL)
                        continue;
                t[n++] = x;
                out->asked++;
                if (start(multi, x, ms, now) != 0)
                        x->done = 1;
        }
        size_t done = 0;
        while (done < n && now_mono_ns() < deadline) {
                int running = 0;
                if (curl_multi_perform(multi, &running) != CURLM_OK)
                        break;
                CURLMsg *msg;
                int left;
                while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
                        struct transfer *x = NULL;
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
                        CURLcode rc = msg->data.result;
                        curl_multi_remove_handle(multi, msg->easy_handle);
                        x->busy = 0;
                        take_recovery(self, x, rc, out);
                }
                done = 0;
                for (size_t i = 0; i < n; i++)
                        done += t[i]->done;
                if (done < n && running > 0)
                        curl_multi_poll(multi, NULL, 0, 100, NULL);
                else if (done < n)
                        break;
        }
        for (size_t i = 0; i < n; i++)
                free_transfer(multi, t[i]);
        curl_multi_cleanup(multi);
        free(targets);
}
