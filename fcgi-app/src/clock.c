/*
 * Wall-clock time in the configured zone. glibc's localtime_r() takes a
 * process-wide lock on every call, so each worker keeps its own cache of
 * the current second and formats at most once per second.
 */
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
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

/* A tz database file is a few kilobytes; anything much larger is not one. */
#define ZONE_FILE_MAX (256 * 1024)

/*
 * Reads the TZif file of zone name into a new buffer (free() it). glibc
 * silently falls back to UTC for a zone it cannot find, which would show a
 * wrong time with a straight face: insist on a real TZif file.
 */
static unsigned char *
zone_read(const char *name, size_t *size, char *why, size_t len)
{
        char path[512];
        struct stat st;

        if (!zone_name_ok(name)) {
                snprintf(why, len, "expected a time zone name such as Europe/Moscow");
                return NULL;
        }
        snprintf(path, sizeof(path), "%s/%s", zone_dir(), name);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                snprintf(why, len,
                         "unknown time zone (%s: %s); expected a name such as "
                         "Europe/Moscow, of the tz database in %s (Debian's tzdata)",
                         path, strerror(errno), zone_dir());
                return NULL;
        }
        unsigned char *buf = NULL;
        ssize_t n = -1;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 44 &&
            st.st_size <= ZONE_FILE_MAX && (buf = malloc((size_t)st.st_size)) != NULL &&
            read(fd, buf, (size_t)st.st_size) == st.st_size)
                n = st.st_size;
        close(fd);
        if (n < 0 || memcmp(buf, "TZif", 4) != 0) {
                free(buf);
                snprintf(why, len, "unknown time zone (%s is not a tz database file)", path);
                return NULL;
        }
        *size = (size_t)n;
        return buf;
}

/* The abbreviations (%Z) a zone has used or will use: its TZif types and its TZ string. */
struct zone_names {
        size_t n;
        char name[64][16];
};

static void
add_name(struct zone_names *z, const char *s, size_t n)
{
        if (n == 0 || n >= sizeof(z->name[0]) || z->n == sizeof(z->name) / sizeof(z->name[0]))
                return;
        for (size_t i = 0; i < z->n; i++) {
                if (strlen(z->name[i]) == n && memcmp(z->name[i], s, n) == 0)
                        return;
        }
        memcpy(z->name[z->n], s, n);
        z->name[z->n++][n] = '\0';
}

