#include "tests.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* `make unit` runs the binary from the top of the repository without the variable. */
static const char *
example_config(void)
{
        const char *path = getenv("EXAMPLE_CONFIG");

        return path && *path ? path : "fcgi-app/config.ini";
}

/* Writes text as dir/config.ini, loads it and leaves the file's path in path. */
static int
load_text(struct fixture *f, const char *text, struct config *cfg, char *path, size_t pathlen,
          char *err, size_t errlen)
{
        fixture_path(f, "config.ini", path, pathlen);
        write_text(path, text);
        err[0] = '\0';
        return config_load(path, cfg, err, errlen);
}

static void
assert_config_equal(const struct config *a, const struct config *b)
{
        assert_string_equal(a->socket_path, b->socket_path);
        assert_int_equal(a->socket_mode, b->socket_mode);
        assert_int_equal(a->workers, b->workers);
        assert_string_equal(a->timezone, b->timezone);
        assert_string_equal(a->time_format, b->time_format);
        assert_string_equal(a->counter_path, b->counter_path);
        assert_int_equal(a->sync, b->sync);
        assert_int_equal(a->sync_interval_ms, b->sync_interval_ms);
        assert_int_equal(a->log_level, b->log_level);
        /* Both start from a zeroed struct, so even the bytes past each string agree. */
        assert_memory_equal(a, b, sizeof(*a));
}

static void
test_defaults_are_the_documented_values(void **state)
{
        struct config cfg;

        (void)state;
        memset(&cfg, 0xa5, sizeof(cfg));
        config_defaults(&cfg);
        assert_string_equal(cfg.socket_path, "/run/moscow-time/sock/fcgi.sock");
        assert_int_equal(cfg.socket_mode, 0660);
        assert_int_equal(cfg.workers, 16);
        assert_string_equal(cfg.timezone, "Europe/Moscow");
        assert_string_equal(cfg.time_format, "%Y-%m-%d %H:%M:%S %Z");
        assert_string_equal(cfg.counter_path, "/data/visits");
        assert_int_equal(cfg.sync, SYNC_INTERVAL);
        assert_int_equal(cfg.sync_interval_ms, 1000);
        assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
}

static void
test_example_loads_as_defaults(void **state)
{
        struct config loaded, defaults;
        char err[512] = "";

        (void)state;
        config_defaults(&defaults);
        memset(&loaded, 0xa5, sizeof(loaded));
        int rc = config_load(example_config(), &loaded, err, sizeof(err));
        if (rc != 0)
                fail_msg("%s", err);
        assert_config_equal(&loaded, &defaults);
}

/*
 * The example is the one documented list of keys, so it is read here with a
 * parser of its own rather than with iniparser: a key iniparser dropped or
 * renamed would otherwise go unnoticed.
 */
struct ini_entry {
        char section[32];
        char key[64];
        char value[256];
};

static char *
trim(char *s)
{
        while (isspace((unsigned char)*s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char)s[n - 1]))
                s[--n] = '\0';
        return s;
}

static size_t
read_example(struct ini_entry *out, size_t cap)
{
        char line[512], section[32] = "";
        size_t n = 0;
        FILE *fp = fopen(example_config(), "r");

        if (fp == NULL)
                fail_msg("cannot open %s", example_config());
        while (fgets(line, sizeof(line), fp) != NULL) {
                char *s = trim(line);
                if (*s == '\0' || *s == ';' || *s == '#')
                        continue;
                if (*s == '[') {
                        char *end = strchr(s, ']');
                        assert_non_null(end);
                        *end = '\0';
                        snprintf(section, sizeof(section), "%s", s + 1);
                        continue;
                }
                char *eq = strchr(s, '=');
                if (eq == NULL)
                        fail_msg("%s: not a key = value line: %s", example_config(), s);
                *eq = '\0';
                assert_true(n < cap);
                snprintf(out[n].section, sizeof(out[n].section), "%s", section);
                snprintf(out[n].key, sizeof(out[n].key), "%s", trim(s));
                snprintf(out[n].value, sizeof(out[n].value), "%s", trim(eq + 1));
                n++;
        }
        fclose(fp);
        return n;
}

