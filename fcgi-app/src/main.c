/*
 * moscow-time: a FastCGI responder that shows the time in Moscow and counts
 * visits. Start-up order: configuration, time zone, the peers' poller (and,
 * for a lost counter file, the count the peers remember), counter file,
 * socket, workers; then the main thread only waits for a signal.
 *
 * Exit codes follow sysexits(3): 0 ok, 64 usage, 65 corrupt counter file,
 * 69 socket or counter already in use, 71 system error, 74 counter file
 * unreadable or unwritable, 78 bad configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <sysexits.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "cluster_poll.h"
#include "config.h"
#include "counter.h"
#include "counter_file.h"
#include "counter_watch.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "probe.h"
#include "routes.h"
#include "server.h"
#include "timeutil.h"

#ifndef MT_VERSION
#define MT_VERSION "dev"
#endif
#ifndef MT_COMMIT
#define MT_COMMIT "unknown"
#endif

static void
usage(FILE *f)
{
        fprintf(
            f,
            "usage: moscow-time --config PATH        serve FastCGI on the configured socket\n"
            "       moscow-time --check-config PATH  validate PATH: exit 0, or 78 with the reason\n"
            "       moscow-time --print-config PATH  the effective configuration, one\n"
            "                                        \"[section] key = value\" a line\n"
            "       moscow-time --print-keys         every key: \"[section] key\", live or\n"
            "                                        restart, type, default, help (tabs)\n"
            "       moscow-time --probe PATH [SECS]  liveness: exit 0 if the responder on PATH's\n"
            "                                        socket answers within SECS (2), else 69\n"
            "       moscow-time --version | --help\n");
}

/*
 * Signals go to the main thread only, and synchronously: the workers never
 * see them, and no handler has to touch shared state.
 */
static void
block_signals(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, set, NULL);
        signal(SIGPIPE, SIG_IGN); /* a vanished peer is an EPIPE, not a death */
        signal(SIGXFSZ, SIG_IGN); /* RLIMIT_FSIZE makes writes fail (EFBIG), not the process */
}

/* Reads one pending signal from a signalfd: its number, 0 if none, -1 on error. */
static int
read_signal(int fd)
{
        struct signalfd_siginfo si;
        ssize_t n = read(fd, &si, sizeof(si));

        if (n == (ssize_t)sizeof(si))
                return (int)si.ssi_signo;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        log_error("reading signals: %s", n < 0 ? strerror(errno) : "short read");
        return -1;
}

/*
 * Until SIGTERM or SIGINT: SIGHUP re-reads config.ini at once; a change in
 * its directory does once the directory has been quiet for
 * RELOAD_SETTLE_MS, since an editor's save or kubelet's symlink swap is a
 * burst of events. A change of the counter file's name is looked at once
 * it has been quiet for RECHECK_SETTLE_MS: `rm visits; echo 500 > visits`
 * creates an empty file a moment before it writes the count, and taking
 * that moment's 0 would put our count over the operator's.
 */
#define RELOAD_SETTLE_MS  100
#define RECHECK_SETTLE_MS 20
#define RECHECK_PATIENCE  5 /* settles an empty file may stay empty before it counts as 0 */

struct watched {
        struct reload *reload;
        struct counter_watch *cwatch;
        struct counter *counter;
        int waited; /* rechecks put off in a row: the file was empty */
};

/* poll's timeout until the earlier of two deadlines (0: none). */
static int
until(int64_t a, int64_t b)
{
        int64_t next = a == 0 ? b : (b == 0 || a < b ? a : b);

        if (next == 0)
                return -1;
        int64_t left = next - now_mono_ms();
        return left < 0 ? 0 : (int)left;
}

/* Runs what is due: the reload, the counter's recheck. */
static void
run_due(struct watched *w, int64_t *reload_due, int64_t *recheck_due)
{
        int64_t now = now_mono_ms();

        if (*recheck_due != 0 && now >= *recheck_due) {
                *recheck_due = 0;
                if (counter_recheck(w->counter, w->waited < RECHECK_PATIENCE)) {
                        w->waited++;
                        *recheck_due = now + RECHECK_SETTLE_MS;
                } else {
                        w->waited = 0;
                }
        }
        if (*reload_due != 0 && now >= *reload_due) {
                *reload_due = 0;
                reload_now(w->reload, "config.ini changed", 0);
        }
}

