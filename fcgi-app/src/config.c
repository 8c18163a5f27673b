/*
 * config.ini -> struct config, driven by one table of keys (in the manner of
 * Redis's config.c): each row names a key and gives its type with its bounds
 * or names, its default, one line of help, its checks against the rest of
 * the configuration and the system, and what applying a new value to a
 * running responder means (config.h: enum config_apply). Parsing,
 * validation, the defaults, the messages, reloads and --print-config/
 * --print-keys all read the table, so none of them knows a key the others
 * do not; the defaults go through the same parsers as the file's values.
 * Reading the file is ini_strict.c's: iniparser reads it, after the strict
 * reader has refused what iniparser would misread.
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
#include "ini_strict.h"
#include "peerlist.h"

enum key_type {
        KEY_PATH,     /* a file's path: not empty, not ending in '/' */
        KEY_SOCKET,   /* a unix socket's path: a KEY_PATH that fits in sun_path */
        KEY_INT,      /* a decimal integer from min to max */
        KEY_ENUM,     /* one of names, stored as its index */
        KEY_MODE,     /* an octal file mode of 3 or 4 digits */
        KEY_ZONE,     /* a zone of the system tz database */
        KEY_FORMAT,   /* a strftime format */
        KEY_NAME,     /* a pod name, or empty */
        KEY_PEERS,    /* host:port, host:port; or empty */
        KEY_DISCOVER, /* _port._tcp.service or service:port; or empty */
};

/*
 * Each key_type's name as a string literal: the static key table takes it by
 * token (a const array's element is no constant expression in C; gcc folds
 * one anyway, clang, which builds the fuzzers, refuses it).
 */
#define TYPE_NAME_KEY_PATH     "path"
#define TYPE_NAME_KEY_SOCKET   "socket path"
#define TYPE_NAME_KEY_INT      "int"
#define TYPE_NAME_KEY_ENUM     "enum"
#define TYPE_NAME_KEY_MODE     "octal mode"
#define TYPE_NAME_KEY_ZONE     "time zone"
#define TYPE_NAME_KEY_FORMAT   "strftime format"
#define TYPE_NAME_KEY_NAME     "pod name"
#define TYPE_NAME_KEY_PEERS    "host:port list"
#define TYPE_NAME_KEY_DISCOVER "DNS name"

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
static int check_zone(const struct config *cfg, char *why, size_t len);
static int check_format(const struct config *cfg, char *why, size_t len);
static int check_discover(const struct config *cfg, char *why, size_t len);

