#include "tests.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "cluster.h"
#include "cluster_poll.h"
#include "log.h"
#include "metrics_render.h"
#include "page.h"
#include "routes.h"
#include "timeutil.h"

#define MS  (1000000LL)
#define SEC (1000 * MS)

static uint64_t own_visits = 100;

/* A tiny HTTP server in a thread: answers every GET with body, or (silent) never answers. */
struct peer_server {
        int fd;
        int port;
        int silent;
        int stop_pipe[2];
        pthread_t thread;
        _Atomic(uint64_t) visits;
        atomic_int requests;
        char pod[32];
};

struct cluster_fixture {
        struct cluster c;
        struct cluster_view v;
        struct config s;
        struct cluster_poll *poll;
        struct peer_server srv[2]; /* here, so that teardown stops them when a test fails */
        int nsrv;
        char log_path[64]; /* the captured log, while capture_log() holds stderr */
        int saved_stderr;
};

static void server_stop(struct peer_server *s);

static int
cluster_setup(void **state)
{
        struct cluster_fixture *f = calloc(1, sizeof(*f));

        if (f == NULL)
                return -1;
        snprintf(f->s.cluster_name, sizeof(f->s.cluster_name), "self");
        f->s.cluster_poll_interval_ms = 1000;
        f->s.cluster_timeout_ms = 500;
        f->saved_stderr = -1;
        own_visits = 100;
        *state = f;
        return 0;
}

static void release_log(struct cluster_fixture *f);

static int
cluster_teardown(void **state)
{
        struct cluster_fixture *f = *state;

        release_log(f);
        cluster_poll_stop(f->poll);
        f->poll = NULL;
        for (int i = 0; i < f->nsrv; i++) {
                if (f->srv[i].fd >= 0)
                        server_stop(&f->srv[i]);
        }
        free(f);
        return 0;
}

/* Log lines from here go to a file (at level info) until read_log() or teardown. */
static void
capture_log(struct cluster_fixture *f)
{
        snprintf(f->log_path, sizeof(f->log_path), "/tmp/mt-unit-log-XXXXXX");
        int fd = mkstemp(f->log_path);
        assert_true(fd >= 0);
        fflush(stderr);
        f->saved_stderr = dup(STDERR_FILENO);
        assert_true(f->saved_stderr >= 0);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);
        close(fd);
        log_set_level(LOG_LEVEL_INFO);
}

static void
release_log(struct cluster_fixture *f)
{
        if (f->saved_stderr < 0)
                return;
        log_set_level(LOG_LEVEL_ERROR);
        dup2(f->saved_stderr, STDERR_FILENO);
        close(f->saved_stderr);
        f->saved_stderr = -1;
        unlink(f->log_path);
}

/* What was logged since capture_log(), into buf; stderr is back. */
static size_t
read_log(struct cluster_fixture *f, char *buf, size_t cap)
{
        size_t n = read_file(f->log_path, buf, cap - 1);

        buf[n] = '\0';
        release_log(f);
        return n;
}

static size_t
count_lines(const char *buf, const char *needle)
{
        size_t n = 0;

        for (const char *line = buf; *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t)(end - line) : strlen(line);
                char copy[2048];
                snprintf(copy, sizeof(copy), "%.*s", (int)len, line);
                n += strstr(copy, needle) != NULL;
                line += len + (end != NULL);
        }
        return n;
}

static void
start_with(struct cluster_fixture *f, const char *peers)
{
        char err[512];

        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "%s", peers);
        if (cluster_init(&f->c, &f->s, err, sizeof(err)) != 0)
                fail_msg("cluster_init: %s", err);
}

/* A poll's answer: visits as pod. */
static void
record(struct cluster *c, const char *addr, uint64_t visits, const char *pod, int64_t now)
{
        struct cluster_answer a = {.visits = visits, .age_ms = -1};

        snprintf(a.pod, sizeof(a.pod), "%s", pod);
        cluster_record(c, addr, &a, now);
}

/* The entry of a pod, or of an address that never answered. */
static const struct cluster_view_entry *
entry(const struct cluster_view *v, const char *key)
{
        for (size_t i = 0; i < v->n; i++) {
                const struct cluster_view_entry *e = &v->e[i];
                if (strcmp(e->name, key) == 0 || (e->name[0] == '\0' && strcmp(e->peer, key) == 0))
                        return e;
        }
        fail_msg("no entry %s in the view", key);
        return NULL;
}

static int
has_entry(const struct cluster_view *v, const char *key)
{
        for (size_t i = 0; i < v->n; i++) {
                const struct cluster_view_entry *e = &v->e[i];
                if (strcmp(e->name, key) == 0 || (e->name[0] == '\0' && strcmp(e->peer, key) == 0))
                        return 1;
        }
        return 0;
}

/* The list found in DNS: "name=addr" pairs. */
static void
discovered(struct cluster_fixture *f, const char *const *pairs, size_t n, int64_t now)
{
        static struct peer_list list;
        struct peer_discover d;
        int interval;

        list.n = 0;
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(pairs[i], '=');
                snprintf(list.t[i].name, sizeof(list.t[i].name), "%.*s", (int)(eq - pairs[i]),
                         pairs[i]);
                snprintf(list.t[i].addr, sizeof(list.t[i].addr), "%s", eq + 1);
                list.n++;
        }
        uint64_t settings = cluster_discovery(&f->c, &d, &interval);
        cluster_discovered(&f->c, settings, &list, 0, NULL, now);
}

static void
start_discovering(struct cluster_fixture *f, const char *name)
{
        snprintf(f->s.cluster_discover, sizeof(f->s.cluster_discover), "%s", name);
        start_with(f, "");
}

struct peers_case {
        const char *text;
        int ok;
        size_t n;
        const char *why; /* part of the message, for the bad ones */
};

static void
test_parse_peers(void **state)
{
        static const struct peers_case cases[] = {
            {"", 1, 0, NULL},
            {"  ", 1, 0, NULL},
            {"a:1", 1, 1, NULL},
            {"pod-0.svc.ns.svc.cluster.local:8080, pod-1.svc:8080 ,pod-2:65535", 1, 3, NULL},
            {"127.0.0.1:80,[::1]:8080", 1, 2, NULL},
            {"a", 0, 0, "\"a\" is not host:port"},
            {"a:", 0, 0, "not host:port"},
            {":80", 0, 0, "not host:port"},
            {"a:0", 0, 0, "not host:port"},
            {"a:65536", 0, 0, "not host:port"},
            {"a:8o", 0, 0, "not host:port"},
            {"a b:1", 0, 0, "not host:port"},
            {"a:1,,b:2", 0, 0, "an empty entry"},
            {"a:1,", 0, 0, "an empty entry"},
            {"a:1,A:1", 0, 0, "listed twice"},
            {"[::1:80", 0, 0, "not host:port"},
            {"http://a:80", 0, 0, "not host:port"},
        };
        static struct peer_list list_store;
        struct peer_list *list = &list_store;
        char why[256];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                why[0] = '\0';
                int rc = peer_list_parse(cases[i].text, list, why, sizeof(why));
                if ((rc == 0) != cases[i].ok)
                        fail_msg("\"%s\": rc %d (%s)", cases[i].text, rc, why);
                if (cases[i].ok)
                        assert_int_equal(list->n, cases[i].n);
                else
                        assert_contains(why, cases[i].why);
        }
        assert_int_equal(peer_list_parse(" a:1 ,\tb:2", list, why, sizeof(why)), 0);
        assert_string_equal(list->t[0].addr, "a:1");
        assert_string_equal(list->t[1].addr, "b:2");
        assert_string_equal(list->t[0].name, "");

        char many[PEER_TEXT_MAX] = "";
        for (int i = 0; i <= PEER_LIST_MAX; i++)
                snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sp%d:1", i ? "," : "",
                         i);
        assert_int_equal(peer_list_parse(many, list, why, sizeof(why)), -1);
        assert_contains(why, "more than 64 peers");
}

static void
test_name_check(void **state)
{
        char why[128];
        char long_name[80];

        (void)state;
        assert_int_equal(peer_name_check("moscow-time-0", why, sizeof(why)), 0);
        assert_int_equal(peer_name_check("a.b_c", why, sizeof(why)), 0);
        assert_int_equal(peer_name_check("", why, sizeof(why)), -1);
        assert_int_equal(peer_name_check("a b", why, sizeof(why)), -1);
        assert_int_equal(peer_name_check("a\"b", why, sizeof(why)), -1);
        memset(long_name, 'a', 64);
        long_name[64] = '\0';
        assert_int_equal(peer_name_check(long_name, why, sizeof(why)), -1);
        assert_contains(why, "1 to 63 characters");
}

