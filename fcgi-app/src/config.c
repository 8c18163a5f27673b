/*
 * config.ini -> struct config. Every key is one row of a table with its
 * default and its parser; the defaults go through the same parsers, so the
 * built-in values and the documented ones cannot disagree silently (a unit
 * test loads the shipped example and compares).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <iniparser.h>

#include "clock.h"

typedef int (*parse_fn)(const char *val, struct config *cfg, char *why, size_t len);

struct key_spec {
        const char *section;
        const char *key;
        const char *def;
        parse_fn parse;
};

static int
parse_int(const char *val, long lo, long hi, long *out, char *why, size_t len)
{
        char *end;

        errno = 0;
        long v = strtol(val, &end, 10);
        if (*val == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
                snprintf(why, len, "expected an integer from %ld to %ld", lo, hi);
                return -1;
        }
        *out = v;
        return 0;
}

static int
parse_socket(const char *val, struct config *cfg, char *why, size_t len)
{
        size_t n = strlen(val);

        if (n == 0 || val[n - 1] == '/') {
                snprintf(why, len, "expected the path of the unix socket file");
                return -1;
        }
        if (n >= sizeof(cfg->socket_path)) {
                snprintf(why, len,
                         "socket path too long: %zu bytes, a unix socket path holds at most %zu", n,
                         sizeof(cfg->socket_path) - 1);
                return -1;
        }
        memcpy(cfg->socket_path, val, n + 1);
        return 0;
}

static int
parse_socket_mode(const char *val, struct config *cfg, char *why, size_t len)
{
        char *end;
        size_t n = strlen(val);

        errno = 0;
        unsigned long v = strtoul(val, &end, 8);
        if (n < 3 || n > 4 || *end != '\0' || errno != 0 || v > 0777) {
                snprintf(why, len, "expected an octal file mode such as 0660");
                return -1;
        }
        if (v & 0007) {
                snprintf(why, len,
                         "mode %04lo lets every local user talk to the responder; "
                         "use 0660 or 0600 (no bits for others)",
                         v);
                return -1;
        }
        if ((v & 0600) != 0600) {
                snprintf(why, len, "mode %04lo: the owner needs read and write (0600 at least)", v);
                return -1;
        }
        cfg->socket_mode = (unsigned)v;
        return 0;
}

static int
parse_workers(const char *val, struct config *cfg, char *why, size_t len)
{
        long v;

        if (parse_int(val, 1, 256, &v, why, len) != 0)
                return -1;
        cfg->workers = (int)v;
        return 0;
}

static int
parse_timezone(const char *val, struct config *cfg, char *why, size_t len)
{
        if (strlen(val) >= sizeof(cfg->timezone)) {
                snprintf(why, len, "expected a time zone name such as Europe/Moscow");
                return -1;
        }
        if (clock_zone_check(val, why, len) != 0)
                return -1;
        strcpy(cfg->timezone, val);
        return 0;
}

static int
parse_format(const char *val, struct config *cfg, char *why, size_t len)
{
        if (strlen(val) >= sizeof(cfg->time_format)) {
                snprintf(why, len, "format too long: at most %zu bytes",
                         sizeof(cfg->time_format) - 1);
                return -1;
        }
        if (clock_format_check(val, why, len) != 0)
                return -1;
        strcpy(cfg->time_format, val);
        return 0;
}

static int
parse_counter_path(const char *val, struct config *cfg, char *why, size_t len)
{
        size_t n = strlen(val);

        if (n == 0 || val[n - 1] == '/') {
                snprintf(why, len, "expected the path of the counter file, such as /data/visits");
                return -1;
        }
        if (n >= sizeof(cfg->counter_path)) {
                snprintf(why, len, "path too long: at most %zu bytes",
                         sizeof(cfg->counter_path) - 1);
                return -1;
        }
        memcpy(cfg->counter_path, val, n + 1);
        return 0;
}

static const char *const sync_names[] = {"always", "interval", "never"};

const char *
config_sync_name(enum sync_mode mode)
{
        return sync_names[mode];
}

static int
parse_sync(const char *val, struct config *cfg, char *why, size_t len)
{
        for (size_t i = 0; i < sizeof(sync_names) / sizeof(sync_names[0]); i++) {
                if (strcmp(val, sync_names[i]) == 0) {
                        cfg->sync = (enum sync_mode)i;
                        return 0;
                }
        }
        snprintf(why, len, "expected one of: always, interval, never");
        return -1;
}

static int
parse_sync_interval(const char *val, struct config *cfg, char *why, size_t len)
{
        long v;

        if (parse_int(val, 1, 60000, &v, why, len) != 0)
                return -1;
        cfg->sync_interval_ms = (int)v;
        return 0;
}

static int
parse_log_level(const char *val, struct config *cfg, char *why, size_t len)
{
        if (log_level_parse(val, &cfg->log_level) != 0) {
                snprintf(why, len, "expected one of: debug, info, warn, error");
                return -1;
        }
        return 0;
}

static const struct key_spec keys[] = {
    {"server", "socket", "/run/moscow-time/sock/fcgi.sock", parse_socket},
    {"server", "socket_mode", "0660", parse_socket_mode},
    {"server", "workers", "16", parse_workers},
    {"clock", "timezone", "Europe/Moscow", parse_timezone},
    {"clock", "format", "%Y-%m-%d %H:%M:%S %Z", parse_format},
    {"counter", "path", "/data/visits", parse_counter_path},
    {"counter", "sync", "interval", parse_sync},
    {"counter", "sync_interval_ms", "1000", parse_sync_interval},
    {"log", "level", "info", parse_log_level},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

const char *
config_key_at(size_t i, const char **key, const char **def)
{
        if (i >= NKEYS)
                return NULL;
        *key = keys[i].key;
        *def = keys[i].def;
        return keys[i].section;
}

void
config_defaults(struct config *cfg)
{
        char why[256];

        memset(cfg, 0, sizeof(*cfg));
        for (size_t i = 0; i < NKEYS; i++) {
                /* The defaults are constants checked by the unit tests. */
                if (keys[i].parse(keys[i].def, cfg, why, sizeof(why)) != 0)
                        abort();
        }
}

