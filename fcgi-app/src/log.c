/*
 * One event per line on stderr: "2026-11-25T09:30:00.123Z level=info msg...".
 * Each line leaves in a single write(2) so that lines from several threads
 * never interleave inside the container log.
 */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timeutil.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/*
 * Set at start-up and by a config reload (main thread), read by every
 * thread: every module logs, and threading a logger handle through all of
 * them would buy nothing. Atomic, relaxed: a line logged at the moment of a
 * change may go by either level.
 */
static atomic_int min_level = LOG_LEVEL_INFO;

void
log_set_level(enum log_level level)
{
        atomic_store_explicit(&min_level, (int)level, memory_order_relaxed);
}

int
log_level_parse(const char *name, enum log_level *out)
{
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
                if (strcmp(name, level_names[i]) == 0) {
                        *out = (enum log_level)i;
                        return 0;
                }
        }
        return -1;
}

static size_t
format_stamp(char *buf, size_t len)
{
        int64_t ns = now_real_ns();
        time_t sec = (time_t)(ns / 1000000000);
        struct tm tm;

        if (gmtime_r(&sec, &tm) == NULL)
                return (size_t)snprintf(buf, len, "-");
        size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(buf + n, len - n, ".%03dZ", (int)(ns / 1000000 % 1000));
        return n;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
        char line[1024];
        va_list ap;
        int saved = errno;

        if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed))
                return;
        size_t n = format_stamp(line, sizeof(line));
        n += (size_t)snprintf(line + n, sizeof(line) - n, " level=%s ", level_names[level]);
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        if (m < 0)
                m = 0;
        n += (size_t)m;
        if (n > sizeof(line) - 2)
                n = sizeof(line) - 2; /* truncated: keep the newline */
        line[n++] = '\n';
        /* Nothing sensible is left to do if stderr itself is gone. */
        (void)!write(STDERR_FILENO, line, n);
        errno = saved;
}