/* [cluster] discover: an SRV name of a named port, or a name and a port for its A records. */
static void
test_parse_discover(void **state)
{
        static const struct {
                const char *text;
                int kind; /* -1: refused */
                const char *name;
                int port;
        } cases[] = {
            {"", PEER_DISCOVER_NONE, "", 0},
            {"_http._tcp.moscow-time-headless", PEER_DISCOVER_SRV,
             "_http._tcp.moscow-time-headless", 0},
            {"_http._tcp.mt-headless.default.svc.cluster.local", PEER_DISCOVER_SRV,
             "_http._tcp.mt-headless.default.svc.cluster.local", 0},
            {"moscow-time-headless:8080", PEER_DISCOVER_ADDR, "moscow-time-headless", 8080},
            {"mt.ns.svc.cluster.local:1", PEER_DISCOVER_ADDR, "mt.ns.svc.cluster.local", 1},
            {"_http._udp.x", -1, NULL, 0},
            {"_http._tcp.", -1, NULL, 0},
            {"_._tcp.x", -1, NULL, 0},
            {"moscow-time-headless", -1, NULL, 0},
            {"x:0", -1, NULL, 0},
            {"x:65536", -1, NULL, 0},
            {"x:8080 ", -1, NULL, 0},
            {"x:+80", -1, NULL, 0},
            {":80", -1, NULL, 0},
            {"a..b:80", -1, NULL, 0},
            {"a b:80", -1, NULL, 0},
            {"http://x:80", -1, NULL, 0},
            {"[::1]:80", -1, NULL, 0},
        };
        struct peer_discover d;
        char why[256];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                why[0] = '\0';
                int rc = peer_discover_parse(cases[i].text, &d, why, sizeof(why));
                if ((rc == 0) != (cases[i].kind >= 0))
                        fail_msg("\"%s\": rc %d (%s)", cases[i].text, rc, why);
                if (rc != 0) {
                        assert_contains(why, "expected");
                        continue;
                }
                assert_int_equal(d.kind, cases[i].kind);
                assert_string_equal(d.name, cases[i].name);
                assert_int_equal(d.port, cases[i].port);
        }
}

/* A DNS answer with SRV records, as a server sends it. */
struct srv_rec {
        const char *host;
        unsigned port;
        unsigned type; /* 33, or another type to skip */
};

static size_t
put_name(unsigned char *p, const char *name)
{
        size_t n = 0;

        while (*name) {
                size_t label = strcspn(name, ".");
                p[n++] = (unsigned char)label;
                memcpy(p + n, name, label);
                n += label;
                name += label;
                if (*name == '.')
                        name++;
        }
        p[n++] = 0;
        return n;
}

static size_t
srv_message(unsigned char *msg, const struct srv_rec *r, size_t n)
{
        size_t k = 0;
        unsigned char hdr[12] = {0, 1, 0x81, 0x80, 0, 1, (unsigned char)(n >> 8), (unsigned char)n};

        memcpy(msg, hdr, 12);
        k = 12 + put_name(msg + 12, "_http._tcp.svc");
        msg[k++] = 0;
        msg[k++] = 33;
        msg[k++] = 0;
        msg[k++] = 1;
        for (size_t i = 0; i < n; i++) {
                unsigned char target[300];
                size_t tl = put_name(target, r[i].host);
                size_t rd = r[i].type == 33 ? 6 + tl : 4;
                unsigned char rr[12] = {0xc0,
                                        12,
                                        0,
                                        (unsigned char)r[i].type,
                                        0,
                                        1,
                                        0,
                                        0,
                                        0,
                                        30,
                                        (unsigned char)(rd >> 8),
                                        (unsigned char)rd};
                memcpy(msg + k, rr, 12);
                k += 12;
                if (r[i].type != 33) {
                        memcpy(msg + k, "\x7f\0\0\x01", 4);
                        k += 4;
                        continue;
                }
                unsigned char data[6] = {
                    0, 0, 0, 50, (unsigned char)(r[i].port >> 8), (unsigned char)r[i].port};
                memcpy(msg + k, data, 6);
                memcpy(msg + k + 6, target, tl);
                k += 6 + tl;
        }
        return k;
}

/* The pods an SRV answer names: by the first label of each target, in natural order. */
static void
test_srv_answer(void **state)
{
        static const struct srv_rec recs[] = {
            {"mt-10.mt-headless.ns.svc.cluster.local", 8080, 33},
            {"mt-2.mt-headless.ns.svc.cluster.local", 8080, 33},
            {"mt-0.mt-headless.ns.svc.cluster.local", 8081, 33},
            {"mt-0.mt-headless.ns.svc.cluster.local", 8080, 33}, /* one pod, two ports */
            {"a", 0, 1},                                         /* an A record: skipped */
            {"bad\\032name.x", 8080, 33},                        /* not a DNS name */
            {"mt-3.x", 0, 33},                                   /* port 0: nothing there */
        };
        static unsigned char msg[65536];
        static struct peer_list list;
        size_t more, bad;
        char why[128];

        (void)state;
        size_t len = srv_message(msg, recs, sizeof(recs) / sizeof(recs[0]));
        assert_int_equal(peer_srv_parse(msg, len, &list, &more, &bad, why, sizeof(why)), 0);
        assert_int_equal(list.n, 3);
        assert_string_equal(list.t[0].name, "mt-0");
        assert_string_equal(list.t[0].addr, "mt-0.mt-headless.ns.svc.cluster.local:8080");
        assert_string_equal(list.t[1].name, "mt-2");
        assert_string_equal(list.t[2].name, "mt-10");
        assert_string_equal(list.t[2].addr, "mt-10.mt-headless.ns.svc.cluster.local:8080");
        assert_int_equal(more, 0);
        assert_int_equal(bad, 2);

        /* Cut anywhere: refused, never read past the end. */
        for (size_t cut = 0; cut < len; cut++) {
                if (peer_srv_parse(msg, cut, &list, &more, &bad, why, sizeof(why)) == 0)
                        assert_true(list.n <= 3);
        }

        /* 300 pods: the first 256 by name, and how many were left out. */
        static struct srv_rec many[300];
        static char hosts[300][32];
        for (int i = 0; i < 300; i++) {
                snprintf(hosts[i], sizeof(hosts[i]), "mt-%d.h", 299 - i);
                many[i] = (struct srv_rec){hosts[i], 8080, 33};
        }
        len = srv_message(msg, many, 300);
        assert_int_equal(peer_srv_parse(msg, len, &list, &more, &bad, why, sizeof(why)), 0);
        assert_int_equal(list.n, PEER_FOUND_MAX);
        assert_int_equal(more, 300 - PEER_FOUND_MAX);
        assert_string_equal(list.t[0].name, "mt-0");
        assert_string_equal(list.t[255].name, "mt-255");
}

struct answer_case {
        const char *body;
        const char *why; /* NULL: taken */
        uint64_t visits;
};

/*
 * A peer's answer is read strictly (RFC 8259): each of these was taken as a
 * count, or its first "visits" won, before.
 */