static void
test_example_lists_exactly_the_table(void **state)
{
        struct ini_entry ex[32];
        size_t nex = read_example(ex, sizeof(ex) / sizeof(ex[0]));

        (void)state;
        for (size_t i = 0; i < config_nkeys(); i++) {
                const struct config_key *k = config_key(i);
                size_t found = 0;
                for (size_t j = 0; j < nex; j++) {
                        if (strcmp(ex[j].section, k->section) != 0 ||
                            strcmp(ex[j].key, k->name) != 0)
                                continue;
                        found++;
                        if (strcmp(ex[j].value, k->def) != 0)
                                fail_msg("[%s] %s: the example says \"%s\", the table \"%s\"",
                                         k->section, k->name, ex[j].value, k->def);
                }
                if (found != 1)
                        fail_msg("[%s] %s appears %zu times in the example, expected once",
                                 k->section, k->name, found);
        }
        for (size_t j = 0; j < nex; j++) {
                int known = 0;
                for (size_t i = 0; i < config_nkeys(); i++)
                        known |= strcmp(ex[j].section, config_key(i)->section) == 0 &&
                                 strcmp(ex[j].key, config_key(i)->name) == 0;
                if (!known)
                        fail_msg("[%s] %s is in the example but not in config.c", ex[j].section,
                                 ex[j].key);
        }
        assert_int_equal(nex, config_nkeys());
}

static void
test_key_table_order_and_end(void **state)
{
        static const char *const want[][2] = {
            {"server", "socket"},  {"server", "socket_mode"},
            {"server", "workers"}, {"clock", "timezone"},
            {"clock", "format"},   {"counter", "path"},
            {"counter", "sync"},   {"counter", "sync_interval_ms"},
            {"log", "level"},
        };
        size_t n = sizeof(want) / sizeof(want[0]);

        (void)state;
        assert_int_equal(config_nkeys(), n);
        for (size_t i = 0; i < n; i++) {
                const struct config_key *k = config_key(i);
                assert_non_null(k);
                assert_string_equal(k->section, want[i][0]);
                assert_string_equal(k->name, want[i][1]);
                assert_non_null(k->type);
                assert_non_null(k->def);
                /* One line of help, which --help and the README can show. */
                assert_true(k->help != NULL && k->help[0] != '\0');
                assert_null(strchr(k->help, '\n'));
        }
        assert_null(config_key(n));
        assert_null(config_key((size_t)-1));
}

/* Only what a running responder could take without a restart is marked live. */
static void
test_live_keys(void **state)
{
        char live[256] = "";

        (void)state;
        for (size_t i = 0; i < config_nkeys(); i++) {
                const struct config_key *k = config_key(i);
                if (k->live)
                        snprintf(live + strlen(live), sizeof(live) - strlen(live), "[%s] %s;",
                                 k->section, k->name);
        }
        assert_string_equal(live, "[clock] format;[log] level;");
}

/* config_value() prints what the responder uses: the parsed value, not the text of the file. */
static void
test_values_as_the_responder_uses_them(void **state)
{
        struct config cfg;
        char path[128], err[512], val[64];
        static const char *const want[] = {
            "/run/x.sock", "0600", "7", "Europe/Berlin", "%H:%M", "/var/v", "never", "5", "debug",
        };

        int rc = load_text(*state,
                           "[server]\nsocket = /run/x.sock\nsocket_mode = 600\nworkers = 007\n"
                           "[clock]\ntimezone = Europe/Berlin\nformat = \"%H:%M\"\n"
                           "[counter]\npath = /var/v\nsync = never\nsync_interval_ms = +5\n"
                           "[log]\nlevel = debug\n",
                           &cfg, path, sizeof(path), err, sizeof(err));
        if (rc != 0)
                fail_msg("%s", err);
        assert_int_equal(config_nkeys(), sizeof(want) / sizeof(want[0]));
        for (size_t i = 0; i < config_nkeys(); i++) {
                assert_int_equal(config_value(&cfg, i, val, sizeof(val)), (int)strlen(want[i]));
                assert_string_equal(val, want[i]);
        }
        /* Past the end, or no room: -1. */
        assert_int_equal(config_value(&cfg, config_nkeys(), val, sizeof(val)), -1);
        assert_int_equal(config_value(&cfg, 0, val, 4), -1);
}

