#ifndef MT_CONFIG_H
#define MT_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "cluster.h"
#include "log.h"

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
        char cluster_name[CLUSTER_NAME_MAX];
        char cluster_peers[CLUSTER_TEXT_MAX];
        int cluster_poll_interval_ms;
        int cluster_timeout_ms;
        int metrics_enabled;
};

/* What a row of the key table tells the rest of the program. */
struct config_key {
        const char *section;
        const char *name;
        const char *type; /* "path", "int", "enum", ...: what the value must be */
        const char *def;  /* the default, as written in config.ini */
        const char *help; /* one line */
        int live;         /* 1: a running responder can take a new value; 0: needs a restart */
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

/* Writes "[section] key = value\n" for every key, in table order. 0, or -1 with errno. */
int config_print(const struct config *cfg, FILE *out);

/*
 * The key table, for operators and the chart's tests: one key a line,
 * "[section] key", then live or restart, its type, its default and its help,
 * separated by tabs. -1 if writing failed.
 */
int config_print_keys(FILE *out);

const char *config_sync_name(enum sync_mode mode);

/* The [cluster] keys as cluster.c takes them. */
void config_cluster_settings(const struct config *cfg, struct cluster_settings *out);

#endif
