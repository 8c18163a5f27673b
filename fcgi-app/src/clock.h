#ifndef MT_CLOCK_H
#define MT_CLOCK_H

#include <stddef.h>
#include <time.h>

/* The current second, formatted both ways the routes need it. */
struct clock_text {
        time_t sec;      /* the second the strings describe; 0 = not filled yet */
        char local[128]; /* the configured format, e.g. "2026-11-25 12:34:56 MSK" */
        char iso[32];    /* RFC 3339 with the zone's offset: "2026-11-25T12:34:56+03:00" */
        char tick[128];  /* the format for the page's ticking script; empty: it cannot tick */
};

/* 0 if name is a zone of the system tz database; else -1 and why. */
int clock_zone_check(const char *name, char *why, size_t len);

/*
 * 0 if fmt is a strftime format of conversions glibc knows whose text fits
 * the page in zone: not empty and at most 127 bytes with each abbreviation
 * the zone has used or will use and the longest names; else -1 and why.
 * Touches no process-wide time zone state.
 */
int clock_format_check(const char *fmt, const char *zone, char *why, size_t len);

/* Makes zone the process's local time zone. Call before any thread starts. */
int clock_init(const char *zone);

/* Formats t into out. */
void clock_format(time_t t, const char *fmt, struct clock_text *out);

/*
 * The format as the page's script keeps it current: %Y %m %d %H %M %S %%
 * kept, %F and %T spelled out, %Z and %z replaced by their text at tm.
 * Empty if fmt has any other conversion, flag or width: one the script
 * could not keep right (a day name at midnight), so the page stays still.
 */
void clock_tick_format(const char *fmt, const struct tm *tm, char *out, size_t len);

/* Refreshes cache when the wall clock has moved to another second; returns it. */
const struct clock_text *clock_now(struct clock_text *cache, const char *fmt);

#endif
