/*
 * The Accept header (RFC 9110 12.5.1), parsed in one forward pass: every
 * function here only moves the cursor on, so the work is linear in the bytes
 * looked at, and those are at most NEGOTIATE_MAX.
 *
 *   Accept      = #( media-range [ weight ] )
 *   media-range = ( "* / *" / type "/" "*" / type "/" subtype ) parameters
 *   parameters  = *( OWS ";" OWS [ parameter ] )
 *   parameter   = token "=" ( token / quoted-string )
 *   weight      = "q=" qvalue, as any parameter named q (RFC 9110: in any place)
 *   qvalue      = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 *
 * Parameters other than q are checked and then play no part in matching: no
 * representation here has a parameter a client could choose by.
 */
#include "negotiate.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

struct cursor {
        const char *s;
        size_t i, n;
        int cut; /* the value goes on past n: the range that reaches n is incomplete */
};

struct range {
        const char *type, *sub;
        size_t type_len, sub_len;
        int q; /* thousandths */
};

/*
 * RFC 9110's tchar as a bitmap of the 128 ASCII bytes: one lookup for each
 * byte of the header (a strchr() on the list of marks was half the time).
 */
#define BIT(c)     (UINT64_C(1) << ((c) % 64))
#define SPAN(a, b) (((UINT64_C(1) << ((b) - (a) + 1)) - 1) << ((a) % 64))
static const uint64_t TCHAR[2] = {
    BIT('!') | SPAN('#', '\'') | BIT('*') | BIT('+') | BIT('-') | BIT('.') | SPAN('0', '9'),
    SPAN('A', 'Z') | SPAN('^', 'z') | BIT('|') | BIT('~'), /* ^ _ ` a-z */
};

static int
is_tchar(int c)
{
        return c >= 0 && c < 128 && ((TCHAR[c / 64] >> (c % 64)) & 1) != 0;
}

/* The byte at the cursor, or -1 at the end. */
static int
peek(const struct cursor *c)
{
        return c->i < c->n ? (unsigned char)c->s[c->i] : -1;
}

static void
skip_ows(struct cursor *c)
{
        while (peek(c) == ' ' || peek(c) == '\t')
                c->i++;
}

/* Moves past the token at the cursor; returns its length (0: none there). */
static size_t
token(struct cursor *c)
{
        /* Locals: through c, each byte's load waited for the store of the index before it. */
        const char *s = c->s;
        size_t start = c->i, i = start;

        while (i < c->n && is_tchar((unsigned char)s[i]))
                i++;
        c->i = i;
        return i - start;
}

static int
is_ctl(int c)
{
        return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Moves past the quoted-string that starts at the cursor; -1 if it is malformed or unended. */
static int
quoted_string(struct cursor *c)
{
        c->i++; /* the opening quote */
        while (c->i < c->n) {
                int ch = (unsigned char)c->s[c->i++];
                if (ch == '"')
                        return 0;
                if (ch == '\\') {
                        if (c->i == c->n)
                                return -1;
                        ch = (unsigned char)c->s[c->i++];
                }
                if (is_ctl(ch))
                        return -1;
        }
        return -1;
}

/* len bytes of a qvalue into thousandths; -1 if they are not one. */
static int
qvalue(const char *s, size_t len, int *q)
{
        int v = 0, scale = 100;

        if (len == 0 || (s[0] != '0' && s[0] != '1') || (len > 1 && s[1] != '.') || len > 5)
                return -1;
        for (size_t i = 2; i < len; i++, scale /= 10) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v += (s[i] - '0') * scale;
        }
        if (s[0] == '1' && v != 0)
                return -1;
        *q = s[0] == '1' ? NEGOTIATE_Q_MAX : v;
        return 0;
}

/* One "name=value" at the cursor; a q sets r->q (once). -1 if malformed. */
static int
parameter(struct cursor *c, struct range *r, int *seen_q)
{
        const char *name = c->s + c->i;
        size_t name_len = token(c);

        if (name_len == 0 || peek(c) != '=')
                return -1;
        c->i++;
        int is_q = name_len == 1 && (name[0] == 'q' || name[0] == 'Q');
        if (peek(c) == '"')
                return is_q ? -1 : quoted_string(c);
        const char *value = c->s + c->i;
        size_t value_len = token(c);
        if (value_len == 0)
                return -1;
        if (!is_q)
                return 0;
        if (*seen_q)
                return -1;
        *seen_q = 1;
        return qvalue(value, value_len, &r->q);
}

static int
is_star(const char *s, size_t len)
{
        return len == 1 && s[0] == '*';
}

/* One media range, up to the ',' after it or the end. -1 if it does not parse. */
static int
media_range(struct cursor *c, struct range *r)
{
        int seen_q = 0;

        r->type = c->s + c->i;
        r->type_len = token(c);
        if (r->type_len == 0 || peek(c) != '/')
                return -1;
        c->i++;
        r->sub = c->s + c->i;
        r->sub_len = token(c);
        if (r->sub_len == 0 || (is_star(r->type, r->type_len) && !is_star(r->sub, r->sub_len)))
                return -1;
        r->q = NEGOTIATE_Q_MAX;
        for (;;) {
                skip_ows(c);
                if (peek(c) == -1)
                        return c->cut ? -1 : 0;
                if (peek(c) == ',')
                        return 0;
                if (peek(c) != ';')
                        return -1;
                c->i++;
                skip_ows(c);
                if (peek(c) == ';' || peek(c) == ',' || peek(c) == -1)
                        continue; /* an empty parameter is allowed */
                if (parameter(c, r, &seen_q) != 0)
                        return -1;
        }
}

