/*
 * config.ini -> struct config, driven by one table of keys (in the manner of
 * Redis's config.c): each row names a key and gives its type with its bounds
 * or names, its default, one line of help and whether a running responder
 * can take a new value. Parsing, validation, the defaults, the messages and
 * --print-config all read the table, so none of them knows a key the others
 * do not; the defaults go through the same parsers as the file's values.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iniparser.h>

#include "clock.h"
#include "cluster.h"

enum key_type {
        KEY_PATH,   /* a file's path: not empty, not ending in '/' */
        KEY_SOCKET, /* a unix socket's path: a KEY_PATH that fits in sun_path */
        KEY_INT,    /* a decimal integer from min to max */
        KEY_ENUM,   /* one of names, stored as its index */
        KEY_MODE,   /* an octal file mode of 3 or 4 digits */
        KEY_ZONE,   /* a zone of the system tz database */
        KEY_FORMAT, /* a strftime format */
        KEY_NAME,   /* a pod name, or empty */
        KEY_PEERS,  /* host:port, host:port; or empty */
};

/*
 * Each key_type's name as a string literal: the static key table takes it by
 * token (a const array's element is no constant expression in C; gcc folds
 * one anyway, clang, which builds the fuzzers, refuses it).
 */
#define TYPE_NAME_KEY_PATH   "path"
#define TYPE_NAME_KEY_SOCKET "socket path"
#define TYPE_NAME_KEY_INT    "int"
#define TYPE_NAME_KEY_ENUM   "enum"
#define TYPE_NAME_KEY_MODE   "octal mode"
#define TYPE_NAME_KEY_ZONE   "time zone"
#define TYPE_NAME_KEY_FORMAT "strftime format"
#define TYPE_NAME_KEY_NAME   "pod name"
#define TYPE_NAME_KEY_PEERS  "host:port list"

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
static const char *const bool_names[] = {"false", "true", NULL};

static int check_socket_mode(const struct config *cfg, char *why, size_t len);
static int check_format(const struct config *cfg, char *why, size_t len);

#define FIELD(f) .off = offsetof(struct config, f), .size = sizeof(((struct config *)0)->f)
#define LIVE     1
#define RESTART  0
#define ROW(sec, key, kind, dflt, flag, text)                                                      \
        .pub = {.section = (sec),                                                                  \
                .name = (key),                                                                     \
                .type = TYPE_NAME_##kind,                                                          \
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
     FIELD(time_format), .check = check_format},
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
    {ROW("cluster", "name", KEY_NAME, "", RESTART,
         "this pod's name in every answer and on the page; empty: the hostname"),
     FIELD(cluster_name)},
    {ROW("cluster", "peers", KEY_PEERS, "", LIVE,
         "host:port of each pod's nginx, comma-separated; empty: a one-pod service"),
     FIELD(cluster_peers)},
    {ROW("cluster", "poll_interval_ms", KEY_INT, "1000", LIVE,
         "milliseconds from one poll of the peers' counts to the next"),
     FIELD(cluster_poll_interval_ms), .min = 100, .max = 600000},
    {ROW("cluster", "timeout_ms", KEY_INT, "500", LIVE,
         "milliseconds a peer has to answer a poll, connecting included"),
     FIELD(cluster_timeout_ms), .min = 10, .max = 60000},
    {ROW("metrics", "enabled", KEY_ENUM, "true", RESTART,
         "Prometheus metrics on /metrics: true or false"),
     FIELD(metrics_enabled), .names = bool_names},
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
        return set_string(cfg, k, val, why, len);
}

/* In the configured zone, not the process's: each zone has abbreviations of its own. */
static int
check_format(const struct config *cfg, char *why, size_t len)
{
        return clock_format_check(cfg->time_format, cfg->timezone, why, len);
}

static int
parse_name(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        if (*val != '\0' && cluster_name_check(val, why, len) != 0)
                return -1;
        return set_string(cfg, k, val, why, len);
}

