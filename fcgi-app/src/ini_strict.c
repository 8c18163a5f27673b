/*
 * Loading config.ini strictly. iniparser alone would silently read some files
 * as something else (an inline comment cuts a value, the last of two equal
 * keys wins, a line ending in a backslash eats the next one), and reports no
 * line for what it accepts. So the file is read once here and scanned line
 * by line with iniparser's own grammar: every line must be a [section], a
 * key = value or a comment, and every name known and given once. Then
 * iniparser reads the same bytes, and each value it returns must be the
 * whole value the line holds; whatever differs is refused, naming the line.
 * The values the responder uses are iniparser's: this file only refuses.
 */
#include "ini_strict.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
ini_fail(struct ini_doc *d, unsigned line, const char *fmt, ...)
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
void
ini_printable(const char *s, char *out, size_t len)
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
section_index(const struct ini_doc *d, const char *name)
{
        for (size_t i = 0; i < d->nkeys; i++) {
                if (strcmp(d->keys[i].section, name) == 0)
                        return (ssize_t)i;
        }
        return -1;
}

static ssize_t
key_index(const struct ini_doc *d, size_t section, const char *name)
{
        for (size_t i = section;
             i < d->nkeys && strcmp(d->keys[i].section, d->keys[section].section) == 0; i++) {
                if (strcmp(d->keys[i].name, name) == 0)
                        return (ssize_t)i;
        }
        return -1;
}

static void
known_sections(const struct ini_doc *d, char *out, size_t len)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = 0; i < d->nkeys && n < len; i++) {
                if (i == 0 || strcmp(d->keys[i - 1].section, d->keys[i].section) != 0)
                        n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "",
                                              d->keys[i].section);
        }
}

static void
known_keys_of(const struct ini_doc *d, size_t section, char *out, size_t len)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = section; i < d->nkeys && n < len; i++) {
                if (strcmp(d->keys[i].section, d->keys[section].section) == 0)
                        n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "",
                                              d->keys[i].name);
        }
}

static int
scan_section(struct ini_doc *d, unsigned line, char *s, size_t slen, ssize_t *section)
{
        s[slen - 1] = '\0';
        char *name = trim(s + 1);
        lower(name);
        *section = section_index(d, name);
        if (*section < 0) {
                char shown[256], known[128];
                ini_printable(name, shown, sizeof(shown));
                known_sections(d, known, sizeof(known));
                return ini_fail(d, line, "[%s]: unknown section; expected one of: %s", shown,
                                known);
        }
        unsigned *first = &d->section_line[*section];
        if (*first != 0)
                return ini_fail(d, line,
                                "[%s]: the section appears again (first at line %u); keep its keys "
                                "under one [%s]",
                                name, *first, name);
        *first = line;
        d->nsections++;
        return 0;
}

static int
scan_key(struct ini_doc *d, unsigned line, char *s, ssize_t section)
{
        char shown[256], val[1024], known[128];
        char *eq = strchr(s, '=');

        if (eq == NULL || eq == s) {
                ini_printable(s, shown, sizeof(shown));
                return ini_fail(
                    d, line,
                    "syntax error: \"%s\" is not a [section], a key = value or a comment "
                    "(; or #)",
                    shown);
        }
        *eq = '\0';
        char *name = trim(s), *raw = trim(eq + 1);
        lower(name);
        ini_printable(name, shown, sizeof(shown));
        ini_printable(raw, val, sizeof(val));
        if (section < 0) {
                known_sections(d, known, sizeof(known));
                return ini_fail(d, line,
                                "%s = \"%s\": a key before any [section]; expected sections: %s",
                                shown, val, known);
        }
        const char *sec = d->keys[section].section;
        ssize_t k = key_index(d, (size_t)section, name);
        if (k < 0) {
                known_keys_of(d, (size_t)section, known, sizeof(known));
                return ini_fail(d, line, "[%s] %s = \"%s\": unknown key; expected one of: %s", sec,
                                shown, val, known);
        }
        struct ini_setting *set = &d->set[k];
        if (set->line != 0)
                return ini_fail(d, line,
                                "[%s] %s = \"%s\": set again (first at line %u); keep one of them",
                                sec, shown, val, set->line);
        set->line = line;
        set->raw = raw;
        return 0;
}

