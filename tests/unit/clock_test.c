#include "tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define DEFAULT_FORMAT "%Y-%m-%d %H:%M:%S %Z"

static void
test_zone_check_accepts_real_zones(void **state)
{
        static const char *const zones[] = {
            "Europe/Moscow",    "Europe/Berlin",          "UTC",
            "America/New_York", "America/Port-au-Prince", "Etc/GMT+3"};
        char why[256];

        (void)state;
        for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
                why[0] = '\0';
                if (clock_zone_check(zones[i], why, sizeof(why)) != 0)
                        fail_msg("%s refused: %s", zones[i], why);
        }
}

static void
test_zone_check_rejects_bad_names(void **state)
{
        /* Refused by name, before any file is opened. */
        static const char *const names[] = {
            "",
            "/etc/localtime",
            "../x",
            "Europe/../../etc/passwd",
            ".hidden",
            "Europe/.Moscow",
            "Europe/Mos cow",
            "Europe/Moscow;rm",
            "Europe\\Moscow",
            "Europe/Moscow\n",
        };
        char why[256];

        (void)state;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                why[0] = '\0';
                int rc = clock_zone_check(names[i], why, sizeof(why));
                if (rc != -1 || strcmp(why, "expected a time zone name such as Europe/Moscow") != 0)
                        fail_msg("\"%s\": rc %d, why \"%s\"", names[i], rc, why);
        }
}

static void
test_zone_check_rejects_unknown_zone(void **state)
{
        char why[256] = "";

        (void)state;
        assert_int_equal(clock_zone_check("Mars/Olympus", why, sizeof(why)), -1);
        assert_memory_equal(why, "unknown time zone (", strlen("unknown time zone ("));
        assert_contains(why, "/Mars/Olympus: No such file or directory); expected a name such as "
                             "Europe/Moscow");
}

/* A file that exists in the zone directory but is not TZif (the tz database ships a few). */
static void
test_zone_check_rejects_non_tzif_file(void **state)
{
        char why[256] = "";

        (void)state;
        assert_int_equal(clock_zone_check("Europe", why, sizeof(why)), -1);
        assert_contains(why, "/Europe is not a tz database file)");
        why[0] = '\0';
        assert_int_equal(clock_zone_check("zone.tab", why, sizeof(why)), -1);
        assert_contains(why, "/zone.tab is not a tz database file)");
}

/*
 * A TZif file cut short (a disk error, a half-copied tzdata) is refused on
 * the zone itself, naming it, with a private TZDIR: glibc would silently
 * show UTC. The tz database's first 44 bytes alone pass the magic check.
 */
static void
test_zone_check_rejects_a_cut_zone_file(void **state)
{
        char dir[] = "/tmp/mt-tz-XXXXXX", path[128], why[256] = "", good[4096];
        const char *old = getenv("TZDIR");
        char saved[256] = "";

        (void)state;
        if (old != NULL)
                snprintf(saved, sizeof(saved), "%s", old);
        assert_non_null(mkdtemp(dir));
        size_t n = read_file("/usr/share/zoneinfo/Europe/Moscow", good, sizeof(good));
        assert_true(n > 200);
        snprintf(path, sizeof(path), "%s/Cut", dir);
        write_file(path, good, 100);
        setenv("TZDIR", dir, 1);
        int cut = clock_zone_check("Cut", why, sizeof(why));
        write_file(path, good, n);
        int whole = clock_zone_check("Cut", why + 128, sizeof(why) - 128);
        if (old != NULL)
                setenv("TZDIR", saved, 1);
        else
                unsetenv("TZDIR");
        unlink(path);
        rmdir(dir);
        assert_int_equal(cut, -1);
        assert_contains(why, "/Cut is cut short or corrupt");
        assert_int_equal(whole, 0);
}

static void
test_format_check(void **state)
{
        char why[256] = "";

        (void)state;
        assert_int_equal(clock_format_check(DEFAULT_FORMAT, "Europe/Moscow", why, sizeof(why)), 0);
        assert_int_equal(
            clock_format_check("%-d.%m.%Y %Ec %Oy %EY %_5H %^a %#Z %%", "UTC", why, sizeof(why)),
            0);
        assert_int_equal(clock_format_check("%Q", "UTC", why, sizeof(why)), -1);
        assert_string_equal(why, "unknown strftime conversion \"%Q\" (glibc would print it as is); "
                                 "expected a format such as %Y-%m-%d %H:%M:%S %Z");
        why[0] = '\0';
        assert_int_equal(clock_format_check("", "UTC", why, sizeof(why)), -1);
        assert_string_equal(why, "the format yields no text (or more than 127 bytes)");
        why[0] = '\0';
        /* 40 x "%c" is far past the 127 bytes the page keeps. */
        assert_int_equal(clock_format_check("%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c"
                                            "%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c",
                                            "UTC", why, sizeof(why)),
                         -1);
        assert_string_equal(why, "the format yields no text (or more than 127 bytes)");
        /* The zone is checked by name like clock_zone_check() does. */
        assert_int_equal(clock_format_check("%H", "../etc/passwd", why, sizeof(why)), -1);
        assert_string_equal(why, "expected a time zone name such as Europe/Moscow");
}

