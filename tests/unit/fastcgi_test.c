#include "tests.h"

#include <stdio.h>
#include <string.h>

#include "fastcgi.h"

#define BEGIN_REQUEST 1
#define ABORT_REQUEST 2
#define PARAMS        4
#define STDIN         5
#define GET_VALUES    9

/* A request being built, record by record, as nginx would or as a peer might. */
struct req {
        unsigned char b[FCGI_REQUEST_MAX + 64];
        size_t len;
};

/* Appends a record; padding < 0 pads to a multiple of 8 as nginx does. */
static void
rec(struct req *r, int type, int id, const void *content, size_t len, int padding)
{
        size_t pad = padding < 0 ? (8 - len % 8) % 8 : (size_t)padding;
        unsigned char h[8] = {1,
                              (unsigned char)type,
                              (unsigned char)(id >> 8),
                              (unsigned char)id,
                              (unsigned char)(len >> 8),
                              (unsigned char)len,
                              (unsigned char)pad,
                              0};

        assert_true(r->len + 8 + len + pad <= sizeof(r->b));
        memcpy(r->b + r->len, h, 8);
        if (len > 0)
                memcpy(r->b + r->len + 8, content, len);
        memset(r->b + r->len + 8 + len, 0, pad);
        r->len += 8 + len + pad;
}

static void
begin(struct req *r, int id, int role, int flags)
{
        unsigned char body[8] = {(unsigned char)(role >> 8), (unsigned char)role,
                                 (unsigned char)flags};

        rec(r, BEGIN_REQUEST, id, body, sizeof(body), 0);
}

/* One name-value pair with one-byte lengths. */
static size_t
pair(unsigned char *out, const char *name, const char *value)
{
        size_t n = strlen(name), v = strlen(value);

        out[0] = (unsigned char)n;
        out[1] = (unsigned char)v;
        memcpy(out + 2, name, n);
        memcpy(out + 2 + n, value, v);
        return 2 + n + v;
}

/* The params nginx.conf sends. */
static size_t
nginx_params(unsigned char *out)
{
        size_t n = pair(out, "REQUEST_METHOD", "GET");
        n += pair(out + n, "DOCUMENT_URI", "/visits");
        n += pair(out + n, "REQUEST_URI", "/visits?x=1");
        n += pair(out + n, "HTTP_ACCEPT", "*/*");
        return n;
}

/* What nginx sends for GET /visits with fastcgi_keep_conn on. */
static void
nginx_request(struct req *r)
{
        unsigned char p[256];
        size_t n = nginx_params(p);

        r->len = 0;
        begin(r, 1, 1, 1);
        rec(r, PARAMS, 1, p, n, -1);
        rec(r, PARAMS, 1, NULL, 0, 0);
        rec(r, STDIN, 1, NULL, 0, 0);
}

static enum fcgi_scan
scan(const struct req *r, char *why)
{
        strcpy(why, "(unset)");
        return fcgi_scan(r->b, r->len, why, 256);
}

#define assert_invalid(r, needle)                                                                  \
        do {                                                                                       \
                char why_[256];                                                                    \
                assert_int_equal(scan((r), why_), FCGI_SCAN_INVALID);                              \
                assert_contains(why_, (needle));                                                   \
        } while (0)

static void
assert_complete(const struct req *r)
{
        char why[256];

        assert_int_equal(scan(r, why), FCGI_SCAN_COMPLETE);
}

static void
test_nginx_request_is_complete(void **state)
{
        (void)state;
        struct req r;

        nginx_request(&r);
        assert_complete(&r);
        r.b[8 + 2] = 0; /* fastcgi_keep_conn off */
        assert_complete(&r);
}

static void
test_every_prefix_is_partial(void **state)
{
        (void)state;
        struct req r;
        char why[256];

        nginx_request(&r);
        for (size_t n = 0; n < r.len; n++)
                assert_int_equal(fcgi_scan(r.b, n, why, sizeof(why)), FCGI_SCAN_PARTIAL);
}