static void
test_parse_answer_strictly(void **state)
{
        static const struct answer_case cases[] = {
            {"{\"visits\":42,\"pod\":\"moscow-time-1\"}\n", NULL, 42},
            {" \t\r\n{ \"pod\" : \"a\" , \"visits\" : 0 } \n", NULL, 0},
            {"{\"visits\":9223372036854775807,\"pod\":\"a\"}", NULL, INT64_MAX},
            {"{\"v\\u0069sits\":5,\"pod\":\"a\"}", NULL, 5}, /* an escaped name is the name */
            {"{\"visits\":5,\"pod\":\"a\",\"x\":[1,-2.5e+3,{\"visits\":1},\"\\ud83d\\ude00\",true,"
             "null,false,[]],\"y\":{}}",
             NULL, 5},
            {"{\"visits\":5,\"pod\":\"a\",\"s\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", NULL,
             5},
            {"{\"visits\":1.9,\"pod\":\"a\"}", "a count with a fraction or an exponent", 0},
            {"{\"visits\":1e3,\"pod\":\"a\"}", "a count with a fraction or an exponent", 0},
            {"{\"visits\":1E3,\"pod\":\"a\"}", "a count with a fraction or an exponent", 0},
            {"{\"visits\":017,\"pod\":\"a\"}", "a count with a leading zero", 0},
            {"{\"visits\":00,\"pod\":\"a\"}", "a count with a leading zero", 0},
            {"{\"visits\":-0,\"pod\":\"a\"}", "a negative count", 0},
            {"{\"visits\":-1,\"pod\":\"a\"}", "a negative count", 0},
            {"{\"visits\":+1,\"pod\":\"a\"}", "a count that is not a number", 0},
            {"{\"visits\":\"7\",\"pod\":\"a\"}", "a count that is not a number", 0},
            {"{\"visits\":9223372036854775808,\"pod\":\"a\"}", "a count past 2^63-1", 0},
            {"{\"visits\":18446744073709551616,\"pod\":\"a\"}", "a count past 2^63-1", 0},
            {"{\"visits\":17", "expected ',' or '}'", 0},
            {"{\"visits\":17,\"pod\":\"a\"", "expected ',' or '}'", 0},
            {"{\"pod\":\"a\",\"x\":{\"visits\":7}}", "no \"visits\"", 0},
            {"{\"visits\":7}", "no \"pod\"", 0},
            {"{\"visits\":7,\"visits\":8,\"pod\":\"a\"}", "a member named twice", 0},
            {"{\"visits\":7,\"v\\u0069sits\":8,\"pod\":\"a\"}", "a member named twice", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"x\":1,\"x\":2}", "a member named twice", 0},
            {"{\"visits\":7,\"pod\":\"a\"}{}", "bytes after the object", 0},
            {"{\"visits\":7,\"pod\":\"a\"}x", "bytes after the object", 0},
            {"\xef\xbb\xbf{\"visits\":7,\"pod\":\"a\"}", "not a JSON object", 0},
            {"[{\"visits\":7,\"pod\":\"a\"}]", "not a JSON object", 0},
            {"7\n", "not a JSON object", 0},
            {"", "empty", 0},
            {"<html>{\"visits\":7}", "not a JSON object", 0},
            {"{\"visits\":7,\"pod\":\"a b\"}", "a pod name that is not a pod name", 0},
            {"{\"visits\":7,\"pod\":\"a\\u0000b\"}", "a pod name that is not a pod name", 0},
            {"{\"visits\":7,\"pod\":\"a\\nzz-forged 999999 fresh\"}",
             "a pod name that is not a pod name", 0},
            {"{\"visits\":7,\"pod\":7}", "a pod name that is not a string", 0},
            {"{\"visits\":7,\"pod\":\"unterminated", "a string not closed", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"s\":\"\x01\"}", "a control character in a string", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"s\":\"\xff\"}", "bytes that are not UTF-8", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"s\":\"\xc0\xaf\"}", "bytes that are not UTF-8", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"s\":\"\xed\xa0\x80\"}", "bytes that are not UTF-8", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"s\":\"\\ud800\"}", "a lone high surrogate", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"s\":\"\\udc00\"}", "a lone low surrogate", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"s\":\"\\x41\"}", "an unknown escape", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"n\":01}", "expected ',' or '}'", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"n\":1.}", "a number without digits", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"n\":.5}", "not a JSON value", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"n\":NaN}", "not a JSON value", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"n\":tru}", "not a JSON value", 0},
            {"{\"visits\":7,\"pod\":\"a\",}", "expected a member's name", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"l\":[1,]}", "not a JSON value", 0},
            {"{'visits':7}", "expected a member's name", 0},
            {"{\"visits\":7,\"pod\":\"a\",\"d\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}",
             "values nested too deep", 0},
        };
        struct cluster_answer a;
        char why[128];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct answer_case *c = &cases[i];
                why[0] = '\0';
                int rc = cluster_parse_answer(c->body, strlen(c->body), &a, why, sizeof(why));
                if ((rc == 0) != (c->why == NULL))
                        fail_msg("%s: rc %d (%s)", c->body, rc, why);
                if (rc == 0) {
                        if (a.visits != c->visits)
                                fail_msg("%s: %llu", c->body, (unsigned long long)a.visits);
                        continue;
                }
                if (strstr(why, c->why) == NULL)
                        fail_msg("%s: \"%s\", expected \"%s\"", c->body, why, c->why);
        }
        const char *rec = "{\"pod\":\"mt-1\",\"of\":\"mt-0\",\"visits\":9,\"state\":\"left\","
                          "\"age_ms\":812}\n";
        assert_int_equal(cluster_parse_answer(rec, strlen(rec), &a, why, sizeof(why)), 0);
        assert_string_equal(a.pod, "mt-1");
        assert_string_equal(a.of, "mt-0");
        assert_int_equal(a.age_ms, 812);
        /* Longer than the answer's room: refused before it is read. */
        char big[CLUSTER_ANSWER_MAX + 2];
        memset(big, ' ', sizeof(big));
        memcpy(big, "{\"visits\":1,\"pod\":\"a\"}", 22);
        assert_int_equal(cluster_parse_answer(big, sizeof(big), &a, why, sizeof(why)), -1);
        assert_contains(why, "longer than 512 bytes");
        assert_int_equal(cluster_parse_answer(big, CLUSTER_ANSWER_MAX, &a, why, sizeof(why)), 0);
}

/* The G-counter: each pod's largest count, summed; a pod that went back does not lower it. */
static void
test_merge_by_max_never_lowers_the_total(void **state)
{
        struct cluster_fixture *f = *state;
        int64_t t0 = 1000 * MS;

        start_with(f, "10.0.0.1:8080,10.0.0.2:8080");
        record(&f->c, "10.0.0.1:8080", 5, "pod-1", t0);
        record(&f->c, "10.0.0.2:8080", 7, "pod-2", t0);
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_int_equal(f->v.total, 112);
        assert_int_equal(f->v.own, 100);
        assert_false(f->v.partial);
        assert_false(f->v.saturated);
        assert_string_equal(f->v.self, "self");
        assert_int_equal(entry(&f->v, "self")->state, CLUSTER_SELF);

        /* pod-2 comes back on a fresh volume with 3; then an old answer arrives late. */
        record(&f->c, "10.0.0.2:8080", 3, "pod-2", t0 + 1 * MS);
        record(&f->c, "10.0.0.1:8080", 4, "pod-1", t0 + 2 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 3 * MS);
        assert_int_equal(f->v.total, 112);
        const struct cluster_view_entry *e = entry(&f->v, "pod-2");
        assert_int_equal(e->visits, 7);
        assert_int_equal(e->reported, 3);
        assert_int_equal(e->state, CLUSTER_FRESH);
        assert_string_equal(e->peer, "10.0.0.2:8080");

        /* Once past the old count, the new volume's visits show again. */
        record(&f->c, "10.0.0.2:8080", 9, "pod-2", t0 + 4 * MS);
        own_visits = 101;
        cluster_view(&f->c, own_visits, &f->v, t0 + 5 * MS);
        assert_int_equal(f->v.total, 101 + 5 + 9);
        assert_int_equal(entry(&f->v, "pod-2")->reported, 9);
}

static void
test_stale_and_unreached_make_it_partial(void **state)
{
        struct cluster_fixture *f = *state;
        int64_t t0 = 1000 * MS;

        start_with(f, "a:1,b:1,c:1");
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_true(f->v.partial);
        assert_int_equal(f->v.n, 4);
        assert_int_equal(entry(&f->v, "a:1")->state, CLUSTER_UNREACHED);
        assert_string_equal(entry(&f->v, "a:1")->error, "not polled yet");
        assert_int_equal(entry(&f->v, "a:1")->age_ns, -1);
        assert_int_equal(entry(&f->v, "a:1")->index, 1);

        record(&f->c, "a:1", 10, "pod-a", t0);
        record(&f->c, "b:1", 20, "pod-b", t0);
        cluster_record_failure(&f->c, "c:1", CLUSTER_UNREACHABLE, "Connection refused", t0);
        cluster_view(&f->c, own_visits, &f->v, t0 + 500 * MS);
        assert_true(f->v.partial);
        assert_int_equal(f->v.total, 130);
        assert_int_equal(entry(&f->v, "c:1")->state, CLUSTER_UNREACHED);
        assert_string_equal(entry(&f->v, "c:1")->error, "Connection refused");

        /* Stale after three poll intervals without an answer: kept in the total, marked. */
        record(&f->c, "c:1", 1, "pod-c", t0 + 500 * MS);
        record(&f->c, "a:1", 11, "pod-a", t0 + 3000 * MS);
        record(&f->c, "c:1", 1, "pod-c", t0 + 3000 * MS);
        cluster_record_failure(&f->c, "b:1", CLUSTER_UNREACHABLE, "Operation timed out",
                               t0 + 3000 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 3000 * MS);
        assert_false(f->v.partial); /* b answered 3.0 s ago: the edge of fresh */
        assert_int_equal(entry(&f->v, "pod-b")->state, CLUSTER_FRESH);
        assert_string_equal(entry(&f->v, "pod-b")->error, "Operation timed out");
        cluster_view(&f->c, own_visits, &f->v, t0 + 3001 * MS);
        assert_true(f->v.partial);
        const struct cluster_view_entry *b = entry(&f->v, "pod-b");
        assert_int_equal(b->state, CLUSTER_STALE);
        assert_int_equal(b->visits, 20);
        assert_true(b->age_ns == 3001 * MS);
        assert_int_equal(f->v.total, 100 + 11 + 20 + 1);
        assert_int_equal(entry(&f->v, "pod-a")->state, CLUSTER_FRESH);
}

