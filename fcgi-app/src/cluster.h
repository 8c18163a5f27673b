#ifndef MT_CLUSTER_H
#define MT_CLUSTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define CLUSTER_NAME_MAX  64  /* a pod name is a DNS label: at most 63 bytes */
#define CLUSTER_ADDR_MAX  262 /* host (at most 253) ":" port, and a NUL */
#define CLUSTER_PEERS_MAX 64
#define CLUSTER_TEXT_MAX  4096 /* [cluster] peers as written in config.ini */
#define CLUSTER_ERROR_MAX 256

/* The [cluster] keys. */
struct cluster_settings {
        char name[CLUSTER_NAME_MAX]; /* this pod; empty: the hostname */
        char peers[CLUSTER_TEXT_MAX];
        int poll_interval_ms;
        int timeout_ms;
};

struct cluster_peer_list {
        size_t n;
        char addr[CLUSTER_PEERS_MAX][CLUSTER_ADDR_MAX];
};

/*
 * Parses "host:port, host:port" (an IPv6 host in brackets); empty is no
 * peers. Duplicates are refused: a pod counted twice would double its visits.
 */
int cluster_parse_peers(const char *text, struct cluster_peer_list *out, char *why, size_t len);

/* 0 if name can name a pod (letters, digits, '-', '.', '_'; at most 63 bytes). */
int cluster_name_check(const char *name, char *why, size_t len);

/*
 * A peer's answer to GET /visits with Accept: application/json:
 * {"visits":N,"pod":"NAME",...}. pod is left empty if the answer has none.
 */
int cluster_parse_answer(const char *body, size_t len, uint64_t *visits, char *pod, size_t podlen);

enum cluster_state {
        CLUSTER_SELF,      /* this pod: its own counter, always current */
        CLUSTER_FRESH,     /* answered within the last three poll intervals */
        CLUSTER_STALE,     /* answered once, not lately: its last count is kept */
        CLUSTER_UNREACHED, /* listed, never answered since this responder started */
};

const char *cluster_state_name(enum cluster_state st);

/*
 * One listed peer address, or one that left the list. The address is the
 * replica of the G-counter: in a StatefulSet it is the pod's stable DNS
 * name, so a pod that comes back under another hostname (a container
 * recreated) is still counted once.
 */
struct cluster_peer {
        char addr[CLUSTER_ADDR_MAX];
        char name[CLUSTER_ADDR_MAX];   /* the pod that answered here last; empty until one did */
        int listed;                    /* in [cluster] peers; 0: left the list, its count is kept */
        int self;                      /* this pod's own entry: never polled, never counted */
        int up;                        /* the last poll was answered */
        int warned;                    /* its name clash was logged */
        uint64_t visits;               /* the largest count it answered (merge by max) */
        uint64_t reported;             /* what it answered last: less than visits after a reset */
        int64_t seen_ns;               /* CLOCK_MONOTONIC of its last answer */
        int64_t polled_ns;             /* of its last poll, answered or not */
        char error[CLUSTER_ERROR_MAX]; /* why the last poll failed */
};

#define CLUSTER_SLOTS_MAX (2 * CLUSTER_PEERS_MAX)

/* A consistent copy of the state, for one answer. */
struct cluster_view_entry {
        char name[2 * CLUSTER_ADDR_MAX]; /* the pod; its address if it never answered */
        char peer[CLUSTER_ADDR_MAX];     /* empty for this pod and for pods no longer listed */
        enum cluster_state state;
        uint64_t visits;
        uint64_t reported;
        int64_t age_ns; /* since its last answer; -1 if never */
        char error[CLUSTER_ERROR_MAX];
};

struct cluster_view {
        char self[CLUSTER_NAME_MAX];
        uint64_t total;
        uint64_t own;
        int partial; /* some pod is stale or was never reached */
        size_t n;
        struct cluster_view_entry e[CLUSTER_SLOTS_MAX + 1];
};

typedef uint64_t (*cluster_count_fn)(void *arg);

struct cluster_poller;

struct cluster {
        pthread_mutex_t mu;
        char self[CLUSTER_NAME_MAX];
        cluster_count_fn own_count;
        void *own_arg;
        int poll_interval_ms;
        int timeout_ms;
        size_t npeers; /* slots in use: the listed peers first, then those that left */
        struct cluster_peer peers[CLUSTER_SLOTS_MAX];
        uint64_t generation; /* bumped by cluster_configure(): the poller rebuilds its list */
        struct cluster_poller *poller;
};

/*
 * Sets up the state (no thread yet). own_count reads this pod's counter.
 * settings->name empty: the hostname. Fails only on a bad setting.
 */
int cluster_init(struct cluster *c, const struct cluster_settings *settings,
                 cluster_count_fn own_count, void *own_arg, char *err, size_t errlen);

/*
 * Applies new peers, poll interval and timeout while running (the name is
 * fixed at start). Counts already seen are kept: a pod that left the list
 * stays in the total with its last count (stale). Fails, changing nothing,
 * on a bad list or when more than CLUSTER_SLOTS_MAX pods would be known.
 */
int cluster_configure(struct cluster *c, const struct cluster_settings *settings, char *err,
                      size_t errlen);

/* Starts the poller thread, also with no peers: cluster_configure() may add some. */
int cluster_start(struct cluster *c, char *err, size_t errlen);

/* Stops and joins the poller. */
void cluster_stop(struct cluster *c);

/*
 * The peer at addr answered visits as pod (NULL or empty: it gave no name):
 * merge by max. Exposed for the poller and the unit tests.
 */
void cluster_record(struct cluster *c, const char *addr, uint64_t visits, const char *pod,
                    int64_t now_ns);
void cluster_record_failure(struct cluster *c, const char *addr, const char *why, int64_t now_ns);

void cluster_view(struct cluster *c, struct cluster_view *v, int64_t now_ns);

/* Peer reachability and each pod's count as seen, for /metrics. */
void cluster_render_metrics(struct cluster *c, struct expo *e, int64_t now_ns);

int64_t cluster_now_ns(void); /* CLOCK_MONOTONIC */

#endif