/* Conversions glibc's strftime() does not know come out as they are: refused, with what follows. */
static void
test_format_check_refuses_what_glibc_prints_literally(void **state)
{
        static const char *const bad[][2] = {
            {"%+", "%+"},    {"%H %_+", "%_+"}, {"%Ox", "%Ox"}, {"%Ed", "%Ed"}, {"%10Ed", "%10Ed"},
            {"%EOd", "%EO"}, {"%5", "%5"},      {"%E", "%E"},   {"%v", "%v"},   {"%-", "%-"},
        };
        char why[256], want[256];

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                why[0] = '\0';
                assert_int_equal(clock_format_check(bad[i][0], "UTC", why, sizeof(why)), -1);
                snprintf(want, sizeof(want),
                         "unknown strftime conversion \"%s\" (glibc would print it as is); "
                         "expected a format such as %%Y-%%m-%%d %%H:%%M:%%S %%Z",
                         bad[i][1]);
                assert_string_equal(why, want);
        }
}

/*
 * The text must fit with every abbreviation of the configured zone, not the
 * process's: 30 x %Z is 90 bytes as MSK or UTC, 150 as +0545 (Kathmandu).
 */
static void
test_format_check_in_the_configured_zone(void **state)
{
        static const char z30[] = "%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z";
        char why[256] = "";

        (void)state;
        assert_int_equal(clock_format_check(z30, "Europe/Moscow", why, sizeof(why)), 0);
        assert_int_equal(clock_format_check(z30, "UTC", why, sizeof(why)), 0);
        assert_int_equal(clock_format_check(z30, "Asia/Kathmandu", why, sizeof(why)), -1);
        assert_string_equal(why, "the format yields no text (or more than 127 bytes) in "
                                 "Asia/Kathmandu (as \"+0545\")");
        /* Berlin's summer name is longer: 32 x %Z is 128 bytes as CEST, 96 as CET. */
        assert_int_equal(clock_format_check("%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z%Z"
                                            "%Z%Z%Z%Z%Z%Z%Z",
                                            "Europe/Berlin", why, sizeof(why)),
                         -1);
        assert_string_equal(why, "the format yields no text (or more than 127 bytes) in "
                                 "Europe/Berlin (as \"CEST\")");
}

struct instant {
        time_t t;
        const char *iso;
        const char *local;
};

static void
assert_instants(const char *zone, const struct instant *cases, size_t n)
{
        struct clock_text text;

        assert_int_equal(clock_init(zone), 0);
        for (size_t i = 0; i < n; i++) {
                memset(&text, 0x5a, sizeof(text));
                clock_format(cases[i].t, DEFAULT_FORMAT, &text);
                if (text.sec != cases[i].t || strcmp(text.iso, cases[i].iso) != 0 ||
                    strcmp(text.local, cases[i].local) != 0)
                        fail_msg("%s at %lld: \"%s\" / \"%s\", expected \"%s\" / \"%s\"", zone,
                                 (long long)cases[i].t, text.iso, text.local, cases[i].iso,
                                 cases[i].local);
        }
}

static int
restore_moscow(void **state)
{
        (void)state;
        return clock_init("Europe/Moscow");
}