/* Its own entry is known by name in the address, or by the name it answers with. */
static void
test_own_entry_is_recognised(void **state)
{
        struct cluster_fixture *f = *state;
        static struct cluster_targets t;
        uint64_t gen = 0;
        int64_t t0 = 1000 * MS;

        start_with(f, "self.moscow-time-headless.ns.svc.cluster.local:8080,"
                      "self-1.moscow-time-headless:8080,127.0.0.1:9");
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_int_equal(f->v.n, 3); /* self, and the two others never reached */
        entry(&f->v, "self-1.moscow-time-headless:8080");
        entry(&f->v, "127.0.0.1:9");
        /* This pod by its name is never polled. */
        assert_int_equal(cluster_targets(&f->c, &gen, &t), 1);
        assert_int_equal(t.list.n, 2);

        /* 127.0.0.1:9 turns out to be this pod's own nginx: it drops out, counted once. */
        record(&f->c, "127.0.0.1:9", 100, "self", t0);
        record(&f->c, "self-1.moscow-time-headless:8080", 5, "self-1", t0);
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_int_equal(f->v.n, 2);
        assert_int_equal(f->v.total, 105);
        assert_false(f->v.partial);
}

/* A peer that leaves the list keeps its count in the total (left); one that stays keeps its state.
 */
static void
test_reconfigure_keeps_what_was_seen(void **state)
{
        struct cluster_fixture *f = *state;
        char err[256];
        int64_t t0 = 1000 * MS;

        start_with(f, "a:1,b:1");
        record(&f->c, "a:1", 10, "pod-a", t0);
        record(&f->c, "b:1", 20, "pod-b", t0);
        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "b:1, c:1");
        f->s.cluster_poll_interval_ms = 200;
        assert_int_equal(cluster_configure(&f->c, &f->s, err, sizeof(err)), 0);
        cluster_view(&f->c, own_visits, &f->v, t0 + 100 * MS);
        assert_int_equal(f->v.total, 130);
        assert_int_equal(entry(&f->v, "pod-a")->state, CLUSTER_LEFT);
        assert_string_equal(entry(&f->v, "pod-a")->peer, "");
        assert_int_equal(entry(&f->v, "pod-b")->state, CLUSTER_FRESH);
        assert_int_equal(entry(&f->v, "c:1")->state, CLUSTER_UNREACHED);

        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "b:1,b:1");
        assert_int_equal(cluster_configure(&f->c, &f->s, err, sizeof(err)), -1);
        assert_string_equal(err, "[cluster] peers: b:1 is listed twice");
        cluster_view(&f->c, own_visits, &f->v, t0 + 100 * MS);
        entry(&f->v, "c:1"); /* the list in force is unchanged */

        /* pod-a back at a new address: its entry again, by name, counted once. */
        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "b:1,c:1,d:1");
        assert_int_equal(cluster_configure(&f->c, &f->s, err, sizeof(err)), 0);
        record(&f->c, "d:1", 12, "pod-a", t0 + 200 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 200 * MS);
        assert_int_equal(f->v.total, 132);
        assert_int_equal(entry(&f->v, "pod-a")->state, CLUSTER_FRESH);
        assert_string_equal(entry(&f->v, "pod-a")->peer, "d:1");
}

/*
 * A pod is its name. An address answers for the pod it first answered as:
 * a new name from it later is a conflict that changes no count (a rotating
 * peer gets no second entry, no second label); two addresses answering as
 * one pod are a conflict, and neither counts until one stops.
 */
static void
test_a_pod_is_its_name(void **state)
{
        struct cluster_fixture *f = *state;
        int64_t t0 = 1000 * MS;

        start_with(f, "a:1,b:1");
        record(&f->c, "a:1", 11, "old-hostname", t0);
        record(&f->c, "a:1", 12, "new-hostname", t0 + MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + MS);
        assert_int_equal(f->v.total, 111);
        assert_int_equal(entry(&f->v, "old-hostname")->state, CLUSTER_CONFLICT);
        assert_contains(entry(&f->v, "old-hostname")->error,
                        "answers as pod new-hostname, but it answered as pod old-hostname before");
        assert_false(has_entry(&f->v, "new-hostname"));
        assert_true(f->v.partial);
        assert_int_equal(f->v.refused[CLUSTER_CONFLICTING], 1);

        /* A name a second address answers with too: neither moves the count. */
        record(&f->c, "a:1", 13, "old-hostname", t0 + 2 * MS);
        record(&f->c, "b:1", 500, "old-hostname", t0 + 3 * MS);
        record(&f->c, "a:1", 14, "old-hostname", t0 + 4 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 4 * MS);
        assert_int_equal(f->v.total, 113);
        assert_int_equal(entry(&f->v, "old-hostname")->state, CLUSTER_CONFLICT);
        assert_contains(entry(&f->v, "old-hostname")->error, "answers here and at");

        /* b stops answering as it; after three intervals a's answers count again. */
        cluster_record_failure(&f->c, "b:1", CLUSTER_UNREACHABLE, "Connection refused",
                               t0 + 1000 * MS);
        record(&f->c, "a:1", 15, "old-hostname", t0 + 3004 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 3004 * MS);
        assert_int_equal(f->v.total, 115);
        cluster_view(&f->c, own_visits, &f->v, t0 + 6005 * MS);
        assert_int_equal(entry(&f->v, "old-hostname")->state, CLUSTER_STALE);

        /* Renamed for real: out of the list and back, the address answers for its new name. */
        char err[256];
        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "b:1");
        assert_int_equal(cluster_configure(&f->c, &f->s, err, sizeof(err)), 0);
        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "a:1,b:1");
        assert_int_equal(cluster_configure(&f->c, &f->s, err, sizeof(err)), 0);
        record(&f->c, "a:1", 3, "new-hostname", t0 + 6006 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 6006 * MS);
        assert_int_equal(entry(&f->v, "new-hostname")->state, CLUSTER_FRESH);
        assert_int_equal(f->v.total, 100 + 15 + 3);
}

/* An answer naming this pod changes no count and drops no peer: it is polled again. */
static void
test_an_answer_naming_this_pod_changes_nothing(void **state)
{
        struct cluster_fixture *f = *state;
        static struct cluster_targets t;
        uint64_t gen = 0;
        int64_t t0 = 1000 * MS;

        own_visits = 7;
        start_with(f, "a:1");
        record(&f->c, "a:1", 100, "pod-a", t0);
        record(&f->c, "a:1", 100, "self", t0 + 100 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 100 * MS);
        assert_int_equal(f->v.total, 107);
        assert_int_equal(entry(&f->v, "pod-a")->state, CLUSTER_CONFLICT);
        assert_contains(entry(&f->v, "pod-a")->error, "answers as this pod, self");
        assert_int_equal(cluster_targets(&f->c, &gen, &t), 1);
        assert_int_equal(t.list.n, 1); /* still polled */
        record(&f->c, "a:1", 101, "pod-a", t0 + 4000 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 4000 * MS);
        assert_int_equal(f->v.total, 108);
        assert_int_equal(entry(&f->v, "pod-a")->state, CLUSTER_FRESH);
}

/* More new visits than CLUSTER_RATE_MAX a second allows are refused; the last count stands. */
static void
test_an_implausible_jump_is_refused(void **state)
{
        struct cluster_fixture *f = *state;
        int64_t t0 = 1000 * MS;

        f->s.cluster_timeout_ms = 500;
        start_with(f, "a:1");
        record(&f->c, "a:1", 100, "pod-a", t0);
        /* One second later (and a timeout for latency): at most 15,000,000 more. */
        record(&f->c, "a:1", 100 + 15000000, "pod-a", t0 + SEC);
        cluster_view(&f->c, own_visits, &f->v, t0 + SEC);
        assert_int_equal(entry(&f->v, "pod-a")->visits, 15000100);
        record(&f->c, "a:1", 15000100 + 15000001, "pod-a", t0 + 2 * SEC);
        record(&f->c, "a:1", (uint64_t)INT64_MAX, "pod-a", t0 + 2 * SEC);
        cluster_view(&f->c, own_visits, &f->v, t0 + 2 * SEC);
        const struct cluster_view_entry *e = entry(&f->v, "pod-a");
        assert_int_equal(e->visits, 15000100);
        assert_int_equal(e->reported, 15000100);
        assert_false(e->up);
        assert_contains(e->error, "implausible: 9223372036854775807, up from 15000100 in 1.000 s "
                                  "(more than 10000000 visits a second); 15000100 stands");
        assert_int_equal(f->v.refused[CLUSTER_IMPLAUSIBLE], 2);
        assert_int_equal(f->v.total, 15000200);
        /* Three intervals without an answer taken: stale, and the total says partial. */
        cluster_view(&f->c, own_visits, &f->v, t0 + 5 * SEC);
        assert_int_equal(entry(&f->v, "pod-a")->state, CLUSTER_STALE);
        assert_true(f->v.partial);
        /* A count restored by hand is taken once that much time has passed since. */
        record(&f->c, "a:1", 15000100 + 100000000, "pod-a", t0 + 11 * SEC);
        cluster_view(&f->c, own_visits, &f->v, t0 + 11 * SEC);
        assert_int_equal(entry(&f->v, "pod-a")->visits, 115000100);
}

