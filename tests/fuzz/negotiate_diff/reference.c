/*
 * A reference Accept weigher for tests/fuzz/negotiate_diff: RFC 9110 12.5.1
 * read as plainly as possible, in three separate steps and with no attempt
 * at speed, so that negotiate.c's one-pass parser and its fast path (an
 * element that no wanted type could match is passed over unparsed) can be
 * compared with it on any input.
 *
 * The grammar (RFC 9110 5.6.1-5.6.6, 8.3.1, 12.4.2, 12.5.1):
 *
 *   Accept        = #( media-range [ weight ] )    ; elements split at ','
 *   media-range   = ( "* / *" / type "/" "*" / type "/" subtype ) parameters
 *   parameters    = *( OWS ";" OWS [ parameter ] )
 *   parameter     = token "=" ( token / quoted-string )
 *   weight        = OWS ";" OWS "q=" qvalue       ; q: any case
 *   qvalue        = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 *   quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
 *   OWS           = *( SP / HTAB )
 *
 * Where the RFC leaves a choice, this file takes the one negotiate.h
 * documents, and says so:
 * - "No or an empty header accepts everything": only a value of zero bytes
 *   is empty; one of blanks names nothing and weighs every type 0.
 * - The weight is a parameter named q wherever it stands among the
 *   parameters; a second one, or one whose value is not a qvalue (quoted,
 *   q=2, q=0.0001), makes the range not parse.
 * - A range that does not parse is ignored (weighs nothing). Where it ends
 *   is where the list's next ',' is, reading left to right: a '"' opens a
 *   quoted-string wherever it stands, and a control byte inside one (or a
 *   '\' at the very end) ends that quoted-string as malformed, the byte
 *   included.
 * - Only the first NEGOTIATE_MAX bytes are read; when the value is longer,
 *   the element they end in is incomplete and ignored.
 * - A wanted type is split at its first '/': "major/sub". One with no '/'
 *   is named only by "* / *".
 * - Each type takes the weight of the most specific range naming it
 *   (type/subtype, then type/ *, then * / *), the first of equals; 0 if none.
 * Type, subtype and parameter names compare without ASCII case.
 */
#include "reference.h"

#include <string.h>

#include "negotiate.h"

