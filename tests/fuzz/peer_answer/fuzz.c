/*
 * A peer's answer: bytes -> cluster_parse_answer(), held to a second,
 * independent reading of the same rules. The reference first checks that
 * the whole input is UTF-8 (RFC 8259 8.1) by decoding code points, then
 * cuts it into tokens, then parses the tokens into the top-level object's
 * members (decoded names, the value's token) with the JSON grammar, and only
 * then applies the answer's rules: "visits" and "age_ms" a token that is a
 * decimal without sign, fraction, exponent or leading zero, at most 2^63-1
 * compared as a string; "pod" and "of" a string of 1 to 63 letters, digits,
 * '-', '.', '_'; no name twice; values nested at most 16 deep; "visits" and
 * "pod" present. The two must agree on every input, and on the values read.
 * A taken answer written again as {"visits":N,"pod":"P"} is taken again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "fuzz.h"
#include "log.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        log_set_level(LOG_LEVEL_ERROR);
        return 0;
}

/* The reference. */

enum tok { T_LBRACE, T_RBRACE, T_LBRACK, T_RBRACK, T_COLON, T_COMMA, T_STRING, T_NUMBER, T_LIT };

struct token {
        enum tok kind;
        size_t start, len;   /* in the input */
        size_t dstart, dlen; /* T_STRING: its decoded bytes in ref.decoded */
};

struct ref {
        const uint8_t *in;
        size_t n;
        struct token tok[CLUSTER_ANSWER_MAX + 1];
        size_t ntok, pos;
        uint8_t decoded[4 * CLUSTER_ANSWER_MAX];
        size_t dlen;
        /* the top-level object's members */
        size_t nmem;
        struct {
                size_t key; /* token */
                size_t value;
        } mem[CLUSTER_ANSWER_MAX];
};

/* Code points of well-formed UTF-8 (Unicode 3.9, table 3-7), or -1. */
static long
next_code_point(const uint8_t *s, size_t n, size_t *used)
{
        uint8_t b = s[0];
        long cp;
        size_t len;

        if (b < 0x80) {
                *used = 1;
                return b;
        }
        if (b >= 0xc2 && b <= 0xdf) {
                len = 2;
                cp = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
                len = 3;
                cp = b & 0x0f;
        } else if (b >= 0xf0 && b <= 0xf4) {
                len = 4;
                cp = b & 0x07;
        } else {
                return -1;
        }
        if (n < len)
                return -1;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return -1;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return -1;
        *used = len;
        return cp;
}

static int
all_utf8(const uint8_t *s, size_t n)
{
        for (size_t i = 0, used; i < n; i += used) {
                if (next_code_point(s + i, n - i, &used) < 0)
                        return 0;
        }
        return 1;
}

static int
hexval(uint8_t c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static void
put_cp(struct ref *r, long cp)
{
        uint8_t *d = r->decoded + r->dlen;

        if (cp < 0x80) {
                d[0] = (uint8_t)cp;
                r->dlen += 1;
        } else if (cp < 0x800) {
                d[0] = (uint8_t)(0xc0 | cp >> 6);
                d[1] = (uint8_t)(0x80 | (cp & 0x3f));
                r->dlen += 2;
        } else if (cp < 0x10000) {
                d[0] = (uint8_t)(0xe0 | cp >> 12);
                d[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
                d[2] = (uint8_t)(0x80 | (cp & 0x3f));
                r->dlen += 3;
        } else {
                d[0] = (uint8_t)(0xf0 | cp >> 18);
                d[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
                d[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
                d[3] = (uint8_t)(0x80 | (cp & 0x3f));
                r->dlen += 4;
        }
}

/* Four hex digits at s[i]: the value, or -1. */
static long
hex4_at(const uint8_t *s, size_t n, size_t i)
{
        long v = 0;

        if (i + 4 > n)
                return -1;
        for (size_t k = 0; k < 4; k++) {
                int h = hexval(s[i + k]);
                if (h < 0)
                        return -1;
                v = v * 16 + h;
        }
        return v;
}

/* The string starting at in[i] (a quote): its end (past the closing quote), or 0. */
static size_t
lex_string(struct ref *r, size_t i, struct token *t)
{
        const uint8_t *s = r->in;
        size_t n = r->n;

        t->dstart = r->dlen;
        for (i++; i < n;) {
                if (s[i] == '"') {
                        t->dlen = r->dlen - t->dstart;
                        return i + 1;
                }
                if (s[i] < 0x20)
                        return 0;
                if (s[i] != '\\') {
                        size_t used;
                        long cp = next_code_point(s + i, n - i, &used);
                        if (cp < 0)
                                return 0;
                        put_cp(r, cp);
                        i += used;
                        continue;
                }
                if (i + 1 >= n)
                        return 0;
                const char *simple = strchr("\"\\/bfnrt", s[i + 1]);
                if (s[i + 1] != 'u' && (simple == NULL || s[i + 1] == '\0'))
                        return 0;
                if (s[i + 1] != 'u') {
                        static const char out[] = "\"\\/\b\f\n\r\t";
                        put_cp(r, out[simple - "\"\\/bfnrt"]);
                        i += 2;
                        continue;
                }
                long cp = hex4_at(s, n, i + 2);
                if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff))
                        return 0;
                i += 6;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                        if (i + 1 >= n || s[i] != '\\' || s[i + 1] != 'u')
                                return 0;
                        long lo = hex4_at(s, n, i + 2);
                        if (lo < 0xdc00 || lo > 0xdfff)
                                return 0;
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        i += 6;
                }
                put_cp(r, cp);
        }
        return 0;
}

/* A run of number characters: one JSON number, the whole run. */
static int
number_ok(const uint8_t *s, size_t n)
{
        size_t i = 0;

        if (i < n && s[i] == '-')
                i++;
        if (i < n && s[i] == '0') {
                i++;
        } else {
                size_t d = i;
                while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
                if (i == d || s[d] == '0')
                        return 0;
        }
        if (i < n && s[i] == '.') {
                size_t d = ++i;
                while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
                if (i == d)
                        return 0;
        }
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                i++;
                if (i < n && (s[i] == '+' || s[i] == '-'))
                        i++;
                size_t d = i;
                while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
                if (i == d)
                        return 0;
        }
        return i == n;
}

