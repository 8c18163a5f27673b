/*
 * Config changes without a restart. The main thread re-reads config.ini
 * through the key table (config_load, the same checks and messages as at
 * start) on SIGHUP, or when inotify reports a change in the file's
 * directory: Kubernetes updates a mounted ConfigMap by pointing the ..data
 * symlink at a new folder, so the file's own inode never changes and only
 * the directory sees the swap.
 *
 * The key table says what applying each key means (config.h: enum
 * config_apply); each kind has one function here: the workers pick a new
 * [clock] format up at their next request (routes_live), the poller its new
 * peers at its next round (cluster_configure), the log level at once.
 * Nothing waits: no request fails or is held up by a reload. Keys that need
 * a restart are logged as not applied and keep their running value, and
 * every key is checked against the configuration that will run after the
 * reload (a new format against the zone that stays in force).
 */
#include "reload.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "inotify_drain.h"
#include "log.h"

#define FILE_MAX (64 * 1024) /* config.c refuses anything larger */

static int file_digest(const char *path, uint64_t *out);

/* Every way a file can change: written, replaced by rename, a symlink swapped. */
#define WATCH_MASK                                                                                 \
        (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |        \
         IN_DELETE_SELF | IN_MOVE_SELF)

static void
watch_dir(struct reload *r)
{
        if (inotify_add_watch(r->fd, r->dir, WATCH_MASK) < 0)
                log_warn("config reload: watching %s: %s; only SIGHUP re-reads %s", r->dir,
                         strerror(errno), r->path);
}

void
reload_init(struct reload *r, const char *path, const struct config *cfg,
            const struct reload_targets *t)
{
        char copy[PATH_MAX];

        memset(r, 0, sizeof(*r));
        r->path = path;
        r->running = *cfg;
        r->t = *t;
        snprintf(copy, sizeof(copy), "%s", path);
        snprintf(r->dir, sizeof(r->dir), "%s", dirname(copy));
        if (file_digest(path, &r->digest) != 0)
                r->digest = 0;
        r->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (r->fd < 0) {
                log_warn("config reload: inotify_init1: %s; only SIGHUP re-reads %s",
                         strerror(errno), path);
                return;
        }
        watch_dir(r);
}

/* Any event in the directory may be the swap: file_digest() tells a real change. */
static int
each_event(void *arg, const struct inotify_event *ev)
{
        /* The directory itself went away or moved: watch what has its name now. */
        if (ev->mask & IN_IGNORED)
                watch_dir(arg);
        return 1;
}

int
reload_drain(struct reload *r)
{
        return inotify_drain(r->fd, each_event, r, "config reload", r->dir);
}

/* FNV-1a of the file's bytes, to tell a real change from an event that changed nothing. */
static int
file_digest(const char *path, uint64_t *out)
{
        char buf[4096];
        uint64_t h = 1469598103934665603ull;
        size_t total = 0;
        ssize_t n;

        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -1;
        while (total <= FILE_MAX && (n = read(fd, buf, sizeof(buf))) > 0) {
                for (ssize_t i = 0; i < n; i++)
                        h = (h ^ (unsigned char)buf[i]) * 1099511628211ull;
                total += (size_t)n;
        }
        close(fd);
        *out = h;
        return 0;
}

static void
count(struct reload *r, enum metrics_reload result)
{
        if (r->t.metrics != NULL)
                metrics_reload(r->t.metrics, result);
}

static int
apply_log(struct reload *r, const struct config *next, char *err, size_t errlen)
{
        (void)r, (void)err, (void)errlen;
        log_set_level(next->log_level);
        return 0;
}

static int
apply_format(struct reload *r, const struct config *next, char *err, size_t errlen)
{
        (void)err, (void)errlen;
        if (r->t.live != NULL)
                routes_live_set(r->t.live, next);
        return 0;
}

static int
apply_cluster(struct reload *r, const struct config *next, char *err, size_t errlen)
{
        if (r->t.cluster == NULL)
                return 0;
        if (cluster_configure(r->t.cluster, next, err, errlen) != 0)
                return -1;
        if (r->t.poll != NULL)
                cluster_poll_wake(r->t.poll); /* the new list from the next poll on */
        if (r->t.server != NULL)
                server_set_peers(r->t.server, next->cluster_peers);
        return 0;
}

