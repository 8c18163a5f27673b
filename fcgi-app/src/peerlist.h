#ifndef MT_PEERLIST_H
#define MT_PEERLIST_H

#include <stddef.h>

/*
 * The syntax of pod names, of "host:port, host:port" peer lists, of the
 * [cluster] discover name and of the DNS answer it brings, and nothing
 * else: config.c checks [cluster] with it, cluster.c keeps what it parsed,
 * the poller hands it what DNS answered. No network, no state.
 */
#define PEER_NAME_MAX  64   /* a pod name is a DNS label: at most 63 bytes */
#define PEER_HOST_MAX  254  /* a DNS name: at most 253 bytes */
#define PEER_ADDR_MAX  262  /* host (at most 253) ":" port, and a NUL */
#define PEER_LIST_MAX  64   /* peers in [cluster] peers */
#define PEER_FOUND_MAX 256  /* pods found in DNS that are polled */
#define PEER_TEXT_MAX  4096 /* [cluster] peers as written in config.ini */

/* Where to poll a pod, and which pod DNS says is there. */
struct peer_target {
        char addr[PEER_ADDR_MAX]; /* host:port of its nginx */
        char name[PEER_NAME_MAX]; /* the pod, from an SRV record's target; "": its answer says */
};

struct peer_list {
        size_t n;
        struct peer_target t[PEER_FOUND_MAX];
};

/* 0 if name can name a pod (letters, digits, '-', '.', '_'; at most 63 bytes); else -1 and why. */
int peer_name_check(const char *name, char *why, size_t len);

/*
 * Parses "host:port, host:port" (an IPv6 host in brackets); empty is no
 * peers. At most PEER_LIST_MAX. Duplicates are refused: a pod counted twice
 * would double its visits. The names of the targets are left empty.
 */
int peer_list_parse(const char *text, struct peer_list *out, char *why, size_t len);

/*
 * [cluster] discover: how the pods are found in DNS at every poll round.
 *   _SERVICE._tcp.NAME  the SRV records of a named port of a headless
 *                       Service: each target is a pod's own DNS name, whose
 *                       first label is the pod's name, and its port;
 *   NAME:PORT           the A and AAAA records of NAME, each address polled
 *                       on PORT: the pod's name comes from its answer.
 */
enum peer_discover_kind { PEER_DISCOVER_NONE, PEER_DISCOVER_SRV, PEER_DISCOVER_ADDR };

struct peer_discover {
        enum peer_discover_kind kind;
        char name[PEER_HOST_MAX];
        int port; /* PEER_DISCOVER_ADDR */
};

/* Parses [cluster] discover; empty is PEER_DISCOVER_NONE. 0, or -1 and why. */
int peer_discover_parse(const char *text, struct peer_discover *out, char *why, size_t len);

/*
 * The SRV records of a DNS answer (msg, len bytes, as res_nsearch()
 * returns it) as targets "host:port" named after the first label of the
 * host, in the order of their names; a target named twice is kept once.
 * Records of other types are skipped. More than PEER_FOUND_MAX: the first
 * ones by name, and *more the number left out. A target whose host is not a
 * DNS name or whose first label is no pod name is left out too (counted in
 * *bad). 0, or -1 and why when the message does not parse.
 */
int peer_srv_parse(const unsigned char *msg, size_t len, struct peer_list *out, size_t *more,
                   size_t *bad, char *why, size_t whylen);

/* Sorts targets by name (numeric runs by value: pod-2 before pod-10), then address. */
void peer_list_sort(struct peer_list *list);

/* The order of pod names: numeric runs by value (pod-2 before pod-10); <0, 0 or >0. */
int peer_name_cmp(const char *a, const char *b);

#endif