static int
lex(struct ref *r)
{
        const uint8_t *s = r->in;

        for (size_t i = 0; i < r->n;) {
                uint8_t c = s[i];
                struct token *t = &r->tok[r->ntok];
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                        i++;
                        continue;
                }
                t->start = i;
                const char *punct = strchr("{}[]:,", c);
                if (c != '\0' && punct != NULL) {
                        static const enum tok kinds[] = {T_LBRACE, T_RBRACE, T_LBRACK,
                                                         T_RBRACK, T_COLON,  T_COMMA};
                        t->kind = kinds[punct - "{}[]:,"];
                        i++;
                } else if (c == '"') {
                        t->kind = T_STRING;
                        i = lex_string(r, i, t);
                        if (i == 0)
                                return 0;
                } else if (c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9')) {
                        t->kind = T_NUMBER;
                        while (i < r->n &&
                               (strchr("+-.eE", s[i]) != NULL || (s[i] >= '0' && s[i] <= '9')) &&
                               s[i] != '\0')
                                i++;
                        if (!number_ok(s + t->start, i - t->start))
                                return 0;
                } else if (c >= 'a' && c <= 'z') {
                        t->kind = T_LIT;
                        while (i < r->n && s[i] >= 'a' && s[i] <= 'z')
                                i++;
                        size_t len = i - t->start;
                        if (!((len == 4 && memcmp(s + t->start, "true", 4) == 0) ||
                              (len == 5 && memcmp(s + t->start, "false", 5) == 0) ||
                              (len == 4 && memcmp(s + t->start, "null", 4) == 0)))
                                return 0;
                } else {
                        return 0;
                }
                t->len = i - t->start;
                r->ntok++;
        }
        return 1;
}

/* A value at token pos, nested at level (the top object's members: 1); 1 if well-formed. */
static int
value(struct ref *r, int level)
{
        if (level > 16 || r->pos >= r->ntok)
                return 0;
        enum tok k = r->tok[r->pos++].kind;
        if (k == T_STRING || k == T_NUMBER || k == T_LIT)
                return 1;
        if (k != T_LBRACE && k != T_LBRACK)
                return 0;
        enum tok close = k == T_LBRACE ? T_RBRACE : T_RBRACK;
        if (r->pos < r->ntok && r->tok[r->pos].kind == close) {
                r->pos++;
                return 1;
        }
        for (;;) {
                if (k == T_LBRACE) {
                        if (r->pos + 1 >= r->ntok || r->tok[r->pos].kind != T_STRING ||
                            r->tok[r->pos + 1].kind != T_COLON)
                                return 0;
                        r->pos += 2;
                }
                if (!value(r, level + 1) || r->pos >= r->ntok)
                        return 0;
                enum tok sep = r->tok[r->pos++].kind;
                if (sep == close)
                        return 1;
                if (sep != T_COMMA)
                        return 0;
        }
}

/* The top level: one object; its members recorded. */
static int
document(struct ref *r)
{
        if (r->ntok < 2 || r->tok[0].kind != T_LBRACE)
                return 0;
        r->pos = 1;
        if (r->tok[1].kind == T_RBRACE)
                return r->ntok == 2;
        for (;;) {
                if (r->pos + 1 >= r->ntok || r->tok[r->pos].kind != T_STRING ||
                    r->tok[r->pos + 1].kind != T_COLON)
                        return 0;
                r->mem[r->nmem].key = r->pos;
                r->pos += 2;
                r->mem[r->nmem++].value = r->pos;
                if (!value(r, 1) || r->pos >= r->ntok)
                        return 0;
                enum tok sep = r->tok[r->pos++].kind;
                if (sep == T_RBRACE)
                        return r->pos == r->ntok;
                if (sep != T_COMMA)
                        return 0;
        }
}

