/*
 * FastCGI records (FastCGI 1.0 specification, sections 3 to 6), laid out as
 * libfcgi's fastcgi.h defines them.
 *
 * Requests are read as nginx sends them (ngx_http_fastcgi_create_request)
 * and nothing else, stricter than the specification where libfcgi 2.4.2 is
 * weaker than it: libfcgi forgets the padding of a BEGIN_REQUEST record and
 * of the empty PARAMS record and would read it as the next header, adds
 * name and value lengths in an int, leaks memory on unknown management
 * records, and asserts (aborting the process) when an allocation fails. So
 * the responder does not let libfcgi read sockets: fcgi_parse() checks and
 * decodes a request in one pass over bytes already in the socket buffer,
 * into libfcgi's parameter array, without allocating.
 */
#include "fastcgi.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <fastcgi.h>
#include <fcgiapp.h>

#define MAX_PADDING 7 /* nginx pads content to a multiple of 8 */
#define CHUNK_MAX   (FCGI_MAX_LENGTH - FCGI_MAX_LENGTH % 8) /* STDOUT content, padding-free */

struct header {
        unsigned version, type, id;
        size_t content, padding;
};

__attribute__((format(printf, 3, 4))) static int
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
        const FCGI_Header *h = (const FCGI_Header *)(const void *)p;

        return (struct header){
            .version = h->version,
            .type = h->type,
            .id = (unsigned)h->requestIdB1 << 8 | h->requestIdB0,
            .content = (size_t)h->contentLengthB1 << 8 | h->contentLengthB0,
            .padding = h->paddingLength,
        };
}

static void
put_header(unsigned char *p, unsigned type, unsigned id, size_t content, size_t padding)
{
        FCGI_Header h = {
            .version = FCGI_VERSION_1,
            .type = (unsigned char)type,
            .requestIdB1 = (unsigned char)(id >> 8),
            .requestIdB0 = (unsigned char)id,
            .contentLengthB1 = (unsigned char)(content >> 8),
            .contentLengthB0 = (unsigned char)content,
            .paddingLength = (unsigned char)padding,
        };

        memcpy(p, &h, sizeof(h));
}

static const char *
type_name(unsigned type)
{
        switch (type) {
        case FCGI_BEGIN_REQUEST: return "FCGI_BEGIN_REQUEST";
        case FCGI_PARAMS: return "FCGI_PARAMS";
        case FCGI_STDIN: return "FCGI_STDIN";
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

/* Where a parse is: the record expected next, what the first ones said, where pairs go. */
struct scan {
        unsigned want; /* BEGIN, PARAMS, STDIN, or 0 once the empty STDIN record was seen */
        unsigned id;
        unsigned pairs;
        struct fcgi_request *req; /* NULL: check only */
        size_t stored;            /* bytes of req->store used */
};

/* One pair into req: "NAME=value" and a NUL, as libfcgi's parameter array holds it. */
static void
store_pair(struct scan *st, const unsigned char *name, size_t nlen, size_t vlen)
{
        struct fcgi_request *r = st->req;
        char *s = r->store + st->stored;

        /* fits: a pair's bytes are within FCGI_REQUEST_MAX, and 2 more per pair are reserved */
        memcpy(s, name, nlen);
        s[nlen] = '=';
        memcpy(s + nlen + 1, name + nlen, vlen);
        s[nlen + 1 + vlen] = '\0';
        st->stored += nlen + vlen + 2;
        r->envp[r->nparams++] = s;
        r->envp[r->nparams] = NULL;
}

/* The content of one PARAMS record: whole name-value pairs, each within the record. */
static int
read_pairs(struct scan *st, const unsigned char *p, size_t n, char *why, size_t whylen)
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
                if (++st->pairs > FCGI_PARAMS_MAX)
                        return fail(why, whylen, "more than %d FCGI_PARAMS pairs", FCGI_PARAMS_MAX);
                if (st->req != NULL)
                        store_pair(st, p + off, name, value);
                off += name + value;
        }
        return 0;
}