static int
is_tchar(unsigned char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
is_ows(unsigned char c)
{
        return c == ' ' || c == '\t';
}

static int
is_ctl(unsigned char c)
{
        return (c < 0x20 && c != '\t') || c == 0x7f;
}

static unsigned char
lower(unsigned char c)
{
        return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static int
same_ci(const char *a, size_t a_len, const char *b, size_t b_len)
{
        if (a_len != b_len)
                return 0;
        for (size_t i = 0; i < a_len; i++)
                if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
                        return 0;
        return 1;
}

/* A token at s[*i..n): its length, *i moved past it. */
static size_t
token(const char *s, size_t n, size_t *i)
{
        size_t start = *i;

        while (*i < n && is_tchar((unsigned char)s[*i]))
                (*i)++;
        return *i - start;
}

/* A quoted-string at s[*i] == '"': 0 and *i past it if well-formed, else -1. */
static int
quoted_string(const char *s, size_t n, size_t *i)
{
        for (size_t j = *i + 1; j < n; j++) {
                unsigned char c = (unsigned char)s[j];
                if (c == '"') {
                        *i = j + 1;
                        return 0;
                }
                if (c == '\\' && ++j == n)
                        return -1;
                if (is_ctl((unsigned char)s[j]))
                        return -1;
        }
        return -1;
}

static int
qvalue(const char *s, size_t len, int *q)
{
        if (len == 0 || len > 5 || (s[0] != '0' && s[0] != '1') || (len > 1 && s[1] != '.'))
                return -1;
        int v = 0;
        for (size_t i = 2; i < len; i++) {
                if (s[i] < '0' || s[i] > '9' || (s[0] == '1' && s[i] != '0'))
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        for (size_t i = len < 2 ? 0 : len - 2; i < 3; i++)
                v *= 10; /* thousandths */
        *q = s[0] == '1' ? NEGOTIATE_Q_MAX : v;
        return 0;
}

struct range {
        const char *type, *sub;
        size_t type_len, sub_len;
        int q;
};

/* Step 2: one element, s[0..n) with no leading blank, as a media range; -1 if it is not one. */
static int
parse_range(const char *s, size_t n, struct range *r)
{
        size_t i = 0;
        int seen_q = 0;

        r->type = s;
        r->type_len = token(s, n, &i);
        if (r->type_len == 0 || i == n || s[i] != '/')
                return -1;
        i++;
        r->sub = s + i;
        r->sub_len = token(s, n, &i);
        if (r->sub_len == 0)
                return -1;
        if (same_ci(r->type, r->type_len, "*", 1) && !same_ci(r->sub, r->sub_len, "*", 1))
                return -1;
        r->q = NEGOTIATE_Q_MAX;
        for (;;) {
                while (i < n && is_ows((unsigned char)s[i]))
                        i++;
                if (i == n)
                        return 0;
                if (s[i] != ';')
                        return -1;
                i++;
                while (i < n && is_ows((unsigned char)s[i]))
                        i++;
                if (i == n || s[i] == ';')
                        continue; /* an empty parameter */
                const char *name = s + i;
                size_t name_len = token(s, n, &i);
                if (name_len == 0 || i == n || s[i] != '=')
                        return -1;
                i++;
                int is_q = same_ci(name, name_len, "q", 1);
                if (i < n && s[i] == '"') {
                        if (is_q || quoted_string(s, n, &i) != 0)
                                return -1;
                        continue;
                }
                const char *value = s + i;
                size_t value_len = token(s, n, &i);
                if (value_len == 0)
                        return -1;
                if (is_q && (seen_q++ || qvalue(value, value_len, &r->q) != 0))
                        return -1;
        }
}

/* How specifically r names the type major/sub: 2, 1 (type/ *), 0 (* / *), -1 not at all. */
static int
specificity(const struct range *r, const char *type)
{
        if (same_ci(r->type, r->type_len, "*", 1))
                return 0;
        const char *slash = strchr(type, '/');
        if (slash == NULL || !same_ci(r->type, r->type_len, type, (size_t)(slash - type)))
                return -1;
        if (same_ci(r->sub, r->sub_len, "*", 1))
                return 1;
        return same_ci(r->sub, r->sub_len, slash + 1, strlen(slash + 1)) ? 2 : -1;
}

void
reference_weigh(const char *accept, const char *const types[], int q[], size_t n)
{
        size_t len = accept == NULL ? 0 : strlen(accept);
        int rank[NEGOTIATE_TYPES_MAX];

        for (size_t t = 0; t < n; t++)
                q[t] = len == 0 ? NEGOTIATE_Q_MAX : 0;
        if (len == 0)
                return;
        if (n > NEGOTIATE_TYPES_MAX)
                n = NEGOTIATE_TYPES_MAX;
        for (size_t t = 0; t < n; t++)
                rank[t] = -1;
        int cut = len > NEGOTIATE_MAX;
        if (cut)
                len = NEGOTIATE_MAX;

        /* Step 1: the elements, split at each ',' outside a quoted-string. */
        size_t start = 0;
        while (start < len) {
                size_t i = start;
                while (i < len && accept[i] != ',') {
                        if (accept[i] == '"') {
                                size_t j = i;
                                if (quoted_string(accept, len, &j) == 0) {
                                        i = j;
                                        continue;
                                }
                                /* malformed: it ends at its bad byte, included */
                                for (j = i + 1; j < len; j++) {
                                        if (accept[j] == '\\' && j + 1 < len)
                                                j++;
                                        else if (accept[j] == '\\')
                                                break;
                                        if (is_ctl((unsigned char)accept[j]))
                                                break;
                                }
                                i = j < len ? j + 1 : len;
                                continue;
                        }
                        i++;
                }
                size_t end = i, b = start;
                while (b < end && is_ows((unsigned char)accept[b]))
                        b++;
                struct range r;
                /* Steps 2 and 3: a complete element that parses weighs the types it names. */
                if (b < end && !(cut && end == len) && parse_range(accept + b, end - b, &r) == 0)
                        for (size_t t = 0; t < n; t++) {
                                int s = specificity(&r, types[t]);
                                if (s > rank[t]) {
                                        rank[t] = s;
                                        q[t] = r.q;
                                }
                        }
                start = end + 1;
        }
}