static void
test_moscow_offsets(void **state)
{
        static const struct instant cases[] = {
            /* 2026-11-25T09:34:56Z */
            {1795599296, "2026-11-25T12:34:56+03:00", "2026-11-25 12:34:56 MSK"},
            /* 2010-07-01T12:00:00Z: summer time still existed */
            {1277985600, "2010-07-01T16:00:00+04:00", "2010-07-01 16:00:00 MSD"},
            /* 2012-01-01T00:00:00Z: from 2011 to 2014 MSK was UTC+4 all year */
            {1325376000, "2012-01-01T04:00:00+04:00", "2012-01-01 04:00:00 MSK"},
            /* 2011-03-26T22:59:59Z and one second later: the last change to summer time */
            {1301180399, "2011-03-27T01:59:59+03:00", "2011-03-27 01:59:59 MSK"},
            {1301180400, "2011-03-27T03:00:00+04:00", "2011-03-27 03:00:00 MSK"},
            /* 2014-10-25T21:59:59Z and one second later: back to UTC+3 for good */
            {1414274399, "2014-10-26T01:59:59+04:00", "2014-10-26 01:59:59 MSK"},
            {1414274400, "2014-10-26T01:00:00+03:00", "2014-10-26 01:00:00 MSK"},
            /* 2026-07-15T12:00:00Z: no summer time any more */
            {1784116800, "2026-07-15T15:00:00+03:00", "2026-07-15 15:00:00 MSK"},
        };

        (void)state;
        assert_instants("Europe/Moscow", cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_berlin_daylight_saving(void **state)
{
        static const struct instant cases[] = {
            /* 2026-01-15T12:00:00Z */
            {1768478400, "2026-01-15T13:00:00+01:00", "2026-01-15 13:00:00 CET"},
            /* 2026-07-15T12:00:00Z */
            {1784116800, "2026-07-15T14:00:00+02:00", "2026-07-15 14:00:00 CEST"},
            /* 2026-03-29T00:59:59Z and one second later: clocks jump from 02:00 to 03:00 */
            {1774745999, "2026-03-29T01:59:59+01:00", "2026-03-29 01:59:59 CET"},
            {1774746000, "2026-03-29T03:00:00+02:00", "2026-03-29 03:00:00 CEST"},
        };

        (void)state;
        assert_instants("Europe/Berlin", cases, sizeof(cases) / sizeof(cases[0]));
}

/* RFC 3339 wants the colon in negative offsets and in half-hour ones too. */
static void
test_other_offsets(void **state)
{
        static const struct instant ny[] = {
            /* 2026-01-15T12:00:00Z */
            {1768478400, "2026-01-15T07:00:00-05:00", "2026-01-15 07:00:00 EST"},
        };
        static const struct instant kolkata[] = {
            {1768478400, "2026-01-15T17:30:00+05:30", "2026-01-15 17:30:00 IST"},
        };
        static const struct instant utc[] = {
            {0, "1970-01-01T00:00:00+00:00", "1970-01-01 00:00:00 UTC"},
        };

        (void)state;
        assert_instants("America/New_York", ny, 1);
        assert_instants("Asia/Kolkata", kolkata, 1);
        assert_instants("UTC", utc, 1);
}

static void
test_custom_format(void **state)
{
        struct clock_text text;

        (void)state;
        assert_int_equal(clock_init("Europe/Moscow"), 0);
        clock_format(1795599296, "%d.%m.%Y, %H:%M", &text);
        assert_string_equal(text.local, "25.11.2026, 12:34");
        assert_string_equal(text.iso, "2026-11-25T12:34:56+03:00");
}

/*
 * Whether the wall clock ticks between two calls is beyond the test's
 * control, so the "same second" case only counts when it held; it is
 * retried otherwise.
 */
static void
test_now_keeps_the_same_second(void **state)
{
        struct clock_text cache;
        int checked = 0;

        (void)state;
        for (int attempt = 0; attempt < 100 && !checked; attempt++) {
                time_t before = time(NULL);
                memset(&cache, 0, sizeof(cache));
                cache.sec = before;
                strcpy(cache.local, "cached local");
                strcpy(cache.iso, "cached iso");
                const struct clock_text *got = clock_now(&cache, DEFAULT_FORMAT);
                time_t after = time(NULL);
                if (before != after)
                        continue;
                assert_ptr_equal(got, &cache);
                assert_int_equal(got->sec, before);
                assert_string_equal(got->local, "cached local");
                assert_string_equal(got->iso, "cached iso");
                checked = 1;
        }
        assert_true(checked);
}

static void
test_now_refreshes_a_stale_cache(void **state)
{
        struct clock_text cache, want;

        (void)state;
        memset(&cache, 0, sizeof(cache));
        /* sec 0 is "not filled yet" */
        const struct clock_text *got = clock_now(&cache, DEFAULT_FORMAT);
        assert_ptr_equal(got, &cache);
        assert_true(cache.sec > 1700000000);
        clock_format(cache.sec, DEFAULT_FORMAT, &want);
        assert_string_equal(cache.local, want.local);
        assert_string_equal(cache.iso, want.iso);

        cache.sec = 1; /* long ago */
        strcpy(cache.local, "stale");
        got = clock_now(&cache, DEFAULT_FORMAT);
        assert_ptr_equal(got, &cache);
        assert_true(cache.sec > 1700000000);
        assert_string_not_equal(cache.local, "stale");
        assert_int_equal(strlen(cache.local), strlen("2026-11-25 12:34:56 MSK"));
        assert_string_equal(cache.iso + 19, "+03:00");
}

#define TEST_RESTORING(fn) cmocka_unit_test_teardown(fn, restore_moscow)

int
clock_tests(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_zone_check_accepts_real_zones),
            cmocka_unit_test(test_zone_check_rejects_bad_names),
            cmocka_unit_test(test_zone_check_rejects_unknown_zone),
            cmocka_unit_test(test_zone_check_rejects_non_tzif_file),
            cmocka_unit_test(test_zone_check_rejects_a_cut_zone_file),
            cmocka_unit_test(test_format_check),
            cmocka_unit_test(test_format_check_refuses_what_glibc_prints_literally),
            cmocka_unit_test(test_format_check_in_the_configured_zone),
            TEST_RESTORING(test_moscow_offsets),
            TEST_RESTORING(test_berlin_daylight_saving),
            TEST_RESTORING(test_other_offsets),
            TEST_RESTORING(test_custom_format),
            TEST_RESTORING(test_now_keeps_the_same_second),
            TEST_RESTORING(test_now_refreshes_a_stale_cache),
        };

        return cmocka_run_group_tests_name("clock", tests, restore_moscow, restore_moscow);
}
