#include "tests.h"

#include <arpa/inet.h>
#include <errno.h>
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

#include "cluster.h"
#include "cluster_poll.h"
#include "metrics_render.h"
#include "timeutil.h"

#define MS (1000000LL)

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
        own_visits = 100;
        *state = f;
        return 0;
}

static int
cluster_teardown(void **state)
{
        struct cluster_fixture *f = *state;

        cluster_poll_stop(f->poll);
        f->poll = NULL;
        for (int i = 0; i < f->nsrv; i++) {
                if (f->srv[i].fd >= 0)
                        server_stop(&f->srv[i]);
        }
        free(f);
        return 0;
}

static void
start_with(struct cluster_fixture *f, const char *peers)
{
        char err[512];

        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "%s", peers);
        if (cluster_init(&f->c, &f->s, err, sizeof(err)) != 0)
                fail_msg("cluster_init: %s", err);
}

static const struct cluster_view_entry *
entry(const struct cluster_view *v, const char *name)
{
        for (size_t i = 0; i < v->n; i++) {
                if (strcmp(v->e[i].name, name) == 0)
                        return &v->e[i];
        }
        fail_msg("no entry %s in the view", name);
        return NULL;
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
        assert_string_equal(list->addr[0], "a:1");
        assert_string_equal(list->addr[1], "b:2");

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

static void
test_parse_answer(void **state)
{
        char pod[CLUSTER_NAME_MAX];
        uint64_t n = 1;

        (void)state;
        const char *good = "{\"visits\":42,\"pod\":\"moscow-time-1\"}\n";
        assert_int_equal(cluster_parse_answer(good, strlen(good), &n, pod, sizeof(pod)), 0);
        assert_int_equal(n, 42);
        assert_string_equal(pod, "moscow-time-1");

        const char *nameless = "{\"visits\":7}\n";
        assert_int_equal(cluster_parse_answer(nameless, strlen(nameless), &n, pod, sizeof(pod)), 0);
        assert_int_equal(n, 7);
        assert_string_equal(pod, "");

        static const char *const bad[] = {
            "",
            "7\n",
            "{\"visits\":-1}",
            "{\"visits\":\"7\"}",
            "{\"visits\":9223372036854775808}",
            "{\"count\":7}",
            "{\"visits\":7,\"pod\":\"a b\"}",
            "{\"visits\":7,\"pod\":\"unterminated",
            "<html>{\"visits\":7}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (cluster_parse_answer(bad[i], strlen(bad[i]), &n, pod, sizeof(pod)) == 0)
                        fail_msg("accepted \"%s\"", bad[i]);
        }
        const char *max = "{\"visits\":9223372036854775807}";
        assert_int_equal(cluster_parse_answer(max, strlen(max), &n, pod, sizeof(pod)), 0);
        assert_true(n == (uint64_t)INT64_MAX);
}

/* The G-counter: each pod's largest count, summed; a pod that went back does not lower it. */
static void
test_merge_by_max_never_lowers_the_total(void **state)
{
        struct cluster_fixture *f = *state;
        int64_t t0 = 1000 * MS;

        start_with(f, "10.0.0.1:8080,10.0.0.2:8080");
        cluster_record(&f->c, "10.0.0.1:8080", 5, "pod-1", t0);
        cluster_record(&f->c, "10.0.0.2:8080", 7, "pod-2", t0);
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_int_equal(f->v.total, 112);
        assert_int_equal(f->v.own, 100);
        assert_false(f->v.partial);
        assert_string_equal(f->v.self, "self");
        assert_int_equal(entry(&f->v, "self")->state, CLUSTER_SELF);

        /* pod-2 comes back on a fresh volume with 3; then an old answer arrives late. */
        cluster_record(&f->c, "10.0.0.2:8080", 3, "pod-2", t0 + 1 * MS);
        cluster_record(&f->c, "10.0.0.1:8080", 4, "pod-1", t0 + 2 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 3 * MS);
        assert_int_equal(f->v.total, 112);
        const struct cluster_view_entry *e = entry(&f->v, "pod-2");
        assert_int_equal(e->visits, 7);
        assert_int_equal(e->reported, 3);
        assert_int_equal(e->state, CLUSTER_FRESH);
        assert_string_equal(e->peer, "10.0.0.2:8080");

        /* Once past the old count, the new volume's visits show again. */
        cluster_record(&f->c, "10.0.0.2:8080", 9, "pod-2", t0 + 4 * MS);
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

        cluster_record(&f->c, "a:1", 10, "pod-a", t0);
        cluster_record(&f->c, "b:1", 20, "pod-b", t0);
        cluster_record_failure(&f->c, "c:1", "Connection refused", t0);
        cluster_view(&f->c, own_visits, &f->v, t0 + 500 * MS);
        assert_true(f->v.partial);
        assert_int_equal(f->v.total, 130);
        assert_int_equal(entry(&f->v, "c:1")->state, CLUSTER_UNREACHED);
        assert_string_equal(entry(&f->v, "c:1")->error, "Connection refused");

        /* Stale after three poll intervals without an answer: kept in the total, marked. */
        cluster_record(&f->c, "c:1", 1, "pod-c", t0 + 500 * MS);
        cluster_record(&f->c, "a:1", 11, "pod-a", t0 + 3000 * MS);
        cluster_record(&f->c, "c:1", 1, "pod-c", t0 + 3000 * MS);
        cluster_record_failure(&f->c, "b:1", "Operation timed out", t0 + 3000 * MS);
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
        int64_t t0 = 1000 * MS;

        start_with(f, "self.moscow-time-headless.ns.svc.cluster.local:8080,"
                      "self-1.moscow-time-headless:8080,127.0.0.1:9");
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_int_equal(f->v.n, 3); /* self, and the two others never reached */
        entry(&f->v, "self-1.moscow-time-headless:8080");
        entry(&f->v, "127.0.0.1:9");

        /* 127.0.0.1:9 turns out to be this pod's own nginx: it drops out, counted once. */
        cluster_record(&f->c, "127.0.0.1:9", 100, "self", t0);
        cluster_record(&f->c, "self-1.moscow-time-headless:8080", 5, "self-1", t0);
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_int_equal(f->v.n, 2);
        assert_int_equal(f->v.total, 105);
        assert_false(f->v.partial);
}

/* A peer that leaves the list keeps its count in the total (stale); one that stays keeps its state.
 */
static void
test_reconfigure_keeps_what_was_seen(void **state)
{
        struct cluster_fixture *f = *state;
        char err[256];
        int64_t t0 = 1000 * MS;

        start_with(f, "a:1,b:1");
        cluster_record(&f->c, "a:1", 10, "pod-a", t0);
        cluster_record(&f->c, "b:1", 20, "pod-b", t0);
        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "b:1, c:1");
        f->s.cluster_poll_interval_ms = 200;
        assert_int_equal(cluster_configure(&f->c, &f->s, err, sizeof(err)), 0);
        cluster_view(&f->c, own_visits, &f->v, t0 + 100 * MS);
        assert_int_equal(f->v.total, 130);
        assert_int_equal(entry(&f->v, "pod-a")->state, CLUSTER_STALE);
        assert_string_equal(entry(&f->v, "pod-a")->peer, "");
        assert_int_equal(entry(&f->v, "pod-b")->state, CLUSTER_FRESH);
        assert_int_equal(entry(&f->v, "c:1")->state, CLUSTER_UNREACHED);

        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "b:1,b:1");
        assert_int_equal(cluster_configure(&f->c, &f->s, err, sizeof(err)), -1);
        assert_string_equal(err, "[cluster] peers: b:1 is listed twice");
        cluster_view(&f->c, own_visits, &f->v, t0 + 100 * MS);
        entry(&f->v, "c:1"); /* the list in force is unchanged */
}