static void
test_a_body_and_several_params_records(void **state)
{
        (void)state;
        struct req r = {.len = 0};
        unsigned char p[256], body[1000];
        size_t n = nginx_params(p);

        memset(body, 'x', sizeof(body));
        begin(&r, 7, 1, 1);
        rec(&r, PARAMS, 7, p, 16, -1);
        rec(&r, PARAMS, 7, p + 16, n - 16, -1);
        rec(&r, PARAMS, 7, NULL, 0, 0);
        rec(&r, STDIN, 7, body, 999, -1);
        rec(&r, STDIN, 7, body, 1, 3);
        rec(&r, STDIN, 7, NULL, 0, 0);
        assert_invalid(&r, "in the 14 left"); /* a pair split across two records */
        r.len = 0;
        begin(&r, 7, 1, 1);
        rec(&r, PARAMS, 7, p, 2 + 14 + 3, -1); /* REQUEST_METHOD=GET alone */
        rec(&r, PARAMS, 7, p + 19, n - 19, -1);
        rec(&r, PARAMS, 7, NULL, 0, 0);
        rec(&r, STDIN, 7, body, 999, -1);
        rec(&r, STDIN, 7, body, 1, 3);
        rec(&r, STDIN, 7, NULL, 0, 0);
        assert_complete(&r);
}

static void
test_bytes_after_the_request(void **state)
{
        (void)state;
        struct req r;

        nginx_request(&r);
        r.b[r.len++] = 1;
        assert_invalid(&r, "1 bytes after a complete request");
        nginx_request(&r);
        size_t one = r.len;
        memcpy(r.b + one, r.b, one); /* a pipelined second request */
        r.len = 2 * one;
        assert_invalid(&r, "after a complete request");
}

static void
test_management_and_unknown_records(void **state)
{
        (void)state;
        struct req r = {.len = 0};
        unsigned char gv[16];
        size_t n = pair(gv, "FCGI_MAX_CONNS", "");

        rec(&r, GET_VALUES, 0, gv, n, -1);
        assert_invalid(&r, "record type 9 where nginx sends FCGI_BEGIN_REQUEST");
        r.len = 0;
        rec(&r, 200, 0, NULL, 0, 0);
        assert_invalid(&r, "record type 200");
        r.len = 0;
        begin(&r, 1, 1, 1);
        rec(&r, ABORT_REQUEST, 1, NULL, 0, 0);
        assert_invalid(&r, "record type 2 where nginx sends FCGI_PARAMS");
        /* A header alone is judged: a bad record does not wait for its content. */
        unsigned char h[8] = {1, 11, 0, 0, 0xff, 0xff, 0, 0};
        memcpy(r.b, h, 8);
        r.len = 8;
        assert_invalid(&r, "record type 11");
}

static void
test_begin_request_fields(void **state)
{
        (void)state;
        struct req r = {.len = 0};

        begin(&r, 1, 2, 1);
        assert_invalid(&r, "role 2");
        r.len = 0;
        begin(&r, 1, 1, 3);
        assert_invalid(&r, "flags 0x3");
        r.len = 0;
        begin(&r, 0, 1, 1);
        assert_invalid(&r, "with id 0");
        r.len = 0;
        unsigned char body[9] = {0, 1};
        rec(&r, BEGIN_REQUEST, 1, body, 9, -1);
        assert_invalid(&r, "length 9");
        r.len = 0;
        rec(&r, BEGIN_REQUEST, 1, body, 8, 8);
        assert_invalid(&r, "padding 8");
        nginx_request(&r);
        r.b[0] = 2;
        assert_invalid(&r, "FastCGI version 2");
}

static void
test_records_of_another_request_or_out_of_order(void **state)
{
        (void)state;
        struct req r = {.len = 0};
        unsigned char p[256];
        size_t n = nginx_params(p);

        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 2, p, n, -1);
        assert_invalid(&r, "FCGI_PARAMS for request 2 in request 1");
        r.len = 0;
        begin(&r, 1, 1, 1);
        rec(&r, STDIN, 1, NULL, 0, 0);
        assert_invalid(&r, "record type 5 where nginx sends FCGI_PARAMS");
        r.len = 0;
        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 1, NULL, 0, 0);
        rec(&r, PARAMS, 1, NULL, 0, 0);
        assert_invalid(&r, "record type 4 where nginx sends FCGI_STDIN");
        r.len = 0;
        begin(&r, 1, 1, 1);
        begin(&r, 2, 1, 1); /* multiplexing */
        assert_invalid(&r, "record type 1 where nginx sends FCGI_PARAMS");
}

