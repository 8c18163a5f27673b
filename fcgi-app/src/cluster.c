/*
 * The service's total: a grow-only counter (G-counter) over the pods.
 *
 * Each pod owns its count and only ever adds to it, so the service's total
 * is the sum of the pods' counts, and taking the largest count ever seen of
 * each pod is a correct merge in any order and with any delay. This file is
 * the state and its merge: no network and no rendering. The poller
 * (cluster_poll.c) reports each peer's answer here; the workers answer
 * /visits?scope=cluster from a view of the state taken under one mutex and
 * never wait on the network. A peer asked for its count answers only its
 * own, so counts never travel in loops.
 *
 * A pod is its name (a StatefulSet pod's stable name), not its address: an
 * address is only where it is polled now. Which pod is at an address comes
 * from DNS (an SRV record's target is the pod's own name) or, for a listed
 * address or an A record, from its first answer, and sticks. A peer is a
 * source of numbers, not of truth: an answer is read strictly; one naming
 * another pod than the one at its address, or a pod another address
 * answers for too, or more visits than a pod can serve in the time, is
 * refused and changes no count; nothing a peer says can lower, wrap or
 * remove a count. A pod that went back (a replaced volume) keeps its
 * largest count in the total, and the answer shows what it reported.
 */
#include "cluster.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "text.h"

static const char *const state_names[CLUSTER_STATES] = {"self",      "fresh",    "stale",
                                                        "unreached", "conflict", "left"};
static const char *const outcome_names[CLUSTER_OUTCOMES] = {
    "ok", "went_back", "unreachable", "malformed", "implausible", "conflict"};

const char *
cluster_state_name(enum cluster_state st)
{
        return st < CLUSTER_STATES ? state_names[st] : "?";
}

const char *
cluster_outcome_name(enum cluster_outcome o)
{
        return o < CLUSTER_OUTCOMES ? outcome_names[o] : "?";
}

/* The strict reader of a peer's answer (RFC 8259). */

#define JSON_DEPTH_MAX 16

struct jr {
        const char *s, *p, *end; /* s is NUL-terminated at end */
        const char *what;        /* the first error */
};

static int
jerr(struct jr *r, const char *what)
{
        if (r->what == NULL)
                r->what = what;
        return -1;
}

static void
jws(struct jr *r)
{
        while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
                r->p++;
}

static int
jhex4(struct jr *r, unsigned *out)
{
        unsigned v = 0;

        if (r->end - r->p < 4)
                return jerr(r, "a \\u escape cut off");
        for (int i = 0; i < 4; i++) {
                int c = (unsigned char)r->p[i];
                if (!isxdigit(c))
                        return jerr(r, "a \\u escape that is not hexadecimal");
                v = v * 16 + (unsigned)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
        }
        r->p += 4;
        *out = v;
        return 0;
}

static size_t
utf8_put(unsigned u, char *b)
{
        if (u < 0x80) {
                b[0] = (char)u;
                return 1;
        }
        if (u < 0x800) {
                b[0] = (char)(0xc0 | u >> 6);
                b[1] = (char)(0x80 | (u & 0x3f));
                return 2;
        }
        if (u < 0x10000) {
                b[0] = (char)(0xe0 | u >> 12);
                b[1] = (char)(0x80 | (u >> 6 & 0x3f));
                b[2] = (char)(0x80 | (u & 0x3f));
                return 3;
        }
        b[0] = (char)(0xf0 | u >> 18);
        b[1] = (char)(0x80 | (u >> 12 & 0x3f));
        b[2] = (char)(0x80 | (u >> 6 & 0x3f));
        b[3] = (char)(0x80 | (u & 0x3f));
        return 4;
}

/* A \u escape after its backslash and 'u', a surrogate pair whole, into b. */
static int
junicode(struct jr *r, char *b, size_t *bl)
{
        unsigned u, lo;

        if (jhex4(r, &u) != 0)
                return -1;
        if (u >= 0xdc00 && u < 0xe000)
                return jerr(r, "a lone low surrogate");
        if (u >= 0xd800 && u < 0xdc00) {
                if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
                        return jerr(r, "a lone high surrogate");
                r->p += 2;
                if (jhex4(r, &lo) != 0)
                        return -1;
                if (lo < 0xdc00 || lo >= 0xe000)
                        return jerr(r, "a lone high surrogate");
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        }
        *bl = utf8_put(u, b);
        return 0;
}

/*
 * The string at r->p (its opening quote), decoded into out (cap bytes with
 * the NUL; NULL: checked only). *n is its decoded length, or SIZE_MAX if it
 * did not fit in out.
 */