static int
known_section(const char *name)
{
        for (size_t i = 0; i < NKEYS; i++) {
                if (strcmp(keys[i].section, name) == 0)
                        return 1;
        }
        return 0;
}

static const struct key_spec *
find_key(const char *section, const char *key)
{
        for (size_t i = 0; i < NKEYS; i++) {
                if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
                        return &keys[i];
        }
        return NULL;
}

static void
known_keys_of(const char *section, char *out, size_t len)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = 0; i < NKEYS && n < len; i++) {
                if (strcmp(keys[i].section, section) == 0)
                        n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", keys[i].key);
        }
}

/* Copies s into out with anything unprintable escaped, so that the message stays one line. */
static void
printable(const char *s, char *out, size_t len)
{
        size_t n = 0;

        for (; *s && n + 5 < len; s++) {
                unsigned char c = (unsigned char)*s;
                if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
                        n += (size_t)snprintf(out + n, len - n, "\\x%02x", c);
                else
                        out[n++] = (char)c;
        }
        out[n] = '\0';
}

/*
 * iniparser reports syntax errors through a printf-like callback with no user
 * pointer, so the message is parked here. Loading happens once, in the main
 * thread, before any other thread starts.
 */
static char ini_error[512];

static int
ini_error_cb(const char *fmt, ...)
{
        va_list ap;
        size_t n = strlen(ini_error);

        va_start(ap, fmt);
        if (n < sizeof(ini_error) - 1)
                vsnprintf(ini_error + n, sizeof(ini_error) - n, fmt, ap);
        va_end(ap);
        return 0;
}

