#ifndef MT_CONFIG_H
#define MT_CONFIG_H

#include <stddef.h>

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
};

/* Fills cfg with the built-in defaults (the same values the example config.ini documents). */
void config_defaults(struct config *cfg);

/*
 * Loads path into cfg. On failure returns -1 and leaves one line in err that
 * names the file, the "[section] key", the bad value and what was expected.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);

/* Iterates the known keys: returns "section", sets *key and *def, or NULL past the end. */
const char *config_key_at(size_t i, const char **key, const char **def);

const char *config_sync_name(enum sync_mode mode);

#endif