static int
parse_peers(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        struct cluster_peer_list *list = malloc(sizeof(*list));

        if (list == NULL) {
                snprintf(why, len, "%s", strerror(errno));
                return -1;
        }
        int rc = cluster_parse_peers(val, list, why, len);
        free(list);
        if (rc != 0)
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
        case KEY_NAME: return parse_name(cfg, k, val, why, len);
        case KEY_PEERS: return parse_peers(cfg, k, val, why, len);
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

int
config_print_keys(FILE *out)
{
        for (size_t i = 0; i < NKEYS; i++) {
                const struct config_key *k = &keys[i].pub;
                if (fprintf(out, "[%s] %s\t%s\t%s\t%s\t%s\n", k->section, k->name,
                            k->live ? "live" : "restart", k->type, k->def, k->help) < 0)
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

/*
 * Loading. iniparser alone would silently read some files as something else
 * (an inline comment cuts a value, the last of two equal keys wins, a line
 * ending in a backslash eats the next one), and reports no line for what it
 * accepts. So the file is read once, here, and scanned line by line with
 * iniparser's own grammar: every line must be a [section], a key = value or
 * a comment, and every name known and given once. Then iniparser reads the
 * same bytes, and each value it returns must be the whole value the line
 * holds; whatever differs is refused, naming the line.
 */

#define FILE_MAX     65536 /* a config.ini is a few dozen lines */
#define INI_LINE_MAX 1022  /* iniparser's fgets() takes 1023 bytes with the newline */

/* What the file says for one key. */
struct setting {
        unsigned line; /* 0: not in the file */
        char *raw;     /* the text after '=', trimmed, in the file's buffer */
};

struct doc {
        const char *path;
        char *err;
        size_t errlen;
        struct setting set[NKEYS];
        unsigned section_line[NKEYS]; /* by the index of the section's first key */
        size_t nsections;
};

__attribute__((format(printf, 3, 4))) static int
fail(struct doc *d, unsigned line, const char *fmt, ...)
{
        int n = line ? snprintf(d->err, d->errlen, "%s:%u: ", d->path, line)
                     : snprintf(d->err, d->errlen, "%s: ", d->path);

        if (n >= 0 && (size_t)n < d->errlen) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
                va_end(ap);
        }
        return -1;
}

/* Length of the UTF-8 character at s that is safe to show as it is, or 0. */
static size_t
utf8_printable(const unsigned char *s)
{
        size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;

        if (s[0] < 0xc2 || s[0] > 0xf4)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        }
        if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
            (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
                return 0; /* overlong, surrogate or past U+10FFFF */
        if (s[0] == 0xc2 && s[1] < 0xa0)
                return 0; /* C1 controls */
        if (s[0] == 0xe2 && ((s[1] == 0x80 && s[2] >= 0xa8 && s[2] <= 0xae) ||
                             (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9)))
                return 0; /* line separators and bidirectional overrides */
        return n;
}

/*
 * Copies s into out for a one-line message: control characters, quotes,
 * backslashes and anything that is not plain UTF-8 become \xNN, so that
 * nothing in a config file can reach the terminal raw.
 */
static void
printable(const char *s, char *out, size_t len)
{
        size_t n = 0;

        while (*s && n + 5 < len) {
                const unsigned char *c = (const unsigned char *)s;
                size_t u = *c >= 0x80 ? utf8_printable(c) : 0;
                if (u > 0 && n + u < len) {
                        memcpy(out + n, s, u);
                        n += u;
                        s += u;
                } else if (*c < 0x20 || *c >= 0x7f || *c == '"' || *c == '\\') {
                        n += (size_t)snprintf(out + n, len - n, "\\x%02x", *c);
                        s++;
                } else {
                        out[n++] = *s++;
                }
        }
        out[n] = '\0';
}

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

static void
lower(char *s)
{
        for (; *s; s++)
                *s = (char)tolower((unsigned char)*s);
}

/* Index of the first key of section name, or -1. */
static ssize_t
section_index(const char *name)
{
        for (size_t i = 0; i < NKEYS; i++) {
                if (strcmp(keys[i].pub.section, name) == 0)
                        return (ssize_t)i;
        }
        return -1;
}

static ssize_t
key_index(size_t section, const char *name)
{
        for (size_t i = section;
             i < NKEYS && strcmp(keys[i].pub.section, keys[section].pub.section) == 0; i++) {
                if (strcmp(keys[i].pub.name, name) == 0)
                        return (ssize_t)i;
        }
        return -1;
}

static void
known_sections(char *out, size_t len)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = 0; i < NKEYS && n < len; i++) {
                if (i == 0 || strcmp(keys[i - 1].pub.section, keys[i].pub.section) != 0)
                        n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "",
                                              keys[i].pub.section);
        }
}

static void
known_keys_of(size_t section, char *out, size_t len)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = section; i < NKEYS && n < len; i++) {
                if (strcmp(keys[i].pub.section, keys[section].pub.section) == 0)
                        n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "",
                                              keys[i].pub.name);
        }
}