/* sfd: a signalfd of the stop and reload signals, closed here. */
static int
wait_for_stop(int sfd, struct watched *w)
{
        int64_t reload_due = 0, recheck_due = 0;

        for (;;) {
                struct pollfd fds[3] = {{.fd = sfd, .events = POLLIN},
                                        {.fd = w->reload->fd, .events = POLLIN},
                                        {.fd = w->cwatch->fd, .events = POLLIN}};
                int n = poll(fds, 3, until(reload_due, recheck_due)); /* fd -1 is skipped */
                if (n < 0 && errno != EINTR) {
                        log_error("poll: %s", strerror(errno));
                        close(sfd);
                        return SIGTERM;
                }
                if (n > 0 && (fds[1].revents & POLLIN) && reload_drain(w->reload))
                        reload_due = now_mono_ms() + RELOAD_SETTLE_MS;
                if (n > 0 && (fds[2].revents & POLLIN) && cwatch_drain(w->cwatch))
                        recheck_due = now_mono_ms() + RECHECK_SETTLE_MS;
                run_due(w, &reload_due, &recheck_due);
                if (n <= 0 || !(fds[0].revents & POLLIN))
                        continue;
                int sig = read_signal(sfd);
                if (sig == SIGHUP) {
                        reload_now(w->reload, "SIGHUP", 1);
                } else if (sig != 0) {
                        close(sfd);
                        return sig < 0 ? SIGTERM : sig;
                }
        }
}

/*
 * nginx may keep up to worker_connections idle FastCGI connections per
 * worker, each a descriptor here; the soft limit is often 1024. Raise it to
 * the hard limit, which containers set high; *was is the soft limit before.
 */
static void
raise_fd_limit(unsigned long long *was)
{
        struct rlimit rl;

        *was = 0;
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
                log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
                return;
        }
        *was = rl.rlim_cur == RLIM_INFINITY ? ~0ull : (unsigned long long)rl.rlim_cur;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                        log_warn("setrlimit(RLIMIT_NOFILE, %llu): %s",
                                 (unsigned long long)rl.rlim_max, strerror(errno));
        }
}

/*
 * What the process has, for the ready line: the limit (and what it was
 * raised from), and what it leaves FastCGI connections. A low limit is
 * worth a warning of its own.
 */
static void
fd_budget(struct server *server, unsigned long long was, char *out, size_t len)
{
        unsigned long long limit;
        int base, reserve, room;
        char raised[64] = "";

        server_fd_budget(server, &limit, &base, &reserve, &room);
        if (was != 0 && was < limit)
                snprintf(raised, sizeof(raised), " (raised from %llu to the hard limit)", was);
        snprintf(out, len,
                 "descriptors: RLIMIT_NOFILE %llu%s, %d open at start, %d kept free for the "
                 "counter's files and reloads, room for %d FastCGI connections",
                 limit, raised, base, reserve, room);
        if (limit < 4096)
                log_warn("descriptors: only %llu: nginx keeps up to 1024 FastCGI connections alive "
                         "per worker; beyond %d, kept-alive ones are closed to accept new ones. "
                         "Raise the hard limit (ulimit -Hn) if that is too few",
                         limit, room);
}

static int
counter_exit_code(enum counter_status st)
{
        switch (st) {
        case COUNTER_CORRUPT: return EX_DATAERR;
        case COUNTER_BUSY: return EX_UNAVAILABLE;
        default: return EX_IOERR;
        }
}

/* How long a responder without its counter file asks the peers for its count. */
#define RECOVER_MS 2000

/*
 * A pod whose volume was lost (a new, empty one) starts without its counter
 * file while its peers still hold its last count in memory: ask them, for
 * at most RECOVER_MS, and start from the largest answer, in one log line. A
 * file that exists, even 0, is never replaced; no answer: 0, as ever.
 */