/* The total never wraps: it saturates at 2^63-1 and says so; the bars stay proportional. */
static void
test_the_total_saturates(void **state)
{
        struct cluster_fixture *f = *state;
        static char buf[65536];
        struct text e;
        int64_t t0 = 1000 * MS;

        start_with(f, "a:1,b:1,c:1");
        record(&f->c, "a:1", (uint64_t)INT64_MAX, "pod-a", t0);
        record(&f->c, "b:1", (uint64_t)INT64_MAX, "pod-b", t0);
        record(&f->c, "c:1", 1, "pod-c", t0);
        for (uint64_t own = 0; own < 3; own++) {
                cluster_view(&f->c, own, &f->v, t0);
                assert_true(f->v.total == (uint64_t)INT64_MAX);
                assert_true(f->v.saturated);
        }
        text_init(&e, buf, sizeof(buf));
        answer_cluster_json(&f->v, 0, &e);
        assert_contains(buf, "{\"visits\":9223372036854775807,\"partial\":false,"
                             "\"saturated\":true,");
        text_init(&e, buf, sizeof(buf));
        answer_cluster_text(&f->v, 0, &e);
        assert_contains(buf, "9223372036854775807\ncomplete: every pod answered lately\n"
                             "saturated: the counts add up to more than 9223372036854775807");
        text_init(&e, buf, sizeof(buf));
        metrics_render_cluster(&e, &f->v);
        assert_contains(buf, "\nmoscow_time_cluster_visits 9223372036854775807\n");
        assert_contains(buf, "\nmoscow_time_cluster_saturated 1\n");

        /* One huge count: its bar is full, the others' are their share, not 0 by a wrap. */
        f->c.pods[1].visits = f->c.pods[1].reported = 1;
        cluster_view(&f->c, 2, &f->v, t0);
        struct clock_text ct = {.iso = "2026-01-01T00:00:00+03:00", .local = "now", .tick = ""};
        struct page pg = {.city = "Moscow", .t = &ct, .visits = 2, .cluster = &f->v};
        text_init(&e, buf, sizeof(buf));
        page_render(&pg, &e);
        assert_false(e.overflow);
        assert_contains(buf, "<span>pod-a</span><svg viewBox=\"0 0 1000 10\" "
                             "preserveAspectRatio=\"none\" aria-hidden=\"true\"><rect "
                             "class=\"track\" width=\"1000\" height=\"10\"/><rect class=\"bar\" "
                             "width=\"1000\"");
        assert_contains(buf, "9223372036854775807 · 100%</span>");
        assert_contains(buf, "1 · 0%</span>");
        assert_contains(buf, "<span id=\"saturated\">");
}

/*
 * Found in DNS by name: a pod that leaves DNS is left, its count stays in the
 * total and it does not make the answer partial; one that comes back has its
 * count again. Its address may change; it is the same pod.
 */
static void
test_pods_found_in_dns_leave_and_come_back(void **state)
{
        struct cluster_fixture *f = *state;
        static const char *const three[] = {"self=self.h:80", "mt-1=mt-1.h:80", "mt-2=mt-2.h:80"};
        static const char *const two[] = {"self=self.h:80", "mt-1=mt-1.h:81"};
        static struct cluster_targets t;
        uint64_t gen = 0;
        int64_t t0 = 1000 * MS;

        start_discovering(f, "_http._tcp.h");
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_true(f->v.partial); /* nothing found yet */
        assert_int_equal(f->v.discovery, CLUSTER_DISCOVERY_FAILING);
        discovered(f, three, 3, t0);
        assert_int_equal(cluster_targets(&f->c, &gen, &t), 1);
        assert_int_equal(t.list.n, 2); /* never itself */
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_int_equal(entry(&f->v, "mt-1")->state, CLUSTER_UNREACHED); /* by name already */
        record(&f->c, "mt-1.h:80", 10, "mt-1", t0);
        record(&f->c, "mt-2.h:80", 20, "mt-2", t0);
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_false(f->v.partial);
        assert_int_equal(f->v.total, 130);

        /* Scaled down; mt-1 restarted on another port. */
        discovered(f, two, 2, t0 + 100 * MS);
        record(&f->c, "mt-1.h:81", 11, "mt-1", t0 + 200 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 200 * MS);
        assert_int_equal(f->v.total, 131);
        assert_false(f->v.partial);
        assert_int_equal(entry(&f->v, "mt-2")->state, CLUSTER_LEFT);
        assert_int_equal(entry(&f->v, "mt-2")->visits, 20);
        assert_int_equal(f->v.n, 3);
        /* Left for good: never stale, never partial. */
        record(&f->c, "mt-1.h:81", 11, "mt-1", t0 + 60 * SEC);
        discovered(f, two, 2, t0 + 60 * SEC);
        cluster_view(&f->c, own_visits, &f->v, t0 + 60 * SEC);
        assert_false(f->v.partial);
        assert_int_equal(entry(&f->v, "mt-2")->state, CLUSTER_LEFT);

        /* A pod found that never answered and leaves is forgotten: it had no count. */
        static const char *const with_new[] = {"self=self.h:80", "mt-1=mt-1.h:81",
                                               "mt-9=mt-9.h:80"};
        discovered(f, with_new, 3, t0 + 60 * SEC);
        cluster_view(&f->c, own_visits, &f->v, t0 + 60 * SEC);
        assert_int_equal(entry(&f->v, "mt-9")->state, CLUSTER_UNREACHED);
        discovered(f, two, 2, t0 + 60 * SEC);
        cluster_view(&f->c, own_visits, &f->v, t0 + 60 * SEC);
        assert_false(has_entry(&f->v, "mt-9"));

        /* A failing DNS changes no target: the pods found before are polled. */
        struct peer_discover d;
        int interval;
        uint64_t settings = cluster_discovery(&f->c, &d, &interval);
        cluster_discovered(&f->c, settings, NULL, 0, "SRV _http._tcp.h: no such name",
                           t0 + 61 * SEC);
        cluster_view(&f->c, own_visits, &f->v, t0 + 61 * SEC);
        assert_int_equal(f->v.discovery, CLUSTER_DISCOVERY_FAILING);
        assert_string_equal(f->v.discovery_error, "SRV _http._tcp.h: no such name");
        assert_int_equal(entry(&f->v, "mt-1")->state, CLUSTER_FRESH);
        /* Not answering for three intervals: pods could have joined unseen. */
        cluster_view(&f->c, own_visits, &f->v, t0 + 64 * SEC);
        assert_true(f->v.partial);

        /* Back: its count again, counted once. */
        discovered(f, three, 3, t0 + 65 * SEC);
        record(&f->c, "mt-2.h:80", 21, "mt-2", t0 + 65 * SEC);
        record(&f->c, "mt-1.h:80", 12, "mt-1", t0 + 65 * SEC);
        cluster_view(&f->c, own_visits, &f->v, t0 + 65 * SEC);
        assert_int_equal(f->v.total, 133);
        assert_int_equal(f->v.n, 3);
        assert_false(f->v.partial);
        assert_int_equal(f->v.discovery, CLUSTER_DISCOVERY_OK);

        /* A name DNS puts at an address is the pod there: another name from it is refused. */
        record(&f->c, "mt-1.h:80", 999, "mt-2", t0 + 66 * SEC);
        record(&f->c, "mt-1.h:80", 999, "self", t0 + 66 * SEC);
        cluster_view(&f->c, own_visits, &f->v, t0 + 66 * SEC);
        assert_int_equal(f->v.total, 133);
        assert_int_equal(entry(&f->v, "mt-1")->state, CLUSTER_CONFLICT);
        assert_contains(entry(&f->v, "mt-1")->error,
                        "answers as this pod, self, but DNS puts pod mt-1 at this address");
        assert_int_equal(entry(&f->v, "mt-2")->state, CLUSTER_FRESH);
}

/*
 * Room for CLUSTER_PODS_MAX pods, the left ones included: past it a new pod
 * is not polled (its count cannot be lost: it has none here yet), and the
 * answer says so and is partial.
 */