/* Each default, printed, is the table's default text: the parsers and printers round-trip. */
static void
test_defaults_print_as_the_table_says(void **state)
{
        struct config cfg;
        char val[256];

        (void)state;
        config_defaults(&cfg);
        for (size_t i = 0; i < config_nkeys(); i++) {
                assert_true(config_value(&cfg, i, val, sizeof(val)) >= 0);
                assert_string_equal(val, config_key(i)->def);
        }
}

/* The table's enum names for [log] level are log.c's. */
static void
test_level_names_agree_with_log(void **state)
{
        static const char *const names[] = {"debug", "info", "warn", "error"};
        struct config cfg;
        char path[128], err[512], text[64];

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                enum log_level level = LOG_LEVEL_ERROR;
                snprintf(text, sizeof(text), "[log]\nlevel = %s\n", names[i]);
                int rc = load_text(*state, text, &cfg, path, sizeof(path), err, sizeof(err));
                if (rc != 0)
                        fail_msg("%s", err);
                assert_int_equal(log_level_parse(names[i], &level), 0);
                assert_int_equal(cfg.log_level, level);
        }
}

static void
test_differs(void **state)
{
        struct config a, b;

        (void)state;
        config_defaults(&a);
        config_defaults(&b);
        for (size_t i = 0; i < config_nkeys(); i++)
                assert_int_equal(config_differs(&a, &b, i), 0);
        b.workers = 3;
        b.log_level = LOG_LEVEL_DEBUG;
        snprintf(b.time_format, sizeof(b.time_format), "%%H");
        for (size_t i = 0; i < config_nkeys(); i++) {
                const char *name = config_key(i)->name;
                int want = strcmp(name, "workers") == 0 || strcmp(name, "level") == 0 ||
                           strcmp(name, "format") == 0;
                if (config_differs(&a, &b, i) != want)
                        fail_msg("[%s] %s: differs %d, expected %d", config_key(i)->section, name,
                                 !want, want);
        }
}

static void
test_print(void **state)
{
        struct config cfg;
        char buf[2048];

        (void)state;
        config_defaults(&cfg);
        FILE *f = fmemopen(buf, sizeof(buf), "w");
        assert_non_null(f);
        assert_int_equal(config_print(&cfg, f), 0);
        fclose(f);
        assert_string_equal(buf, "[server] socket = /run/moscow-time/sock/fcgi.sock\n"
                                 "[server] socket_mode = 0660\n"
                                 "[server] workers = 16\n"
                                 "[clock] timezone = Europe/Moscow\n"
                                 "[clock] format = %Y-%m-%d %H:%M:%S %Z\n"
                                 "[counter] path = /data/visits\n"
                                 "[counter] sync = interval\n"
                                 "[counter] sync_interval_ms = 1000\n"
                                 "[log] level = info\n");
}

static void
test_sync_names(void **state)
{
        (void)state;
        assert_string_equal(config_sync_name(SYNC_ALWAYS), "always");
        assert_string_equal(config_sync_name(SYNC_INTERVAL), "interval");
        assert_string_equal(config_sync_name(SYNC_NEVER), "never");
}

