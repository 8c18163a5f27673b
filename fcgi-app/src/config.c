/*
 * config.ini -> struct config, driven by one table of keys (in the manner of
 * Redis's config.c): each row names a key and gives its type with its bounds
 * or names, its default, one line of help and whether a running responder
 * can take a new value. Parsing, validation, the defaults, the messages and
 * --print-config all read the table, so none of them knows a key the others
 * do not; the defaults go through the same parsers as the file's values.
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

enum key_type {
        KEY_PATH,   /* a file's path: not empty, not ending in '/' */
        KEY_SOCKET, /* a unix socket's path: a KEY_PATH that fits in sun_path */
        KEY_INT,    /* a decimal integer from min to max */
        KEY_ENUM,   /* one of names, stored as its index */
        KEY_MODE,   /* an octal file mode of 3 or 4 digits */
        KEY_ZONE,   /* a zone of the system tz database */
        KEY_FORMAT, /* a strftime format */
};

static const char *const type_names[] = {
    [KEY_PATH] = "path",
    [KEY_SOCKET] = "socket path",
    [KEY_INT] = "int",
    [KEY_ENUM] = "enum",
    [KEY_MODE] = "octal mode",
    [KEY_ZONE] = "time zone",
    [KEY_FORMAT] = "strftime format",
};

struct key {
        struct config_key pub;
        enum key_type type;
        size_t off;  /* of the field in struct config */
        size_t size; /* of the field: a string's room with its NUL */
        long min, max;
        const char *const *names; /* KEY_ENUM: NULL-terminated, in the enum's order */
        /* Rules of this key beyond its type; sees the whole config, every key parsed. */
        int (*check)(const struct config *cfg, char *why, size_t len);
};

static const char *const sync_names[] = {"always", "interval", "never", NULL};
/* In enum log_level's order; a unit test holds them to log_level_parse(). */
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};

static int check_socket_mode(const struct config *cfg, char *why, size_t len);

#define FIELD(f) .off = offsetof(struct config, f), .size = sizeof(((struct config *)0)->f)
#define LIVE     1
#define RESTART  0
#define ROW(sec, key, kind, dflt, flag, text)                                                      \
        .pub = {.section = (sec),                                                                  \
                .name = (key),                                                                     \
                .type = type_names[kind],                                                          \
                .def = (dflt),                                                                     \
                .help = (text),                                                                    \
                .live = (flag)},                                                                   \
        .type = (kind)

static const struct key keys[] = {
    {ROW("server", "socket", KEY_SOCKET, "/run/moscow-time/sock/fcgi.sock", RESTART,
         "unix socket nginx forwards requests to (at most 107 bytes)"),
     FIELD(socket_path)},
    {ROW("server", "socket_mode", KEY_MODE, "0660", RESTART,
         "octal mode of the socket; the owner needs rw, bits for others are refused"),
     FIELD(socket_mode), .check = check_socket_mode},
    {ROW("server", "workers", KEY_INT, "16", RESTART, "worker threads serving requests"),
     FIELD(workers), .min = 1, .max = 256},
    {ROW("clock", "timezone", KEY_ZONE, "Europe/Moscow", RESTART,
         "zone of the system tz database whose time the page shows"),
     FIELD(timezone)},
    {ROW("clock", "format", KEY_FORMAT, "%Y-%m-%d %H:%M:%S %Z", LIVE,
         "strftime(3) format of the time on the page"),
     FIELD(time_format)},
    {ROW("counter", "path", KEY_PATH, "/data/visits", RESTART,
         "file that holds the visit count as decimal text and a newline"),
     FIELD(counter_path)},
    {ROW("counter", "sync", KEY_ENUM, "interval", RESTART,
         "when visits are fsynced: always, interval or never"),
     FIELD(sync), .names = sync_names},
    {ROW("counter", "sync_interval_ms", KEY_INT, "1000", RESTART,
         "milliseconds between fsyncs with sync = interval"),
     FIELD(sync_interval_ms), .min = 1, .max = 60000},
    {ROW("log", "level", KEY_ENUM, "info", LIVE, "least severe event written to stderr"),
     FIELD(log_level), .names = level_names},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Enums and ints are stored through one int-sized copy. */
_Static_assert(sizeof(enum sync_mode) == sizeof(int), "enum sync_mode is not int-sized");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum log_level is not int-sized");

size_t
config_nkeys(void)
{
        return NKEYS;
}

const struct config_key *
config_key(size_t i)
{
        return i < NKEYS ? &keys[i].pub : NULL;
}

const char *
config_sync_name(enum sync_mode mode)
{
        return sync_names[mode];
}

static char *
field(struct config *cfg, const struct key *k)
{
        return (char *)cfg + k->off;
}

static const char *
cfield(const struct config *cfg, const struct key *k)
{
        return (const char *)cfg + k->off;
}

static int
get_int(const struct config *cfg, const struct key *k)
{
        int v;

        memcpy(&v, cfield(cfg, k), sizeof(v));
        return v;
}

static void
set_int(struct config *cfg, const struct key *k, int v)
{
        memcpy(field(cfg, k), &v, sizeof(v));
}

static int
set_string(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        size_t n = strlen(val);

        if (n >= k->size) {
                snprintf(why, len, "too long: %zu bytes, at most %zu", n, k->size - 1);
                return -1;
        }
        memcpy(field(cfg, k), val, n + 1);
        return 0;
}

static int
parse_path(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        size_t n = strlen(val);

        if (n == 0 || val[n - 1] == '/') {
                snprintf(why, len, "expected the path of a file, such as %s", k->pub.def);
                return -1;
        }
        return set_string(cfg, k, val, why, len);
}

static int
parse_socket(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        size_t n = strlen(val);

        if (n == 0 || val[n - 1] == '/') {
                snprintf(why, len, "expected the path of the unix socket file, such as %s",
                         k->pub.def);
                return -1;
        }
        if (n >= k->size) {
                snprintf(why, len,
                         "socket path too long: %zu bytes, a unix socket path holds at most %zu", n,
                         k->size - 1);
                return -1;
        }
        return set_string(cfg, k, val, why, len);
}

static int
parse_int(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        char *end;

        errno = 0;
        long v = strtol(val, &end, 10);
        if (*val == '\0' || *end != '\0' || errno != 0 || v < k->min || v > k->max) {
                snprintf(why, len, "expected an integer from %ld to %ld", k->min, k->max);
                return -1;
        }
        set_int(cfg, k, (int)v);
        return 0;
}

static void
join_names(const char *const *names, char *out, size_t len)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = 0; names[i] != NULL && n < len; i++)
                n += (size_t)snprintf(out + n, len - n, "%s%s", i ? ", " : "", names[i]);
}

