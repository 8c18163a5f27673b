/*
 * Pod names and peer lists, as config.ini writes them, and the pods a DNS
 * answer names. A pod name is what Kubernetes makes a pod's hostname: a DNS
 * label, here also with '.' and '_' so that a local run can name its stacks
 * freely.
 */
#include "peerlist.h"

#include <ctype.h>
#include <resolv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
name_char(char ch)
{
        return isalnum((unsigned char)ch) || ch == '-' || ch == '.' || ch == '_';
}

int
peer_name_check(const char *name, char *why, size_t len)
{
        size_t n = strlen(name);

        if (n == 0 || n >= PEER_NAME_MAX) {
                snprintf(why, len, "expected a pod name of 1 to %d characters", PEER_NAME_MAX - 1);
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
        if (n >= PEER_ADDR_MAX) {
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
peer_list_parse(const char *text, struct peer_list *out, char *why, size_t len)
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
                if (out->n == PEER_LIST_MAX) {
                        snprintf(why, len, "more than %d peers", PEER_LIST_MAX);
                        return -1;
                }
                struct peer_target *t = &out->t[out->n];
                t->name[0] = '\0';
                if (parse_peer(p, trimmed, t->addr, why, len) != 0)
                        return -1;
                for (size_t i = 0; i < out->n; i++) {
                        if (strcasecmp(out->t[i].addr, t->addr) == 0) {
                                snprintf(why, len, "%s is listed twice", t->addr);
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

/* A DNS name as the resolver takes it: labels of letters, digits, '-' and '_', at most 253 bytes.
 */
static int
host_check(const char *s, size_t n)
{
        if (n == 0 || n >= PEER_HOST_MAX || s[0] == '.' || s[n - 1] == '.')
                return -1;
        for (size_t i = 0; i < n; i++) {
                if (!name_char(s[i]) || (s[i] == '.' && s[i + 1] == '.'))
                        return -1;
        }
        return 0;
}

int
peer_discover_parse(const char *text, struct peer_discover *out, char *why, size_t len)
{
        size_t n = strlen(text);

        memset(out, 0, sizeof(*out));
        if (n == 0)
                return 0;
        if (text[0] == '_') {
                /* _service._tcp.name: the first two labels, then a name of its own. */
                const char *dot = strchr(text, '.');
                if (dot == NULL || strncasecmp(dot, "._tcp.", 6) != 0 || dot == text + 1 ||
                    host_check(text, n) != 0) {
                        snprintf(why, len,
                                 "expected _PORTNAME._tcp.SERVICE (SRV records of a named port "
                                 "of a headless Service) or SERVICE:PORT (its A records)");
                        return -1;
                }
                out->kind = PEER_DISCOVER_SRV;
                memcpy(out->name, text, n + 1);
                return 0;
        }
        const char *colon = strrchr(text, ':');
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (colon == NULL || host_check(text, (size_t)(colon - text)) != 0 || colon[1] == '\0' ||
            *end != '\0' || !isdigit((unsigned char)colon[1]) || port < 1 || port > 65535) {
                snprintf(why, len,
                         "expected SERVICE:PORT (the A records of a headless Service, with the "
                         "port of the pods' nginx) or _PORTNAME._tcp.SERVICE (its SRV records)");
                return -1;
        }
        out->kind = PEER_DISCOVER_ADDR;
        memcpy(out->name, text, (size_t)(colon - text));
        out->name[colon - text] = '\0';
        out->port = (int)port;
        return 0;
}

/* Two big-endian bytes. */
static unsigned
be16(const unsigned char *p)
{
        return (unsigned)p[0] << 8 | p[1];
}

int
peer_name_cmp(const char *a, const char *b)
{
        while (*a && *b) {
                if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
                        while (*a == '0' && isdigit((unsigned char)a[1]))
                                a++;
                        while (*b == '0' && isdigit((unsigned char)b[1]))
                                b++;
                        const char *ea = a, *eb = b;
                        while (isdigit((unsigned char)*ea))
                                ea++;
                        while (isdigit((unsigned char)*eb))
                                eb++;
                        if (ea - a != eb - b)
                                return ea - a < eb - b ? -1 : 1;
                        int c = strncmp(a, b, (size_t)(ea - a));
                        if (c != 0)
                                return c;
                        a = ea;
                        b = eb;
                        continue;
                }
                if (*a != *b)
                        return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
                a++;
                b++;
        }
        return (unsigned char)*a - (unsigned char)*b;
}

static int
target_cmp(const void *x, const void *y)
{
        const struct peer_target *a = x, *b = y;
        int c = peer_name_cmp(a->name, b->name);

        return c != 0 ? c : strcmp(a->addr, b->addr);
}

void
peer_list_sort(struct peer_list *list)
{
        qsort(list->t, list->n, sizeof(list->t[0]), target_cmp);
}

/* One SRV record's data at p (rdlen bytes) into t; 0, or -1 if it names no pod. */
static int
srv_target(const unsigned char *msg, const unsigned char *eom, const unsigned char *p,
           unsigned rdlen, struct peer_target *t)
{
        char host[NS_MAXDNAME], why[128];

        if (rdlen < 7)
                return -1;
        unsigned port = be16(p + 4);
        int n = dn_expand(msg, eom, p + 6, host, sizeof(host));
        if (n < 0 || (unsigned)n != rdlen - 6 || port == 0)
                return -1;
        size_t hl = strlen(host);
        if (host_check(host, hl) != 0)
                return -1;
        size_t label = strcspn(host, ".");
        if (label >= sizeof(t->name))
                return -1;
        memcpy(t->name, host, label);
        t->name[label] = '\0';
        if (peer_name_check(t->name, why, sizeof(why)) != 0)
                return -1;
        snprintf(t->addr, sizeof(t->addr), "%.253s:%u", host, port);
        return 0;
}

int
peer_srv_parse(const unsigned char *msg, size_t len, struct peer_list *out, size_t *more,
               size_t *bad, char *why, size_t whylen)
{
        /* Room for every record a 64 KiB message can hold, so that the first by name are kept. */
        static const size_t room = 65536 / 16;
        const unsigned char *eom = msg + len, *p = msg + 12;
        char name[NS_MAXDNAME];
        struct peer_target *all = NULL;
        size_t n = 0;
        int rc = -1;

        out->n = 0;
        *more = *bad = 0;
        if (len < 12 || len > 65535) {
                snprintf(why, whylen, "a DNS answer of %zu bytes", len);
                return -1;
        }
        unsigned qd = be16(msg + 4), an = be16(msg + 6);
        for (unsigned i = 0; i < qd; i++) {
                int k = dn_expand(msg, eom, p, name, sizeof(name));
                if (k < 0 || eom - (p + k) < 4)
                        goto malformed;
                p += k + 4;
        }
        all = malloc(room * sizeof(*all));
        if (all == NULL) {
                snprintf(why, whylen, "no memory for a DNS answer");
                return -1;
        }
        for (unsigned i = 0; i < an; i++) {
                int k = dn_expand(msg, eom, p, name, sizeof(name));
                if (k < 0 || eom - (p + k) < 10)
                        goto malformed;
                p += k;
                unsigned type = be16(p), class = be16(p + 2), rdlen = be16(p + 8);
                p += 10;
                if ((size_t)(eom - p) < rdlen)
                        goto malformed;
                if (type == ns_t_srv && class == ns_c_in && n < room) {
                        if (srv_target(msg, eom, p, rdlen, &all[n]) == 0)
                                n++;
                        else
                                (*bad)++;
                }
                p += rdlen;
        }
        qsort(all, n, sizeof(*all), target_cmp);
        for (size_t i = 0; i < n; i++) {
                /* The same pod twice (two records, two ports): the first by address. */
                if (out->n > 0 && strcmp(out->t[out->n - 1].name, all[i].name) == 0)
                        continue;
                if (out->n == PEER_FOUND_MAX) {
                        (*more)++;
                        continue;
                }
                out->t[out->n++] = all[i];
        }
        rc = 0;
        goto out;
malformed:
        snprintf(why, whylen, "a DNS answer that does not parse");
out:
        free(all);
        return rc;
}