static void
test_more_pods_than_room(void **state)
{
        struct cluster_fixture *f = *state;
        static char pairs[CLUSTER_PODS_MAX][80];
        static const char *p[CLUSTER_PODS_MAX];
        int64_t t0 = 1000 * MS;

        start_discovering(f, "_http._tcp.h");
        for (int i = 0; i < CLUSTER_PODS_MAX; i++) {
                snprintf(pairs[i], sizeof(pairs[i]), "mt-%d=mt-%d.h:80", i, i);
                p[i] = pairs[i];
        }
        discovered(f, p, CLUSTER_PODS_MAX, t0);
        for (int i = 0; i < CLUSTER_PODS_MAX; i++) {
                char name[32];
                snprintf(name, sizeof(name), "mt-%d", i);
                record(&f->c, strchr(pairs[i], '=') + 1, 1, name, t0);
        }
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_int_equal(f->v.n, 1 + CLUSTER_PODS_MAX);
        assert_int_equal(f->v.total, own_visits + CLUSTER_PODS_MAX);
        assert_false(f->v.partial);
        /* 256 others, all left, and ten new: no room for the new ones. */
        for (int i = 0; i < 10; i++)
                snprintf(pairs[i], sizeof(pairs[i]), "nt-%d=nt-%d.h:80", i, i);
        discovered(f, p, 10, t0 + MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + MS);
        assert_int_equal(f->v.n, 1 + CLUSTER_PODS_MAX);
        assert_int_equal(f->v.not_polled, 10);
        assert_int_equal(f->v.total, own_visits + CLUSTER_PODS_MAX);
        assert_true(f->v.partial);
        assert_int_equal(entry(&f->v, "mt-0")->state, CLUSTER_LEFT);
}

/*
 * Every byte a peer sent is escaped wherever it goes: the log line (one
 * line, printable), the text answer (no forged line), the JSON (valid
 * UTF-8, \u escapes), the page and the labels (only listed names).
 */
static void
test_peer_bytes_are_escaped_everywhere(void **state)
{
        struct cluster_fixture *f = *state;
        static char buf[65536], logged[65536];
        struct text e;
        int64_t t0 = 1000 * MS;
        const char *hostile = "GET /visits: not a count: \"\nzz-forged 999999 fresh\n"
                              "2026-01-01T00:00:00.000Z level=error forged\x1b[31m\x07\xff\xc3\"";

        start_with(f, "a:1");
        capture_log(f);
        cluster_record_failure(&f->c, "a:1", CLUSTER_MALFORMED, hostile, t0);
        size_t n = read_log(f, logged, sizeof(logged));
        assert_int_equal(count_lines(logged, "level="), 1);
        assert_int_equal(logged[n - 1], '\n');
        for (size_t i = 0; i + 1 < n; i++) {
                if ((unsigned char)logged[i] < 0x20 || (unsigned char)logged[i] >= 0x7f)
                        fail_msg("byte 0x%02x at %zu of the log line", (unsigned char)logged[i], i);
        }
        assert_contains(logged, "\\x0azz-forged 999999 fresh\\x0a");
        assert_contains(logged, "\\x1b[31m\\x07\\xff\\xc3");

        cluster_view(&f->c, own_visits, &f->v, t0);
        text_init(&e, buf, sizeof(buf));
        answer_cluster_text(&f->v, 1, &e);
        assert_int_equal(count_lines(buf, "zz-forged"), 1);
        assert_int_equal(count_lines(buf, ""), 4);
        for (size_t i = 0; i < e.len; i++) {
                unsigned char c = (unsigned char)buf[i];
                if ((c < 0x20 && c != '\n') || c >= 0x7f)
                        fail_msg("byte 0x%02x at %zu of the text answer", c, i);
        }
        text_init(&e, buf, sizeof(buf));
        answer_cluster_json(&f->v, 1, &e);
        for (size_t i = 0; i < e.len; i++) {
                unsigned char c = (unsigned char)buf[i];
                if ((c < 0x20 && !(c == '\n' && i == e.len - 1)) || c >= 0x7f)
                        fail_msg("byte 0x%02x at %zu of the JSON answer", c, i);
        }
        assert_contains(buf, "\"error\":\"GET /visits: not a count: \\\"\\\\x0azz-forged");
        /* Without detail: no address, no error; the address's key is its number. */
        text_init(&e, buf, sizeof(buf));
        answer_cluster_json(&f->v, 0, &e);
        assert_not_contains(buf, "forged");
        assert_not_contains(buf, "a:1");
        assert_contains(buf, "\"peer#1\":{\"visits\":0,\"state\":\"unreached\"");
        text_init(&e, buf, sizeof(buf));
        answer_cluster_text(&f->v, 0, &e);
        assert_not_contains(buf, "forged");
        assert_contains(buf, "\npeer#1 0 unreached\n");
}

/*
 * A flapping, rotating or alternating peer: at most one log line per kind
 * of change a minute, and the next says how many were left out.
 */
static void
test_log_lines_are_rate_limited(void **state)
{
        struct cluster_fixture *f = *state;
        static char logged[1 << 20];
        int64_t t0 = 1000 * MS;

        start_with(f, "a:1,b:1,c:1");
        capture_log(f);
        for (int i = 0; i < 120; i++) {
                int64_t now = t0 + i * 500 * MS; /* 60 s at two polls a second */
                char name[32];
                /* a flaps; b alternates between two names; c rotates a new one each time. */
                if (i % 2)
                        record(&f->c, "a:1", 10 + (uint64_t)i, "pod-a", now);
                else
                        cluster_record_failure(&f->c, "a:1", CLUSTER_UNREACHABLE,
                                               "Connection refused", now);
                record(&f->c, "b:1", 5, i % 2 ? "pod-b" : "pod-b2", now);
                snprintf(name, sizeof(name), "zz-%d", i);
                record(&f->c, "c:1", 5, name, now);
                cluster_tick(&f->c, now);
        }
        int64_t end = t0 + 62 * SEC;
        record(&f->c, "a:1", 200, "pod-a", end);
        cluster_tick(&f->c, end);
        read_log(f, logged, sizeof(logged));
        /* a: its first failure, its first answer; then the minute is over and it says so. */
        assert_true(count_lines(logged, "peer a:1: ") <= 3);
        assert_int_equal(count_lines(logged, "peer a:1: Connection refused"), 1);
        assert_contains(logged, "changes not logged in the last 60 s");
        assert_true(count_lines(logged, "peer b:1: ") <= 3);
        assert_true(count_lines(logged, "peer c:1: ") <= 3);
        cluster_view(&f->c, own_visits, &f->v, end);
        /* Rotating names made no entries: c answered as zz-0 first, for good. */
        assert_int_equal(f->v.n, 4);
        assert_true(has_entry(&f->v, "zz-0"));
        assert_false(has_entry(&f->v, "zz-1"));
}

/* The worst every answer can be: 256 pods, 63-byte names, long addresses, escaped errors. */
static void
test_every_answer_fits_256_pods(void **state)
{
        struct cluster_fixture *f = *state;
        static char pairs[CLUSTER_PODS_MAX][400];
        static const char *p[CLUSTER_PODS_MAX];
        static struct response r;
        static char big[1 << 20]; /* to measure what would not fit */
        static struct metrics m;
        struct text e;
        int64_t t0 = 1000 * MS;
        char why[CLUSTER_ERROR_MAX * 4];

        start_discovering(f, "_http._tcp.h");
        for (int i = 0; i < CLUSTER_PODS_MAX; i++) {
                /* A 63-byte name, and a 253-byte host: the longest DNS allows. */
                char name[64], host[254];
                snprintf(name, sizeof(name), "%0*d", 63, i);
                snprintf(host, sizeof(host), "%s.%0*d.%0*d.%0*d", name, 63, 0, 63, 0, 61, 0);
                snprintf(pairs[i], sizeof(pairs[i]), "%s=%s:65535", name, host);
                p[i] = pairs[i];
        }
        discovered(f, p, CLUSTER_PODS_MAX, t0);
        /* Long counts, long ages; errors of quotes: each takes two bytes in JSON. */
        memset(why, '"', sizeof(why) - 1);
        why[sizeof(why) - 1] = '\0';
        for (size_t i = 0; i < f->c.ntargets; i++) {
                const struct cluster_target *t = &f->c.targets[i];
                /* Went back: the text says so at length. */
                record(&f->c, t->addr, (uint64_t)INT64_MAX - i, t->expect, t0);
                record(&f->c, t->addr, 1000000000000000000 + i, t->expect, t0);
                cluster_record_failure(&f->c, t->addr, CLUSTER_MALFORMED, why, t0);
        }
        cluster_view(&f->c, (uint64_t)INT64_MAX, &f->v, t0 + 123456 * SEC);
        assert_int_equal(f->v.n, 1 + CLUSTER_PODS_MAX);
        for (int detail = 0; detail < 2; detail++) {
                text_init(&e, big, sizeof(big));
                answer_cluster_json(&f->v, detail, &e);
                print_message("# JSON answer, detail %d: %zu bytes of %zu\n", detail, e.len,
                              sizeof(r.body));
                assert_true(e.len < sizeof(r.body));
                text_init(&e, big, sizeof(big));
                answer_cluster_text(&f->v, detail, &e);
                print_message("# text answer, detail %d: %zu bytes\n", detail, e.len);
                assert_true(e.len < sizeof(r.body));
        }
        struct clock_text ct = {.iso = "2026-01-01T00:00:00+03:00", .local = "now", .tick = ""};
        struct page pg = {.city = "Moscow", .t = &ct, .visits = 2, .cluster = &f->v};
        text_init(&e, big, sizeof(big));
        page_render(&pg, &e);
        print_message("# page: %zu bytes\n", e.len);
        assert_true(e.len < sizeof(r.body));
        static const char *const names[] = {"/", "/visits", "/readyz", "/metrics", "other"};
        static const struct metrics_routes routes = {names, 5, 4};
        struct counter_health h = {0};
        metrics_init(&m, "9.9.9", "c0ffee");
        text_init(&e, big, sizeof(big));
        metrics_render(&e, &m, &routes);
        metrics_render_counter(&e, &h);
        metrics_render_cluster(&e, &f->v);
        print_message("# /metrics: %zu bytes\n", e.len);
        assert_true(e.len < sizeof(r.body));
}