static int
key_equals(const struct ref *r, size_t tok, const char *name)
{
        const struct token *t = &r->tok[tok];

        return t->dlen == strlen(name) && memcmp(r->decoded + t->dstart, name, t->dlen) == 0;
}

/* A count token: 0 or [1-9][0-9]*, at most 19 digits and not above "9223372036854775807". */
static int
count_token(const struct ref *r, size_t tok, uint64_t *out)
{
        const struct token *t = &r->tok[tok];
        const char *s = (const char *)r->in + t->start;
        static const char max[] = "9223372036854775807";

        if (t->kind != T_NUMBER || t->len == 0 || t->len > 19)
                return 0;
        for (size_t i = 0; i < t->len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return 0;
        }
        if (s[0] == '0' && t->len > 1)
                return 0;
        if (t->len == 19 && memcmp(s, max, 19) > 0)
                return 0;
        uint64_t v = 0;
        for (size_t i = 0; i < t->len; i++)
                v = v * 10 + (uint64_t)(s[i] - '0');
        *out = v;
        return 1;
}

static int
name_token(const struct ref *r, size_t tok, char *out)
{
        const struct token *t = &r->tok[tok];
        const uint8_t *d = r->decoded + t->dstart;

        if (t->kind != T_STRING || t->dlen < 1 || t->dlen > 63)
                return 0;
        for (size_t i = 0; i < t->dlen; i++) {
                uint8_t c = d[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_'))
                        return 0;
        }
        memcpy(out, d, t->dlen);
        out[t->dlen] = '\0';
        return 1;
}

static int
reference(const uint8_t *data, size_t size, struct cluster_answer *a)
{
        static struct ref r;
        int visits = 0, pod = 0;

        memset(a, 0, sizeof(*a));
        a->age_ms = -1;
        if (size == 0 || size > CLUSTER_ANSWER_MAX || !all_utf8(data, size))
                return -1;
        memset(&r, 0, sizeof(r));
        r.in = data;
        r.n = size;
        if (!lex(&r) || !document(&r))
                return -1;
        for (size_t i = 0; i < r.nmem; i++) {
                for (size_t j = 0; j < i; j++) {
                        const struct token *x = &r.tok[r.mem[i].key], *y = &r.tok[r.mem[j].key];
                        if (x->dlen == y->dlen &&
                            memcmp(r.decoded + x->dstart, r.decoded + y->dstart, x->dlen) == 0)
                                return -1;
                }
                size_t k = r.mem[i].key, v = r.mem[i].value;
                uint64_t n;
                if (key_equals(&r, k, "visits")) {
                        if (!count_token(&r, v, &a->visits))
                                return -1;
                        visits = 1;
                } else if (key_equals(&r, k, "age_ms")) {
                        if (!count_token(&r, v, &n))
                                return -1;
                        a->age_ms = (int64_t)n;
                } else if (key_equals(&r, k, "pod")) {
                        if (!name_token(&r, v, a->pod))
                                return -1;
                        pod = 1;
                } else if (key_equals(&r, k, "of")) {
                        if (!name_token(&r, v, a->of))
                                return -1;
                }
        }
        return visits && pod ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cluster_answer got, want, again;
        char why[256], canon[CLUSTER_ANSWER_MAX];

        why[0] = '\0';
        int rc = cluster_parse_answer((const char *)data, size, &got, why, sizeof(why));
        int expect = reference(data, size, &want);
        fuzz_assert(rc == expect, "cluster_parse_answer %d, the reference %d (%s)", rc, expect,
                    why);
        if (rc != 0) {
                fuzz_assert(why[0] != '\0', "no reason given");
                for (const char *p = why; *p; p++)
                        fuzz_assert(*p >= 0x20 && *p < 0x7f, "a reason with byte 0x%02x",
                                    (unsigned char)*p);
                return 0;
        }
        fuzz_assert(got.visits == want.visits, "visits %" PRIu64 ", the reference %" PRIu64,
                    got.visits, want.visits);
        fuzz_assert(got.visits <= (uint64_t)INT64_MAX, "visits past 2^63-1");
        fuzz_assert(strcmp(got.pod, want.pod) == 0, "pod \"%s\", the reference \"%s\"", got.pod,
                    want.pod);
        fuzz_assert(strcmp(got.of, want.of) == 0, "of \"%s\", the reference \"%s\"", got.of,
                    want.of);
        fuzz_assert(got.age_ms == want.age_ms, "age_ms %" PRId64 ", the reference %" PRId64,
                    got.age_ms, want.age_ms);
        int n = snprintf(canon, sizeof(canon), "{\"visits\":%" PRIu64 ",\"pod\":\"%s\"}",
                         got.visits, got.pod);
        fuzz_assert(cluster_parse_answer(canon, (size_t)n, &again, why, sizeof(why)) == 0,
                    "%s is refused: %s", canon, why);
        fuzz_assert(again.visits == got.visits && strcmp(again.pod, got.pod) == 0,
                    "%s read back differently", canon);
        return 0;
}