/* After a range that did not parse: on to the ',' that ends it (not one in quotes), or the end. */
static void
skip_range(struct cursor *c)
{
        while (peek(c) != -1 && peek(c) != ',') {
                if (peek(c) == '"')
                        (void)quoted_string(c);
                else
                        c->i++;
        }
}

/* A type asked about, split once rather than at every range. */
struct wanted {
        const char *major, *sub;
        size_t major_len, sub_len; /* sub NULL: no '/' in it, matched only by * / * */
};

static void
split_type(const char *type, struct wanted *w)
{
        const char *slash = strchr(type, '/');

        w->major = type;
        w->major_len = slash ? (size_t)(slash - type) : strlen(type);
        w->sub = slash ? slash + 1 : NULL;
        w->sub_len = slash ? strlen(slash + 1) : 0;
}

/* How specifically r names w: 2 type/subtype, 1 type/ *, 0 * / *, -1 not at all. */
static int
specificity(const struct range *r, const struct wanted *w)
{
        if (is_star(r->type, r->type_len))
                return 0;
        int any_sub = is_star(r->sub, r->sub_len);
        /* Lengths first: most ranges of a long header are told apart without a compare. */
        if (w->sub == NULL || r->type_len != w->major_len ||
            (!any_sub && r->sub_len != w->sub_len) ||
            strncasecmp(r->type, w->major, w->major_len) != 0)
                return -1;
        if (any_sub)
                return 1;
        return strncasecmp(r->sub, w->sub, r->sub_len) == 0 ? 2 : -1;
}

/*
 * Whether len bytes at s start with the len_p bytes of p, as ASCII letters
 * compared without case. Bit 0x20 is the case of a letter; it also pairs a
 * few marks (\\ with |), so this may say yes to a byte that is not the same
 * letter: could_match() only needs never to say no to one that is.
 */
static int
starts_with_ci(const char *s, size_t len, const char *p, size_t len_p)
{
        if (len < len_p)
                return 0;
        for (size_t i = 0; i < len_p; i++)
                if ((s[i] | 0x20) != (p[i] | 0x20))
                        return 0;
        return 1;
}

/*
 * Whether the element s[0..len) (no quote in it, so it ends at the ',' after
 * it) could name one of want[]: it starts with "* / *", or with a wanted
 * type's major, "/", and its subtype or "*". Any other element, whether it
 * parses or not, would weigh nothing here, and is passed over unparsed: most
 * of a long header is ranges nobody asked about, and parsing each of their
 * bytes cost several times what finding the next ',' does. The bytes that
 * tell most ranges apart, the '/' and the one after it, are looked at first.
 */
static int
could_match(const char *s, size_t len, const struct wanted want[], size_t n)
{
        if (len >= 3 && s[0] == '*' && s[1] == '/' && s[2] == '*')
                return 1;
        for (size_t t = 0; t < n; t++) {
                const struct wanted *w = &want[t];
                size_t m = w->major_len;
                if (w->sub == NULL || len < m + 2 || s[m] != '/')
                        continue;
                const char *sub = s + m + 1;
                int first = sub[0] | 0x20;
                if ((first == '*' || first == (w->sub[0] | 0x20)) &&
                    starts_with_ci(s, len, w->major, m) &&
                    (first == '*' || starts_with_ci(sub, len - m - 1, w->sub, w->sub_len)))
                        return 1;
        }
        return 0;
}

/* A range that parsed: it sets the weight of each type it names more specifically than before. */
static void
apply(const struct range *r, const struct wanted want[], int q[], int rank[], size_t n)
{
        for (size_t t = 0; t < n; t++) {
                int s = specificity(r, &want[t]);
                if (s > rank[t]) { /* a tie keeps the first */
                        rank[t] = s;
                        q[t] = r->q;
                }
        }
}

void
negotiate_weigh(const char *accept, const char *const types[], int q[], size_t n)
{
        size_t len = accept ? strnlen(accept, NEGOTIATE_MAX + 1) : 0;
        int rank[NEGOTIATE_TYPES_MAX];
        struct wanted want[NEGOTIATE_TYPES_MAX];

        for (size_t t = 0; t < n; t++)
                q[t] = len == 0 ? NEGOTIATE_Q_MAX : 0;
        if (len == 0)
                return;
        if (n > NEGOTIATE_TYPES_MAX)
                n = NEGOTIATE_TYPES_MAX; /* the rest stay at 0 */
        for (size_t t = 0; t < n; t++) {
                rank[t] = -1;
                split_type(types[t], &want[t]);
        }
        struct cursor c = {.s = accept, .n = len, .cut = len > NEGOTIATE_MAX};
        if (c.cut)
                c.n = NEGOTIATE_MAX;
        /*
         * The first '"' at or after the cursor. Looked for again only once
         * the cursor is past it, so that search, like the one for each ',',
         * goes over each byte once.
         */
        const char *quote = memchr(c.s, '"', c.n);
        while (peek(&c) != -1) {
                struct range r;
                skip_ows(&c);
                if (peek(&c) == ',') { /* an empty element is allowed */
                        c.i++;
                        continue;
                }
                if (peek(&c) == -1)
                        break;
                const char *at = c.s + c.i;
                if (quote != NULL && quote < at)
                        quote = memchr(at, '"', c.n - c.i);
                const char *comma = memchr(at, ',', c.n - c.i);
                const char *end = comma != NULL ? comma : c.s + c.n;
                /* A quoted ',' does not end an element: one with a quote is always parsed. */
                if ((quote == NULL || quote > end) && !could_match(at, (size_t)(end - at), want, n))
                        c.i = (size_t)(end - c.s);
                else if (media_range(&c, &r) == 0)
                        apply(&r, want, q, rank, n);
                else
                        skip_range(&c);
                if (peek(&c) == ',')
                        c.i++;
        }
}
