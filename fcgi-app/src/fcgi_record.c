/*
 * FastCGI records as nginx sends them (ngx_http_fastcgi_create_request), and
 * nothing else. Field layout from the FastCGI 1.0 specification, section 3.
 *
 * Stricter than the specification where libfcgi 2.4.2 is weaker than it:
 * libfcgi forgets the padding of a BEGIN_REQUEST record and of the empty
 * PARAMS record (SetReaderType() resets it) and would read the padding as
 * the next header, and it adds name and value lengths in an int. Requiring
 * what nginx sends (no padding there, lengths within their record) keeps
 * both from ever mattering.
 */
#include "fcgi_record.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#define HEADER_LEN  8
#define VERSION_1   1
#define BEGIN       1 /* FCGI_BEGIN_REQUEST */
#define PARAMS      4 /* FCGI_PARAMS */
#define STDIN       5 /* FCGI_STDIN */
#define RESPONDER   1 /* FCGI_RESPONDER */
#define KEEP_CONN   1 /* FCGI_KEEP_CONN */
#define MAX_PADDING 7 /* nginx pads content to a multiple of 8 */

struct header {
        unsigned version, type, id;
        size_t content, padding;
};

/* Says why into why; returns -1. */
static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *why, size_t whylen, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
        return -1;
}

static struct header
parse_header(const unsigned char *p)
{
        struct header h = {
            .version = p[0],
            .type = p[1],
            .id = (unsigned)p[2] << 8 | p[3],
            .content = (size_t)p[4] << 8 | p[5],
            .padding = p[6],
        };
        return h;
}

static const char *
type_name(unsigned type)
{
        switch (type) {
        case BEGIN: return "FCGI_BEGIN_REQUEST";
        case PARAMS: return "FCGI_PARAMS";
        case STDIN: return "FCGI_STDIN";
        default: return "another type";
        }
}

/* A name or value length: one byte below 128, else four with the top bit set. */
static int
read_length(const unsigned char *p, size_t n, size_t *off, size_t *out)
{
        if (*off >= n)
                return -1;
        if (p[*off] < 0x80) {
                *out = p[(*off)++];
                return 0;
        }
        if (n - *off < 4)
                return -1;
        *out = (size_t)(p[*off] & 0x7f) << 24 | (size_t)p[*off + 1] << 16 |
               (size_t)p[*off + 2] << 8 | p[*off + 3];
        *off += 4;
        return 0;
}

/* The content of one PARAMS record: whole name-value pairs, each within the record. */
static int
check_pairs(const unsigned char *p, size_t n, unsigned *count, char *why, size_t whylen)
{
        size_t off = 0;

        while (off < n) {
                size_t name, value;
                if (read_length(p, n, &off, &name) != 0 || read_length(p, n, &off, &value) != 0)
                        return fail(why, whylen, "FCGI_PARAMS: a length cut off at byte %zu", off);
                if (name > n - off || value > n - off - name)
                        return fail(why, whylen,
                                    "FCGI_PARAMS: a name of %zu and a value of %zu bytes in "
                                    "the %zu left of the record",
                                    name, value, n - off);
                off += name + value;
                if (++*count > FCGI_PARAMS_MAX)
                        return fail(why, whylen, "more than %d FCGI_PARAMS pairs", FCGI_PARAMS_MAX);
        }
        return 0;
}

/* Where a scan is: the record expected next, and what the first ones said. */
struct scan {
        unsigned want; /* BEGIN, PARAMS, STDIN, or 0 once the empty STDIN record was seen */
        unsigned id;
        unsigned pairs;
};

/* What can be judged from the header of a record that starts at off. */
static int
check_header(const struct header *h, const struct scan *st, size_t off, char *why, size_t whylen)
{
        if (h->version != VERSION_1)
                return fail(why, whylen, "FastCGI version %u", h->version);
        if (h->type != st->want)
                return fail(why, whylen, "record type %u where nginx sends %s", h->type,
                            type_name(st->want));
        if (off + HEADER_LEN + h->content + h->padding > FCGI_REQUEST_MAX)
                return fail(why, whylen, "a request longer than %d bytes", FCGI_REQUEST_MAX);
        if (st->want == BEGIN) {
                if (h->id == 0 || h->content != 8 || h->padding != 0)
                        return fail(why, whylen,
                                    "FCGI_BEGIN_REQUEST with id %u, length %zu, padding %zu", h->id,
                                    h->content, h->padding);
                return 0;
        }
        if (h->id != st->id)
                return fail(why, whylen, "%s for request %u in request %u", type_name(st->want),
                            h->id, st->id);
        if (h->padding > (h->content == 0 ? 0 : MAX_PADDING))
                return fail(why, whylen, "%s of %zu bytes with %zu of padding", type_name(st->want),
                            h->content, h->padding);
        return 0;
}

/* The content of a whole record; moves st on to the record expected next. */
static int
check_body(const struct header *h, const unsigned char *body, struct scan *st, char *why,
           size_t whylen)
{
        if (st->want == BEGIN) {
                unsigned role = (unsigned)body[0] << 8 | body[1];
                if (role != RESPONDER || (body[2] & ~KEEP_CONN) != 0)
                        return fail(why, whylen, "FCGI_BEGIN_REQUEST for role %u, flags %#x", role,
                                    body[2]);
                st->id = h->id;
                st->want = PARAMS;
                return 0;
        }
        if (h->content == 0) {
                st->want = st->want == PARAMS ? STDIN : 0;
                return 0;
        }
        if (st->want == PARAMS)
                return check_pairs(body, h->content, &st->pairs, why, whylen);
        return 0; /* a request body: any bytes */
}

enum fcgi_scan
fcgi_scan(const unsigned char *buf, size_t len, char *why, size_t whylen)
{
        struct scan st = {.want = BEGIN};
        size_t off = 0;

        if (len > FCGI_REQUEST_MAX) {
                fail(why, whylen, "more than %d bytes for one request", FCGI_REQUEST_MAX);
                return FCGI_SCAN_INVALID;
        }
        while (st.want != 0) {
                if (len - off < HEADER_LEN)
                        return FCGI_SCAN_PARTIAL;
                struct header h = parse_header(buf + off);
                if (check_header(&h, &st, off, why, whylen) != 0)
                        return FCGI_SCAN_INVALID;
                size_t end = off + HEADER_LEN + h.content + h.padding;
                if (len < end)
                        return FCGI_SCAN_PARTIAL;
                if (check_body(&h, buf + off + HEADER_LEN, &st, why, whylen) != 0)
                        return FCGI_SCAN_INVALID;
                off = end;
        }
        if (off != len) {
                fail(why, whylen, "%zu bytes after a complete request (nginx waits for the answer)",
                     len - off);
                return FCGI_SCAN_INVALID;
        }
        return FCGI_SCAN_COMPLETE;
}
