#ifndef MT_CLUSTER_H
#define MT_CLUSTER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "peerlist.h"

#define CLUSTER_NAME_MAX    PEER_NAME_MAX
#define CLUSTER_ADDR_MAX    PEER_ADDR_MAX
#define CLUSTER_TARGETS_MAX PEER_FOUND_MAX /* addresses polled: listed or found in DNS */
/*
 * Other pods known (polled or left) and addresses that never answered, at
 * most: every answer has room for them all. A target past it is not polled.
 */
#define CLUSTER_PODS_MAX   256
#define CLUSTER_ERROR_MAX  160 /* an error as kept and shown: printable ASCII, bytes escaped */
#define CLUSTER_ANSWER_MAX 512 /* a peer's answer: {"visits":N,"pod":"..."} is far shorter */
/* More visits a second than one pod can serve (make bench: GET / about 35,000 a second):
 * implausible. */
#define CLUSTER_RATE_MAX 10000000
/* A peer's changes of state: at most one log line of each kind per period. */
#define CLUSTER_LOG_PERIOD_NS (60LL * 1000000000)

/*
 * A peer's answer, read strictly (RFC 8259): one JSON object, nothing after
 * it but white space; "visits" a non-negative integer without sign,
 * fraction, exponent or leading zero, at most 2^63-1; "pod" a pod name; no
 * member named twice; other members are skipped (any JSON value, nested at
 * most 16 deep); strings valid UTF-8. The answer to a poll,
 * GET /visits: {"visits":N,"pod":NAME}. The answer to a recovery,
 * GET /visits?scope=cluster&pod=OF: {"pod":NAME,"of":OF,"visits":N,"age_ms":MS},
 * N being what NAME last saw of OF.
 */
struct cluster_answer {
        uint64_t visits;
        char pod[CLUSTER_NAME_MAX];
        char of[CLUSTER_NAME_MAX]; /* "" if absent */
        int64_t age_ms;            /* -1 if absent */
};

/* 0, or -1 and why (no byte of body in it). */
int cluster_parse_answer(const char *body, size_t len, struct cluster_answer *a, char *why,
                         size_t whylen);

enum cluster_state {
        CLUSTER_SELF,      /* this pod: its own counter, always current */
        CLUSTER_FRESH,     /* answered within the last three poll intervals */
        CLUSTER_STALE,     /* answered once, not lately: its last count is kept */
        CLUSTER_UNREACHED, /* listed or found, never answered since this responder started */
        CLUSTER_CONFLICT, /* its answers are refused lately: another pod's name, or two addresses */
        CLUSTER_LEFT,     /* no longer listed or in DNS: its last count stays in the total */
        CLUSTER_STATES
};

const char *cluster_state_name(enum cluster_state st);

/* What a poll of a peer came to: a change is logged (rate-limited) and counted. */
enum cluster_outcome {
        CLUSTER_OK,          /* an answer taken */
        CLUSTER_WENT_BACK,   /* taken, below the largest count seen: the total keeps that */
        CLUSTER_UNREACHABLE, /* no answer, or not a 200 */
        CLUSTER_MALFORMED,   /* a 200 that is not a count (cluster_parse_answer) */
        CLUSTER_IMPLAUSIBLE, /* more new visits than CLUSTER_RATE_MAX allows: refused */
        CLUSTER_CONFLICTING, /* it named another pod than the one there: refused */
        CLUSTER_OUTCOMES
};

/* "malformed", "implausible", ...: the reason label of the refused answers' counter. */
const char *cluster_outcome_name(enum cluster_outcome o);

/*
 * One address that is polled: a [cluster] peers entry, or a pod found in
 * DNS. Which pod is there comes from DNS (an SRV target's name), or else
 * from its first answer, and sticks: an address answering as another pod
 * later is a conflict, never a new pod.
 */
struct cluster_target {
        char addr[CLUSTER_ADDR_MAX];
        char expect[CLUSTER_NAME_MAX]; /* the pod DNS puts here; "": its answer says */
        char bound[CLUSTER_NAME_MAX];  /* the pod it answers for: expect, or its first answer */
        int self;                      /* this pod's own nginx: not shown, not counted */
        int skip;                      /* this pod by its name (DNS, the list's host): not polled */
        int up;                        /* the last poll was answered and taken */
        enum cluster_outcome last;     /* of the last poll */
        int64_t polled_ns;             /* CLOCK_MONOTONIC of the last poll's end; 0: none */
        int64_t claim_ns;              /* of its last answer naming bound, taken or not */
        char error[CLUSTER_ERROR_MAX]; /* why the last poll was not taken */
        /* Log lines: the last outcome logged, when each kind may be logged again, how many not. */
        enum cluster_outcome logged;
        int64_t log_next[CLUSTER_OUTCOMES];
        unsigned left_out;
};

/* A pod other than this one: a replica of the G-counter, known by its name. */
struct cluster_pod {
        char name[CLUSTER_NAME_MAX];
        uint64_t visits;                  /* the largest count taken (merge by max) */
        uint64_t reported;                /* the last count taken: less than visits after a reset */
        int64_t seen_ns;                  /* CLOCK_MONOTONIC of the last answer taken; 0: never */
        int64_t conflict_ns;              /* of the last answer refused as a conflict */
        char conflict[CLUSTER_ERROR_MAX]; /* why */
};

