/*
 * The poller: one thread of its own asks each peer's nginx for GET /visits
 * (JSON) with libcurl's multi interface: all peers at once, each transfer
 * with its own short timeout, so a slow or dead peer delays nobody. One curl
 * multi handle, one easy handle per peer, reused so that connections to the
 * peers' nginx stay alive between polls. What a peer answered goes to the
 * state (cluster.c); nothing else here is shared. The only file that knows
 * libcurl.
 */
#include "cluster_poll.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "log.h"
#include "timeutil.h"

#define DNS_CACHE_SECONDS 5 /* a restarted pod comes back on a new address */

#ifndef MT_VERSION
#define MT_VERSION "dev"
#endif

struct transfer {
        CURL *easy;
        char addr[CLUSTER_ADDR_MAX];
        char url[CLUSTER_ADDR_MAX + 32];
        char body[CLUSTER_ANSWER_MAX];
        size_t len;
        int too_long;
        char error[CURL_ERROR_SIZE];
};

struct cluster_poll {
        struct cluster *c;
        pthread_t thread;
        CURLM *multi;
        struct curl_slist *headers;
        atomic_int stopping;
        uint64_t generation;
        int interval_ms;
        int timeout_ms;
        size_t n;
        struct transfer t[PEER_LIST_MAX];
        struct cluster_targets next; /* sync_settings()'s, too large for the stack */
};

void
cluster_poll_wake(struct cluster_poll *p)
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
drop_transfers(struct cluster_poll *p)
{
        for (size_t i = 0; i < p->n; i++)
                curl_easy_cleanup(p->t[i].easy);
        p->n = 0;
}

static int
setup_transfer(struct cluster_poll *p, struct transfer *t, const char *addr)
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
sync_settings(struct cluster_poll *p)
{
        const struct peer_list *list = &p->next.list;

        if (cluster_targets(p->c, &p->generation, &p->next)) {
                p->interval_ms = p->next.interval_ms;
                p->timeout_ms = p->next.timeout_ms;
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
}

static void
finish_transfer(struct cluster_poll *p, struct transfer *t, CURLcode rc)
{
        char why[CLUSTER_ERROR_MAX], pod[CLUSTER_NAME_MAX];
        long status = 0;
        uint64_t visits;
        int64_t now = now_mono_ns();

        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        if (t->too_long) {
                snprintf(why, sizeof(why), "answer longer than %d bytes", CLUSTER_ANSWER_MAX);
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
                if (t != NULL)
                        finish_transfer(p, t, rc);
        }
}

/* One poll of every peer at once; returns when all have answered or timed out. */
static void
poll_round(struct cluster_poll *p)
{
        int running = 0;

        for (size_t i = 0; i < p->n; i++) {
                struct transfer *t = &p->t[i];
                if (cluster_is_self(p->c, t->addr))
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
pause_until(struct cluster_poll *p, int64_t next_ns)
{
        for (;;) {
                int64_t left = next_ns - now_mono_ns();
                if (left <= 0 || atomic_load(&p->stopping) || cluster_changed(p->c, p->generation))
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
        struct cluster_poll *p = arg;

        while (!atomic_load(&p->stopping)) {
                sync_settings(p);
                int64_t start = now_mono_ns();
                poll_round(p);
                pause_until(p, start + (int64_t)p->interval_ms * 1000000);
        }
        return NULL;
}

int
cluster_poll_start(struct cluster_poll **out, struct cluster *c, char *err, size_t errlen)
{
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
        *out = p;
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
cluster_poll_stop(struct cluster_poll *p)
{
        if (p == NULL)
                return;
        atomic_store(&p->stopping, 1);
        cluster_poll_wake(p);
        pthread_join(p->thread, NULL);
        drop_transfers(p);
        curl_multi_cleanup(p->multi);
        curl_slist_free_all(p->headers);
        free(p);
        curl_global_cleanup();
}
