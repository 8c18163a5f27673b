#ifndef MT_COUNTER_H
#define MT_COUNTER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"

#define COUNTER_MAX  INT64_MAX /* JSON readers and the Python version agree on signed 64 bits */
#define COUNTER_TEXT 24        /* "9223372036854775807\n" and a NUL */

enum counter_status {
        COUNTER_OK = 0,
        COUNTER_CORRUPT, /* the file holds something that is not a count: left untouched */
        COUNTER_BUSY,    /* another responder holds the file */
        COUNTER_IOERR,   /* the file cannot be opened, read or created */
};

/*
 * The visits counter: the count lives in memory and every visit is written
 * through to the file before its response leaves, so that a SIGKILL loses
 * nothing. fsync follows [counter] sync. One responder per file (flock).
 */
struct counter {
        pthread_mutex_t mu;
        pthread_cond_t batch_cv[2]; /* sync=always: the waiters of batch n sleep on [n % 2] */
        pthread_cond_t flusher_cv;  /* wakes the interval flusher to stop */
        pthread_t flusher;
        int has_flusher;
        int stopping;
        int fd;
        const char *path;
        char tmp_path[CONFIG_PATH_MAX + 8]; /* path + ".tmp": where a longer number is prepared */
        enum sync_mode mode;
        int interval_ms;
        uint64_t value;          /* what the file holds */
        uint64_t synced;         /* what the last completed fsync covered */
        int syncing;             /* a thread is inside fdatasync() */
        uint64_t assigned;       /* sync=always: numbers handed to visits waiting for a batch */
        uint64_t batch;          /* the number of the last fsync started */
        uint64_t batch_upto;     /* the count it covers */
        uint64_t batch_failures; /* sync=always: batches that failed; waiters compare */
        char batch_error[256];   /* why the last batch failed */
        int dir_dirty;           /* a rename since the last fsync of the directory */
        int failing;             /* the last write failed: logged once until it recovers */
        char text[COUNTER_TEXT];
        size_t text_len;
        uint64_t write_errors; /* failed creates, writes, renames, reads: for /metrics */
        uint64_t fsync_errors; /* failed fsyncs of the file or its directory */
        int64_t last_fsync_ns; /* CLOCK_REALTIME of the last fsync that succeeded; 0: none */
};

/* Parses a counter file's bytes. Empty or blank is 0. On failure: -1 and why. */
int counter_parse(const char *buf, size_t len, uint64_t *out, char *why, size_t whylen);

enum counter_status counter_open(struct counter *c, const struct config *cfg, char *err,
                                 size_t errlen);

/* Counts one visit: 0 and the new count once it is in the file (and synced if sync=always). */
int counter_visit(struct counter *c, uint64_t *out, char *why, size_t whylen);

uint64_t counter_get(struct counter *c);

/* The count, the errors since start and the last fsync, for /metrics. */
void counter_stats(struct counter *c, struct metrics_counter *out);

/* Readiness: 0 if the file can be read and written now; else -1 and why. */
int counter_check(struct counter *c, char *why, size_t whylen);

/* Flushes, fsyncs and closes. 0 on success. */
int counter_close(struct counter *c);

#endif