static void
recover_count(const struct config *cfg, struct cluster *cluster, struct cluster_poll *poll)
{
        struct cluster_recovery r;
        struct stat st;
        char why[CONFIG_PATH_MAX + 128];

        if (lstat(cfg->counter_path, &st) == 0 || errno != ENOENT || !cluster_has_peers(cluster))
                return;
        int64_t start = now_mono_ms();
        cluster_recover(poll, RECOVER_MS, &r);
        int64_t took = now_mono_ms() - start;
        if (!r.found) {
                log_warn("counter file %s is absent and no peer had a count of pod %s (%zu of %zu "
                         "answered in %" PRId64 " ms): starting at 0",
                         cfg->counter_path, cluster->self, r.answered, r.asked, took);
                return;
        }
        int rc = cfile_create(cfg->counter_path, r.visits, why, sizeof(why));
        if (rc == 0)
                log_info("restored from peers: %" PRIu64 ", as %s saw it %" PRId64 ".%" PRId64
                         " s ago (%zu of %zu peers answered in %" PRId64
                         " ms); counter file %s created",
                         r.visits, r.by, r.age_ms / 1000, r.age_ms % 1000 / 100, r.answered,
                         r.asked, took, cfg->counter_path);
        else if (rc == 1)
                log_warn("counter file %s appeared while the peers were asked: kept as it is "
                         "(the peers had %" PRIu64 ")",
                         cfg->counter_path, r.visits);
        else
                log_error("restoring the count %" PRIu64 " from peers: %s", r.visits, why);
}

/*
 * Start-up in order, teardown in the reverse order of what started, once
 * (a goto ladder, as Redis's rdbSave() unwinds): the cluster and its poller
 * before the counter (a lost counter file's count comes from the peers; the
 * poller must be the first thread, for libcurl's global set-up), the socket
 * last, so that nginx reaches a responder only once everything under it
 * runs.
 */
static int
serve(const char *path, const struct config *cfg)
{
        struct counter counter;
        /* Large (per-thread shards, peer slots, pending buffers): static, not on the stack. */
        static struct server server;
        static struct metrics metrics;
        static struct cluster cluster;
        static struct reload reload;
        static struct counter_watch cwatch;
        struct cluster_poll *poll = NULL;
        struct routes_live live;
        sigset_t set;
        char err[1024];
        int rc, served = 0, sfd = -1;
        unsigned long long fd_soft_was;

        block_signals(&set);
        raise_fd_limit(&fd_soft_was);
        if (clock_init(cfg->timezone) != 0) {
                log_error("setting time zone %s: %s", cfg->timezone, strerror(errno));
                return EX_OSERR;
        }
        if (cluster_init(&cluster, cfg, err, sizeof(err)) != 0) {
                log_error("%s", err);
                return EX_CONFIG;
        }
        /* Before the counter: a new, empty volume asks the peers for its count first. */
        if (cluster_poll_start(&poll, &cluster, err, sizeof(err)) != 0) {
                log_error("%s", err);
                return EX_OSERR;
        }
        recover_count(cfg, &cluster, poll);
        enum counter_status cst = counter_open(&counter, cfg, err, sizeof(err));
        if (cst != COUNTER_OK) {
                log_error("%s", err);
                rc = counter_exit_code(cst);
                goto stop_poller;
        }
        /* From here, so that a change made while the rest starts is seen too. */
        cwatch_init(&cwatch, cfg->counter_path,
                    "changes made from outside are seen at the next visit or probe only");
        metrics_init(&metrics, MT_VERSION, MT_COMMIT);
        routes_live_init(&live, cfg);
        struct app app = {.cfg = cfg,
                          .counter = &counter,
                          .metrics = cfg->metrics_enabled ? &metrics : NULL,
                          .cluster = &cluster,
                          .live = &live};
        /*
         * Every descriptor the process keeps is opened before the server
         * starts: what is open then is the base of its descriptor budget.
         */
        sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sfd < 0) {
                log_error("signalfd: %s", strerror(errno));
                rc = EX_OSERR;
                goto close_counter;
        }
        struct reload_targets targets = {.live = &live,
                                         .cluster = &cluster,
                                         .poll = poll,
                                         .metrics = app.metrics,
                                         .server = &server};
        reload_init(&reload, path, cfg, &targets);
        enum server_status sst = server_open(&server, cfg, err, sizeof(err));
        if (sst != SERVER_OK || server_start(&server, &app, err, sizeof(err)) != 0) {
                log_error("%s", err);
                rc = sst == SERVER_IN_USE ? EX_UNAVAILABLE : EX_OSERR;
                goto stop_server;
        }
        char fds[256];
        fd_budget(&server, fd_soft_was, fds, sizeof(fds));
        log_info("ready: socket %s (mode %04o), %d worker threads (of %d), "
                 "counter %s at %" PRIu64 " (sync=%s), time zone %s, pod %s, peers %s, "
                 "metrics %s; %s",
                 cfg->socket_path, cfg->socket_mode, server.nthreads, cfg->workers,
                 cfg->counter_path, counter_get(&counter), config_sync_name(cfg->sync),
                 cfg->timezone, cluster.self,
                 cfg->cluster_discover[0] ? cfg->cluster_discover
                 : cfg->cluster_peers[0]  ? "listed"
                                          : "none",
                 cfg->metrics_enabled ? "on" : "off", fds);
        struct watched watched = {.reload = &reload, .cwatch = &cwatch, .counter = &counter};
        int sig = wait_for_stop(sfd, &watched);
        sfd = -1; /* closed there */
        log_info("%s: finishing requests in flight", strsignal(sig));
        rc = EX_OK;
        served = 1;