static void
test_metrics(void **state)
{
        struct cluster_fixture *f = *state;
        static char buf[16384];
        struct text e;
        int64_t t0 = 1000 * MS;

        start_with(f, "a:1,b:1,self:8080");
        record(&f->c, "a:1", 10, "pod-a", t0);
        cluster_record_failure(&f->c, "b:1", CLUSTER_UNREACHABLE, "Connection refused", t0);
        text_init(&e, buf, sizeof(buf));
        cluster_view(&f->c, own_visits, &f->v, t0);
        metrics_render_cluster(&e, &f->v);
        assert_false(e.overflow);
        assert_contains(
            buf, "# TYPE moscow_time_cluster_visits gauge\nmoscow_time_cluster_visits 110\n");
        assert_contains(buf, "\nmoscow_time_cluster_partial 1\n");
        assert_contains(buf, "\nmoscow_time_cluster_saturated 0\n");
        assert_contains(buf, "\nmoscow_time_cluster_pod_visits{pod=\"self\"} 100\n");
        assert_contains(buf, "\nmoscow_time_cluster_pod_visits{pod=\"pod-a\"} 10\n");
        assert_contains(buf, "\nmoscow_time_peer_up{peer=\"a:1\"} 1\n");
        assert_contains(buf, "\nmoscow_time_peer_up{peer=\"b:1\"} 0\n");
        assert_contains(buf,
                        "\nmoscow_time_cluster_answers_refused_total{reason=\"malformed\"} 0\n");
        assert_not_contains(buf, "peer=\"self:8080\"");
        assert_not_contains(buf, "pod=\"b:1\"");
}

static void
test_bad_names_are_refused(void **state)
{
        struct cluster_fixture *f = *state;
        char err[256];

        snprintf(f->s.cluster_name, sizeof(f->s.cluster_name), "a b");
        assert_int_equal(cluster_init(&f->c, &f->s, err, sizeof(err)), -1);
        assert_string_equal(err, "[cluster] name \"a b\": expected a pod name of letters, "
                                 "digits, '-', '.' and '_'");
        /* Empty: the hostname, as Kubernetes sets it to the pod's name. */
        char host[256];
        f->s.cluster_name[0] = '\0';
        assert_int_equal(gethostname(host, sizeof(host)), 0);
        assert_int_equal(cluster_init(&f->c, &f->s, err, sizeof(err)), 0);
        cluster_view(&f->c, own_visits, &f->v, 0);
        assert_string_equal(f->v.self, host);
}

static void
answer(struct peer_server *s, int fd)
{
        char req[2048], body[192], resp[512];
        size_t got = 0;

        while (got < sizeof(req) - 1) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                if (poll(&pfd, 1, 2000) <= 0)
                        return;
                ssize_t n = read(fd, req + got, sizeof(req) - 1 - got);
                if (n <= 0)
                        return;
                got += (size_t)n;
                req[got] = '\0';
                if (strstr(req, "\r\n\r\n") != NULL)
                        break;
        }
        atomic_fetch_add(&s->requests, 1);
        /* A recovering pod asks what this one saw of it: 40 more than its own count. */
        int bn = strstr(req, "pod=self ") != NULL
                     ? snprintf(body, sizeof(body),
                                "{\"pod\":\"%s\",\"of\":\"self\",\"visits\":%llu,"
                                "\"state\":\"stale\",\"age_ms\":812}\n",
                                s->pod, (unsigned long long)atomic_load(&s->visits) + 40)
                     : snprintf(body, sizeof(body), "{\"visits\":%llu,\"pod\":\"%s\"}\n",
                                (unsigned long long)atomic_load(&s->visits), s->pod);
        int rn = snprintf(resp, sizeof(resp),
                          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                          bn, body);
        (void)!write(fd, resp, (size_t)rn);
}

static void *
server_main(void *arg)
{
        struct peer_server *s = arg;

        for (;;) {
                struct pollfd pfd[2] = {{.fd = s->fd, .events = POLLIN},
                                        {.fd = s->stop_pipe[0], .events = POLLIN}};
                if (poll(pfd, 2, -1) < 0 && errno != EINTR)
                        break;
                if (pfd[1].revents)
                        break;
                int c = accept(s->fd, NULL, NULL);
                if (c < 0)
                        continue;
                answer(s, c);
                close(c);
        }
        return NULL;
}

static int
listen_loopback(int *port)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(fd, 16), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        *port = ntohs(a.sin_port);
        return fd;
}

/*
 * A silent server has no thread and never accepts: the kernel completes the
 * handshake anyway, and the request waits for an answer that never comes.
 */
static struct peer_server *
server_start(struct cluster_fixture *f, const char *pod, uint64_t visits, int silent)
{
        struct peer_server *s = &f->srv[f->nsrv++];

        memset(s, 0, sizeof(*s));
        s->fd = listen_loopback(&s->port);
        s->silent = silent;
        snprintf(s->pod, sizeof(s->pod), "%s", pod);
        atomic_store(&s->visits, visits);
        assert_int_equal(pipe(s->stop_pipe), 0);
        if (!silent)
                assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
        return s;
}

static void
server_stop(struct peer_server *s)
{
        if (!s->silent) {
                (void)!write(s->stop_pipe[1], "x", 1);
                pthread_join(s->thread, NULL);
        }
        close(s->fd);
        close(s->stop_pipe[0]);
        close(s->stop_pipe[1]);
        s->fd = -1;
}

static int64_t
elapsed_ms(int64_t since_ns)
{
        return (now_mono_ns() - since_ns) / MS;
}

/* Waits up to 5 s for pod to show visits in state st; returns the time it took. */
static int64_t
wait_pod(struct cluster_fixture *f, const char *pod, uint64_t visits, enum cluster_state st)
{
        int64_t start = now_mono_ns();

        for (;;) {
                cluster_view(&f->c, own_visits, &f->v, now_mono_ns());
                for (size_t i = 0; i < f->v.n; i++) {
                        const struct cluster_view_entry *e = &f->v.e[i];
                        if (strcmp(e->name, pod) == 0 && e->visits == visits && e->state == st)
                                return elapsed_ms(start);
                }
                if (elapsed_ms(start) > 5000)
                        fail_msg("pod %s did not show %llu (%s) within 5 s", pod,
                                 (unsigned long long)visits, cluster_state_name(st));
                struct timespec ts = {.tv_nsec = 10 * MS};
                nanosleep(&ts, NULL);
        }
}

/*
 * The poller over real sockets with libcurl: a peer that answers, one that
 * accepts and never answers, one where nothing listens. The silent one
 * times out after timeout_ms and does not hold up the others.
 */
