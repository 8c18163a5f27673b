/*
 * Counter files: bytes -> counter_parse(), checked against a plain second
 * reading of the format (decimal digits between blanks, at most INT64_MAX;
 * empty is 0), and the same bytes as a counter file on disk -> counter_open():
 * a file it refuses is left exactly as it was, a file it takes holds the
 * parsed count, after counter_close() it holds that count's own text, and no
 * descriptor stays open.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "counter.h"
#include "fuzz.h"
#include "log.h"

/* libFuzzer's entry points take no context: the config for the process. */
static struct config cfg;

static int
open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        fuzz_assert(d != NULL, "opendir /proc/self/fd");
        while (readdir(d) != NULL)
                n++;
        closedir(d);
        return n;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        log_set_level(LOG_LEVEL_ERROR);
        config_defaults(&cfg);
        fuzz_dir("counter");
        fuzz_path("visits", cfg.counter_path, sizeof(cfg.counter_path));
        cfg.sync = SYNC_NEVER;
        return 0;
}

static int
blank(uint8_t ch)
{
        return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The format read a second way: 0 and the count, or -1. */
static int
oracle(const uint8_t *data, size_t size, uint64_t *out)
{
        size_t i = 0, end = size;
        uint64_t v = 0;

        while (i < end && blank(data[i]))
                i++;
        while (end > i && blank(data[end - 1]))
                end--;
        for (; i < end; i++) {
                if (data[i] < '0' || data[i] > '9')
                        return -1;
                if (v > (uint64_t)INT64_MAX / 10 ||
                    v * 10 + (uint64_t)(data[i] - '0') > (uint64_t)INT64_MAX)
                        return -1;
                v = v * 10 + (uint64_t)(data[i] - '0');
        }
        *out = v;
        return 0;
}

/* 1 if the bytes are a count (in *v). */
static int
check_parse(const uint8_t *data, size_t size, uint64_t *v)
{
        uint64_t want = 0;
        char why[256];
        int expect = oracle(data, size, &want);

        why[0] = '\0';
        int rc = counter_parse((const char *)data, size, v, why, sizeof(why));
        fuzz_assert(rc == expect, "counter_parse %d, expected %d (%s)", rc, expect, why);
        if (rc == 0)
                fuzz_assert(*v == want, "%" PRIu64 ", expected %" PRIu64, *v, want);
        else
                fuzz_assert(why[0] != '\0', "no reason given");
        return rc == 0;
}

static void
check_open(const uint8_t *data, size_t size, int parsed, uint64_t v)
{
        struct counter c;
        char err[8192], text[COUNTER_TEXT], now[COUNTER_TEXT + 1];

        fuzz_write_file(cfg.counter_path, data, size);
        enum counter_status st = counter_open(&c, &cfg, err, sizeof(err));
        if (st == COUNTER_CORRUPT) {
                char *back = malloc(size + 1);
                fuzz_assert(back != NULL, "malloc");
                size_t n = fuzz_read_file(cfg.counter_path, back, size + 1);
                fuzz_assert(n == size && memcmp(back, data, size) == 0,
                            "a refused file was changed (%zu -> %zu bytes)", size, n);
                free(back);
                fuzz_assert(err[0] != '\0', "no reason given");
                return;
        }
        fuzz_assert(st == COUNTER_OK, "counter_open: %d: %s", (int)st, err);
        fuzz_assert(parsed, "counter_open took a file counter_parse refuses");
        fuzz_assert(counter_get(&c) == v, "count %" PRIu64 ", parsed %" PRIu64, counter_get(&c), v);
        fuzz_assert(counter_close(&c) == 0, "counter_close");
        int len = snprintf(text, sizeof(text), "%" PRIu64 "\n", v);
        size_t n = fuzz_read_file(cfg.counter_path, now, sizeof(now));
        fuzz_assert(n == (size_t)len && memcmp(now, text, n) == 0,
                    "after close the file holds %zu bytes, not \"%" PRIu64 "\\n\"", n, v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint64_t v = 0;
        /* Counted around the input, not from start-up: libFuzzer keeps files of its own open
         * (-merge's control file), but none while an input runs. */
        int before = open_fds();

        int parsed = check_parse(data, size, &v);
        check_open(data, size, parsed, v);
        int after = open_fds();
        fuzz_assert(after == before, "%d descriptors open after the input, %d before", after,
                    before);
        return 0;
}
