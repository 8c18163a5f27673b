#ifndef MT_CONFIG_H
#define MT_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "peerlist.h"

#define CONFIG_SOCKET_MAX 108 /* sizeof(((struct sockaddr_un *)0)->sun_path) */
#define CONFIG_PATH_MAX   4096
#define CONFIG_ZONE_MAX   128
#define CONFIG_FORMAT_MAX 128

enum sync_mode { SYNC_ALWAYS, SYNC_INTERVAL, SYNC_NEVER };

struct config {
        char socket_path[CONFIG_SOCKET_MAX];
        unsigned socket_mode;
        int workers;
        char timezone[CONFIG_ZONE_MAX];
        char time_format[CONFIG_FORMAT_MAX];
        char counter_path[CONFIG_PATH_MAX];
        enum sync_mode sync;
        int sync_interval_ms;
        enum log_level log_level;
        char cluster_name[PEER_NAME_MAX];
        char cluster_peers[PEER_TEXT_MAX];
        char cluster_discover[PEER_HOST_MAX];
        int cluster_poll_interval_ms;
        int cluster_timeout_ms;
        int metrics_enabled;
};

/*
 * What applying a new value to a running responder means, per key (a row
 * of the key table). Keys of one kind are applied together by one function
 * of reload.c: config.c sits below everything it configures and names no
 * module above it, so the table names the kind and reload.c, at the top,
 * maps each kind to the module it reaches (Redis's config.c calls its apply
 * functions directly, being at the top itself). A new live key of an
 * existing kind is one row here; a new kind is a row and one function there.
 */
enum config_apply {
        CONFIG_APPLY_RESTART = 0, /* read at start only: a reload logs it as not applied */
        CONFIG_APPLY_LOG,         /* the log level: at once */
        CONFIG_APPLY_FORMAT,      /* the page's time format: each worker at its next request */
        CONFIG_APPLY_CLUSTER,     /* peers and polling: the poller at its next round */
        CONFIG_APPLY_KINDS
};

/* What a row of the key table tells the rest of the program. */
struct config_key {
        const char *section;
        const char *name;
        const char *type; /* "path", "int", "enum", ...: what the value must be */
        const char *def;  /* the default, as written in config.ini */
        const char *help; /* one line */
        enum config_apply apply;
        int live; /* apply != CONFIG_APPLY_RESTART */
};

/* Fills cfg with the built-in defaults (the same values the example config.ini documents). */
void config_defaults(struct config *cfg);

/*
 * Loads path into cfg. On failure returns -1 and leaves one line in err that
 * names the file and line, the "[section] key", the bad value and what was
 * expected. Touches no process-wide state but iniparser's error callback.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);

/*
 * config_load(), and when lines is not NULL, lines[i] = the line of path that
 * set key i, 0 for a key left at its default (config_nkeys() entries).
 */
int config_load_lines(const char *path, struct config *cfg, unsigned *lines, char *err,
                      size_t errlen);

/* The key table, in its order (the order of --print-config): NULL past the end. */
size_t config_nkeys(void);
const struct config_key *config_key(size_t i);

/*
 * Key i's value in cfg as the responder uses it and --print-config prints it
 * (0660 for a mode, a name for an enum). Returns its length, or -1 if i is
 * past the end or the text did not fit in len.
 */
int config_value(const struct config *cfg, size_t i, char *out, size_t len);

/* 1 if a and b differ in key i (what a reload must apply or refuse), else 0. */
int config_differs(const struct config *a, const struct config *b, size_t i);

/* Copies key i's value from one configuration to another. */
void config_take(struct config *to, const struct config *from, size_t i);

/*
 * Every key's checks against the rest of cfg and the system (the zone's
 * file, the format in that zone, the socket's mode), as loading runs them:
 * a reload runs them again on the configuration that will be in force after
 * it. 0, or -1 with one line in err naming path and the key.
 */
int config_check(const struct config *cfg, const char *path, char *err, size_t errlen);

/* Writes "[section] key = value\n" for every key, in table order. 0, or -1 with errno. */
int config_print(const struct config *cfg, FILE *out);

/*
 * The key table, for operators and the chart's tests: one key a line,
 * "[section] key", then live or restart, its type, its default and its help,
 * separated by tabs. -1 if writing failed.
 */
int config_print_keys(FILE *out);

const char *config_sync_name(enum sync_mode mode);

#endif