/* Each kind of live key, applied to what runs; those that can refuse go first. */
static const struct {
        int (*fn)(struct reload *r, const struct config *next, char *err, size_t errlen);
        int can_fail;
} appliers[CONFIG_APPLY_KINDS] = {
    [CONFIG_APPLY_LOG] = {apply_log, 0},
    [CONFIG_APPLY_FORMAT] = {apply_format, 0},
    [CONFIG_APPLY_CLUSTER] = {apply_cluster, 1},
};

/*
 * next's live keys over what runs, into merged: the configuration in force
 * after the reload. Returns the kinds to apply (bit per enum config_apply)
 * and counts the keys that need a restart.
 */
static unsigned
merge(const struct config *running, const struct config *next, struct config *merged, int *restart)
{
        unsigned kinds = 0;

        *merged = *running;
        *restart = 0;
        for (size_t i = 0; i < config_nkeys(); i++) {
                if (!config_differs(running, next, i))
                        continue;
                const struct config_key *k = config_key(i);
                if (k->apply == CONFIG_APPLY_RESTART) {
                        (*restart)++;
                        continue;
                }
                config_take(merged, next, i);
                kinds |= 1u << k->apply;
        }
        return kinds;
}

/* One line per key that differs: applied, or needing a restart. */
static void
log_changes(const struct config *running, const struct config *next, const char *why)
{
        char was[CONFIG_PATH_MAX], now[CONFIG_PATH_MAX];

        for (size_t i = 0; i < config_nkeys(); i++) {
                if (!config_differs(running, next, i))
                        continue;
                const struct config_key *k = config_key(i);
                config_value(running, i, was, sizeof(was));
                config_value(next, i, now, sizeof(now));
                if (k->live)
                        log_info("config reload (%s): [%s] %s = %s (was %s): applied", why,
                                 k->section, k->name, now, was);
                else
                        log_warn("config reload (%s): [%s] %s = %s needs a restart: not applied, "
                                 "%s stays in force",
                                 why, k->section, k->name, now, was);
        }
}

/* The kinds in kinds whose applier can (or cannot) fail; stops at a failure. */
static int
apply_kinds(struct reload *r, const struct config *merged, unsigned kinds, int can_fail, char *err,
            size_t errlen)
{
        for (int k = 0; k < CONFIG_APPLY_KINDS; k++) {
                if ((kinds & (1u << k)) && appliers[k].fn != NULL &&
                    appliers[k].can_fail == can_fail && appliers[k].fn(r, merged, err, errlen) != 0)
                        return -1;
        }
        return 0;
}

static int
reject(struct reload *r, const char *why, const char *err)
{
        log_error("config reload (%s) rejected: %s; the running configuration is kept", why, err);
        count(r, METRICS_RELOAD_REJECTED);
        return -1;
}

static int
apply(struct reload *r, const struct config *next, const char *why)
{
        static struct config merged; /* large; only the main thread reloads */
        char err[1024], msg[1280];
        int restart;

        unsigned kinds = merge(&r->running, next, &merged, &restart);
        /* Every key against what will run: a format against the zone that stays, say. */
        if (config_check(&merged, r->path, err, sizeof(err)) != 0) {
                snprintf(msg, sizeof(msg), "%s (with the keys that need a restart as they run)",
                         err);
                return reject(r, why, msg);
        }
        /* Those that can refuse first, so that a refusal leaves everything as it was. */
        if (apply_kinds(r, &merged, kinds, 1, err, sizeof(err)) != 0) {
                snprintf(msg, sizeof(msg), "%s: %s", r->path, err);
                return reject(r, why, msg);
        }
        /* Logged before the level itself changes: a reload to warn still says so. */
        log_changes(&r->running, next, why);
        apply_kinds(r, &merged, kinds, 0, err, sizeof(err));
        r->running = merged;
        count(r, METRICS_RELOAD_APPLIED);
        log_info("config reload (%s): %s read%s%s", why, r->path,
                 kinds ? "; live keys applied" : "; no live key changed",
                 restart ? "; some keys need a restart (see above)" : "");
        return 1;
}

int
reload_now(struct reload *r, const char *why, int force)
{
        static struct config next; /* large; only the main thread reloads */
        char err[1024];
        uint64_t digest = 0;

        int readable = file_digest(r->path, &digest) == 0;
        if (!force && readable && digest == r->digest)
                return 0;
        r->digest = digest;
        if (config_load(r->path, &next, err, sizeof(err)) != 0)
                return reject(r, why, err);
        return apply(r, &next, why);
}

void
reload_close(struct reload *r)
{
        if (r->fd >= 0)
                close(r->fd);
        r->fd = -1;
}