static void
test_empty_file_gives_defaults(void **state)
{
        struct config cfg, defaults;
        char path[128], err[512];

        config_defaults(&defaults);
        memset(&cfg, 0xa5, sizeof(cfg));
        int rc = load_text(*state, "", &cfg, path, sizeof(path), err, sizeof(err));
        if (rc != 0)
                fail_msg("%s", err);
        assert_config_equal(&cfg, &defaults);
}

static void
test_comments_and_empty_sections_give_defaults(void **state)
{
        struct config cfg, defaults;
        char path[128], err[512];

        config_defaults(&defaults);
        int rc =
            load_text(*state, "; nothing set\n# nor here\n[server]\n[clock]\n[counter]\n[log]\n",
                      &cfg, path, sizeof(path), err, sizeof(err));
        if (rc != 0)
                fail_msg("%s", err);
        assert_config_equal(&cfg, &defaults);
}

static void
test_every_key_is_applied(void **state)
{
        struct config cfg;
        char path[128], err[512];

        int rc = load_text(*state,
                           "[server]\n"
                           "socket = /tmp/other.sock\n"
                           "socket_mode = 0600\n"
                           "workers = 256\n"
                           "[clock]\n"
                           "timezone = America/New_York\n"
                           "format = %H:%M\n"
                           "[counter]\n"
                           "path = /var/lib/visits\n"
                           "sync = always\n"
                           "sync_interval_ms = 60000\n"
                           "[log]\n"
                           "level = debug\n",
                           &cfg, path, sizeof(path), err, sizeof(err));
        if (rc != 0)
                fail_msg("%s", err);
        assert_string_equal(cfg.socket_path, "/tmp/other.sock");
        assert_int_equal(cfg.socket_mode, 0600);
        assert_int_equal(cfg.workers, 256);
        assert_string_equal(cfg.timezone, "America/New_York");
        assert_string_equal(cfg.time_format, "%H:%M");
        assert_string_equal(cfg.counter_path, "/var/lib/visits");
        assert_int_equal(cfg.sync, SYNC_ALWAYS);
        assert_int_equal(cfg.sync_interval_ms, 60000);
        assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
}

static void
test_lower_bounds_are_accepted(void **state)
{
        struct config cfg;
        char path[128], err[512];

        int rc = load_text(*state,
                           "[server]\nworkers = 1\nsocket_mode = 0700\n"
                           "[counter]\nsync = never\nsync_interval_ms = 1\n"
                           "[log]\nlevel = error\n",
                           &cfg, path, sizeof(path), err, sizeof(err));
        if (rc != 0)
                fail_msg("%s", err);
        assert_int_equal(cfg.workers, 1);
        assert_int_equal(cfg.socket_mode, 0700);
        assert_int_equal(cfg.sync, SYNC_NEVER);
        assert_int_equal(cfg.sync_interval_ms, 1);
        assert_int_equal(cfg.log_level, LOG_LEVEL_ERROR);
}

#define A10  "aaaaaaaaaa"
#define A100 A10 A10 A10 A10 A10 A10 A10 A10 A10 A10

/* sun_path holds 108 bytes with the NUL: 107 is the longest path that fits. */
static void
test_socket_path_of_107_bytes_is_accepted(void **state)
{
        static const char sock[] = "/run/" A100 "aa"; /* 107 bytes */
        struct config cfg;
        char path[128], err[512];

        assert_int_equal(strlen(sock), 107);
        int rc = load_text(*state, "[server]\nsocket = /run/" A100 "aa\n", &cfg, path, sizeof(path),
                           err, sizeof(err));
        if (rc != 0)
                fail_msg("%s", err);
        assert_string_equal(cfg.socket_path, sock);
}

/*
 * iniparser lowercases section and key names as it reads them, so the
 * names are case-insensitive; values keep their case and the enums are
 * compared exactly, so "Always" is refused.
 */