/*
 * The address is the replica: a pod recreated under another hostname (same
 * address, same volume) is counted once; two addresses answering one name
 * are both counted, under distinct keys, so that the total never drops.
 */
static void
test_a_pod_is_its_address(void **state)
{
        struct cluster_fixture *f = *state;
        int64_t t0 = 1000 * MS;

        start_with(f, "a:1,b:1");
        cluster_record(&f->c, "a:1", 11, "old-hostname", t0);
        cluster_record(&f->c, "a:1", 12, "new-hostname", t0 + MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + MS);
        assert_int_equal(f->v.total, 112);
        assert_int_equal(f->v.n, 3);
        assert_int_equal(entry(&f->v, "new-hostname")->visits, 12);

        cluster_record(&f->c, "b:1", 5, "new-hostname", t0 + MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + MS);
        assert_int_equal(f->v.total, 117);
        assert_int_equal(entry(&f->v, "new-hostname")->visits, 12);
        assert_int_equal(entry(&f->v, "new-hostname@b:1")->visits, 5);
}

/* The peer list goes from names to addresses (the image suite's fallback): each pod once. */
static void
test_a_pod_at_a_new_address_is_counted_once(void **state)
{
        struct cluster_fixture *f = *state;
        char err[256];
        int64_t t0 = 1000 * MS;

        start_with(f, "pod-1:80,pod-2:80");
        cluster_record(&f->c, "pod-1:80", 2, "pod-1", t0);
        cluster_record(&f->c, "pod-2:80", 3, "pod-2", t0);
        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "10.0.0.1:80,10.0.0.2:80");
        assert_int_equal(cluster_configure(&f->c, &f->s, err, sizeof(err)), 0);
        cluster_view(&f->c, own_visits, &f->v, t0);
        assert_int_equal(f->v.total, 105); /* the old entries, stale, until the new ones answer */
        cluster_record(&f->c, "10.0.0.1:80", 2, "pod-1", t0 + MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + MS);
        assert_int_equal(f->v.total, 105);
        cluster_record(&f->c, "10.0.0.2:80", 4, "pod-2", t0 + MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + MS);
        assert_int_equal(f->v.total, 106);
        assert_int_equal(f->v.n, 3);
        assert_false(f->v.partial);
        assert_string_equal(entry(&f->v, "pod-1")->peer, "10.0.0.1:80");

        /* A listed address renamed onto a left one keeps both (the total must not drop). */
        snprintf(f->s.cluster_peers, sizeof(f->s.cluster_peers), "10.0.0.1:80,10.0.0.3:80");
        assert_int_equal(cluster_configure(&f->c, &f->s, err, sizeof(err)), 0);
        cluster_record(&f->c, "10.0.0.1:80", 2, "pod-2", t0 + 2 * MS);
        cluster_view(&f->c, own_visits, &f->v, t0 + 2 * MS);
        assert_int_equal(f->v.total, 106);
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
test_metrics(void **state)
{
        struct cluster_fixture *f = *state;
        static char buf[16384];
        struct text e;
        int64_t t0 = 1000 * MS;

        start_with(f, "a:1,b:1,self:8080");
        cluster_record(&f->c, "a:1", 10, "pod-a", t0);
        cluster_record_failure(&f->c, "b:1", "Connection refused", t0);
        text_init(&e, buf, sizeof(buf));
        cluster_view(&f->c, own_visits, &f->v, t0);
        metrics_render_cluster(&e, &f->v);
        assert_false(e.overflow);
        assert_contains(
            buf, "# TYPE moscow_time_cluster_visits gauge\nmoscow_time_cluster_visits 110\n");
        assert_contains(buf, "\nmoscow_time_cluster_partial 1\n");
        assert_contains(buf, "\nmoscow_time_cluster_pod_visits{pod=\"self\"} 100\n");
        assert_contains(buf, "\nmoscow_time_cluster_pod_visits{pod=\"pod-a\"} 10\n");
        assert_contains(buf, "\nmoscow_time_peer_up{peer=\"a:1\"} 1\n");
        assert_contains(buf, "\nmoscow_time_peer_up{peer=\"b:1\"} 0\n");
        assert_not_contains(buf, "peer=\"self:8080\"");
        assert_not_contains(buf, "pod=\"b:1\"");
}

