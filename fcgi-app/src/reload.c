/*
 * Config changes without a restart. The main thread re-reads config.ini
 * through the key table (config_load, the same checks and messages as at
 * start) on SIGHUP, or when inotify reports a change in the file's
 * directory: Kubernetes updates a mounted ConfigMap by pointing the ..data
 * symlink at a new folder, so the file's own inode never changes and only
 * the directory sees the swap.
 *
 * The keys the table marks live are applied in place: the workers pick a
 * new [clock] format up at their next request (routes_live), the poller
 * its new peers at its next round (cluster_configure), the log level at
 * once. Nothing waits: no request fails or is held up by a reload. Keys
 * that need a restart are logged as not applied and keep their running
 * value.
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

/* The live groups that changed: 1 format, 2 level, 4 cluster. */
enum { GROUP_FORMAT = 1, GROUP_LEVEL = 2, GROUP_CLUSTER = 4 };

static int
group_of(const struct config_key *k)
{
        if (strcmp(k->section, "clock") == 0)
                return GROUP_FORMAT;
        if (strcmp(k->section, "log") == 0)
                return GROUP_LEVEL;
        if (strcmp(k->section, "cluster") == 0)
                return GROUP_CLUSTER;
        return 0;
}

/*
 * The live groups that differ and the number of other keys that do; with
 * why, each key is also logged.
 */
static int
compare(struct reload *r, const struct config *next, const char *why, int *restart)
{
        char was[CONFIG_PATH_MAX], now[CONFIG_PATH_MAX];
        int groups = 0;

        *restart = 0;
        for (size_t i = 0; i < config_nkeys(); i++) {
                if (!config_differs(&r->running, next, i))
                        continue;
                const struct config_key *k = config_key(i);
                config_value(&r->running, i, was, sizeof(was));
                config_value(next, i, now, sizeof(now));
                if (k->live && group_of(k) != 0) {
                        groups |= group_of(k);
                        if (why != NULL)
                                log_info("config reload (%s): [%s] %s = %s (was %s): applied", why,
                                         k->section, k->name, now, was);
                } else {
                        (*restart)++;
                        if (why != NULL)
                                log_warn("config reload (%s): [%s] %s = %s needs a restart: not "
                                         "applied, "
                                         "%s stays in force",
                                         why, k->section, k->name, now, was);
                }
        }
        return groups;
}

/* Copies the live keys of next into what runs; the others keep their running values. */
static void
take_live(struct config *running, const struct config *next, int groups)
{
        if (groups & GROUP_FORMAT)
                memcpy(running->time_format, next->time_format, sizeof(running->time_format));
        if (groups & GROUP_LEVEL)
                running->log_level = next->log_level;
        if (groups & GROUP_CLUSTER) {
                memcpy(running->cluster_peers, next->cluster_peers, sizeof(running->cluster_peers));
                running->cluster_poll_interval_ms = next->cluster_poll_interval_ms;
                running->cluster_timeout_ms = next->cluster_timeout_ms;
        }
}

static int
apply(struct reload *r, const struct config *next, const char *why)
{
        int restart;
        int groups = compare(r, next, NULL, &restart);

        if (groups & GROUP_CLUSTER) {
                static struct config merged; /* large; only the main thread reloads */
                char err[1024];
                merged = r->running;
                struct cluster_settings cs;
                take_live(&merged, next, GROUP_CLUSTER);
                config_cluster_settings(&merged, &cs);
                /* First, so that a refusal leaves everything as it was. */
                if (r->t.cluster != NULL &&
                    cluster_configure(r->t.cluster, &cs, err, sizeof(err)) != 0) {
                        log_error("config reload (%s) rejected: %s: %s; the running configuration "
                                  "is kept",
                                  why, r->path, err);
                        count(r, METRICS_RELOAD_REJECTED);
                        return -1;
                }
        }
        compare(r, next, why, &restart);
        take_live(&r->running, next, groups);
        if ((groups & GROUP_FORMAT) && r->t.live != NULL)
                routes_live_set(r->t.live, &r->running);
        if (groups & GROUP_LEVEL)
                log_set_level(r->running.log_level);
        count(r, METRICS_RELOAD_APPLIED);
        log_info("config reload (%s): %s read%s%s", why, r->path,
                 groups ? "; live keys applied" : "; no live key changed",
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
        if (config_load(r->path, &next, err, sizeof(err)) != 0) {
                log_error("config reload (%s) rejected: %s; the running configuration is kept", why,
                          err);
                count(r, METRICS_RELOAD_REJECTED);
                return -1;
        }
        return apply(r, &next, why);
}

void
reload_close(struct reload *r)
{
        if (r->fd >= 0)
                close(r->fd);
        r->fd = -1;
}
