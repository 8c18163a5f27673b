#ifndef MT_FCGI_RECORD_H
#define MT_FCGI_RECORD_H

#include <stddef.h>

/*
 * The largest request nginx sends here: BEGIN_REQUEST, one PARAMS record of
 * at most 65535 bytes (nginx refuses more: "fastcgi request record is too
 * big"), its padding, an empty PARAMS and an empty STDIN record; with room
 * for a small body should fastcgi_pass_request_body ever be turned on.
 */
#define FCGI_REQUEST_MAX (68 * 1024)
#define FCGI_PARAMS_MAX  64 /* nginx sends 4 (nginx.conf); libfcgi mallocs each */

enum fcgi_scan {
        FCGI_SCAN_COMPLETE, /* exactly one whole, well-formed request, nothing after it */
        FCGI_SCAN_PARTIAL,  /* a well-formed start: more bytes may complete it */
        FCGI_SCAN_INVALID,  /* nginx never sends this: close the connection */
};

/*
 * Are buf's len bytes, all the bytes queued on a connection, one complete
 * request of the only shape nginx sends? That is: FCGI_BEGIN_REQUEST
 * (responder role, no flag but KEEP_CONN), FCGI_PARAMS records of whole
 * name-value pairs up to an empty one, FCGI_STDIN records up to an empty one,
 * all with the request id of the first, no padding on the fixed-size records
 * and at most 7 bytes on the others, FCGI_REQUEST_MAX bytes in all. Any other
 * record type, management records (request id 0) included, is invalid:
 * libfcgi leaks memory on unknown ones and answers the rest, and nginx sends
 * none. On FCGI_SCAN_INVALID, why says what was wrong.
 *
 * A pure function of its input: the server peeks at the socket with it before
 * libfcgi reads a byte, so that libfcgi only ever parses requests that are
 * complete in the socket buffer and never waits on a peer.
 */
enum fcgi_scan fcgi_scan(const unsigned char *buf, size_t len, char *why, size_t whylen);

#endif