stop_server:
        reload_close(&reload);
        server_stop(&server);
close_counter:
        if (sfd >= 0)
                close(sfd);
        cwatch_close(&cwatch);
        if (counter_close(&counter) != 0 && rc == EX_OK)
                rc = EX_IOERR;
stop_poller:
        cluster_poll_stop(poll);
        if (served)
                log_info("stopped");
        return rc;
}

/*
 * As OpenBSD's slowcgi does: whoever started us may have closed 0, 1 or 2,
 * and the next file opened would take that number (the counter file as
 * descriptor 2 would receive every log line). Each closed one is opened on
 * /dev/null before anything else is opened.
 */
static int
guard_std_fds(void)
{
        for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
                if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
                        continue;
                int got = open("/dev/null", O_RDWR);
                if (got != fd) {
                        if (got >= 0)
                                close(got);
                        return -1;
                }
        }
        return 0;
}

int
main(int argc, char **argv)
{
        struct config cfg;
        char err[1024];

        if (guard_std_fds() != 0) {
                /* stderr may be what is missing: this line may reach nobody. */
                log_error("opening /dev/null for a closed descriptor 0-2: %s", strerror(errno));
                return EX_OSERR;
        }

        if (argc == 2 && strcmp(argv[1], "--version") == 0) {
                printf("moscow-time %s\n", MT_VERSION);
                return EX_OK;
        }
        if (argc == 2 && strcmp(argv[1], "--print-keys") == 0) {
                if (config_print_keys(stdout) == 0)
                        return EX_OK;
                fprintf(stderr, "moscow-time: writing the keys: %s\n", strerror(errno));
                return EX_OSERR;
        }
        if (argc == 2 && strcmp(argv[1], "--help") == 0) {
                usage(stdout);
                return EX_OK;
        }
        if ((argc == 3 || argc == 4) && strcmp(argv[1], "--probe") == 0)
                return probe_main(argv[2], argc == 4 ? argv[3] : NULL);
        const char *mode = argc == 3 ? argv[1] : "";
        int check = strcmp(mode, "--check-config") == 0;
        int print = strcmp(mode, "--print-config") == 0;
        if (!check && !print && strcmp(mode, "--config") != 0) {
                usage(stderr);
                return EX_USAGE;
        }
        if (config_load(argv[2], &cfg, err, sizeof(err)) != 0) {
                fprintf(stderr, "moscow-time: %s\n", err);
                return EX_CONFIG;
        }
        if (check) {
                printf("%s: ok\n", argv[2]);
                return EX_OK;
        }
        if (print) {
                if (config_print(&cfg, stdout) == 0)
                        return EX_OK;
                fprintf(stderr, "moscow-time: writing the configuration: %s\n", strerror(errno));
                return EX_OSERR;
        }
        log_set_level(cfg.log_level);
        /* Worker threads would each get a malloc arena; two keep the footprint small. */
        mallopt(M_ARENA_MAX, 2);
        return serve(argv[2], &cfg);
}