#define FIELD(f) .off = offsetof(struct config, f), .size = sizeof(((struct config *)0)->f)
#define RESTART  CONFIG_APPLY_RESTART
#define ROW(sec, key, kind, dflt, apply_kind, text)                                                \
        .pub = {.section = (sec),                                                                  \
                .name = (key),                                                                     \
                .type = TYPE_NAME_##kind,                                                          \
                .def = (dflt),                                                                     \
                .help = (text),                                                                    \
                .apply = (apply_kind),                                                             \
                .live = (apply_kind) != CONFIG_APPLY_RESTART},                                     \
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
     FIELD(timezone), .check = check_zone},
    {ROW("clock", "format", KEY_FORMAT, "%Y-%m-%d %H:%M:%S %Z", CONFIG_APPLY_FORMAT,
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
    {ROW("log", "level", KEY_ENUM, "info", CONFIG_APPLY_LOG,
         "least severe event written to stderr"),
     FIELD(log_level), .names = level_names},
    {ROW("cluster", "name", KEY_NAME, "", RESTART,
         "this pod's name in every answer and on the page; empty: the hostname"),
     FIELD(cluster_name)},
    {ROW("cluster", "peers", KEY_PEERS, "", CONFIG_APPLY_CLUSTER,
         "host:port of each pod's nginx, comma-separated; empty: a one-pod service"),
     FIELD(cluster_peers)},
    {ROW("cluster", "discover", KEY_DISCOVER, "", CONFIG_APPLY_CLUSTER,
         "find the pods in DNS at every poll: _PORTNAME._tcp.SERVICE (SRV) or SERVICE:PORT "
         "(A records); empty: peers"),
     FIELD(cluster_discover), .check = check_discover},
    {ROW("cluster", "poll_interval_ms", KEY_INT, "1000", CONFIG_APPLY_CLUSTER,
         "milliseconds from one poll of the peers' counts to the next"),
     FIELD(cluster_poll_interval_ms), .min = 100, .max = 600000},
    {ROW("cluster", "timeout_ms", KEY_INT, "500", CONFIG_APPLY_CLUSTER,
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
        return set_string(cfg, k, val, why, len);
}

/* The zone's file is looked for here, not when parsing: the default zone need not exist. */
static int
check_zone(const struct config *cfg, char *why, size_t len)
{
        return clock_zone_check(cfg->timezone, why, len);
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
        if (*val != '\0' && peer_name_check(val, why, len) != 0)
                return -1;
        return set_string(cfg, k, val, why, len);
}

static int
parse_peers(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        struct peer_list *list = malloc(sizeof(*list));

        if (list == NULL) {
                snprintf(why, len, "%s", strerror(errno));
                return -1;
        }
        int rc = peer_list_parse(val, list, why, len);
        free(list);
        if (rc != 0)
                return -1;
        return set_string(cfg, k, val, why, len);
}

static int
parse_discover(struct config *cfg, const struct key *k, const char *val, char *why, size_t len)
{
        struct peer_discover d;

        if (peer_discover_parse(val, &d, why, len) != 0)
                return -1;
        return set_string(cfg, k, val, why, len);
}

/* A pod polled both as listed and as found would be two targets of one pod. */
static int
check_discover(const struct config *cfg, char *why, size_t len)
{
        if (cfg->cluster_discover[0] == '\0' ||
            cfg->cluster_peers[strspn(cfg->cluster_peers, " \t")] == '\0')
                return 0;
        snprintf(why, len,
                 "[cluster] peers is set too; set one of them: discover finds the pods in "
                 "DNS, peers lists them");
        return -1;
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
        case KEY_DISCOVER: return parse_discover(cfg, k, val, why, len);
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
                /*
                 * The defaults are constants of the program, checked by the
                 * unit tests; parsing looks at no file, so only a broken
                 * table can fail here.
                 */
                if (parse_value(cfg, &keys[i], keys[i].pub.def, why, sizeof(why)) != 0)
                        abort();
        }
}

/* Key i's check against cfg, with a message that names the key and its value. */
static int
check_key(const struct config *cfg, size_t i, unsigned line, struct ini_doc *d)
{
        const struct key *k = &keys[i];
        char why[512], shown[1024], val[CONFIG_PATH_MAX];

        if (k->check == NULL || k->check(cfg, why, sizeof(why)) == 0)
                return 0;
        config_value(cfg, i, val, sizeof(val));
        ini_printable(val, shown, sizeof(shown));
        if (line != 0)
                return ini_fail(d, line, "[%s] %s = \"%s\": %s", k->pub.section, k->pub.name, shown,
                                why);
        return ini_fail(d, 0, "[%s] %s = \"%s\"%s: %s", k->pub.section, k->pub.name, shown,
                        d->set != NULL ? " (the default)" : "", why);
}

/* iniparser's values of the keys the file sets, into cfg; then every key's checks. */
static int
apply(struct ini_doc *d, const dictionary *dict, struct config *cfg)
{
        char why[512], shown[1024], name[64];

        for (size_t i = 0; i < NKEYS; i++) {
                const struct key *k = &keys[i];
                if (d->set[i].line == 0)
                        continue;
                snprintf(name, sizeof(name), "%s:%s", k->pub.section, k->pub.name);
                const char *val = iniparser_getstring(dict, name, "");
                ini_printable(val, shown, sizeof(shown));
                for (const char *c = val; *c; c++) {
                        if ((unsigned char)*c < 0x20 || *c == 0x7f)
                                return ini_fail(d, d->set[i].line,
                                                "[%s] %s = \"%s\": a control character (\\x%02x) "
                                                "in the value",
                                                k->pub.section, k->pub.name, shown,
                                                (unsigned char)*c);
                }
                if (parse_value(cfg, k, val, why, sizeof(why)) != 0)
                        return ini_fail(d, d->set[i].line, "[%s] %s = \"%s\": %s", k->pub.section,
                                        k->pub.name, shown, why);
        }
        for (size_t i = 0; i < NKEYS; i++) {
                if (check_key(cfg, i, d->set[i].line, d) != 0)
                        return -1;
        }
        return 0;
}

int
config_load_lines(const char *path, struct config *cfg, unsigned *lines, char *err, size_t errlen)
{
        struct ini_key names[NKEYS];
        struct ini_setting set[NKEYS] = {{0}};
        unsigned section_line[NKEYS] = {0};
        struct ini_doc d = {.path = path,
                            .err = err,
                            .errlen = errlen,
                            .keys = names,
                            .nkeys = NKEYS,
                            .set = set,
                            .section_line = section_line};
        int rc = -1;

        /* d.keys reads them: cppcheck does not follow the pointer. */
        for (size_t i = 0; i < NKEYS; i++) {
                // cppcheck-suppress unreadVariable
                names[i].section = keys[i].pub.section;
                // cppcheck-suppress unreadVariable
                names[i].name = keys[i].pub.name;
        }
        config_defaults(cfg);
        dictionary *dict = ini_strict_load(&d);
        if (dict != NULL) {
                rc = apply(&d, dict, cfg);
                iniparser_freedict(dict);
        }
        for (size_t i = 0; lines != NULL && i < NKEYS; i++)
                lines[i] = rc == 0 ? set[i].line : 0;
        return rc;
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
        return config_load_lines(path, cfg, NULL, err, errlen);
}

int
config_check(const struct config *cfg, const char *path, char *err, size_t errlen)
{
        struct ini_doc d = {.path = path, .err = err, .errlen = errlen};

        for (size_t i = 0; i < NKEYS; i++) {
                if (check_key(cfg, i, 0, &d) != 0)
                        return -1;
        }
        return 0;
}

void
config_take(struct config *to, const struct config *from, size_t i)
{
        if (i < NKEYS)
                memcpy((char *)to + keys[i].off, (const char *)from + keys[i].off, keys[i].size);
}