static void
test_names_are_case_insensitive_values_are_not(void **state)
{
        struct fixture *f = *state;
        struct config cfg;
        char path[128], err[512], want[512];

        int rc = load_text(f, "[Server]\nWORKERS = 8\n[CLOCK]\nTimeZone = Europe/Berlin\n", &cfg,
                           path, sizeof(path), err, sizeof(err));
        if (rc != 0)
                fail_msg("%s", err);
        assert_int_equal(cfg.workers, 8);
        assert_string_equal(cfg.timezone, "Europe/Berlin");

        rc = load_text(f, "[counter]\nsync = Always\n", &cfg, path, sizeof(path), err, sizeof(err));
        assert_int_equal(rc, -1);
        snprintf(want, sizeof(want),
                 "%s: [counter] sync = \"Always\": expected one of: always, interval, never", path);
        assert_string_equal(err, want);

        /* The unknown-key message shows the name as iniparser keeps it: lowercased. */
        rc = load_text(f, "[Server]\nWorkerZ = 4\n", &cfg, path, sizeof(path), err, sizeof(err));
        assert_int_equal(rc, -1);
        snprintf(want, sizeof(want),
                 "%s: [server] workerz: unknown key; expected one of: socket, socket_mode, workers",
                 path);
        assert_string_equal(err, want);
}

/* iniparser strips quotes around a value and an inline ; comment after it. */
static void
test_quotes_and_inline_comments(void **state)
{
        struct config cfg;
        char path[128], err[512];

        int rc = load_text(*state,
                           "[clock]\nformat = \"%H:%M %Z\"\n[server]\nworkers = 16 ; more cores\n",
                           &cfg, path, sizeof(path), err, sizeof(err));
        if (rc != 0)
                fail_msg("%s", err);
        assert_string_equal(cfg.time_format, "%H:%M %Z");
        assert_int_equal(cfg.workers, 16);
}

/* One rejected input: the message must be exactly "<path>: " followed by want. */
struct bad_case {
        const char *ini;
        const char *want;
};

static void
test_rejected(void **state)
{
        struct fixture *f = *state;
        const struct bad_case *c = f->param;
        struct config cfg;
        char path[128], err[1024], want[1024];

        int rc = load_text(f, c->ini, &cfg, path, sizeof(path), err, sizeof(err));
        assert_int_equal(rc, -1);
        snprintf(want, sizeof(want), "%s: %s", path, c->want);
        assert_string_equal(err, want);
        assert_null(strchr(err, '\n'));
}

static struct bad_case unknown_key = {
    "[server]\nworkerz = 4\n",
    "[server] workerz: unknown key; expected one of: socket, socket_mode, workers",
};
static struct bad_case unknown_key_in_other_section = {
    "[counter]\npath = /data/visits\ninterval = 5\n",
    "[counter] interval: unknown key; expected one of: path, sync, sync_interval_ms",
};
static struct bad_case unknown_section = {
    "[server]\nworkers = 4\n[database]\nhost = db\n",
    "[database]: unknown section; expected one of: server, clock, counter, log",
};
static struct bad_case unknown_empty_section = {
    "[extra]\n",
    "[extra]: unknown section; expected one of: server, clock, counter, log",
};
/*
 * iniparser files a key met before any section under the section "", which
 * iniparser_getsecnkeys() cannot see: such a key must still be refused, not
 * silently dropped.
 */