static uint32_t
be32(const unsigned char *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One POSIX TZ name at *p ("MSK" or "<+0545>"), which is advanced past it. */
static void
add_tz_name(struct zone_names *z, const char **p, const char *end)
{
        const char *s = *p;

        if (s < end && *s == '<') {
                const char *close = memchr(s, '>', (size_t)(end - s));
                if (close == NULL)
                        return;
                add_name(z, s + 1, (size_t)(close - s - 1));
                *p = close + 1;
                return;
        }
        while (*p < end && ((**p >= 'A' && **p <= 'Z') || (**p >= 'a' && **p <= 'z')))
                (*p)++;
        add_name(z, s, (size_t)(*p - s));
}

/*
 * RFC 8536: a header and a block with 32-bit times, and from version 2 a
 * second header and block with 64-bit times, then "\nTZ string\n". The TZ
 * string's names come first: they are the ones in use now and from now on.
 */
static int
zone_names_parse(const unsigned char *b, size_t size, struct zone_names *z)
{
        size_t at = 0, tsize = 4;

        z->n = 0;
        for (int pass = 0; pass < 2; pass++) {
                if (size - at < 44 || memcmp(b + at, "TZif", 4) != 0)
                        return -1;
                uint64_t isut = be32(b + at + 20), isstd = be32(b + at + 24),
                         leap = be32(b + at + 28), times = be32(b + at + 32),
                         types = be32(b + at + 36), chars = be32(b + at + 40);
                uint64_t block =
                    times * tsize + times + types * 6 + chars + leap * (tsize + 4) + isstd + isut;
                if (types == 0 || block > size - at - 44)
                        return -1;
                int last = b[at + 4] < '2' || pass == 1;
                if (!last) {
                        at += 44 + block;
                        tsize = 8;
                        continue;
                }
                const unsigned char *tt = b + at + 44 + times * tsize + times;
                const char *abbr = (const char *)tt + types * 6;
                const char *footer = abbr + chars + leap * (tsize + 4) + isstd + isut;
                const char *end = (const char *)b + size;
                if (tsize == 8 && footer < end && *footer == '\n') {
                        const char *p = footer + 1;
                        add_tz_name(z, &p, end);
                        while (p < end && strchr("+-0123456789:", *p) != NULL && *p != '\0')
                                p++;
                        add_tz_name(z, &p, end);
                }
                for (uint64_t i = 0; i < types; i++) {
                        uint64_t idx = tt[i * 6 + 5];
                        const char *nul =
                            idx < chars ? memchr(abbr + idx, '\0', chars - idx) : NULL;
                        if (nul == NULL)
                                return -1;
                        add_name(z, abbr + idx, (size_t)(nul - abbr - idx));
                }
                return z->n > 0 ? 0 : -1;
        }
        return -1;
}

/* The zone's abbreviations: 0, -1 if its file cannot be read (why says so), 1 if they cannot. */
static int
zone_names_load(const char *name, struct zone_names *z, char *why, size_t len)
{
        size_t size;
        unsigned char *buf = zone_read(name, &size, why, len);

        if (buf == NULL)
                return -1;
        int rc = zone_names_parse(buf, size, z);
        free(buf);
        return rc != 0;
}

/*
 * A zone whose file is missing, not a TZif file, or cut short or corrupt
 * (its abbreviations cannot be read: glibc would fall back to UTC) is a
 * configuration error naming the zone, never a crash.
 */
int
clock_zone_check(const char *name, char *why, size_t len)
{
        struct zone_names z;
        int rc = zone_names_load(name, &z, why, len);

        if (rc > 0) {
                snprintf(why, len,
                         "unknown time zone (%s/%s is cut short or corrupt: not a tz database "
                         "file glibc can read)",
                         zone_dir(), name);
        }
        return rc == 0 ? 0 : -1;
}

/*
 * Two instants with the widest text each conversion can give: the longest
 * day and month names (Wednesday, September) and two-digit month, day, hour,
 * week and a three-digit day of the year (December).
 */
static const struct tm widest[] = {
    {.tm_year = 125,
     .tm_mon = 8,
     .tm_mday = 17,
     .tm_hour = 23,
     .tm_min = 59,
     .tm_sec = 59,
     .tm_wday = 3,
     .tm_yday = 259},
    {.tm_year = 125,
     .tm_mon = 11,
     .tm_mday = 17,
     .tm_hour = 23,
     .tm_min = 59,
     .tm_sec = 59,
     .tm_wday = 3,
     .tm_yday = 350},
};

/* The page's text with %Z as abbr: 1 if it fits (and is not empty) at both instants. */
static int
fits(const char *fmt, const char *abbr)
{
        char out[sizeof(((struct clock_text *)0)->local)];

        for (size_t i = 0; i < sizeof(widest) / sizeof(widest[0]); i++) {
                struct tm tm = widest[i];
                tm.tm_zone = abbr; /* glibc's %Z prints tm_zone, whatever TZ says */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                if (strftime(out, sizeof(out), fmt, &tm) == 0)
                        return 0;
#pragma GCC diagnostic pop
        }
        return 1;
}

/*
 * glibc's strftime() copies a conversion it does not know (%+, %Ed, %Ox...)
 * to the output as it stands: so does this one, formatted alone?
 */
static int
known_conversion(const char *spec)
{
        char out[256];
        struct tm tm = widest[0];

        tm.tm_zone = "UTC";
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        size_t n = strftime(out, sizeof(out), spec, &tm);
#pragma GCC diagnostic pop
        return n == 0 || strstr(out, spec) == NULL;
}

static int
check_conversions(const char *fmt, char *why, size_t len)
{
        char spec[24];

        for (const char *p = fmt; *p; p++) {
                if (*p != '%')
                        continue;
                const char *q = p + 1;
                q += strspn(q, "_-0^#");
                q += strspn(q, "0123456789");
                if (*q == 'E' || *q == 'O')
                        q++;
                size_t n = (size_t)(q - p) + (*q != '\0'); /* with the conversion, if any */
                int whole = *q != '\0' && n < sizeof(spec);
                if (n >= sizeof(spec))
                        n = sizeof(spec) - 1;
                memcpy(spec, p, n);
                spec[n] = '\0';
                if (!whole || !known_conversion(spec)) {
                        snprintf(why, len,
                                 "unknown strftime conversion \"%s\" (glibc would print it as "
                                 "is); expected a format such as %%Y-%%m-%%d %%H:%%M:%%S %%Z",
                                 spec);
                        return -1;
                }
                p += n - 1;
        }
        return 0;
}

int
clock_format_check(const char *fmt, const char *zone, char *why, size_t len)
{
        struct zone_names z;
        size_t failed = 0, first = 0;

        if (check_conversions(fmt, why, len) != 0)
                return -1;
        int rc = zone_names_load(zone, &z, why, len);
        if (rc > 0)
                snprintf(why, len, "cannot read the abbreviations of time zone %s", zone);
        if (rc != 0)
                return -1;
        for (size_t i = 0; i < z.n; i++) {
                if (!fits(fmt, z.name[i]) && failed++ == 0)
                        first = i;
        }
        if (failed == 0)
                return 0;
        size_t room = sizeof(((struct clock_text *)0)->local) - 1;
        if (failed == z.n)
                snprintf(why, len, "the format yields no text (or more than %zu bytes)", room);
        else
                snprintf(why, len,
                         "the format yields no text (or more than %zu bytes) in %s (as \"%s\")",
                         room, zone, z.name[first]);
        return -1;
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
        out->local[0] = out->iso[0] = out->tick[0] = '\0';
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
        clock_tick_format(fmt, &tm, out->tick, sizeof(out->tick));
}

void
clock_tick_format(const char *fmt, const struct tm *tm, char *out, size_t len)
{
        size_t n = 0;

        out[0] = '\0';
        for (const char *p = fmt; *p; p++) {
                char piece[64] = {*p, '\0'};
                if (*p == '%') {
                        p++;
                        if (*p != '\0' && strchr("YmdHMS%", *p))
                                snprintf(piece, sizeof(piece), "%%%c", *p);
                        else if (*p == 'F')
                                snprintf(piece, sizeof(piece), "%%Y-%%m-%%d");
                        else if (*p == 'T')
                                snprintf(piece, sizeof(piece), "%%H:%%M:%%S");
                        else if (*p == 'Z' && strftime(piece, sizeof(piece), "%Z", tm) > 0)
                                ;
                        else if (*p == 'z' && strftime(piece, sizeof(piece), "%z", tm) > 0)
                                ;
                        else
                                goto none;
                        if (strchr(piece, '%') != NULL && (*p == 'Z' || *p == 'z'))
                                goto none; /* a '%' in a zone's name would read as a conversion */
                }
                size_t k = strlen(piece);
                if (n + k >= len)
                        goto none;
                memcpy(out + n, piece, k + 1);
                n += k;
        }
        return;
none:
        out[0] = '\0';
}

const struct clock_text *
clock_now(struct clock_text *cache, const char *fmt)
{
        time_t now = time(NULL);

        if (now != cache->sec)
                clock_format(now, fmt, cache);
        return cache;
}
