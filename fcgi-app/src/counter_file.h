#ifndef MT_COUNTER_FILE_H
#define MT_COUNTER_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "counter_watch.h"

#define COUNTER_MAX  INT64_MAX /* JSON readers and the Python version agree on signed 64 bits */
#define COUNTER_TEXT 24        /* "9223372036854775807\n" and a NUL */

enum counter_status {
        COUNTER_OK = 0,
        COUNTER_CORRUPT, /* the file holds something that is not a count: left untouched */
        COUNTER_BUSY,    /* another responder holds the file */
        COUNTER_IOERR,   /* the file cannot be opened, read or created */
};

/*
 * The counter file on disk: one regular file, locked with flock for as long
 * as it is open, holding the count as decimal text and a newline. It knows
 * which inode it has open, so that it can tell when the path names another
 * file or none, and exactly which bytes it holds, so that it can tell when
 * someone else rewrote them. No locking here: counter.c serialises every call.
 */
struct counter_file {
        const char *path;
        char tmp_path[CONFIG_PATH_MAX + 8]; /* path + ".tmp": where a new file is prepared */
        int fd;
        dev_t dev;
        ino_t ino;      /* the file fd refers to */
        uint64_t value; /* what the file holds */
        char text[COUNTER_TEXT];
        size_t text_len;            /* the file's bytes, exactly */
        int dir_dirty;              /* a rename since the directory was last fsynced */
        struct counter_watch names; /* tells cfile_verify_visit() when to look the path up */
};

/* Parses a counter file's bytes. Empty or blank is 0. On failure: -1 and why. */
int counter_parse(const char *buf, size_t len, uint64_t *out, char *why, size_t whylen);

/*
 * Opens and locks path (creating it with 0 if absent), proves that the lock
 * is on the file the path names, reads the count and rewrites a file that
 * does not hold it exactly as a visit writes it. A symbolic link is refused.
 */
enum counter_status cfile_open(struct counter_file *f, const char *path, char *err, size_t errlen);

/*
 * Before a visit is acknowledged: is the file at the path still ours and
 * unchanged? If it was deleted it is created again with the count; if it
 * was replaced or rewritten with a count, the larger of that count and ours
 * is kept (and written, if it is ours). 0 when the file can be written now;
 * -1 and why when visits must be refused: something that is not a count, a
 * symbolic link or a file another process holds locked is at the path, and
 * is left untouched.
 */
int cfile_verify(struct counter_file *f, char *why, size_t whylen);

/*
 * cfile_verify() for a visit: the path is looked up only if the directory's
 * watch saw its name change since the last look, or is not watching; the
 * bytes are always compared. A deletion, rename or creation in the
 * directory is queued by the syscall that made it, before it returns, so a
 * change made before the visit is never missed. What the watch cannot see
 * (a mount over the file, a folder above it renamed) is seen by the next
 * probe, which calls cfile_verify().
 */
int cfile_verify_visit(struct counter_file *f, char *why, size_t whylen);

/*
 * Whether the path names an empty regular file: never one of ours (we always
 * write a count), so someone is writing it (`echo N > visits` truncates,
 * then writes). The watch waits for its count rather than take it for 0.
 */
int cfile_outside_empty(const struct counter_file *f);

/* Writes v (>= the value): in place if the text keeps its length, else a new file renamed over. */
int cfile_write(struct counter_file *f, uint64_t v, char *why, size_t whylen);

/*
 * The steps writing value + 1 would take, with the value itself: rewrites
 * the same bytes in place or, if the next number has one digit more, puts
 * the same count in a new file (after trying the longer text) renamed over
 * the old one. The count does not change.
 */
int cfile_rewrite(struct counter_file *f, char *why, size_t whylen);

/* Writes the same bytes in place again: dirties the page so that the next fsync writes it. */
int cfile_touch(struct counter_file *f, char *why, size_t whylen);

int cfile_fsync_dir(const struct counter_file *f, char *why, size_t whylen);

/*
 * Creates the counter file at path holding v, only if nothing is there (a
 * lost volume's count, restored from the peers before cfile_open()): the
 * count is written and fdatasynced in path.tmp, which is linked to path
 * (link(2) never replaces a file that appeared meanwhile), and the folder
 * is fsynced. 0 created; 1 something is at path, left alone; -1 and why.
 */
int cfile_create(const char *path, uint64_t v, char *why, size_t whylen);

void cfile_close(struct counter_file *f);

#endif