static int
parse_enum(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        char all[128];

        for (int i = 0; k->names[i] != NULL; i++) {
                if (strcmp(val, k->names[i]) == 0) {
                        set_int(cfg, k, i);
                        return 0;
                }
        }
        join_names(k->names, all, sizeof(all));
        snprintf(why, len, "expected one of: %s", all);
        return -1;
}

static int
parse_mode(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        char *end;
        size_t n = strlen(val);

        errno = 0;
        unsigned long v = strtoul(val, &end, 8);
        if (n < 3 || n > 4 || *end != '\0' || errno != 0 || v > 0777) {
                snprintf(why, len, "expected an octal file mode such as 0660");
                return -1;
        }
        unsigned mode = (unsigned)v;
        memcpy(field(cfg, k), &mode, sizeof(mode));
        return 0;
}

static int
check_socket_mode(const struct config *cfg, char *why, size_t len)
{
        unsigned v = cfg->socket_mode;

        if (v & 0007) {
                snprintf(why, len,
                         "mode %04o lets every local user talk to the responder; "
                         "use 0660 or 0600 (no bits for others)",
                         v);
                return -1;
        }
        if ((v & 0600) != 0600) {
                snprintf(why, len, "mode %04o: the owner needs read and write (0600 at least)", v);
                return -1;
        }
        return 0;
}

static int
parse_zone(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        if (strlen(val) >= k->size) {
                snprintf(why, len, "expected a time zone name such as Europe/Moscow");
                return -1;
        }
        if (clock_zone_check(val, why, len) != 0)
                return -1;
        return set_string(cfg, k, val, why, len);
}

static int
parse_format(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        if (strlen(val) >= k->size) {
                snprintf(why, len, "format too long: at most %zu bytes", k->size - 1);
                return -1;
        }
        if (clock_format_check(val, why, len) != 0)
                return -1;
        return set_string(cfg, k, val, why, len);
}

static int
parse_value(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        switch (k->type) {
        case KEY_PATH: return parse_path(cfg, k, val, why, len);
        case KEY_SOCKET: return parse_socket(cfg, k, val, why, len);
        case KEY_INT: return parse_int(cfg, k, val, why, len);
        case KEY_ENUM: return parse_enum(cfg, k, val, why, len);
        case KEY_MODE: return parse_mode(cfg, k, val, why, len);
        case KEY_ZONE: return parse_zone(cfg, k, val, why, len);
        case KEY_FORMAT: return parse_format(cfg, k, val, why, len);
        }
        snprintf(why, len, "key of an unknown type");
        return -1;
}

int
config_value(const struct config *cfg, size_t i, char *out, size_t len)
{
        int n;

        if (i >= NKEYS)
                return -1;
        const struct key *k = &keys[i];
        switch (k->type) {
        case KEY_INT: n = snprintf(out, len, "%d", get_int(cfg, k)); break;
        case KEY_ENUM: n = snprintf(out, len, "%s", k->names[get_int(cfg, k)]); break;
        case KEY_MODE: {
                unsigned mode;
                memcpy(&mode, cfield(cfg, k), sizeof(mode));
                n = snprintf(out, len, "%04o", mode);
                break;
        }
        default: n = snprintf(out, len, "%s", cfield(cfg, k)); break;
        }
        return n >= 0 && (size_t)n < len ? n : -1;
}