static int
scan_section(struct doc *d, unsigned line, char *s, size_t slen, ssize_t *section)
{
        s[slen - 1] = '\0';
        char *name = trim(s + 1);
        lower(name);
        *section = section_index(name);
        if (*section < 0) {
                char shown[256], known[128];
                printable(name, shown, sizeof(shown));
                known_sections(known, sizeof(known));
                return fail(d, line, "[%s]: unknown section; expected one of: %s", shown, known);
        }
        unsigned *first = &d->section_line[*section];
        if (*first != 0)
                return fail(d, line,
                            "[%s]: the section appears again (first at line %u); keep its keys "
                            "under one [%s]",
                            name, *first, name);
        *first = line;
        d->nsections++;
        return 0;
}

static int
scan_key(struct doc *d, unsigned line, char *s, ssize_t section)
{
        char shown[256], val[1024], known[128];
        char *eq = strchr(s, '=');

        if (eq == NULL || eq == s) {
                printable(s, shown, sizeof(shown));
                return fail(d, line,
                            "syntax error: \"%s\" is not a [section], a key = value or a comment "
                            "(; or #)",
                            shown);
        }
        *eq = '\0';
        char *name = trim(s), *raw = trim(eq + 1);
        lower(name);
        printable(name, shown, sizeof(shown));
        printable(raw, val, sizeof(val));
        if (section < 0) {
                known_sections(known, sizeof(known));
                return fail(d, line,
                            "%s = \"%s\": a key before any [section]; expected sections: %s", shown,
                            val, known);
        }
        const char *sec = keys[section].pub.section;
        ssize_t k = key_index((size_t)section, name);
        if (k < 0) {
                known_keys_of((size_t)section, known, sizeof(known));
                return fail(d, line, "[%s] %s = \"%s\": unknown key; expected one of: %s", sec,
                            shown, val, known);
        }
        struct setting *set = &d->set[k];
        if (set->line != 0)
                return fail(d, line,
                            "[%s] %s = \"%s\": set again (first at line %u); keep one of them", sec,
                            shown, val, set->line);
        set->line = line;
        set->raw = raw;
        return 0;
}

/* One line of the file, NUL-terminated in place; n is its length. */
static int
scan_line(struct doc *d, unsigned line, char *text, size_t n, ssize_t *section)
{
        if (memchr(text, '\0', n) != NULL)
                return fail(d, line, "a NUL byte; config.ini must be text");
        if (n > INI_LINE_MAX)
                return fail(d, line, "longer than %d bytes, more than iniparser reads in a line",
                            INI_LINE_MAX);
        text[n] = '\0';
        char *s = trim(text);
        size_t slen = strlen(s);
        if (slen == 0)
                return 0;
        if (s[slen - 1] == '\\')
                return fail(
                    d, line,
                    "the line ends with a backslash, which makes iniparser join the next "
                    "line to it; remove the backslash (or quote the value that ends in one)");
        if (s[0] == ';' || s[0] == '#')
                return 0;
        if (s[0] == '[' && s[slen - 1] == ']')
                return scan_section(d, line, s, slen, section);
        return scan_key(d, line, s, *section);
}