static int
open_dictionary(const char *path, dictionary **out, char *err, size_t errlen)
{
        struct stat st;
        FILE *f = fopen(path, "r");

        if (f == NULL || fstat(fileno(f), &st) != 0) {
                snprintf(err, errlen, "%s: cannot read the configuration: %s", path,
                         strerror(errno));
                if (f != NULL)
                        fclose(f);
                return -1;
        }
        fclose(f);
        if (!S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "%s: cannot read the configuration: not a regular file",
                         path);
                return -1;
        }
        ini_error[0] = '\0';
        iniparser_set_error_callback(ini_error_cb);
        *out = iniparser_load(path);
        iniparser_set_error_callback(NULL);
        if (*out == NULL) {
                char msg[sizeof(ini_error)];
                printable(ini_error, msg, sizeof(msg));
                snprintf(err, errlen, "%s: not a valid ini file: %s", path,
                         msg[0] ? msg : "iniparser could not load it");
                return -1;
        }
        return 0;
}

/*
 * iniparser files a key above the first [section] as ":key", under no
 * section its API can list, so look at the dictionary's entries directly.
 */
static ssize_t
global_key(const dictionary *d)
{
        for (ssize_t i = 0; i < d->size; i++) {
                if (d->key[i] != NULL && d->key[i][0] == ':')
                        return i;
        }
        return -1;
}

static int
check_names(const char *path, const dictionary *d, char *err, size_t errlen)
{
        int nsec = iniparser_getnsec(d);
        char known[256];

        ssize_t g = global_key(d);
        if (g >= 0) {
                char gkey[128], gval[256];
                printable(d->key[g] + 1, gkey, sizeof(gkey));
                printable(d->val[g] ? d->val[g] : "", gval, sizeof(gval));
                snprintf(err, errlen,
                         "%s: %s = \"%s\": a key appears before any [section]; "
                         "expected sections: server, clock, counter, log",
                         path, gkey, gval);
                return -1;
        }
        for (int i = 0; i < nsec; i++) {
                const char *sec = iniparser_getsecname(d, i);
                if (!known_section(sec)) {
                        snprintf(err, errlen,
                                 "%s: [%s]: unknown section; expected one of: "
                                 "server, clock, counter, log",
                                 path, sec);
                        return -1;
                }
                int nk = iniparser_getsecnkeys(d, sec);
                if (nk <= 0)
                        continue;
                const char *names[16];
                if (nk > (int)(sizeof(names) / sizeof(names[0]))) {
                        snprintf(err, errlen, "%s: [%s]: %d keys, more than any section has", path,
                                 sec, nk);
                        return -1;
                }
                iniparser_getseckeys(d, sec, names);
                for (int k = 0; k < nk; k++) {
                        const char *key = names[k] + strlen(sec) + 1; /* skip "section:" */
                        if (find_key(sec, key) == NULL) {
                                known_keys_of(sec, known, sizeof(known));
                                snprintf(err, errlen,
                                         "%s: [%s] %s: unknown key; expected one "
                                         "of: %s",
                                         path, sec, key, known);
                                return -1;
                        }
                }
        }
        return 0;
}

static int
apply_values(const char *path, const dictionary *d, struct config *cfg, char *err, size_t errlen)
{
        char name[64], why[256], shown[256];

        for (size_t i = 0; i < NKEYS; i++) {
                snprintf(name, sizeof(name), "%s:%s", keys[i].section, keys[i].key);
                const char *val = iniparser_getstring(d, name, NULL);
                if (val == NULL)
                        continue;
                if (keys[i].parse(val, cfg, why, sizeof(why)) != 0) {
                        printable(val, shown, sizeof(shown));
                        snprintf(err, errlen, "%s: [%s] %s = \"%s\": %s", path, keys[i].section,
                                 keys[i].key, shown, why);
                        return -1;
                }
        }
        return 0;
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
        dictionary *d;
        int rc;

        config_defaults(cfg);
        if (open_dictionary(path, &d, err, errlen) != 0)
                return -1;
        rc = check_names(path, d, err, errlen);
        if (rc == 0)
                rc = apply_values(path, d, cfg, err, errlen);
        iniparser_freedict(d);
        return rc;
}