static void
test_padding(void **state)
{
        (void)state;
        struct req r = {.len = 0};
        unsigned char p[256];
        size_t n = nginx_params(p);

        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 1, p, n, 8);
        assert_invalid(&r, "with 8 of padding");
        r.len = 0;
        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 1, p, n, 0);
        rec(&r, PARAMS, 1, NULL, 0, 1);
        assert_invalid(&r, "FCGI_PARAMS of 0 bytes with 1 of padding");
        r.len = 0;
        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 1, p, n, 7);
        rec(&r, PARAMS, 1, NULL, 0, 0);
        rec(&r, STDIN, 1, NULL, 0, 0);
        assert_complete(&r);
}

static void
test_name_value_lengths(void **state)
{
        (void)state;
        struct req r = {.len = 0};
        /* The lengths that overflow libfcgi 2.4.2's int sum, then one byte of name. */
        unsigned char huge[9] = {0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xfe, 'A'};
        unsigned char cut[3] = {0x80, 0, 0};
        unsigned char over[4] = {3, 0, 'A', 'B'};

        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 1, huge, sizeof(huge), -1);
        assert_invalid(&r, "a name of 2147483646 and a value of 2147483646 bytes");
        r.len = 0;
        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 1, cut, sizeof(cut), -1);
        assert_invalid(&r, "a length cut off");
        r.len = 0;
        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 1, over, sizeof(over), -1);
        assert_invalid(&r, "a name of 3 and a value of 0 bytes in the 2 left");
}

static void
test_params_count(void **state)
{
        (void)state;
        struct req r = {.len = 0};
        unsigned char p[2 * (FCGI_PARAMS_MAX + 1)] = {0}; /* empty names and values */

        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 1, p, 2 * FCGI_PARAMS_MAX, -1);
        rec(&r, PARAMS, 1, NULL, 0, 0);
        rec(&r, STDIN, 1, NULL, 0, 0);
        assert_complete(&r);
        r.len = 0;
        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 1, p, 2 * (FCGI_PARAMS_MAX + 1), -1);
        assert_invalid(&r, "more than 64 FCGI_PARAMS pairs");
}

static void
test_size_limits(void **state)
{
        (void)state;
        static struct req r;
        static unsigned char p[65535];
        char why[256];

        /* nginx's largest: one PARAMS record of 65535 bytes, one pair. */
        memset(p, 'v', sizeof(p));
        p[0] = 0x80;
        p[1] = p[2] = 0;
        p[3] = 1;
        p[4] = 0x80;
        p[5] = 0;
        p[6] = (65535 - 9) >> 8;
        p[7] = (65535 - 9) & 0xff;
        r.len = 0;
        begin(&r, 1, 1, 1);
        rec(&r, PARAMS, 1, p, sizeof(p), -1);
        rec(&r, PARAMS, 1, NULL, 0, 0);
        rec(&r, STDIN, 1, NULL, 0, 0);
        assert_complete(&r);
        /* A record declared long: partial while the request fits, invalid once it cannot. */
        assert_int_equal(fcgi_scan(r.b, 16 + 8 + 100, why, sizeof(why)), FCGI_SCAN_PARTIAL);
        r.len = 16 + 8 + 65536 + 8; /* up to the empty PARAMS record */
        rec(&r, STDIN, 1, p, 4100, -1);
        assert_int_equal(fcgi_scan(r.b, r.len - 4100 - 4, why, sizeof(why)), FCGI_SCAN_INVALID);
        assert_contains(why, "a request longer than");
        assert_int_equal(fcgi_scan(r.b, FCGI_REQUEST_MAX + 1, why, sizeof(why)), FCGI_SCAN_INVALID);
        assert_contains(why, "more than");
}

/* The parse decodes what it checks, in the same pass: libfcgi's FCGX_GetParam reads it. */
static void
test_parse_decodes_the_params(void **state)
{
        static struct fcgi_request fr;
        struct req r;
        char why[256];

        (void)state;
        nginx_request(&r);
        assert_int_equal(fcgi_parse(r.b, r.len, &fr, why, sizeof(why)), FCGI_SCAN_COMPLETE);
        assert_int_equal(fr.id, 1);
        assert_int_equal(fr.keep_conn, 1);
        assert_int_equal(fr.len, r.len);
        assert_int_equal(fr.nparams, 4);
        assert_string_equal(fcgi_param(&fr, "REQUEST_METHOD"), "GET");
        assert_string_equal(fcgi_param(&fr, "DOCUMENT_URI"), "/visits");
        assert_string_equal(fcgi_param(&fr, "REQUEST_URI"), "/visits?x=1");
        assert_string_equal(fcgi_param(&fr, "HTTP_ACCEPT"), "*/*");
        assert_null(fcgi_param(&fr, "QUERY_STRING"));
        assert_null(fcgi_param(&fr, "REQUEST"));
}