static void
answer(struct peer_server *s, int fd)
{
        char req[2048], body[128], resp[512];
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
        int bn = snprintf(body, sizeof(body), "{\"visits\":%llu,\"pod\":\"%s\"}\n",
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

        /* New counts from the good peer keep arriving while the silent one holds each round. */
        for (uint64_t n = 8; n <= 10; n++) {
                atomic_store(&good->visits, n);
                int64_t took = wait_pod(f, "pod-good", n, CLUSTER_FRESH);
                /* A round is at most the timeout; the next starts an interval after the last. */
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

int
cluster_tests(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_peers),
            cmocka_unit_test(test_name_check),
            cmocka_unit_test(test_parse_answer),
            cmocka_unit_test_setup_teardown(test_merge_by_max_never_lowers_the_total, cluster_setup,
                                            cluster_teardown),
            cmocka_unit_test_setup_teardown(test_stale_and_unreached_make_it_partial, cluster_setup,
                                            cluster_teardown),
            cmocka_unit_test_setup_teardown(test_own_entry_is_recognised, cluster_setup,
                                            cluster_teardown),
            cmocka_unit_test_setup_teardown(test_reconfigure_keeps_what_was_seen, cluster_setup,
                                            cluster_teardown),
            cmocka_unit_test_setup_teardown(test_a_pod_is_its_address, cluster_setup,
                                            cluster_teardown),
            cmocka_unit_test_setup_teardown(test_a_pod_at_a_new_address_is_counted_once,
                                            cluster_setup, cluster_teardown),
            cmocka_unit_test_setup_teardown(test_bad_names_are_refused, cluster_setup,
                                            cluster_teardown),
            cmocka_unit_test_setup_teardown(test_metrics, cluster_setup, cluster_teardown),
            cmocka_unit_test_setup_teardown(test_poller_against_real_peers, cluster_setup,
                                            cluster_teardown),
            cmocka_unit_test_setup_teardown(test_poller_takes_new_peers, cluster_setup,
                                            cluster_teardown),
        };
        return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