/* A consistent copy of the state, for one answer. */
struct cluster_view_entry {
        char name[CLUSTER_NAME_MAX]; /* the pod; "" for an address that never answered */
        char peer[CLUSTER_ADDR_MAX]; /* the address polled for it; "" for this pod and left ones */
        unsigned index;              /* an unnamed address: its number among the targets (1..) */
        enum cluster_state state;
        uint64_t visits;
        uint64_t reported;
        int64_t age_ns; /* since its last answer taken; -1 if never */
        int up;         /* its last poll was answered and taken (this pod: 1) */
        char error[CLUSTER_ERROR_MAX];
};

enum cluster_discovery { CLUSTER_DISCOVERY_OFF, CLUSTER_DISCOVERY_OK, CLUSTER_DISCOVERY_FAILING };

struct cluster_view {
        char self[CLUSTER_NAME_MAX];
        uint64_t total; /* saturated at INT64_MAX */
        uint64_t own;
        int saturated; /* the sum passed INT64_MAX: total says INT64_MAX */
        int partial;   /* some pod is stale, unreached or in conflict; or discovery fails */
        enum cluster_discovery discovery;
        char discovery_error[CLUSTER_ERROR_MAX];
        size_t not_polled; /* found in DNS beyond CLUSTER_TARGETS_MAX, or no room for the pod */
        uint64_t refused[CLUSTER_OUTCOMES]; /* answers refused since start, by outcome */
        size_t n;
        struct cluster_view_entry e[1 + CLUSTER_PODS_MAX];
};

struct cluster {
        pthread_mutex_t mu;
        char self[CLUSTER_NAME_MAX];
        int poll_interval_ms;
        int timeout_ms;
        struct peer_discover discover; /* kind PEER_DISCOVER_NONE: the list of [cluster] peers */
        uint64_t settings;             /* bumped by cluster_configure(): discovery re-reads */
        uint64_t generation;           /* bumped when the targets change: the poller rebuilds */
        int discovered;                /* a discovery answered since the settings changed */
        int64_t discovery_ok_ns;       /* of the last discovery that answered */
        char discovery_error[CLUSTER_ERROR_MAX]; /* "" while discovery answers */
        struct cluster_target discovery_log;     /* the rate limit of discovery's log lines */
        size_t not_polled;
        size_t ntargets;
        struct cluster_target targets[CLUSTER_TARGETS_MAX];
        struct cluster_target scratch[CLUSTER_TARGETS_MAX]; /* the next targets, while set */
        size_t npods;
        struct cluster_pod pods[CLUSTER_PODS_MAX];
        uint64_t refused[CLUSTER_OUTCOMES]; /* answers refused since start, by outcome */
};

/*
 * Sets up the state from cfg's [cluster] keys ([cluster] name empty: the
 * hostname). Fails only on a bad setting.
 */
int cluster_init(struct cluster *c, const struct config *cfg, char *err, size_t errlen);

/*
 * Applies new peers or discovery, poll interval and timeout while running
 * (the name is fixed at start). Counts already seen are kept: a pod no
 * longer listed stays in the total with its last count (left).
 */
int cluster_configure(struct cluster *c, const struct config *cfg, char *err, size_t errlen);

/* 1 if this pod has peers: a list or a discovery. */
int cluster_has_peers(struct cluster *c);

/* 1 once the targets are known: a list, or a discovery that has answered. */
int cluster_ready(struct cluster *c);

/* What the poller polls: the addresses (never this pod's by name), the interval and the timeout. */
struct cluster_targets {
        struct peer_list list;
        int interval_ms;
        int timeout_ms;
};

/* Fills out and returns 1 if the targets changed since *generation (which it updates); else 0. */
int cluster_targets(struct cluster *c, uint64_t *generation, struct cluster_targets *out);

/* 1 if the targets changed since generation. */
int cluster_changed(struct cluster *c, uint64_t generation);

/* What discovery looks up, and how often; returns the settings' number (cluster_discovered()). */
uint64_t cluster_discovery(struct cluster *c, struct peer_discover *d, int *interval_ms);

/*
 * What discovery found under settings number settings: the targets, or
 * NULL and why it failed (the targets stay as they were: a failing DNS
 * must not make every pod leave). Dropped if the settings changed since.
 */
void cluster_discovered(struct cluster *c, uint64_t settings, const struct peer_list *found,
                        size_t more, const char *why, int64_t now_ns);

/*
 * The peer at addr answered a (a poll's answer, read by
 * cluster_parse_answer()) at now_ns: merged by max unless a rule refuses
 * it: a name other than the pod there, a second address answering as one
 * pod, an implausible jump, no room. Exposed for the poller and the tests.
 */
void cluster_record(struct cluster *c, const char *addr, const struct cluster_answer *a,
                    int64_t now_ns);

/*
 * The poll of addr failed: o is CLUSTER_UNREACHABLE or CLUSTER_MALFORMED;
 * why is escaped (text_printable()) before it is kept or logged.
 */
void cluster_record_failure(struct cluster *c, const char *addr, enum cluster_outcome o,
                            const char *why, int64_t now_ns);

/* Logs the changes a rate limit held back, once their kind may be logged again. */
void cluster_tick(struct cluster *c, int64_t now_ns);

/*
 * A consistent copy of the state at now_ns (CLOCK_MONOTONIC), with own as
 * this pod's count: the caller reads its counter, so that a page shows the
 * very count of the visit it answers.
 */
void cluster_view(struct cluster *c, uint64_t own, struct cluster_view *v, int64_t now_ns);

/*
 * What this pod last saw of pod name (another pod's recovery asks): 1 and
 * its largest count, its state and the age of that count; 0 if it never had
 * an answer from it.
 */
int cluster_seen(struct cluster *c, const char *name, int64_t now_ns, uint64_t *visits,
                 int64_t *age_ns, enum cluster_state *st);

#endif