static int
jstring(struct jr *r, char *out, size_t cap, size_t *n)
{
        size_t k = 0;
        int fits = 1;

        r->p++;
        for (;;) {
                char b[4];
                size_t bl = 1;
                if (r->p >= r->end)
                        return jerr(r, "a string not closed");
                unsigned char c = (unsigned char)*r->p;
                if (c == '"') {
                        r->p++;
                        break;
                }
                if (c < 0x20)
                        return jerr(r, "a control character in a string");
                if (c == '\\') {
                        if (r->end - r->p < 2)
                                return jerr(r, "an escape cut off");
                        c = (unsigned char)r->p[1];
                        r->p += 2;
                        switch (c) {
                        case '"':
                        case '\\':
                        case '/': b[0] = (char)c; break;
                        case 'b': b[0] = '\b'; break;
                        case 'f': b[0] = '\f'; break;
                        case 'n': b[0] = '\n'; break;
                        case 'r': b[0] = '\r'; break;
                        case 't': b[0] = '\t'; break;
                        case 'u':
                                if (junicode(r, b, &bl) != 0)
                                        return -1;
                                break;
                        default: return jerr(r, "an unknown escape in a string");
                        }
                } else {
                        /* The buffer ends in a NUL, which no sequence takes as its own. */
                        bl = text_utf8_len((const unsigned char *)r->p);
                        if (bl == 0 || (size_t)(r->end - r->p) < bl)
                                return jerr(r, "bytes that are not UTF-8 in a string");
                        memcpy(b, r->p, bl);
                        r->p += bl;
                }
                if (out != NULL && fits && k + bl < cap)
                        memcpy(out + k, b, bl);
                else
                        fits = 0;
                k += bl;
        }
        if (out != NULL && cap > 0)
                out[fits ? k : 0] = '\0';
        *n = fits ? k : SIZE_MAX;
        return 0;
}

static int
jdigits(struct jr *r)
{
        if (r->p >= r->end || !isdigit((unsigned char)*r->p))
                return jerr(r, "a number without digits");
        while (r->p < r->end && isdigit((unsigned char)*r->p))
                r->p++;
        return 0;
}

/* Any JSON number (skipped): -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
jnumber(struct jr *r)
{
        if (*r->p == '-')
                r->p++;
        if (r->p < r->end && *r->p == '0')
                r->p++;
        else if (jdigits(r) != 0)
                return -1;
        if (r->p < r->end && *r->p == '.') {
                r->p++;
                if (jdigits(r) != 0)
                        return -1;
        }
        if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
                r->p++;
                if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
                        r->p++;
                if (jdigits(r) != 0)
                        return -1;
        }
        return 0;
}

/* A count: a non-negative integer, no fraction, exponent or leading zero, at most 2^63-1. */
static int
jcount(struct jr *r, uint64_t *out)
{
        const char *q = r->p;
        uint64_t v = 0;

        if (q < r->end && *q == '-')
                return jerr(r, "a negative count");
        if (q >= r->end || !isdigit((unsigned char)*q))
                return jerr(r, "a count that is not a number");
        if (*q == '0' && q + 1 < r->end && isdigit((unsigned char)q[1]))
                return jerr(r, "a count with a leading zero");
        for (; q < r->end && isdigit((unsigned char)*q); q++) {
                unsigned d = (unsigned)(*q - '0');
                if (v > ((uint64_t)INT64_MAX - d) / 10)
                        return jerr(r, "a count past 2^63-1");
                v = v * 10 + d;
        }
        if (q < r->end && (*q == '.' || *q == 'e' || *q == 'E'))
                return jerr(r, "a count with a fraction or an exponent");
        r->p = q;
        *out = v;
        return 0;
}

static int
jliteral(struct jr *r, const char *lit)
{
        size_t n = strlen(lit);

        if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
                return jerr(r, "not a JSON value");
        r->p += n;
        return 0;
}

static int jvalue(struct jr *r, int depth);