/* One line of the file, NUL-terminated in place; n is its length. */
static int
scan_line(struct ini_doc *d, unsigned line, char *text, size_t n, ssize_t *section)
{
        if (memchr(text, '\0', n) != NULL)
                return ini_fail(d, line, "a NUL byte; config.ini must be text");
        if (n > INI_LINE_MAX)
                return ini_fail(d, line,
                                "longer than %d bytes, more than iniparser reads in a line",
                                INI_LINE_MAX);
        text[n] = '\0';
        char *s = trim(text);
        size_t slen = strlen(s);
        if (slen == 0)
                return 0;
        if (s[slen - 1] == '\\')
                return ini_fail(
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
scan(struct ini_doc *d, char *buf, size_t size)
{
        ssize_t section = -1;
        unsigned line = 1;

        if (size >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
                return ini_fail(
                    d, 1,
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
compare_setting(struct ini_doc *d, const dictionary *dict, size_t i, const char *val)
{
        const struct ini_key *k = &d->keys[i];
        const struct ini_setting *set = &d->set[i];
        char name[64], shown[1024], read[1024];

        snprintf(name, sizeof(name), "%s:%s", k->section, k->name);
        const char *got = iniparser_getstring(dict, name, NULL);
        if (got != NULL && strcmp(got, val) == 0)
                return 0;
        ini_printable(set->raw, shown, sizeof(shown));
        ini_printable(got ? got : "", read, sizeof(read));
        const char *cut = strpbrk(set->raw, ";#");
        if (val == set->raw && cut != NULL && set->raw[0] != '"' && set->raw[0] != '\'')
                return ini_fail(d, set->line,
                                "[%s] %s = \"%s\": a '%c' inside a value starts a comment for "
                                "iniparser, which would read \"%s\"; quote the value to keep it "
                                "whole, or put the comment on a line of its own",
                                k->section, k->name, shown, *cut, read);
        return ini_fail(
            d, set->line,
            "[%s] %s = \"%s\": iniparser would read \"%s\"; a quoted value ends with its "
            "closing quote and holds no other quote of its kind",
            k->section, k->name, shown, read);
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
ini_load(struct ini_doc *d, int fd, const struct stat *st)
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
                ini_printable(ini_error, msg, sizeof(msg));
                ini_fail(d, 0, "iniparser could not read it: %s", msg[0] ? msg : "no reason given");
        }
        return dict;
}

static int
compare(struct ini_doc *d, const dictionary *dict, const char *const *vals)
{
        size_t n = d->nsections;

        for (size_t i = 0; i < d->nkeys; i++) {
                if (d->set[i].line == 0)
                        continue;
                if (compare_setting(d, dict, i, vals[i]) != 0)
                        return -1;
                n++;
        }
        if (dict->n < 0 || (size_t)dict->n != n)
                return ini_fail(d, 0, "iniparser read %d entries where the lines hold %zu", dict->n,
                                n);
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
open_config(struct ini_doc *d, struct stat *st)
{
        if (stat(d->path, st) == 0 && !S_ISREG(st->st_mode))
                return ini_fail(d, 0, "cannot read the configuration: not a regular file%s",
                                file_kind(st->st_mode));
        int fd = open(d->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ini_fail(d, 0, "cannot read the configuration: %s", strerror(errno));
        if (fstat(fd, st) != 0) {
                ini_fail(d, 0, "cannot read the configuration: fstat: %s", strerror(errno));
        } else if (!S_ISREG(st->st_mode)) {
                ini_fail(d, 0, "cannot read the configuration: not a regular file%s",
                         file_kind(st->st_mode));
        } else if (st->st_size > INI_FILE_MAX) {
                ini_fail(
                    d, 0,
                    "cannot read the configuration: %lld bytes, more than the %d a config.ini may "
                    "have",
                    (long long)st->st_size, INI_FILE_MAX);
        } else {
                return fd;
        }
        close(fd);
        return -1;
}

static ssize_t
read_config(struct ini_doc *d, int fd, char *buf, size_t cap)
{
        size_t n = 0;

        while (n < cap) {
                ssize_t r = read(fd, buf + n, cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return ini_fail(d, 0, "cannot read the configuration: %s", strerror(errno));
                if (r == 0)
                        return (ssize_t)n;
                n += (size_t)r;
        }
        return ini_fail(
            d, 0, "cannot read the configuration: more than the %d bytes a config.ini may have",
            INI_FILE_MAX);
}

dictionary *
ini_strict_load(struct ini_doc *d)
{
        struct stat st;
        dictionary *dict = NULL;

        int fd = open_config(d, &st);
        if (fd < 0)
                return NULL;
        char *buf = malloc(INI_FILE_MAX + 1);
        char *quoted = malloc(d->nkeys * (INI_LINE_MAX + 1));
        const char **vals = calloc(d->nkeys, sizeof(*vals));
        if (buf == NULL || quoted == NULL || vals == NULL) {
                ini_fail(d, 0, "cannot read the configuration: %s", strerror(errno));
                goto out;
        }
        ssize_t n = read_config(d, fd, buf, INI_FILE_MAX + 1);
        if (n < 0 || scan(d, buf, (size_t)n) != 0)
                goto out;
        for (size_t i = 0; i < d->nkeys; i++) {
                char *q = quoted + i * (INI_LINE_MAX + 1);
                vals[i] = d->set[i].line ? unquote(d->set[i].raw, q, INI_LINE_MAX + 1) : NULL;
        }
        dict = ini_load(d, fd, &st);
        if (dict != NULL && compare(d, dict, vals) != 0) {
                iniparser_freedict(dict);
                dict = NULL;
        }
out:
        for (size_t i = 0; i < d->nkeys; i++)
                d->set[i].raw = NULL; /* it pointed into buf */
        free(vals);
        free(quoted);
        free(buf);
        close(fd);
        return dict;
}
