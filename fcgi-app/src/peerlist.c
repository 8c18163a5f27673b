/*
 * Pod names and peer lists, as config.ini writes them. A pod name is what
 * Kubernetes makes a pod's hostname: a DNS label, here also with '.' and '_'
 * so that a local run can name its stacks freely.
 */
#include "peerlist.h"

#include <ctype.h>
#include <stdio.h>
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