static void
test_poller_against_real_peers(void **state)
{
        struct cluster_fixture *f = *state;
        char peers[256], err[256], closed_addr[64];
        int closed_port;

        struct peer_server *good = server_start(f, "pod-good", 7, 0);
        struct peer_server *silent = server_start(f, "pod-silent", 0, 1);
        close(listen_loopback(&closed_port));
        snprintf(closed_addr, sizeof(closed_addr), "127.0.0.1:%d", closed_port);
        snprintf(peers, sizeof(peers), "127.0.0.1:%d,127.0.0.1:%d,%s", good->port, silent->port,
                 closed_addr);
        f->s.cluster_poll_interval_ms = 200;
        f->s.cluster_timeout_ms = 300;
        start_with(f, peers);
        int64_t started = now_mono_ns();
        assert_int_equal(cluster_poll_start(&f->poll, &f->c, err, sizeof(err)), 0);

        wait_pod(f, "pod-good", 7, CLUSTER_FRESH);
        /* The silent peer: the timeout is honoured, and only after it the error is known. */
        char silent_addr[64];
        snprintf(silent_addr, sizeof(silent_addr), "127.0.0.1:%d", silent->port);
        for (;;) {
                cluster_view(&f->c, own_visits, &f->v, now_mono_ns());
                if (strstr(entry(&f->v, silent_addr)->error, "timed out") != NULL)
                        break;
                assert_true(elapsed_ms(started) < 5000);
                struct timespec ts = {.tv_nsec = 10 * MS};
                nanosleep(&ts, NULL);
        }
        assert_true(elapsed_ms(started) >= 300);
        /* curl says how long it waited: about the 300 ms timeout (it may say 299). */
        const char *said = strstr(entry(&f->v, silent_addr)->error, "Operation timed out after ");
        assert_non_null(said);
        long waited = strtol(said + strlen("Operation timed out after "), NULL, 10);
        if (waited < 250 || waited > 3000)
                fail_msg("timed out after %ld ms, expected about 300: %s", waited, said);
        assert_contains(entry(&f->v, closed_addr)->error, "Couldn't connect");
        assert_true(f->v.partial);

        /* New counts from the good peer keep arriving while the silent one hangs. */
        for (uint64_t n = 8; n <= 10; n++) {
                atomic_store(&good->visits, n);
                int64_t took = wait_pod(f, "pod-good", n, CLUSTER_FRESH);
                assert_true(took < 2000);
        }
        assert_int_equal(f->v.total, 110);

        /* It goes away: its last count stays, stale after three intervals of timeouts. */
        server_stop(good);
        wait_pod(f, "pod-good", 10, CLUSTER_STALE);
        assert_int_equal(f->v.total, 110);
        assert_contains(entry(&f->v, "pod-good")->error, "Couldn't connect");

        int64_t stopping = now_mono_ns();
        cluster_poll_stop(f->poll);
        f->poll = NULL;
        assert_true(elapsed_ms(stopping) < 1000);
}

/* A reload that adds a peer is polled at once, not after the current pause. */
static void
test_poller_takes_new_peers(void **state)
{
        struct cluster_fixture *f = *state;
        char peers[64], err[256];

        const struct peer_server *s = server_start(f, "pod-new", 3, 0);
        f->s.cluster_poll_interval_ms = 60000;
        start_with(f, "");
        assert_int_equal(cluster_poll_start(&f->poll, &f->c, err, sizeof(err)), 0);
        snprintf(peers, sizeof(peers), "127.0.0.1:%d", s->port);
        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "%s", peers);
        assert_int_equal(cluster_configure(&f->c, &f->s, err, sizeof(err)), 0);
        cluster_poll_wake(f->poll);
        assert_true(wait_pod(f, "pod-new", 3, CLUSTER_FRESH) < 2000);
        assert_int_equal(f->v.total, 103);
}

/*
 * Each peer on its own clock: with a timeout far longer than the interval,
 * a peer that never answers delays nobody else's count (the good one's
 * count stays one interval old, not a timeout old).
 */
static void
test_a_hanging_peer_delays_nobody(void **state)
{
        struct cluster_fixture *f = *state;
        char peers[128], err[256];

        struct peer_server *good = server_start(f, "pod-good", 7, 0);
        const struct peer_server *silent = server_start(f, "pod-silent", 0, 1);
        snprintf(peers, sizeof(peers), "127.0.0.1:%d,127.0.0.1:%d", good->port, silent->port);
        f->s.cluster_poll_interval_ms = 200;
        f->s.cluster_timeout_ms = 3000;
        start_with(f, peers);
        assert_int_equal(cluster_poll_start(&f->poll, &f->c, err, sizeof(err)), 0);
        wait_pod(f, "pod-good", 7, CLUSTER_FRESH);
        int64_t worst = 0, start = now_mono_ns();
        uint64_t n = 7;
        /* Over 4 s, more than the timeout: each new count arrives within about an interval. */
        while (elapsed_ms(start) < 4000) {
                atomic_store(&good->visits, ++n);
                int64_t took = wait_pod(f, "pod-good", n, CLUSTER_FRESH);
                if (took > worst)
                        worst = took;
        }
        print_message("# a count's way with a hanging peer: at most %lld ms (interval 200, "
                      "timeout 3000)\n",
                      (long long)worst);
        assert_true(worst < 1000);
}

/* A pod without its counter file asks its peers what they last saw of it: the largest wins. */
static void
test_recovery_takes_the_largest_answer(void **state)
{
        struct cluster_fixture *f = *state;
        struct cluster_recovery r;
        char peers[128], err[256];

        const struct peer_server *a = server_start(f, "pod-a", 100, 0);
        const struct peer_server *b = server_start(f, "pod-b", 200, 0);
        snprintf(peers, sizeof(peers), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:9", a->port, b->port);
        start_with(f, peers);
        assert_int_equal(cluster_poll_start(&f->poll, &f->c, err, sizeof(err)), 0);
        int64_t start = now_mono_ns();
        cluster_recover(f->poll, 2000, &r);
        assert_true(elapsed_ms(start) < 2000);
        assert_int_equal(r.asked, 3);
        assert_int_equal(r.answered, 2);
        assert_true(r.found);
        assert_int_equal(r.visits, 240);
        assert_string_equal(r.by, "pod-b");
        assert_int_equal(r.age_ms, 812);
}

/* A pod found by name must answer as itself: another's answer about this pod is not taken. */
static void
test_recovery_takes_only_the_pod_found(void **state)
{
        struct cluster_fixture *f = *state;
        struct cluster_recovery r;
        char pairs[2][64], err[256];
        const char *p[2] = {pairs[0], pairs[1]};

        const struct peer_server *a = server_start(f, "pod-a", 100, 0);
        const struct peer_server *b = server_start(f, "pod-b", 900, 0);
        snprintf(pairs[0], sizeof(pairs[0]), "pod-a=127.0.0.1:%d", a->port);
        snprintf(pairs[1], sizeof(pairs[1]), "pod-x=127.0.0.1:%d", b->port); /* pod-b answers */
        start_discovering(f, "_http._tcp.nowhere.invalid");
        discovered(f, p, 2, now_mono_ns());
        assert_int_equal(cluster_poll_start(&f->poll, &f->c, err, sizeof(err)), 0);
        cluster_recover(f->poll, 2000, &r);
        assert_int_equal(r.asked, 2);
        assert_int_equal(r.answered, 1);
        assert_int_equal(r.visits, 140);
        assert_string_equal(r.by, "pod-a");
}

/* A silent peer: asked for at most the time given, then it starts without. */
static void
test_recovery_is_bounded(void **state)
{
        struct cluster_fixture *f = *state;
        struct cluster_recovery r;
        char peers[64], err[256];

        const struct peer_server *silent = server_start(f, "pod-silent", 0, 1);
        snprintf(peers, sizeof(peers), "127.0.0.1:%d", silent->port);
        start_with(f, peers);
        assert_int_equal(cluster_poll_start(&f->poll, &f->c, err, sizeof(err)), 0);
        int64_t start = now_mono_ns();
        cluster_recover(f->poll, 300, &r);
        int64_t took = elapsed_ms(start);
        assert_true(took >= 250 && took < 1500);
        assert_int_equal(r.asked, 1);
        assert_int_equal(r.answered, 0);
        assert_false(r.found);
}

#define CT(fn) cmocka_unit_test_setup_teardown(fn, cluster_setup, cluster_teardown)

int
cluster_tests(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_peers),
            cmocka_unit_test(test_name_check),
            cmocka_unit_test(test_parse_discover),
            cmocka_unit_test(test_srv_answer),
            cmocka_unit_test(test_parse_answer_strictly),
            CT(test_merge_by_max_never_lowers_the_total),
            CT(test_stale_and_unreached_make_it_partial),
            CT(test_own_entry_is_recognised),
            CT(test_reconfigure_keeps_what_was_seen),
            CT(test_a_pod_is_its_name),
            CT(test_an_answer_naming_this_pod_changes_nothing),
            CT(test_an_implausible_jump_is_refused),
            CT(test_the_total_saturates),
            CT(test_pods_found_in_dns_leave_and_come_back),
            CT(test_more_pods_than_room),
            CT(test_peer_bytes_are_escaped_everywhere),
            CT(test_log_lines_are_rate_limited),
            CT(test_every_answer_fits_256_pods),
            CT(test_bad_names_are_refused),
            CT(test_metrics),
            CT(test_poller_against_real_peers),
            CT(test_poller_takes_new_peers),
            CT(test_a_hanging_peer_delays_nobody),
            CT(test_recovery_takes_the_largest_answer),
            CT(test_recovery_takes_only_the_pod_found),
            CT(test_recovery_is_bounded),
        };
        return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