static struct bad_case key_before_section = {
    "workers = 8\n[server]\n",
    "workers = \"8\": a key appears before any [section]; expected sections: server, clock, "
    "counter, log",
};
static struct bad_case workers_not_a_number = {
    "[server]\nworkers = many\n",
    "[server] workers = \"many\": expected an integer from 1 to 256",
};
static struct bad_case workers_zero = {
    "[server]\nworkers = 0\n",
    "[server] workers = \"0\": expected an integer from 1 to 256",
};
static struct bad_case workers_257 = {
    "[server]\nworkers = 257\n",
    "[server] workers = \"257\": expected an integer from 1 to 256",
};
static struct bad_case workers_trailing_text = {
    "[server]\nworkers = 4x\n",
    "[server] workers = \"4x\": expected an integer from 1 to 256",
};
static struct bad_case workers_empty = {
    "[server]\nworkers =\n",
    "[server] workers = \"\": expected an integer from 1 to 256",
};
static struct bad_case workers_overflow = {
    "[server]\nworkers = 99999999999999999999\n",
    "[server] workers = \"99999999999999999999\": expected an integer from 1 to 256",
};
static struct bad_case sync_interval_zero = {
    "[counter]\nsync_interval_ms = 0\n",
    "[counter] sync_interval_ms = \"0\": expected an integer from 1 to 60000",
};
static struct bad_case sync_interval_too_long = {
    "[counter]\nsync_interval_ms = 60001\n",
    "[counter] sync_interval_ms = \"60001\": expected an integer from 1 to 60000",
};
static struct bad_case sync_sometimes = {
    "[counter]\nsync = sometimes\n",
    "[counter] sync = \"sometimes\": expected one of: always, interval, never",
};
static struct bad_case level_loud = {
    "[log]\nlevel = loud\n",
    "[log] level = \"loud\": expected one of: debug, info, warn, error",
};
/* A tab inside a value is shown escaped: the message stays one printable line. */
static struct bad_case level_with_tab = {
    "[log]\nlevel = lo\tud\n",
    "[log] level = \"lo\\x09ud\": expected one of: debug, info, warn, error",
};
static struct bad_case socket_mode_for_others = {
    "[server]\nsocket_mode = 0666\n",
    "[server] socket_mode = \"0666\": mode 0666 lets every local user talk to the responder; "
    "use 0660 or 0600 (no bits for others)",
};
static struct bad_case socket_mode_others_execute = {
    "[server]\nsocket_mode = 0661\n",
    "[server] socket_mode = \"0661\": mode 0661 lets every local user talk to the responder; "
    "use 0660 or 0600 (no bits for others)",
};
static struct bad_case socket_mode_not_octal = {
    "[server]\nsocket_mode = 0680\n",
    "[server] socket_mode = \"0680\": expected an octal file mode such as 0660",
};
static struct bad_case socket_mode_symbolic = {
    "[server]\nsocket_mode = rw-rw----\n",
    "[server] socket_mode = \"rw-rw----\": expected an octal file mode such as 0660",
};
static struct bad_case socket_mode_too_long = {
    "[server]\nsocket_mode = 00660\n",
    "[server] socket_mode = \"00660\": expected an octal file mode such as 0660",
};
static struct bad_case socket_mode_owner_read_only = {
    "[server]\nsocket_mode = 0460\n",
    "[server] socket_mode = \"0460\": mode 0460: the owner needs read and write (0600 at least)",
};
static struct bad_case socket_mode_group_only = {
    "[server]\nsocket_mode = 0060\n",
    "[server] socket_mode = \"0060\": mode 0060: the owner needs read and write (0600 at least)",
};
static struct bad_case socket_too_long = {
    "[server]\nsocket = /run/" A100 "aaa\n",
    "[server] socket = \"/run/" A100 "aaa\": socket path too long: 108 bytes, a unix socket path "
    "holds at most 107",
};
static struct bad_case socket_is_a_directory = {
    "[server]\nsocket = /run/moscow-time/\n",
    "[server] socket = \"/run/moscow-time/\": expected the path of the unix socket file, such as "
    "/run/moscow-time/sock/fcgi.sock",
};
static struct bad_case zone_traversal = {
    "[clock]\ntimezone = ../../etc/passwd\n",
    "[clock] timezone = \"../../etc/passwd\": expected a time zone name such as Europe/Moscow",
};
static struct bad_case zone_inner_traversal = {
    "[clock]\ntimezone = Europe/../../etc/passwd\n",
    "[clock] timezone = \"Europe/../../etc/passwd\": expected a time zone name such as "
    "Europe/Moscow",
};
static struct bad_case zone_absolute = {
    "[clock]\ntimezone = /etc/localtime\n",
    "[clock] timezone = \"/etc/localtime\": expected a time zone name such as Europe/Moscow",
};
static struct bad_case format_unknown_conversion = {
    "[clock]\nformat = %Y %Q\n",
    "[clock] format = \"%Y %Q\": unknown strftime conversion at \"%Q\"; expected a format such as "
    "%Y-%m-%d %H:%M:%S %Z",
};
static struct bad_case format_trailing_percent = {
    "[clock]\nformat = %H:%\n",
    "[clock] format = \"%H:%\": unknown strftime conversion at \"%\"; expected a format such as "
    "%Y-%m-%d %H:%M:%S %Z",
};
static struct bad_case format_empty = {
    "[clock]\nformat =\n",
    "[clock] format = \"\": the format yields no text (or more than 127 bytes)",
};
static struct bad_case counter_path_directory = {
    "[counter]\npath = /data/\n",
    "[counter] path = \"/data/\": expected the path of a file, such as /data/visits",
};

