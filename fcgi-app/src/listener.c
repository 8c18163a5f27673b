/*
 * The listening socket. The responder binds it itself rather than through
 * libfcgi's FCGX_OpenSocket(), which unlinks whatever is at the path (a live
 * responder's socket too) and leaves the mode to the umask.
 */
#include "listener.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define EPISODE_GAP_MS 10000 /* a pause after this long without one is a new episode */
#define BASE_GUESS     32    /* descriptors assumed open when /proc/self/fd cannot be read */

static void
unix_addr(const char *path, struct sockaddr_un *addr)
{
        memset(addr, 0, sizeof(*addr));
        addr->sun_family = AF_UNIX;
        /* config.c guarantees the length. */
        memcpy(addr->sun_path, path, strlen(path) + 1);
}

/* A socket file left by a responder that died is replaced; a live one is not. */
static enum listener_status
clear_stale(const char *path, char *err, size_t errlen)
{
        struct sockaddr_un addr;
        struct stat st;

        if (lstat(path, &st) != 0) {
                if (errno == ENOENT)
                        return LISTENER_OK;
                snprintf(err, errlen, "socket %s: lstat: %s", path, strerror(errno));
                return LISTENER_OSERR;
        }
        if (!S_ISSOCK(st.st_mode)) {
                snprintf(err, errlen,
                         "socket %s: exists and is not a socket; refusing to "
                         "replace it",
                         path);
                return LISTENER_IN_USE;
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                snprintf(err, errlen, "socket(): %s", strerror(errno));
                return LISTENER_OSERR;
        }
        unix_addr(path, &addr);
        int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
        int e = errno;
        close(fd);
        if (rc == 0 || e == EAGAIN) {
                snprintf(err, errlen,
                         "socket %s: another process is listening on it; stop it "
                         "first",
                         path);
                return LISTENER_IN_USE;
        }
        if (e != ECONNREFUSED) {
                snprintf(err, errlen, "socket %s: probing for a live listener: %s", path,
                         strerror(e));
                return LISTENER_OSERR;
        }
        if (unlink(path) != 0) {
                snprintf(err, errlen, "socket %s: removing the stale file: %s", path,
                         strerror(errno));
                return LISTENER_OSERR;
        }
        log_info("removed stale socket %s", path);
        return LISTENER_OK;
}

static enum listener_status
bind_socket(struct listener *l, unsigned mode, char *err, size_t errlen)
{
        struct sockaddr_un addr;
        struct stat st;

        unix_addr(l->path, &addr);
        /* Created 0600 whatever the umask, then widened to exactly socket_mode: no window. */
        mode_t old = umask(0177);
        int rc = bind(l->fd, (struct sockaddr *)&addr, sizeof(addr));
        int e = errno;
        umask(old);
        if (rc != 0) {
                snprintf(err, errlen, "socket %s: bind: %s", l->path, strerror(e));
                return e == EADDRINUSE ? LISTENER_IN_USE : LISTENER_OSERR;
        }
        if (chmod(l->path, mode) != 0 || lstat(l->path, &st) != 0) {
                snprintf(err, errlen, "socket %s: chmod %04o: %s", l->path, mode, strerror(errno));
                return LISTENER_OSERR;
        }
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        if (listen(l->fd, SOMAXCONN) != 0) {
                snprintf(err, errlen, "socket %s: listen: %s", l->path, strerror(errno));
                return LISTENER_OSERR;
        }
        return LISTENER_OK;
}

enum listener_status
listener_open(struct listener *l, const char *path, unsigned mode, char *err, size_t errlen)
{
        l->fd = -1;
        l->path = path;
        l->dev = 0;
        l->ino = 0;
        l->base = BASE_GUESS;
        atomic_init(&l->reserve, FD_RESERVE);
        atomic_init(&l->full_ms, 0);
        enum listener_status st = clear_stale(path, err, errlen);
        if (st != LISTENER_OK)
                return st;
        l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l->fd < 0) {
                snprintf(err, errlen, "socket(): %s", strerror(errno));
                return LISTENER_OSERR;
        }
        return bind_socket(l, mode, err, errlen);
}

int
listener_accept(struct listener *l)
{
        /* Non-blocking: a connection's reads and writes must never wait on the peer. */
        return accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int
listener_waiting(struct listener *l)
{
        struct pollfd p = {.fd = l->fd, .events = POLLIN};
        int n = poll(&p, 1, 0);

        if (n < 0) {
                log_error("socket %s: poll: %s", l->path, strerror(errno));
                return 1;
        }
        return n == 1 && (p.revents & POLLIN) != 0;
}

int
listener_measure(struct listener *l, size_t npeers, char *err, size_t errlen)
{
        listener_set_peers(l, npeers);
        /* Linux has no getdtablecount(): count the entries of /proc/self/fd once. */
        DIR *d = opendir("/proc/self/fd");
        if (d == NULL) {
                snprintf(err, errlen, "counting open descriptors: /proc/self/fd: %s",
                         strerror(errno));
                return -1;
        }
        int n = 0;
        const struct dirent *e;
        errno = 0;
        while ((e = readdir(d)) != NULL)
                n += e->d_name[0] != '.';
        int e_read = errno;
        if (closedir(d) != 0)
                log_error("counting open descriptors: closing /proc/self/fd: %s", strerror(errno));
        if (e_read != 0) {
                snprintf(err, errlen, "counting open descriptors: /proc/self/fd: %s",
                         strerror(e_read));
                return -1;
        }
        l->base = n - 1; /* the directory's own descriptor */
        return 0;
}

void
listener_set_peers(struct listener *l, size_t npeers)
{
        atomic_store(&l->reserve, FD_RESERVE + FD_PER_PEER * (int)npeers);
}

unsigned long long
listener_fd_limit(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
                log_error("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
                return (unsigned long long)INT_MAX;
        }
        return rl.rlim_cur == RLIM_INFINITY ? (unsigned long long)INT_MAX
                                            : (unsigned long long)rl.rlim_cur;
}

int
listener_room(struct listener *l)
{
        long long room = (long long)listener_fd_limit() - l->base - atomic_load(&l->reserve);

        /* A limit below what the process needs still serves, one connection at a time. */
        return room < 1 ? 1 : room > INT_MAX ? INT_MAX : (int)room;
}

void
listener_full(struct listener *l, int held, const char *why)
{
        long long now = now_mono_ms(), last = atomic_exchange(&l->full_ms, now);

        if (last != 0 && now - last < EPISODE_GAP_MS)
                return; /* the same episode */
        log_warn("descriptors: %s: accepting paused until a FastCGI connection closes (%d held; "
                 "RLIMIT_NOFILE %llu, %d open besides them, %d kept free for the counter's "
                 "files and reloads); kept-alive connections are closed, the longest idle "
                 "first, to make room. Said once per episode",
                 why, held, listener_fd_limit(), l->base, atomic_load(&l->reserve));
}

void
listener_unlink(struct listener *l)
{
        struct stat st;

        /* Remove only the file we created: a successor may already own the path. */
        if (l->ino == 0 || lstat(l->path, &st) != 0 || st.st_dev != l->dev || st.st_ino != l->ino)
                return;
        if (unlink(l->path) != 0)
                log_error("socket %s: unlink: %s", l->path, strerror(errno));
        l->ino = 0;
}

void
listener_close(struct listener *l)
{
        if (l->fd >= 0 && close(l->fd) != 0)
                log_error("socket %s: close: %s", l->path, strerror(errno));
        l->fd = -1;
}
