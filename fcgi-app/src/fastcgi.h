#ifndef MT_FASTCGI_H
#define MT_FASTCGI_H

#include <stddef.h>
#include <stdint.h>

/*
 * The FastCGI record format, both ways, in one place: a request as nginx
 * sends it (parsed once, without allocating), an answer as the responder
 * sends it, and the probe's side of both. The record layout and every
 * constant are libfcgi's own (its fastcgi.h); each request's parameters are
 * read with libfcgi's FCGX_GetParam(). No sockets here.
 */

/*
 * The largest request nginx sends here: BEGIN_REQUEST, one PARAMS record of
 * at most 65535 bytes (nginx refuses more: "fastcgi request record is too
 * big"), its padding, an empty PARAMS and an empty STDIN record; with room
 * for a small body should fastcgi_pass_request_body ever be turned on.
 */
#define FCGI_REQUEST_MAX (68 * 1024)
#define FCGI_PARAMS_MAX  64 /* nginx sends a dozen (nginx.conf) */

enum fcgi_scan {
        FCGI_SCAN_COMPLETE, /* exactly one whole, well-formed request, nothing after it */
        FCGI_SCAN_PARTIAL,  /* a well-formed start: more bytes may complete it */
        FCGI_SCAN_INVALID,  /* nginx never sends this: close the connection */
};

/* One request, as fcgi_parse() decoded it. */
struct fcgi_request {
        unsigned id;
        int keep_conn; /* FCGI_KEEP_CONN: answer, then wait for the next request */
        size_t len;    /* the request's bytes, all of them */
        size_t nparams;
        /* "NAME=value" strings, NULL-terminated: libfcgi's FCGX_ParamArray. */
        char *envp[FCGI_PARAMS_MAX + 1];
        char store[FCGI_REQUEST_MAX + 2 * FCGI_PARAMS_MAX];
};

/*
 * Are buf's len bytes, all the bytes queued on a connection, one complete
 * request of the only shape nginx sends? That is: FCGI_BEGIN_REQUEST
 * (responder role, no flag but KEEP_CONN), FCGI_PARAMS records of whole
 * name-value pairs up to an empty one, FCGI_STDIN records up to an empty
 * one, all with the request id of the first, no padding on the fixed-size
 * records and at most 7 bytes on the others, FCGI_REQUEST_MAX bytes in all.
 * Any other record type, management records (request id 0) and an
 * FCGI_ABORT_REQUEST included, is invalid. On FCGI_SCAN_INVALID, why says
 * what was wrong.
 *
 * With req not NULL, a complete request is also decoded into it in the
 * same pass: the caller peeks at the socket with this before reading a
 * byte, so that a request is parsed once, and only once it is whole.
 */
enum fcgi_scan fcgi_parse(const unsigned char *buf, size_t len, struct fcgi_request *req, char *why,
                          size_t whylen);

/* fcgi_parse() without decoding: is it whole? */
enum fcgi_scan fcgi_scan(const unsigned char *buf, size_t len, char *why, size_t whylen);

/* The value of parameter name, or NULL (libfcgi's FCGX_GetParam on req->envp). */
const char *fcgi_param(struct fcgi_request *req, const char *name);

/*
 * An answer: FCGI_STDOUT records holding head and body (each at most 65528
 * bytes and padded to 8), the empty FCGI_STDOUT, and FCGI_END_REQUEST
 * (complete, application status 0). Returns the bytes written to out, or 0
 * if cap is less than fcgi_answer_size(head_len + body_len).
 */
size_t fcgi_answer_size(size_t len);
size_t fcgi_encode_answer(unsigned char *out, size_t cap, unsigned id, const char *head,
                          size_t head_len, const char *body, size_t body_len);

/* Sets the request id of every record of the len bytes of an encoded answer. */
void fcgi_set_request_id(unsigned char *answer, size_t len, unsigned id);

/*
 * The client side, for the probe: a request as nginx would send it
 * (BEGIN_REQUEST for the responder role, one PARAMS record of the pairs in
 * params: name, value, ..., NULL; an empty PARAMS; an empty STDIN). Returns
 * its length, or 0 if it does not fit in cap.
 */
size_t fcgi_encode_request(unsigned char *out, size_t cap, unsigned id, int keep_conn,
                           const char *const *params);

/* The answer to it as it arrives, whatever the reads' sizes. */
struct fcgi_reply {
        unsigned id;
        unsigned char hdr[8];
        size_t hdr_len;
        size_t content_left, pad_left;
        unsigned char end[8]; /* FCGI_EndRequestBody */
        size_t end_len;
        char out[512]; /* the start of FCGI_STDOUT: the status line */
        size_t out_len;
        int done;        /* FCGI_END_REQUEST was read */
        const char *bad; /* not a FastCGI answer to our request */
};

void fcgi_reply_init(struct fcgi_reply *r, unsigned id);
void fcgi_reply_feed(struct fcgi_reply *r, const unsigned char *buf, size_t n);

/*
 * Once done: 0 if END_REQUEST said complete with application status 0;
 * else -1 with the protocol and application status in why.
 */
int fcgi_reply_complete(const struct fcgi_reply *r, char *why, size_t whylen);

/* The HTTP status of the CGI-style answer: its Status header, or 200 without one. */
int fcgi_reply_status(const struct fcgi_reply *r);

#endif