/* The message names the zone file that is missing, wherever TZDIR points. */
static void
test_unknown_zone(void **state)
{
        struct config cfg;
        char path[128], err[1024], want[512];

        int rc = load_text(*state, "[clock]\ntimezone = Mars/Olympus\n", &cfg, path, sizeof(path),
                           err, sizeof(err));
        assert_int_equal(rc, -1);
        snprintf(want, sizeof(want), "%s: [clock] timezone = \"Mars/Olympus\": unknown time zone (",
                 path);
        assert_memory_equal(err, want, strlen(want));
        assert_contains(err, "/Mars/Olympus: No such file or directory); expected a name such as "
                             "Europe/Moscow");
}

/* A directory of the tz database is not a zone. */
static void
test_zone_directory(void **state)
{
        struct config cfg;
        char path[128], err[1024], want[512];

        int rc = load_text(*state, "[clock]\ntimezone = Europe\n", &cfg, path, sizeof(path), err,
                           sizeof(err));
        assert_int_equal(rc, -1);
        snprintf(want, sizeof(want), "%s: [clock] timezone = \"Europe\": unknown time zone (",
                 path);
        assert_memory_equal(err, want, strlen(want));
        assert_contains(err, "/Europe is not a tz database file)");
}

static void
test_missing_file(void **state)
{
        struct fixture *f = *state;
        struct config cfg;
        char path[128], err[512], want[512];

        fixture_path(f, "absent.ini", path, sizeof(path));
        assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s: cannot read the configuration: No such file or directory",
                 path);
        assert_string_equal(err, want);
}

static void
test_syntax_error(void **state)
{
        struct config cfg;
        char path[128], err[1024], want[1024];

        int rc = load_text(*state, "[server]\nworkers = 4\nthis is not ini\n", &cfg, path,
                           sizeof(path), err, sizeof(err));
        assert_int_equal(rc, -1);
        /* iniparser's own text names the line; its newlines are escaped to keep one line. */
        snprintf(want, sizeof(want),
                 "%s: not a valid ini file: iniparser: syntax error in %s (3):\\x0a-> this is not "
                 "ini\\x0a",
                 path, path);
        assert_string_equal(err, want);
}

static void
test_unclosed_section_is_a_syntax_error(void **state)
{
        struct config cfg;
        char path[128], err[1024], want[1024];

        int rc =
            load_text(*state, "[server\nworkers = 4\n", &cfg, path, sizeof(path), err, sizeof(err));
        assert_int_equal(rc, -1);
        snprintf(want, sizeof(want), "%s: not a valid ini file: ", path);
        assert_memory_equal(err, want, strlen(want));
        assert_contains(err, "(1):\\x0a-> [server\\x0a");
}