/* What can be judged from the header of a record that starts at off. */
static int
check_header(const struct header *h, const struct scan *st, size_t off, char *why, size_t whylen)
{
        if (h->version != FCGI_VERSION_1)
                return fail(why, whylen, "FastCGI version %u", h->version);
        if (h->type != st->want)
                return fail(why, whylen, "record type %u where nginx sends %s", h->type,
                            type_name(st->want));
        if (off + FCGI_HEADER_LEN + h->content + h->padding > FCGI_REQUEST_MAX)
                return fail(why, whylen, "a request longer than %d bytes", FCGI_REQUEST_MAX);
        if (st->want == FCGI_BEGIN_REQUEST) {
                if (h->id == 0 || h->content != sizeof(FCGI_BeginRequestBody) || h->padding != 0)
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
        if (st->want == FCGI_BEGIN_REQUEST) {
                const FCGI_BeginRequestBody *b = (const FCGI_BeginRequestBody *)(const void *)body;
                unsigned role = (unsigned)b->roleB1 << 8 | b->roleB0;
                if (role != FCGI_RESPONDER || (b->flags & ~FCGI_KEEP_CONN) != 0)
                        return fail(why, whylen, "FCGI_BEGIN_REQUEST for role %u, flags %#x", role,
                                    b->flags);
                st->id = h->id;
                st->want = FCGI_PARAMS;
                if (st->req != NULL) {
                        st->req->id = h->id;
                        st->req->keep_conn = (b->flags & FCGI_KEEP_CONN) != 0;
                }
                return 0;
        }
        if (h->content == 0) {
                st->want = st->want == FCGI_PARAMS ? FCGI_STDIN : 0;
                return 0;
        }
        if (st->want == FCGI_PARAMS)
                return read_pairs(st, body, h->content, why, whylen);
        return 0; /* a request body: any bytes, and nothing routes read */
}

enum fcgi_scan
fcgi_parse(const unsigned char *buf, size_t len, struct fcgi_request *req, char *why, size_t whylen)
{
        struct scan st = {.want = FCGI_BEGIN_REQUEST, .req = req};
        size_t off = 0;

        if (req != NULL) {
                req->nparams = 0;
                req->envp[0] = NULL;
        }
        if (len > FCGI_REQUEST_MAX) {
                fail(why, whylen, "more than %d bytes for one request", FCGI_REQUEST_MAX);
                return FCGI_SCAN_INVALID;
        }
        while (st.want != 0) {
                if (len - off < FCGI_HEADER_LEN)
                        return FCGI_SCAN_PARTIAL;
                struct header h = parse_header(buf + off);
                if (check_header(&h, &st, off, why, whylen) != 0)
                        return FCGI_SCAN_INVALID;
                size_t end = off + FCGI_HEADER_LEN + h.content + h.padding;
                if (len < end)
                        return FCGI_SCAN_PARTIAL;
                if (check_body(&h, buf + off + FCGI_HEADER_LEN, &st, why, whylen) != 0)
                        return FCGI_SCAN_INVALID;
                off = end;
        }
        if (off != len) {
                /*
                 * nginx waits for the answer before it sends more. Whatever
                 * follows, an FCGI_ABORT_REQUEST for this request included,
                 * closes the connection: the request is neither answered nor
                 * counted.
                 */
                fail(why, whylen, "%zu bytes after a complete request (nginx waits for the answer)",
                     len - off);
                return FCGI_SCAN_INVALID;
        }
        if (req != NULL)
                req->len = len;
        return FCGI_SCAN_COMPLETE;
}

enum fcgi_scan
fcgi_scan(const unsigned char *buf, size_t len, char *why, size_t whylen)
{
        return fcgi_parse(buf, len, NULL, why, whylen);
}

const char *
fcgi_param(struct fcgi_request *req, const char *name)
{
        return FCGX_GetParam(name, req->envp);
}

/* Answers. */

size_t
fcgi_answer_size(size_t len)
{
        size_t whole = len / CHUNK_MAX, rest = len % CHUNK_MAX;

        return whole * (FCGI_HEADER_LEN + CHUNK_MAX) +
               (rest ? FCGI_HEADER_LEN + rest + (8 - rest % 8) % 8 : 0) + FCGI_HEADER_LEN +
               sizeof(FCGI_EndRequestRecord);
}

/* Appends n bytes of STDOUT content from two pieces, in records of at most CHUNK_MAX. */
static size_t
put_stdout(unsigned char *out, unsigned id, const char *a, size_t alen, const char *b, size_t blen)
{
        size_t n = 0, left = alen + blen, from = 0;

        while (left > 0) {
                size_t chunk = left < CHUNK_MAX ? left : CHUNK_MAX, pad = (8 - chunk % 8) % 8;
                put_header(out + n, FCGI_STDOUT, id, chunk, pad);
                n += FCGI_HEADER_LEN;
                for (size_t done = 0; done < chunk;) {
                        size_t at = from + done;
                        const char *src = at < alen ? a + at : b + (at - alen);
                        size_t avail = at < alen ? alen - at : blen - (at - alen);
                        size_t take = avail < chunk - done ? avail : chunk - done;
                        memcpy(out + n + done, src, take);
                        done += take;
                }
                memset(out + n + chunk, 0, pad);
                n += chunk + pad;
                from += chunk;
                left -= chunk;
        }
        return n;
}

size_t
fcgi_encode_answer(unsigned char *out, size_t cap, unsigned id, const char *head, size_t head_len,
                   const char *body, size_t body_len)
{
        FCGI_EndRequestRecord end = {.body = {.protocolStatus = FCGI_REQUEST_COMPLETE}};

        if (cap < fcgi_answer_size(head_len + body_len))
                return 0;
        size_t n = put_stdout(out, id, head, head_len, body, body_len);
        put_header(out + n, FCGI_STDOUT, id, 0, 0);
        n += FCGI_HEADER_LEN;
        put_header((unsigned char *)&end.header, FCGI_END_REQUEST, id, sizeof(end.body), 0);
        memcpy(out + n, &end, sizeof(end));
        return n + sizeof(end);
}

void
fcgi_set_request_id(unsigned char *answer, size_t len, unsigned id)
{
        for (size_t off = 0; off + FCGI_HEADER_LEN <= len;) {
                FCGI_Header *h = (FCGI_Header *)(void *)(answer + off);
                h->requestIdB1 = (unsigned char)(id >> 8);
                h->requestIdB0 = (unsigned char)id;
                off += FCGI_HEADER_LEN + ((size_t)h->contentLengthB1 << 8 | h->contentLengthB0) +
                       h->paddingLength;
        }
}

/* The client side. */

size_t
fcgi_encode_request(unsigned char *out, size_t cap, unsigned id, int keep_conn,
                    const char *const *params)
{
        FCGI_BeginRequestBody begin = {.roleB0 = FCGI_RESPONDER,
                                       .flags = keep_conn ? FCGI_KEEP_CONN : 0};
        size_t plen = 0;

        for (size_t i = 0; params[i] != NULL && params[i + 1] != NULL; i += 2) {
                size_t n = strlen(params[i]), v = strlen(params[i + 1]);
                if (n > 127 || v > 127) /* one-byte lengths: the probe's pairs are short */
                        return 0;
                plen += 2 + n + v;
        }
        size_t total = 4 * FCGI_HEADER_LEN + sizeof(begin) + plen;
        if (plen > FCGI_MAX_LENGTH || cap < total)
                return 0;
        size_t off = 0;
        put_header(out, FCGI_BEGIN_REQUEST, id, sizeof(begin), 0);
        memcpy(out + FCGI_HEADER_LEN, &begin, sizeof(begin));
        off = FCGI_HEADER_LEN + sizeof(begin);
        put_header(out + off, FCGI_PARAMS, id, plen, 0);
        off += FCGI_HEADER_LEN;
        for (size_t i = 0; params[i] != NULL && params[i + 1] != NULL; i += 2) {
                size_t n = strlen(params[i]), v = strlen(params[i + 1]);
                out[off++] = (unsigned char)n;
                out[off++] = (unsigned char)v;
                memcpy(out + off, params[i], n);
                memcpy(out + off + n, params[i + 1], v);
                off += n + v;
        }
        put_header(out + off, FCGI_PARAMS, id, 0, 0);
        put_header(out + off + FCGI_HEADER_LEN, FCGI_STDIN, id, 0, 0);
        return off + 2 * FCGI_HEADER_LEN;
}

void
fcgi_reply_init(struct fcgi_reply *r, unsigned id)
{
        memset(r, 0, sizeof(*r));
        r->id = id;
}

static void
reply_header_done(struct fcgi_reply *r)
{
        struct header h = parse_header(r->hdr);

        if (h.version != FCGI_VERSION_1 || h.id != r->id ||
            (h.type != FCGI_STDOUT && h.type != FCGI_STDERR && h.type != FCGI_END_REQUEST)) {
                r->bad = "not a FastCGI answer to the probe's request";
                return;
        }
        r->content_left = h.content;
        r->pad_left = h.padding;
        r->end_len = 0;
}

static void
reply_byte(struct fcgi_reply *r, unsigned char c)
{
        unsigned type = r->hdr[1];

        if (r->hdr_len < FCGI_HEADER_LEN) {
                r->hdr[r->hdr_len++] = c;
                if (r->hdr_len < FCGI_HEADER_LEN)
                        return;
                type = r->hdr[1];
                reply_header_done(r);
                if (r->bad)
                        return;
        } else if (r->content_left > 0) {
                r->content_left--;
                if (type == FCGI_STDOUT && r->out_len < sizeof(r->out) - 1)
                        r->out[r->out_len++] = (char)c;
                else if (type == FCGI_END_REQUEST && r->end_len < sizeof(r->end))
                        r->end[r->end_len++] = c;
        } else if (r->pad_left > 0) {
                r->pad_left--;
        }
        if (r->hdr_len == FCGI_HEADER_LEN && r->content_left == 0 && r->pad_left == 0) {
                if (type == FCGI_END_REQUEST)
                        r->done = 1;
                r->hdr_len = 0;
        }
}

void
fcgi_reply_feed(struct fcgi_reply *r, const unsigned char *buf, size_t n)
{
        for (size_t i = 0; i < n && !r->done && !r->bad; i++)
                reply_byte(r, buf[i]);
}

int
fcgi_reply_complete(const struct fcgi_reply *r, char *why, size_t whylen)
{
        /* Unsigned: a status of 2^31 or more must not shift into an int's sign bit. */
        uint32_t app = (uint32_t)r->end[0] << 24 | (uint32_t)r->end[1] << 16 |
                       (uint32_t)r->end[2] << 8 | (uint32_t)r->end[3];

        if (r->end_len >= sizeof(FCGI_EndRequestBody) - 3 && r->end[4] == FCGI_REQUEST_COMPLETE &&
            app == 0)
                return 0;
        if (r->end_len < 5)
                snprintf(why, whylen, "the request was not completed (no status)");
        else
                snprintf(why, whylen,
                         "the request was not completed (protocol status %u, application status "
                         "%lu)",
                         r->end[4], (unsigned long)app);
        return -1;
}

int
fcgi_reply_status(const struct fcgi_reply *r)
{
        int status = 0;

        if (strncmp(r->out, "Status: ", 8) != 0)
                return 200;
        for (const char *p = r->out + 8; *p >= '0' && *p <= '9' && status < 1000; p++)
                status = status * 10 + (*p - '0');
        return status;
}