int
config_differs(const struct config *a, const struct config *b, size_t i)
{
        char va[CONFIG_PATH_MAX], vb[CONFIG_PATH_MAX];

        if (config_value(a, i, va, sizeof(va)) < 0 || config_value(b, i, vb, sizeof(vb)) < 0)
                return i < NKEYS;
        return strcmp(va, vb) != 0;
}

int
config_print(const struct config *cfg, FILE *out)
{
        char val[CONFIG_PATH_MAX];

        for (size_t i = 0; i < NKEYS; i++) {
                if (config_value(cfg, i, val, sizeof(val)) < 0) {
                        errno = EOVERFLOW;
                        return -1;
                }
                if (fprintf(out, "[%s] %s = %s\n", keys[i].pub.section, keys[i].pub.name, val) < 0)
                        return -1;
        }
        return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

void
config_defaults(struct config *cfg)
{
        char why[256];

        memset(cfg, 0, sizeof(*cfg));
        for (size_t i = 0; i < NKEYS; i++) {
                /* The defaults are constants checked by the unit tests. */
                if (parse_value(cfg, &keys[i], keys[i].pub.def, why, sizeof(why)) != 0)
                        abort();
        }
}

static int
known_section(const char *name)
{
        for (size_t i = 0; i < NKEYS; i++) {
                if (strcmp(keys[i].pub.section, name) == 0)
                        return 1;
        }
        return 0;
}

static const struct key *
find_key(const char *section, const char *key)
{
        for (size_t i = 0; i < NKEYS; i++) {
                if (strcmp(keys[i].pub.section, section) == 0 && strcmp(keys[i].pub.name, key) == 0)
                        return &keys[i];
        }
        return NULL;
}

static void
known_sections(char *out, size_t len)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = 0; i < NKEYS && n < len; i++) {
                if (i > 0 && strcmp(keys[i - 1].pub.section, keys[i].pub.section) == 0)
                        continue;
                n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", keys[i].pub.section);
        }
}

static void
known_keys_of(const char *section, char *out, size_t len)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = 0; i < NKEYS && n < len; i++) {
                if (strcmp(keys[i].pub.section, section) == 0)
                        n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "",
                                              keys[i].pub.name);
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
        char known[256], sections[128];

        known_sections(sections, sizeof(sections));
        ssize_t g = global_key(d);
        if (g >= 0) {
                char gkey[128], gval[256];
                printable(d->key[g] + 1, gkey, sizeof(gkey));
                printable(d->val[g] ? d->val[g] : "", gval, sizeof(gval));
                snprintf(err, errlen,
                         "%s: %s = \"%s\": a key appears before any [section]; "
                         "expected sections: %s",
                         path, gkey, gval, sections);
                return -1;
        }
        for (int i = 0; i < nsec; i++) {
                const char *sec = iniparser_getsecname(d, i);
                if (!known_section(sec)) {
                        snprintf(err, errlen, "%s: [%s]: unknown section; expected one of: %s",
                                 path, sec, sections);
                        return -1;
                }
                int nk = iniparser_getsecnkeys(d, sec);
                if (nk <= 0)
                        continue;
                const char *names[NKEYS];
                if (nk > (int)NKEYS) {
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

static void
key_error(const char *path, const struct key *k, const char *val, const char *why, char *err,
          size_t errlen)
{
        char shown[256];

        printable(val, shown, sizeof(shown));
        snprintf(err, errlen, "%s: [%s] %s = \"%s\": %s", path, k->pub.section, k->pub.name, shown,
                 why);
}

static int
apply_values(const char *path, const dictionary *d, struct config *cfg, char *err, size_t errlen)
{
        char name[64], why[256], val[CONFIG_PATH_MAX];

        for (size_t i = 0; i < NKEYS; i++) {
                const struct key *k = &keys[i];
                snprintf(name, sizeof(name), "%s:%s", k->pub.section, k->pub.name);
                const char *text = iniparser_getstring(d, name, NULL);
                if (text != NULL && parse_value(cfg, k, text, why, sizeof(why)) != 0) {
                        key_error(path, k, text, why, err, errlen);
                        return -1;
                }
        }
        for (size_t i = 0; i < NKEYS; i++) {
                const struct key *k = &keys[i];
                if (k->check == NULL || k->check(cfg, why, sizeof(why)) == 0)
                        continue;
                snprintf(name, sizeof(name), "%s:%s", k->pub.section, k->pub.name);
                const char *text = iniparser_getstring(d, name, NULL);
                if (text == NULL && config_value(cfg, i, val, sizeof(val)) >= 0)
                        text = val;
                key_error(path, k, text ? text : "", why, err, errlen);
                return -1;
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