/* A failed load must not leave iniparser's error callback pointing at config.c's buffer. */
static void
test_load_after_a_syntax_error(void **state)
{
        struct fixture *f = *state;
        struct config cfg;
        char path[128], err[1024];

        assert_int_equal(load_text(f, "nonsense\n", &cfg, path, sizeof(path), err, sizeof(err)),
                         -1);
        int rc =
            load_text(f, "[server]\nworkers = 3\n", &cfg, path, sizeof(path), err, sizeof(err));
        if (rc != 0)
                fail_msg("%s", err);
        assert_int_equal(cfg.workers, 3);
}

#define CASE(name, c)                                                                              \
        {                                                                                          \
                "test_rejects_" name, test_rejected, fixture_setup, fixture_teardown, &(c)         \
        }
#define TEST(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int
config_tests(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults_are_the_documented_values),
            cmocka_unit_test(test_example_loads_as_defaults),
            cmocka_unit_test(test_example_lists_exactly_the_table),
            cmocka_unit_test(test_key_table_order_and_end),
            cmocka_unit_test(test_live_keys),
            TEST(test_values_as_the_responder_uses_them),
            cmocka_unit_test(test_defaults_print_as_the_table_says),
            TEST(test_level_names_agree_with_log),
            cmocka_unit_test(test_differs),
            cmocka_unit_test(test_print),
            cmocka_unit_test(test_sync_names),
            TEST(test_empty_file_gives_defaults),
            TEST(test_comments_and_empty_sections_give_defaults),
            TEST(test_every_key_is_applied),
            TEST(test_lower_bounds_are_accepted),
            TEST(test_socket_path_of_107_bytes_is_accepted),
            TEST(test_names_are_case_insensitive_values_are_not),
            TEST(test_quotes_and_inline_comments),
            CASE("unknown_key", unknown_key),
            CASE("unknown_key_in_other_section", unknown_key_in_other_section),
            CASE("unknown_section", unknown_section),
            CASE("unknown_empty_section", unknown_empty_section),
            CASE("key_before_any_section", key_before_section),
            CASE("workers_not_a_number", workers_not_a_number),
            CASE("workers_0", workers_zero),
            CASE("workers_257", workers_257),
            CASE("workers_trailing_text", workers_trailing_text),
            CASE("workers_empty", workers_empty),
            CASE("workers_overflow", workers_overflow),
            CASE("sync_interval_ms_0", sync_interval_zero),
            CASE("sync_interval_ms_60001", sync_interval_too_long),
            CASE("sync_sometimes", sync_sometimes),
            CASE("level_loud", level_loud),
            CASE("level_with_tab", level_with_tab),
            CASE("socket_mode_0666", socket_mode_for_others),
            CASE("socket_mode_0661", socket_mode_others_execute),
            CASE("socket_mode_not_octal", socket_mode_not_octal),
            CASE("socket_mode_symbolic", socket_mode_symbolic),
            CASE("socket_mode_five_digits", socket_mode_too_long),
            CASE("socket_mode_owner_read_only", socket_mode_owner_read_only),
            CASE("socket_mode_group_only", socket_mode_group_only),
            CASE("socket_path_of_108_bytes", socket_too_long),
            CASE("socket_path_of_a_directory", socket_is_a_directory),
            CASE("timezone_traversal", zone_traversal),
            CASE("timezone_inner_traversal", zone_inner_traversal),
            CASE("timezone_absolute_path", zone_absolute),
            CASE("format_unknown_conversion", format_unknown_conversion),
            CASE("format_trailing_percent", format_trailing_percent),
            CASE("format_empty", format_empty),
            CASE("counter_path_of_a_directory", counter_path_directory),
            TEST(test_unknown_zone),
            TEST(test_zone_directory),
            TEST(test_missing_file),
            TEST(test_syntax_error),
            TEST(test_unclosed_section_is_a_syntax_error),
            TEST(test_load_after_a_syntax_error),
        };

        return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