/* An answer, read back as the probe reads one: the status, and END_REQUEST complete. */
static void
test_answer_round_trip(void **state)
{
        static unsigned char out[80000];
        static char body[70000];
        const char head[] = "Status: 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\n";
        struct fcgi_reply rep;
        char why[128];

        (void)state;
        memset(body, 'x', sizeof(body));
        for (size_t len = 0; len < sizeof(body); len = len * 3 + 1) {
                size_t n =
                    fcgi_encode_answer(out, sizeof(out), 7, head, sizeof(head) - 1, body, len);
                assert_int_equal(n, fcgi_answer_size(sizeof(head) - 1 + len));
                assert_int_equal(n % 8, 0);
                fcgi_reply_init(&rep, 7);
                fcgi_reply_feed(&rep, out, n);
                assert_null(rep.bad);
                assert_true(rep.done);
                assert_int_equal(fcgi_reply_complete(&rep, why, sizeof(why)), 0);
                assert_int_equal(fcgi_reply_status(&rep), 503);
        }
        assert_int_equal(fcgi_encode_answer(out, 10, 7, head, sizeof(head) - 1, NULL, 0), 0);
        /* Another request's answer is not ours. */
        size_t n = fcgi_encode_answer(out, sizeof(out), 8, head, sizeof(head) - 1, NULL, 0);
        fcgi_reply_init(&rep, 7);
        fcgi_reply_feed(&rep, out, n);
        assert_non_null(rep.bad);
}

/* The probe's request is one nginx could have sent: the parser takes it whole. */
static void
test_probe_request_parses(void **state)
{
        static const char *const params[] = {"REQUEST_METHOD", "GET", "DOCUMENT_URI", "/visits",
                                             NULL};
        static struct fcgi_request fr;
        unsigned char out[256];
        char why[256];

        (void)state;
        size_t n = fcgi_encode_request(out, sizeof(out), 1, 0, params);
        assert_true(n > 0);
        assert_int_equal(fcgi_parse(out, n, &fr, why, sizeof(why)), FCGI_SCAN_COMPLETE);
        assert_int_equal(fr.keep_conn, 0);
        assert_string_equal(fcgi_param(&fr, "DOCUMENT_URI"), "/visits");
        assert_int_equal(fcgi_encode_request(out, 20, 1, 0, params), 0);
}

/* END_REQUEST's application status is 32 bits, read unsigned (UBSan failed on 2^31 before). */
static void
test_reply_application_status_high_bit(void **state)
{
        const unsigned char answer[] = {1,    6, 0, 1, 0, 0, 0, 0, /* empty STDOUT */
                                        1,    3, 0, 1, 0, 8, 0, 0, /* END_REQUEST */
                                        0x80, 0, 0, 0, 0, 0, 0, 0};
        struct fcgi_reply rep;
        char why[128];

        (void)state;
        fcgi_reply_init(&rep, 1);
        fcgi_reply_feed(&rep, answer, sizeof(answer));
        assert_true(rep.done);
        assert_int_equal(fcgi_reply_complete(&rep, why, sizeof(why)), -1);
        assert_contains(why, "application status 2147483648");
}

int
fastcgi_tests(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_nginx_request_is_complete),
            cmocka_unit_test(test_every_prefix_is_partial),
            cmocka_unit_test(test_a_body_and_several_params_records),
            cmocka_unit_test(test_bytes_after_the_request),
            cmocka_unit_test(test_management_and_unknown_records),
            cmocka_unit_test(test_begin_request_fields),
            cmocka_unit_test(test_records_of_another_request_or_out_of_order),
            cmocka_unit_test(test_padding),
            cmocka_unit_test(test_name_value_lengths),
            cmocka_unit_test(test_params_count),
            cmocka_unit_test(test_size_limits),
            cmocka_unit_test(test_parse_decodes_the_params),
            cmocka_unit_test(test_answer_round_trip),
            cmocka_unit_test(test_probe_request_parses),
            cmocka_unit_test(test_reply_application_status_high_bit),
        };

        return cmocka_run_group_tests_name("fastcgi", tests, NULL, NULL);
}
