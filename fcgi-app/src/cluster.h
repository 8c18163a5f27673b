#ifndef MT_CLUSTER_H
#define MT_CLUSTER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "peerlist.h"

#define CLUSTER_NAME_MAX   PEER_NAME_MAX
#define CLUSTER_ADDR_MAX   PEER_ADDR_MAX
#define CLUSTER_ERROR_MAX  256
#define CLUSTER_ANSWER_MAX 512 /* a peer's answer: {"visits":N,"pod":"..."} is far shorter */

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

#define CLUSTER_SLOTS_MAX (2 * PEER_LIST_MAX)

/* A consistent copy of the state, for one answer. */
struct cluster_view_entry {
        char name[2 * CLUSTER_ADDR_MAX]; /* the pod; its address if it never answered */
        char peer[CLUSTER_ADDR_MAX];     /* empty for this pod and for pods no longer listed */
        enum cluster_state state;
        uint64_t visits;
        uint64_t reported;
        int64_t age_ns; /* since its last answer; -1 if never */
        int up;         /* its last poll was answered (this pod: 1) */
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

struct cluster {
        pthread_mutex_t mu;
        char self[CLUSTER_NAME_MAX];
        int poll_interval_ms;
        int timeout_ms;
        size_t npeers; /* slots in use: the listed peers first, then those that left */
        struct cluster_peer peers[CLUSTER_SLOTS_MAX];
        uint64_t generation; /* bumped by cluster_configure(): the poller rebuilds its list */
};

/*
 * Sets up the state from cfg's [cluster] keys ([cluster] name empty: the
 * hostname). Fails only on a bad setting.
 */
int cluster_init(struct cluster *c, const struct config *cfg, char *err, size_t errlen);

/*
 * Applies new peers, poll interval and timeout while running (the name is
 * fixed at start). Counts already seen are kept: a pod that left the list
 * stays in the total with its last count (stale). Fails, changing nothing,
 * on a bad list or when more than CLUSTER_SLOTS_MAX pods would be known.
 */
int cluster_configure(struct cluster *c, const struct config *cfg, char *err, size_t errlen);

/* What the poller polls: the listed peers, the interval and the timeout. */
struct cluster_targets {
        struct peer_list list;
        int interval_ms;
        int timeout_ms;
};

/* Fills out and returns 1 if the settings changed since *generation (which it updates); else 0. */
int cluster_targets(struct cluster *c, uint64_t *generation, struct cluster_targets *out);

/* 1 if the settings changed since generation. */
int cluster_changed(struct cluster *c, uint64_t generation);

/* 1 if the listed peer at addr turned out to be this pod (never polled). */
int cluster_is_self(struct cluster *c, const char *addr);

/*
 * The peer at addr answered visits as pod (NULL or empty: it gave no name):
 * merge by max. Exposed for the poller and the unit tests.
 */
void cluster_record(struct cluster *c, const char *addr, uint64_t visits, const char *pod,
                    int64_t now_ns);
void cluster_record_failure(struct cluster *c, const char *addr, const char *why, int64_t now_ns);

/*
 * A consistent copy of the state at now_ns (CLOCK_MONOTONIC), with own as
 * this pod's count: the caller reads its counter, so that a page shows the
 * very count of the visit it answers.
 */
void cluster_view(struct cluster *c, uint64_t own, struct cluster_view *v, int64_t now_ns);

#endif
