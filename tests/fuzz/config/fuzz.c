/*
 * Config loading: bytes -> a config.ini on disk -> config_load(), as the
 * responder reads --config. Besides the sanitizers it checks the contract in
 * config.h: success or -1 with one line in err that names the file; a loaded
 * config holds values in the documented ranges.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"

/* libFuzzer's entry points take no context: the file's path for the process. */
static char path[512];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        log_set_level(LOG_LEVEL_ERROR);
        fuzz_dir("config");
        fuzz_path("config.ini", path, sizeof(path));
        return 0;
}

static void
check_loaded(const struct config *cfg)
{
        fuzz_assert(cfg->workers >= 1 && cfg->workers <= 256, "workers %d", cfg->workers);
        fuzz_assert(cfg->sync_interval_ms >= 1 && cfg->sync_interval_ms <= 60000,
                    "sync_interval_ms %d", cfg->sync_interval_ms);
        fuzz_assert(cfg->sync == SYNC_ALWAYS || cfg->sync == SYNC_INTERVAL ||
                        cfg->sync == SYNC_NEVER,
                    "sync %d", (int)cfg->sync);
        fuzz_assert((cfg->socket_mode & 07) == 0 && cfg->socket_mode <= 0777, "socket_mode %o",
                    cfg->socket_mode);
        fuzz_assert(memchr(cfg->socket_path, '\0', sizeof(cfg->socket_path)) != NULL &&
                        cfg->socket_path[0] != '\0',
                    "socket path");
        fuzz_assert(memchr(cfg->counter_path, '\0', sizeof(cfg->counter_path)) != NULL &&
                        cfg->counter_path[0] != '\0',
                    "counter path");
        fuzz_assert(memchr(cfg->timezone, '\0', sizeof(cfg->timezone)) != NULL, "timezone");
        fuzz_assert(memchr(cfg->time_format, '\0', sizeof(cfg->time_format)) != NULL, "format");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct config cfg;
        char err[1024];

        fuzz_write_file(path, data, size);
        memset(err, 0x5a, sizeof(err));
        int rc = config_load(path, &cfg, err, sizeof(err));
        fuzz_assert(rc == 0 || rc == -1, "config_load returned %d", rc);
        if (rc == 0) {
                check_loaded(&cfg);
                return 0;
        }
        size_t len = strnlen(err, sizeof(err));
        fuzz_assert(len > 0 && len < sizeof(err), "err is %zu bytes", len);
        fuzz_assert(memchr(err, '\n', len) == NULL, "err is more than one line: %s", err);
        fuzz_assert(strstr(err, path) != NULL, "err does not name the file: %s", err);
        return 0;
}
