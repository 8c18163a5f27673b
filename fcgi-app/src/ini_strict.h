#ifndef MT_INI_STRICT_H
#define MT_INI_STRICT_H

#include <stddef.h>

#include <iniparser.h>

#define INI_FILE_MAX 65536 /* a config.ini is a few dozen lines */
#define INI_LINE_MAX 1022  /* iniparser's fgets() takes 1023 bytes with the newline */

/* A key the file may set; the keys of one section are next to each other. */
struct ini_key {
        const char *section;
        const char *name;
};

/* What the file says for one key. */
struct ini_setting {
        unsigned line; /* 0: not in the file */
        char *raw;     /* the text after '=', trimmed; valid only inside ini_strict_load() */
};

struct ini_doc {
        const char *path;
        char *err; /* one line: "PATH:LINE: what is wrong" */
        size_t errlen;
        const struct ini_key *keys;
        size_t nkeys;
        struct ini_setting *set; /* nkeys entries, zeroed by the caller */
        unsigned *section_line;  /* nkeys entries, zeroed: by the index of a section's first key */
        size_t nsections;
};

/*
 * Reads d->path with iniparser and returns its dictionary (iniparser_freedict
 * it), after refusing what iniparser would silently read as something else:
 * an inline ';' or '#' that would cut a value, a key or section given twice
 * (the last would win), a line ending in a backslash (it would eat the
 * next), a byte order mark, stray quotes, unknown sections and keys, a NUL,
 * a line too long, a file that is not a regular file or too large. Each
 * value iniparser returns is checked to be the whole value its line holds.
 * On success d->set[i].line is the line that set key i (0: not set). On
 * failure: NULL and one line in d->err naming the file, the line, the
 * "[section] key", the value and what was expected.
 */
dictionary *ini_strict_load(struct ini_doc *d);

/* Writes "PATH:LINE: " (or "PATH: " for line 0) and the message into d->err; returns -1. */
__attribute__((format(printf, 3, 4))) int ini_fail(struct ini_doc *d, unsigned line,
                                                   const char *fmt, ...);

/*
 * s for a one-line message: control characters, quotes, backslashes and
 * anything that is not plain UTF-8 become \xNN, so that nothing in a config
 * file reaches the terminal raw.
 */
void ini_printable(const char *s, char *out, size_t len);

#endif
