/*
 * Wall-clock time in the configured zone. glibc's localtime_r() takes a
 * process-wide lock on every call, so each worker keeps its own cache of
 * the current second and formats at most once per second.
 */
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *
zone_dir(void)
{
        const char *dir = getenv("TZDIR");

        return dir && *dir ? dir : "/usr/share/zoneinfo";
}

static int
zone_name_ok(const char *name)
{
        if (*name == '\0' || *name == '/' || strlen(name) > 100)
                return 0;
        for (const char *p = name; *p; p++) {
                if (*p == '.' && (p == name || p[-1] == '/'))
                        return 0; /* no "..", no hidden files */
                if (!(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z') &&
                    !(*p >= '0' && *p <= '9') && !strchr("/_+-.", *p))
                        return 0;
        }
        return 1;
}

/*
 * glibc silently falls back to UTC for a zone it cannot find, which would
 * show a wrong time with a straight face: insist on a real TZif file.
 */
int
clock_zone_check(const char *name, char *why, size_t len)
{
        char path[512], magic[4];

        if (!zone_name_ok(name)) {
                snprintf(why, len, "expected a time zone name such as Europe/Moscow");
                return -1;
        }
        snprintf(path, sizeof(path), "%s/%s", zone_dir(), name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                snprintf(why, len,
                         "unknown time zone (%s: %s); expected a name such as "
                         "Europe/Moscow",
                         path, strerror(errno));
                return -1;
        }
        ssize_t n = read(fd, magic, sizeof(magic));
        close(fd);
        if (n != (ssize_t)sizeof(magic) || memcmp(magic, "TZif", 4) != 0) {
                snprintf(why, len, "unknown time zone (%s is not a tz database file)", path);
                return -1;
        }
        return 0;
}

/* Conversions glibc's strftime() knows; anything else would be printed literally. */
static const char conversions[] = "aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZ%+";

int
clock_format_check(const char *fmt, char *why, size_t len)
{
        struct clock_text t;

        for (const char *p = fmt; *p; p++) {
                if (*p != '%')
                        continue;
                p++;
                while (*p && strchr("_-0^#", *p))
                        p++;
                while (*p >= '0' && *p <= '9')
                        p++;
                if (*p == 'E' || *p == 'O')
                        p++;
                if (*p == '\0' || !strchr(conversions, *p)) {
                        snprintf(why, len,
                                 "unknown strftime conversion at \"%%%.1s\"; "
                                 "expected a format such as %%Y-%%m-%%d %%H:%%M:%%S %%Z",
                                 p);
                        return -1;
                }
        }
        clock_format(time(NULL), fmt, &t);
        if (t.local[0] == '\0') {
                snprintf(why, len, "the format yields no text (or more than %zu bytes)",
                         sizeof(t.local) - 1);
                return -1;
        }
        return 0;
}

int
clock_init(const char *zone)
{
        if (setenv("TZ", zone, 1) != 0)
                return -1;
        tzset();
        return 0;
}

void
clock_format(time_t t, const char *fmt, struct clock_text *out)
{
        struct tm tm;
        char off[8];

        out->sec = t;
        out->local[0] = out->iso[0] = '\0';
        if (localtime_r(&t, &tm) == NULL)
                return;
                /* fmt is the operator's [clock] format, checked by clock_format_check(). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        if (strftime(out->local, sizeof(out->local), fmt, &tm) == 0)
                out->local[0] = '\0';
#pragma GCC diagnostic pop
        size_t n = strftime(out->iso, sizeof(out->iso), "%Y-%m-%dT%H:%M:%S", &tm);
        /* %z gives +0300; RFC 3339 wants +03:00. */
        if (strftime(off, sizeof(off), "%z", &tm) == 5)
                snprintf(out->iso + n, sizeof(out->iso) - n, "%.3s:%.2s", off, off + 3);
}

const struct clock_text *
clock_now(struct clock_text *cache, const char *fmt)
{
        time_t now = time(NULL);

        if (now != cache->sec)
                clock_format(now, fmt, cache);
        return cache;
}
