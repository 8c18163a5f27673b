#ifndef MT_PEERLIST_H
#define MT_PEERLIST_H

#include <stddef.h>

/*
 * The syntax of pod names and of "host:port, host:port" peer lists, and
 * nothing else: config.c checks [cluster] with it, cluster.c keeps what it
 * parsed. No network, no state.
 */
#define PEER_NAME_MAX 64   /* a pod name is a DNS label: at most 63 bytes */
#define PEER_ADDR_MAX 262  /* host (at most 253) ":" port, and a NUL */
#define PEER_LIST_MAX 64   /* peers in [cluster] peers */
#define PEER_TEXT_MAX 4096 /* [cluster] peers as written in config.ini */

struct peer_list {
        size_t n;
        char addr[PEER_LIST_MAX][PEER_ADDR_MAX];
};

/* 0 if name can name a pod (letters, digits, '-', '.', '_'; at most 63 bytes); else -1 and why. */
int peer_name_check(const char *name, char *why, size_t len);

/*
 * Parses "host:port, host:port" (an IPv6 host in brackets); empty is no
 * peers. Duplicates are refused: a pod counted twice would double its visits.
 */
int peer_list_parse(const char *text, struct peer_list *out, char *why, size_t len);

#endif