/* An object or array after its opening bracket, up to its closing one. */
static int
jcontainer(struct jr *r, char close, int depth)
{
        size_t n;

        r->p++;
        jws(r);
        if (r->p < r->end && *r->p == close) {
                r->p++;
                return 0;
        }
        for (;;) {
                jws(r);
                if (close == '}') {
                        if (r->p >= r->end || *r->p != '"')
                                return jerr(r, "expected a member's name");
                        if (jstring(r, NULL, 0, &n) != 0)
                                return -1;
                        jws(r);
                        if (r->p >= r->end || *r->p != ':')
                                return jerr(r, "expected ':' after a member's name");
                        r->p++;
                }
                if (jvalue(r, depth + 1) != 0)
                        return -1;
                jws(r);
                if (r->p < r->end && *r->p == ',') {
                        r->p++;
                        continue;
                }
                if (r->p < r->end && *r->p == close) {
                        r->p++;
                        return 0;
                }
                return jerr(r, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
}

static int
jvalue(struct jr *r, int depth)
{
        size_t n;

        if (depth > JSON_DEPTH_MAX)
                return jerr(r, "values nested too deep");
        jws(r);
        if (r->p >= r->end)
                return jerr(r, "a value missing");
        switch (*r->p) {
        case '"': return jstring(r, NULL, 0, &n);
        case '{': return jcontainer(r, '}', depth);
        case '[': return jcontainer(r, ']', depth);
        case 't': return jliteral(r, "true");
        case 'f': return jliteral(r, "false");
        case 'n': return jliteral(r, "null");
        default:
                if (*r->p == '-' || isdigit((unsigned char)*r->p))
                        return jnumber(r);
                return jerr(r, "not a JSON value");
        }
}

/* A member's value that must be a pod name, into out. */
static int
jname(struct jr *r, char *out)
{
        char v[CLUSTER_NAME_MAX], why[96];
        size_t n;

        if (r->p >= r->end || *r->p != '"')
                return jerr(r, "a pod name that is not a string");
        if (jstring(r, v, sizeof(v), &n) != 0)
                return -1;
        if (n == SIZE_MAX || n != strlen(v) || peer_name_check(v, why, sizeof(why)) != 0)
                return jerr(r, "a pod name that is not a pod name");
        memcpy(out, v, n + 1);
        return 0;
}

static int
key_is(const char *k, size_t n, const char *name)
{
        return n == strlen(name) && memcmp(k, name, n) == 0;
}

/* The members of the top-level object, after its '{', up to its '}'. */
static int
jmembers(struct jr *r, struct cluster_answer *a, int *have_visits, int *have_pod)
{
        /* Decoded names so far, for duplicates: never longer than the answer's bytes. */
        char names[CLUSTER_ANSWER_MAX];
        size_t off[CLUSTER_ANSWER_MAX / 4], len[CLUSTER_ANSWER_MAX / 4], used = 0, nkeys = 0;

        for (;;) {
                char *k = names + used;
                size_t n;
                jws(r);
                if (r->p >= r->end || *r->p != '"')
                        return jerr(r, "expected a member's name");
                if (jstring(r, k, sizeof(names) - used, &n) != 0)
                        return -1;
                if (n == SIZE_MAX || nkeys == sizeof(off) / sizeof(off[0]))
                        return jerr(r, "too many members");
                for (size_t i = 0; i < nkeys; i++) {
                        if (len[i] == n && memcmp(names + off[i], k, n) == 0)
                                return jerr(r, "a member named twice");
                }
                off[nkeys] = used;
                len[nkeys++] = n;
                used += n;
                jws(r);
                if (r->p >= r->end || *r->p != ':')
                        return jerr(r, "expected ':' after a member's name");
                r->p++;
                jws(r);
                int rc;
                if (key_is(k, n, "visits")) {
                        rc = jcount(r, &a->visits);
                        *have_visits = 1;
                } else if (key_is(k, n, "pod")) {
                        rc = jname(r, a->pod);
                        *have_pod = 1;
                } else if (key_is(k, n, "of")) {
                        rc = jname(r, a->of);
                } else if (key_is(k, n, "age_ms")) {
                        uint64_t age;
                        rc = jcount(r, &age);
                        a->age_ms = (int64_t)age;
                } else {
                        rc = jvalue(r, 1);
                }
                if (rc != 0)
                        return -1;
                jws(r);
                if (r->p < r->end && *r->p == ',') {
                        r->p++;
                        continue;
                }
                if (r->p < r->end && *r->p == '}') {
                        r->p++;
                        return 0;
                }
                return jerr(r, "expected ',' or '}'");
        }
}

int
cluster_parse_answer(const char *body, size_t len, struct cluster_answer *a, char *why,
                     size_t whylen)
{
        char buf[CLUSTER_ANSWER_MAX + 1];
        int have_visits = 0, have_pod = 0;

        memset(a, 0, sizeof(*a));
        a->age_ms = -1;
        if (len == 0 || len > CLUSTER_ANSWER_MAX) {
                snprintf(why, whylen, len ? "longer than %d bytes" : "empty", CLUSTER_ANSWER_MAX);
                return -1;
        }
        memcpy(buf, body, len);
        buf[len] = '\0';
        struct jr r = {.s = buf, .p = buf, .end = buf + len};
        jws(&r);
        if (r.p >= r.end || *r.p != '{') {
                jerr(&r, "not a JSON object");
        } else {
                r.p++;
                jws(&r);
                if (r.p < r.end && *r.p == '}')
                        r.p++;
                else
                        jmembers(&r, a, &have_visits, &have_pod);
        }
        if (r.what == NULL) {
                jws(&r);
                if (r.p != r.end)
                        jerr(&r, "bytes after the object");
                else if (!have_visits)
                        jerr(&r, "no \"visits\"");
                else if (!have_pod)
                        jerr(&r, "no \"pod\"");
        }
        if (r.what != NULL) {
                snprintf(why, whylen, "%s at byte %zu", r.what, (size_t)(r.p - r.s));
                return -1;
        }
        return 0;
}

/* State. */

/* A message into a fixed room, cut if it must be: an address may take 261 bytes of it. */
__attribute__((format(printf, 3, 4))) static void
say(char *out, size_t len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(out, len, fmt, ap);
        va_end(ap);
}

static int64_t
window_ns(const struct cluster *c)
{
        int ms = c->poll_interval_ms > c->timeout_ms ? c->poll_interval_ms : c->timeout_ms;

        return 3 * (int64_t)ms * 1000000;
}

/* A peer listed by this pod's own name ("pod-0:8080" or "pod-0.headless.ns.svc...:8080"). */
static int
addr_is_self(const char *addr, const char *self)
{
        size_t n = strlen(self);

        return strncasecmp(addr, self, n) == 0 && (addr[n] == ':' || addr[n] == '.');
}

static struct cluster_target *
target_find(struct cluster *c, const char *addr)
{
        for (size_t i = 0; i < c->ntargets; i++) {
                if (strcasecmp(c->targets[i].addr, addr) == 0)
                        return &c->targets[i];
        }
        return NULL;
}

static struct cluster_pod *
pod_find(struct cluster *c, const char *name)
{
        for (size_t i = 0; i < c->npods; i++) {
                if (strcmp(c->pods[i].name, name) == 0)
                        return &c->pods[i];
        }
        return NULL;
}

static int
pod_cmp(const void *x, const void *y)
{
        return peer_name_cmp(((const struct cluster_pod *)x)->name,
                             ((const struct cluster_pod *)y)->name);
}

/* A new pod's entry, in the order of names (every answer lists them so). */
static void
pod_add(struct cluster *c, const char *name)
{
        struct cluster_pod *p = &c->pods[c->npods++];

        memset(p, 0, sizeof(*p));
        snprintf(p->name, sizeof(p->name), "%s", name);
        qsort(c->pods, c->npods, sizeof(c->pods[0]), pod_cmp);
}

/* Log lines of a peer, rate-limited: at most one of each kind per CLUSTER_LOG_PERIOD_NS. */

static void
emit(struct cluster_target *t, enum cluster_outcome o, int64_t now, const char *what)
{
        char more[96] = "";
        const char *who = t->addr[0] ? t->addr : "discovery";

        if (t->left_out > 0)
                snprintf(more, sizeof(more), " (%u changes not logged in the last %lld s)",
                         t->left_out, CLUSTER_LOG_PERIOD_NS / 1000000000);
        /* "cluster: peer ADDR: what", or "cluster: discovery NAME: what" (what names it). */
        const char *sep = t->addr[0] ? ": " : " ";
        if (o == CLUSTER_OK)
                log_info("cluster: %s%s%s%s%s", t->addr[0] ? "peer " : "", who, sep, what, more);
        else
                log_warn("cluster: %s%s%s%s%s", t->addr[0] ? "peer " : "", who, sep, what, more);
        t->log_next[o] = now + CLUSTER_LOG_PERIOD_NS;
        t->left_out = 0;
        t->logged = o;
}

/* What t's last poll came to, as a log line says it. */
static void
describe(const struct cluster_target *t, char *out, size_t len)
{
        if (t->last == CLUSTER_OK && t->addr[0] != '\0')
                snprintf(out, len, "answers as pod %s%s", t->bound,
                         t->self ? " (this pod: not counted)" : "");
        else
                snprintf(out, len, "%s", t->error);
}

/* t's poll came to o: a change from the last outcome is logged, unless its kind was lately. */
static void
note(struct cluster_target *t, enum cluster_outcome o, int64_t now)
{
        char what[CLUSTER_ERROR_MAX + 96];

        if (o == t->last && t->polled_ns != 0)
                return;
        int first = t->polled_ns == 0;
        t->last = o;
        /* A pod found by name answering as itself: the discovery's line said it is there. */
        if (first && o == CLUSTER_OK && t->expect[0] != '\0')
                return;
        if (now < t->log_next[o]) {
                t->left_out++;
                return;
        }
        describe(t, what, sizeof(what));
        emit(t, o, now, what);
}

void
cluster_tick(struct cluster *c, int64_t now)
{
        char what[CLUSTER_ERROR_MAX + 96];

        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i <= c->ntargets; i++) {
                struct cluster_target *t = i < c->ntargets ? &c->targets[i] : &c->discovery_log;
                if (t->left_out == 0 || t->last >= CLUSTER_OUTCOMES || now < t->log_next[t->last])
                        continue;
                /* The state it is in now, with how many changes the limit held back. */
                describe(t, what, sizeof(what));
                emit(t, t->last, now, what);
        }
        pthread_mutex_unlock(&c->mu);
}

/* Targets. */

/* Appends "name" (or the address) to a list being written in e. */
static void
list_name(struct text *e, const struct cluster_target *t)
{
        if (e->overflow)
                return;
        if (e->len)
                TEXT_LIT(e, ", ");
        text_str(e, t->bound[0] ? t->bound : t->addr);
}

/*
 * The new targets in place of the old: each address keeps what is known of
 * it; pods found by name get their entry (a pod that left and came back has
 * its count again). Pods never heard from that no target names any more
 * are forgotten; the others stay, left, their counts in the total. Past
 * CLUSTER_PODS_MAX entries a new target is not polled. joined and left (may
 * be NULL) get the names that came and went.
 */
static void
set_targets(struct cluster *c, const struct peer_list *list, size_t more, char *joined, char *left,
            size_t len)
{
        struct cluster_target *next = c->scratch;
        size_t n = 0, not_polled = more;
        struct text ej, el;

        text_init(&ej, joined ? joined : NULL, joined ? len : 0);
        text_init(&el, left ? left : NULL, left ? len : 0);
        for (size_t i = 0; i < list->n && n < CLUSTER_TARGETS_MAX; i++) {
                const struct peer_target *pt = &list->t[i];
                struct cluster_target *old = target_find(c, pt->addr), *t = &next[n++];
                if (old != NULL && strcmp(old->expect, pt->name) == 0) {
                        *t = *old;
                        continue;
                }
                memset(t, 0, sizeof(*t));
                snprintf(t->addr, sizeof(t->addr), "%s", pt->addr);
                snprintf(t->expect, sizeof(t->expect), "%s", pt->name);
                snprintf(t->bound, sizeof(t->bound), "%s", pt->name);
                t->self =
                    pt->name[0] ? strcmp(pt->name, c->self) == 0 : addr_is_self(pt->addr, c->self);
                t->skip = t->self;
                if (t->self)
                        snprintf(t->bound, sizeof(t->bound), "%s", c->self);
        }
        /* Pods never heard from and no longer named: nothing of theirs is in the total. */
        size_t k = 0;
        for (size_t i = 0; i < c->npods; i++) {
                int named = c->pods[i].seen_ns != 0;
                for (size_t j = 0; j < n && !named; j++)
                        named = !next[j].self && strcmp(next[j].bound, c->pods[i].name) == 0;
                if (!named)
                        continue;
                if (k != i)
                        c->pods[k] = c->pods[i];
                k++;
        }
        c->npods = k;
        /* Room: each pod and each address without a name yet is one entry of every answer. */
        size_t kept = 0, unnamed = 0;
        for (size_t i = 0; i < n; i++) {
                struct cluster_target *t = &next[i];
                int known = t->self || (t->bound[0] != '\0' && pod_find(c, t->bound) != NULL);
                if (!known && c->npods + unnamed >= CLUSTER_PODS_MAX) {
                        not_polled++;
                        continue;
                }
                if (!t->self && t->bound[0] == '\0')
                        unnamed++;
                else if (!known)
                        pod_add(c, t->bound);
                if (kept != i)
                        next[kept] = *t;
                kept++;
        }
        n = kept;
        for (size_t i = 0; i < n; i++) {
                if (target_find(c, next[i].addr) == NULL)
                        list_name(&ej, &next[i]);
        }
        int changed = n != c->ntargets;
        for (size_t i = 0; i < c->ntargets; i++) {
                int found = 0;
                for (size_t j = 0; j < n && !found; j++)
                        found = strcasecmp(c->targets[i].addr, next[j].addr) == 0;
                if (!found) {
                        changed = 1;
                        if (!c->targets[i].self)
                                list_name(&el, &c->targets[i]);
                }
        }
        for (size_t i = 0; !changed && i < n; i++)
                changed = strcmp(next[i].addr, c->targets[i].addr) != 0 ||
                          strcmp(next[i].expect, c->targets[i].expect) != 0;
        memcpy(c->targets, next, n * sizeof(next[0]));
        c->ntargets = n;
        c->not_polled = not_polled;
        if (changed)
                c->generation++;
}

static int
apply_settings(struct cluster *c, const struct config *s, char *err, size_t errlen)
{
        struct peer_list *list = malloc(sizeof(*list));
        struct peer_discover d;
        char why[256];
        int rc = -1;

        if (list == NULL) {
                snprintf(err, errlen, "[cluster] peers: %s", strerror(errno));
                return -1;
        }
        if (peer_list_parse(s->cluster_peers, list, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "[cluster] peers: %s", why);
                goto out;
        }
        if (peer_discover_parse(s->cluster_discover, &d, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "[cluster] discover: %s", why);
                goto out;
        }
        pthread_mutex_lock(&c->mu);
        c->poll_interval_ms = s->cluster_poll_interval_ms > 0 ? s->cluster_poll_interval_ms : 1000;
        c->timeout_ms = s->cluster_timeout_ms > 0 ? s->cluster_timeout_ms : 500;
        if (d.kind != c->discover.kind || strcmp(d.name, c->discover.name) != 0 ||
            d.port != c->discover.port) {
                c->discover = d;
                c->discovered = 0;
                c->discovery_error[0] = '\0';
                if (d.kind != PEER_DISCOVER_NONE)
                        list->n = 0; /* until the first lookup: the pods found stay until then */
        }
        if (d.kind == PEER_DISCOVER_NONE || !c->discovered)
                set_targets(c, list, 0, NULL, NULL, 0);
        c->settings++;
        c->generation++; /* the interval or timeout may have changed: the poller re-reads */
        pthread_mutex_unlock(&c->mu);
        rc = 0;
out:
        free(list);
        return rc;
}

int
cluster_init(struct cluster *c, const struct config *s, char *err, size_t errlen)
{
        char why[128];

        /*
         * The header only: the slots (about 400 KiB) are each set when taken
         * into use, and a responder's state is static, so the pages of slots
         * never used are never touched (its own memory stays about 2 MiB).
         */
        memset(c, 0, offsetof(struct cluster, targets));
        c->ntargets = c->npods = 0;
        memset(c->refused, 0, sizeof(c->refused));
        pthread_mutex_init(&c->mu, NULL);
        if (s->cluster_name[0] != '\0') {
                snprintf(c->self, sizeof(c->self), "%s", s->cluster_name);
        } else if (gethostname(c->self, sizeof(c->self)) != 0) {
                snprintf(err, errlen, "[cluster] name is empty and gethostname() failed: %s",
                         strerror(errno));
                return -1;
        }
        c->self[sizeof(c->self) - 1] = '\0';
        if (peer_name_check(c->self, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "[cluster] name \"%s\"%s: %s", c->self,
                         s->cluster_name[0] ? "" : " (the hostname)", why);
                return -1;
        }
        return apply_settings(c, s, err, errlen);
}

int
cluster_configure(struct cluster *c, const struct config *s, char *err, size_t errlen)
{
        return apply_settings(c, s, err, errlen);
}

int
cluster_has_peers(struct cluster *c)
{
        pthread_mutex_lock(&c->mu);
        int has = c->discover.kind != PEER_DISCOVER_NONE || c->ntargets > 0;
        pthread_mutex_unlock(&c->mu);
        return has;
}

int
cluster_ready(struct cluster *c)
{
        pthread_mutex_lock(&c->mu);
        int ready = c->discover.kind == PEER_DISCOVER_NONE || c->discovered;
        pthread_mutex_unlock(&c->mu);
        return ready;
}

uint64_t
cluster_discovery(struct cluster *c, struct peer_discover *d, int *interval_ms)
{
        pthread_mutex_lock(&c->mu);
        *d = c->discover;
        *interval_ms = c->poll_interval_ms;
        uint64_t settings = c->settings;
        pthread_mutex_unlock(&c->mu);
        return settings;
}

void
cluster_discovered(struct cluster *c, uint64_t settings, const struct peer_list *found, size_t more,
                   const char *why, int64_t now)
{
        struct cluster_target *d = &c->discovery_log;
        char joined[96], left[96];
        enum cluster_outcome o;

        pthread_mutex_lock(&c->mu);
        if (settings != c->settings || c->discover.kind == PEER_DISCOVER_NONE)
                goto out;
        if (found == NULL) {
                char shown[CLUSTER_ERROR_MAX];
                struct text e;
                text_init(&e, shown, sizeof(shown));
                text_printable(&e, why);
                snprintf(c->discovery_error, sizeof(c->discovery_error), "%s", shown);
                say(d->error, sizeof(d->error), "%s fails: %s; the pods found before are polled",
                    c->discover.name, shown);
                o = CLUSTER_UNREACHABLE;
        } else {
                set_targets(c, found, more, joined, left, sizeof(joined));
                c->discovery_error[0] = '\0';
                c->discovered = 1;
                c->discovery_ok_ns = now;
                say(d->error, sizeof(d->error), "%s: %zu pods%s%s%s%s%s", c->discover.name,
                    c->ntargets, joined[0] ? "; new: " : "", joined,
                    left[0] ? "; gone (left, counts kept): " : "", left,
                    c->not_polled ? "; more than can be polled: some are not" : "");
                o = CLUSTER_OK;
                if (joined[0] || left[0]) {
                        /*
                         * Who is in the service changed: always said (scaling is
                         * rare and the operator's); only failing and answering
                         * again are rate-limited.
                         */
                        emit(d, o, now, d->error);
                        d->last = o;
                        d->polled_ns = now;
                        goto out;
                }
        }
        note(d, o, now);
        d->polled_ns = now;
out:
        pthread_mutex_unlock(&c->mu);
}

int
cluster_targets(struct cluster *c, uint64_t *generation, struct cluster_targets *out)
{
        pthread_mutex_lock(&c->mu);
        int changed = c->generation != *generation;
        if (changed) {
                *generation = c->generation;
                out->interval_ms = c->poll_interval_ms;
                out->timeout_ms = c->timeout_ms;
                out->list.n = 0;
                for (size_t i = 0; i < c->ntargets; i++) {
                        const struct cluster_target *t = &c->targets[i];
                        if (t->skip)
                                continue; /* this pod by its name: never polled */
                        struct peer_target *pt = &out->list.t[out->list.n++];
                        snprintf(pt->addr, sizeof(pt->addr), "%s", t->addr);
                        snprintf(pt->name, sizeof(pt->name), "%s", t->expect);
                }
        }
        pthread_mutex_unlock(&c->mu);
        return changed;
}

int
cluster_changed(struct cluster *c, uint64_t generation)
{
        pthread_mutex_lock(&c->mu);
        int changed = c->generation != generation;
        pthread_mutex_unlock(&c->mu);
        return changed;
}

/* Answers. */

/* Another address answered as name lately: two addresses claim one pod. */
static const struct cluster_target *
claimed_elsewhere(const struct cluster *c, const struct cluster_target *t, const char *name,
                  int64_t now)
{
        for (size_t i = 0; i < c->ntargets; i++) {
                const struct cluster_target *u = &c->targets[i];
                if (u != t && !u->self && u->claim_ns != 0 && now - u->claim_ns <= window_ns(c) &&
                    strcmp(u->bound, name) == 0)
                        return u;
        }
        return NULL;
}

/* t's answer is refused: pod (the one at t) keeps its count and is flagged; t is polled again. */
static void
refuse(struct cluster *c, struct cluster_target *t, enum cluster_outcome o, int64_t now,
       const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(t->error, sizeof(t->error), fmt, ap);
        va_end(ap);
        t->up = 0;
        c->refused[o]++;
        if (o == CLUSTER_CONFLICTING) {
                struct cluster_pod *p = pod_find(c, t->bound);
                if (p != NULL) {
                        p->conflict_ns = now;
                        snprintf(p->conflict, sizeof(p->conflict), "%s", t->error);
                }
        }
        note(t, o, now);
        t->polled_ns = now;
}

/* The most visits a pod can have added in dt_ns (and a poll's timeout on top, for latency). */
static uint64_t
plausible_gain(const struct cluster *c, int64_t dt_ns)
{
        int64_t ns = (dt_ns > 0 ? dt_ns : 0) + (int64_t)c->timeout_ms * 1000000;

        /* ns < 2^63 and the rate < 2^24: the product in 128 bits cannot wrap. */
        unsigned __int128 gain = (unsigned __int128)ns * CLUSTER_RATE_MAX / 1000000000;
        return gain > INT64_MAX ? (uint64_t)INT64_MAX : (uint64_t)gain;
}

void
cluster_record(struct cluster *c, const char *addr, const struct cluster_answer *a, int64_t now)
{
        pthread_mutex_lock(&c->mu);
        struct cluster_target *t = target_find(c, addr);
        if (t == NULL)
                goto out; /* a poll that was out while the targets changed */
        const char *name = a->pod;
        if (t->bound[0] == '\0') {
                /* The first answer from an address says who is there, for good. */
                snprintf(t->bound, sizeof(t->bound), "%s", name);
                t->self = strcmp(name, c->self) == 0;
                /* It was an entry without a name: there is room for it as a pod. */
                if (!t->self && pod_find(c, name) == NULL)
                        pod_add(c, name);
        } else if (strcmp(t->bound, name) != 0) {
                t->claim_ns = now;
                if (t->expect[0] != '\0')
                        refuse(c, t, CLUSTER_CONFLICTING, now,
                               "answers as %s %s, but DNS puts pod %s at this address",
                               strcmp(name, c->self) == 0 ? "this pod," : "pod", name, t->expect);
                else
                        refuse(c, t, CLUSTER_CONFLICTING, now,
                               "answers as %s %s, but it answered as pod %s before",
                               strcmp(name, c->self) == 0 ? "this pod," : "pod", name, t->bound);
                goto out;
        }
        if (t->self) {
                t->up = 1;
                t->error[0] = '\0';
                note(t, CLUSTER_OK, now);
                t->polled_ns = now;
                goto out;
        }
        t->claim_ns = now;
        const struct cluster_target *other = claimed_elsewhere(c, t, name, now);
        if (other != NULL) {
                refuse(c, t, CLUSTER_CONFLICTING, now,
                       "pod %s answers here and at %s: neither is counted until one stops", name,
                       other->addr);
                goto out;
        }
        struct cluster_pod *p = pod_find(c, name);
        if (p == NULL)
                goto out; /* cannot be: a bound target's pod has an entry */
        if (p->seen_ns != 0 && a->visits > p->reported &&
            a->visits - p->reported > plausible_gain(c, now - p->seen_ns)) {
                int64_t ms = (now - p->seen_ns) / 1000000;
                refuse(c, t, CLUSTER_IMPLAUSIBLE, now,
                       "implausible: %" PRIu64 ", up from %" PRIu64 " in %" PRId64 ".%03" PRId64
                       " s (more than %d visits a second); %" PRIu64 " stands",
                       a->visits, p->reported, ms / 1000, ms % 1000, CLUSTER_RATE_MAX, p->visits);
                goto out;
        }
        enum cluster_outcome o = a->visits < p->visits ? CLUSTER_WENT_BACK : CLUSTER_OK;
        if (o == CLUSTER_WENT_BACK)
                say(t->error, sizeof(t->error),
                    "pod %s answered %" PRIu64 ", less than the %" PRIu64
                    " it answered before; the total keeps %" PRIu64,
                    name, a->visits, p->visits, p->visits);
        else
                t->error[0] = '\0';
        if (a->visits > p->visits)
                p->visits = a->visits;
        p->reported = a->visits;
        p->seen_ns = now;
        t->up = 1;
        note(t, o, now);
        t->polled_ns = now;
out:
        pthread_mutex_unlock(&c->mu);
}

void
cluster_record_failure(struct cluster *c, const char *addr, enum cluster_outcome o, const char *why,
                       int64_t now)
{
        pthread_mutex_lock(&c->mu);
        struct cluster_target *t = target_find(c, addr);
        if (t != NULL) {
                struct text e;
                text_init(&e, t->error, sizeof(t->error));
                text_printable(&e, why);
                t->up = 0;
                if (o == CLUSTER_MALFORMED)
                        c->refused[o]++;
                note(t, o, now);
                t->polled_ns = now;
        }
        pthread_mutex_unlock(&c->mu);
}

/* Views. */

static uint64_t
add_saturating(uint64_t a, uint64_t b, int *saturated)
{
        if (b > (uint64_t)INT64_MAX - a) {
                *saturated = 1;
                return INT64_MAX;
        }
        return a + b;
}

/* The target polled for pod p now: the one that answered for it last. */
static const struct cluster_target *
source_of(const struct cluster *c, const struct cluster_pod *p)
{
        const struct cluster_target *best = NULL;

        for (size_t i = 0; i < c->ntargets; i++) {
                const struct cluster_target *t = &c->targets[i];
                if (!t->self && strcmp(t->bound, p->name) == 0 &&
                    (best == NULL || t->claim_ns > best->claim_ns))
                        best = t;
        }
        return best;
}

static void
view_pod(const struct cluster *c, const struct cluster_pod *p, struct cluster_view *v, int64_t now)
{
        struct cluster_view_entry *e = &v->e[v->n++];
        const struct cluster_target *t = source_of(c, p);

        snprintf(e->name, sizeof(e->name), "%s", p->name);
        snprintf(e->peer, sizeof(e->peer), "%s", t ? t->addr : "");
        e->index = 0;
        e->visits = p->visits;
        e->reported = p->reported;
        e->up = t != NULL && t->up;
        e->age_ns = p->seen_ns ? now - p->seen_ns : -1;
        e->error[0] = '\0';
        if (t == NULL) {
                e->state = CLUSTER_LEFT;
        } else if (p->conflict_ns != 0 && now - p->conflict_ns <= window_ns(c)) {
                e->state = CLUSTER_CONFLICT;
                snprintf(e->error, sizeof(e->error), "%s", p->conflict);
        } else if (p->seen_ns == 0) {
                e->state = CLUSTER_UNREACHED;
        } else {
                e->state = e->age_ns <= window_ns(c) ? CLUSTER_FRESH : CLUSTER_STALE;
        }
        if (t != NULL && e->error[0] == '\0' && !t->up)
                snprintf(e->error, sizeof(e->error), "%s",
                         t->polled_ns ? t->error : "not polled yet");
        v->total = add_saturating(v->total, p->visits, &v->saturated);
        v->partial |= e->state != CLUSTER_FRESH && e->state != CLUSTER_LEFT;
}

/* An address that never answered: no pod's name yet. */
static void
view_unnamed(const struct cluster_target *t, unsigned index, struct cluster_view *v)
{
        struct cluster_view_entry *e = &v->e[v->n++];

        e->name[0] = '\0';
        snprintf(e->peer, sizeof(e->peer), "%s", t->addr);
        e->index = index;
        e->state = CLUSTER_UNREACHED;
        e->visits = e->reported = 0;
        e->age_ns = -1;
        e->up = 0;
        snprintf(e->error, sizeof(e->error), "%s", t->polled_ns ? t->error : "not polled yet");
        v->partial = 1;
}

void
cluster_view(struct cluster *c, uint64_t own, struct cluster_view *v, int64_t now)
{
        pthread_mutex_lock(&c->mu);
        /* *v is output only: cppcheck takes this first write for a read of it. */
        // cppcheck-suppress ctuuninitvar
        snprintf(v->self, sizeof(v->self), "%s", c->self);
        v->own = own;
        v->saturated = 0;
        v->total = add_saturating(0, own, &v->saturated);
        v->partial = 0;
        v->not_polled = c->not_polled;
        v->partial |= c->not_polled != 0;
        memcpy(v->refused, c->refused, sizeof(v->refused));
        v->discovery = CLUSTER_DISCOVERY_OFF;
        v->discovery_error[0] = '\0';
        if (c->discover.kind != PEER_DISCOVER_NONE) {
                int ok = c->discovered && c->discovery_error[0] == '\0';
                v->discovery = ok ? CLUSTER_DISCOVERY_OK : CLUSTER_DISCOVERY_FAILING;
                snprintf(v->discovery_error, sizeof(v->discovery_error), "%s",
                         c->discovered ? c->discovery_error : "no answer from DNS yet");
                /* Not found lately: a pod that joined since would be missing. */
                v->partial |= !c->discovered || now - c->discovery_ok_ns > window_ns(c);
        }
        v->n = 1;
        struct cluster_view_entry *e = &v->e[0];
        snprintf(e->name, sizeof(e->name), "%s", c->self);
        e->peer[0] = e->error[0] = '\0';
        e->index = 0;
        e->state = CLUSTER_SELF;
        e->up = 1;
        e->visits = e->reported = own;
        e->age_ns = 0;
        for (size_t k = 0; k < c->npods && v->n <= CLUSTER_PODS_MAX; k++)
                view_pod(c, &c->pods[k], v, now);
        for (size_t k = 0; k < c->ntargets && v->n <= CLUSTER_PODS_MAX; k++) {
                const struct cluster_target *t = &c->targets[k];
                if (!t->self && t->bound[0] == '\0')
                        view_unnamed(t, (unsigned)k + 1, v);
        }
        pthread_mutex_unlock(&c->mu);
}

int
cluster_seen(struct cluster *c, const char *name, int64_t now, uint64_t *visits, int64_t *age_ns,
             enum cluster_state *st)
{
        pthread_mutex_lock(&c->mu);
        const struct cluster_pod *p = pod_find(c, name);
        int seen = p != NULL && p->seen_ns != 0;
        if (seen) {
                const struct cluster_target *t = source_of(c, p);
                *visits = p->visits;
                *age_ns = now - p->seen_ns;
                if (t == NULL)
                        *st = CLUSTER_LEFT;
                else if (p->conflict_ns != 0 && now - p->conflict_ns <= window_ns(c))
                        *st = CLUSTER_CONFLICT;
                else
                        *st = *age_ns <= window_ns(c) ? CLUSTER_FRESH : CLUSTER_STALE;
        }
        pthread_mutex_unlock(&c->mu);
        return seen;
}