static int
scan(struct doc *d, char *buf, size_t size)
{
        ssize_t section = -1;
        unsigned line = 1;

        if (size >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
                return fail(d, 1,
                            "the file starts with a UTF-8 byte order mark, which iniparser does "
                            "not skip; save it as UTF-8 without one");
        for (char *p = buf, *end = buf + size; p < end; line++) {
                char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
                if (scan_line(d, line, p, n, &section) != 0)
                        return -1;
                p += n + 1;
        }
        return 0;
}

/*
 * The value raw means: what is inside its quotes when it is one quoted
 * string ("..." or '...', no quote of the same kind inside), else all of it.
 * Returns a pointer to it, in val when it had quotes.
 */
static const char *
unquote(const char *raw, char *val, size_t len)
{
        size_t n = strlen(raw);

        if (n < 2 || (raw[0] != '"' && raw[0] != '\'') || raw[n - 1] != raw[0] ||
            memchr(raw + 1, raw[0], n - 2) != NULL || n - 2 >= len)
                return raw;
        memcpy(val, raw + 1, n - 2);
        val[n - 2] = '\0';
        return val;
}

static int
compare_setting(struct doc *d, const dictionary *dict, size_t i, const char *val)
{
        const struct key *k = &keys[i];
        const struct setting *set = &d->set[i];
        char name[64], shown[1024], read[1024];

        snprintf(name, sizeof(name), "%s:%s", k->pub.section, k->pub.name);
        const char *got = iniparser_getstring(dict, name, NULL);
        if (got != NULL && strcmp(got, val) == 0)
                return 0;
        printable(set->raw, shown, sizeof(shown));
        printable(got ? got : "", read, sizeof(read));
        const char *cut = strpbrk(set->raw, ";#");
        if (val == set->raw && cut != NULL && set->raw[0] != '"' && set->raw[0] != '\'')
                return fail(d, set->line,
                            "[%s] %s = \"%s\": a '%c' inside a value starts a comment for "
                            "iniparser, which would read \"%s\"; quote the value to keep it "
                            "whole, or put the comment on a line of its own",
                            k->pub.section, k->pub.name, shown, *cut, read);
        return fail(d, set->line,
                    "[%s] %s = \"%s\": iniparser would read \"%s\"; a quoted value ends with its "
                    "closing quote and holds no other quote of its kind",
                    k->pub.section, k->pub.name, shown, read);
}

/*
 * iniparser reports syntax errors through a printf-like callback with no user
 * pointer, so the message is parked here. Loading happens in one thread at a
 * time (at start, or the one that reloads), before iniparser is used again.
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

/*
 * iniparser opens files by name: give it the open descriptor's, so that it
 * reads the very file scanned even if the path is swapped meanwhile (a
 * ConfigMap update). Without /proc it gets the path, and compare() refuses
 * whatever then differs.
 */
static dictionary *
ini_load(struct doc *d, int fd, const struct stat *st)
{
        char name[64];
        struct stat again;
        const char *path = d->path;

        snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
        if (stat(name, &again) == 0 && again.st_dev == st->st_dev && again.st_ino == st->st_ino)
                path = name;
        ini_error[0] = '\0';
        iniparser_set_error_callback(ini_error_cb);
        dictionary *dict = iniparser_load(path);
        iniparser_set_error_callback(NULL);
        if (dict == NULL) {
                char msg[sizeof(ini_error)];
                printable(ini_error, msg, sizeof(msg));
                fail(d, 0, "iniparser could not read it: %s", msg[0] ? msg : "no reason given");
        }
        return dict;
}

static int
compare(struct doc *d, const dictionary *dict, const char *const *vals)
{
        size_t n = d->nsections;

        for (size_t i = 0; i < NKEYS; i++) {
                if (d->set[i].line == 0)
                        continue;
                if (compare_setting(d, dict, i, vals[i]) != 0)
                        return -1;
                n++;
        }
        if (dict->n < 0 || (size_t)dict->n != n)
                return fail(d, 0, "iniparser read %d entries where the lines hold %zu", dict->n, n);
        return 0;
}

static const char *
file_kind(mode_t mode)
{
        switch (mode & S_IFMT) {
        case S_IFIFO: return " (a FIFO)";
        case S_IFDIR: return " (a directory)";
        case S_IFCHR: return " (a character device)";
        case S_IFBLK: return " (a block device)";
        case S_IFSOCK: return " (a socket)";
        default: return "";
        }
}

/*
 * Opens path without waiting (a FIFO would block until a writer came) and
 * refuses anything but a regular file, before and after opening it.
 */
static int
open_config(struct doc *d, struct stat *st)
{
        if (stat(d->path, st) == 0 && !S_ISREG(st->st_mode))
                return fail(d, 0, "cannot read the configuration: not a regular file%s",
                            file_kind(st->st_mode));
        int fd = open(d->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return fail(d, 0, "cannot read the configuration: %s", strerror(errno));
        if (fstat(fd, st) != 0) {
                fail(d, 0, "cannot read the configuration: fstat: %s", strerror(errno));
        } else if (!S_ISREG(st->st_mode)) {
                fail(d, 0, "cannot read the configuration: not a regular file%s",
                     file_kind(st->st_mode));
        } else if (st->st_size > FILE_MAX) {
                fail(d, 0,
                     "cannot read the configuration: %lld bytes, more than the %d a config.ini may "
                     "have",
                     (long long)st->st_size, FILE_MAX);
        } else {
                return fd;
        }
        close(fd);
        return -1;
}

static ssize_t
read_config(struct doc *d, int fd, char *buf, size_t cap)
{
        size_t n = 0;

        while (n < cap) {
                ssize_t r = read(fd, buf + n, cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return fail(d, 0, "cannot read the configuration: %s", strerror(errno));
                if (r == 0)
                        return (ssize_t)n;
                n += (size_t)r;
        }
        return fail(d, 0,
                    "cannot read the configuration: more than the %d bytes a config.ini may have",
                    FILE_MAX);
}

static int
apply(struct doc *d, struct config *cfg, const char *const *vals)
{
        char why[512], shown[1024], val[CONFIG_PATH_MAX];

        for (size_t i = 0; i < NKEYS; i++) {
                const struct key *k = &keys[i];
                if (d->set[i].line == 0)
                        continue;
                printable(vals[i], shown, sizeof(shown));
                for (const char *c = vals[i]; *c; c++) {
                        if ((unsigned char)*c < 0x20 || *c == 0x7f)
                                return fail(d, d->set[i].line,
                                            "[%s] %s = \"%s\": a control character (\\x%02x) in "
                                            "the value",
                                            k->pub.section, k->pub.name, shown, (unsigned char)*c);
                }
                if (parse_value(cfg, k, vals[i], why, sizeof(why)) != 0)
                        return fail(d, d->set[i].line, "[%s] %s = \"%s\": %s", k->pub.section,
                                    k->pub.name, shown, why);
        }
        for (size_t i = 0; i < NKEYS; i++) {
                const struct key *k = &keys[i];
                if (k->check == NULL || k->check(cfg, why, sizeof(why)) == 0)
                        continue;
                if (d->set[i].line != 0) {
                        printable(vals[i], shown, sizeof(shown));
                        return fail(d, d->set[i].line, "[%s] %s = \"%s\": %s", k->pub.section,
                                    k->pub.name, shown, why);
                }
                config_value(cfg, i, val, sizeof(val));
                printable(val, shown, sizeof(shown));
                return fail(d, 0, "[%s] %s = \"%s\" (the default): %s", k->pub.section, k->pub.name,
                            shown, why);
        }
        return 0;
}

/* The scanned file's values against iniparser's, then into cfg. */
static int
compare_and_apply(struct doc *d, int fd, const struct stat *st, struct config *cfg)
{
        char quoted[NKEYS][INI_LINE_MAX + 1];
        const char *vals[NKEYS];

        for (size_t i = 0; i < NKEYS; i++)
                vals[i] =
                    d->set[i].line ? unquote(d->set[i].raw, quoted[i], sizeof(quoted[i])) : NULL;
        dictionary *dict = ini_load(d, fd, st);
        if (dict == NULL)
                return -1;
        int rc = compare(d, dict, vals);
        iniparser_freedict(dict);
        return rc == 0 ? apply(d, cfg, vals) : -1;
}

/* Everything after the file is open: scan, let iniparser read it, compare, apply. */
static int
load_fd(struct doc *d, int fd, const struct stat *st, struct config *cfg)
{
        char *buf = malloc(FILE_MAX + 1);
        int rc = -1;

        if (buf == NULL)
                return fail(d, 0, "cannot read the configuration: %s", strerror(errno));
        ssize_t n = read_config(d, fd, buf, FILE_MAX + 1);
        if (n >= 0 && scan(d, buf, (size_t)n) == 0)
                rc = compare_and_apply(d, fd, st, cfg);
        free(buf);
        return rc;
}

int
config_load_lines(const char *path, struct config *cfg, unsigned *lines, char *err, size_t errlen)
{
        struct doc d = {.path = path, .err = err, .errlen = errlen};
        struct stat st;

        config_defaults(cfg);
        int fd = open_config(&d, &st);
        if (fd < 0)
                return -1;
        int rc = load_fd(&d, fd, &st, cfg);
        close(fd);
        for (size_t i = 0; lines != NULL && i < NKEYS; i++)
                lines[i] = rc == 0 ? d.set[i].line : 0;
        return rc;
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
        return config_load_lines(path, cfg, NULL, err, errlen);
}

void
config_cluster_settings(const struct config *cfg, struct cluster_settings *out)
{
        memset(out, 0, sizeof(*out));
        snprintf(out->name, sizeof(out->name), "%s", cfg->cluster_name);
        snprintf(out->peers, sizeof(out->peers), "%s", cfg->cluster_peers);
        out->poll_interval_ms = cfg->cluster_poll_interval_ms;
        out->timeout_ms = cfg->cluster_timeout_ms;
}
