#include "tests.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
fixture_setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (f == NULL)
                return -1;
        /* In the suite's own TMPDIR (scripts/test.sh checks that nothing is left there). */
        const char *tmp = getenv("TMPDIR");
        if (tmp == NULL || *tmp == '\0' || strlen(tmp) > sizeof(f->dir) - 20)
                tmp = "/tmp";
        snprintf(f->dir, sizeof(f->dir), "%s/mt-unit-XXXXXX", tmp);
        if (mkdtemp(f->dir) == NULL) {
                print_error("mkdtemp: %s\n", strerror(errno));
                free(f);
                return -1;
        }
        f->param = *state;
        config_defaults(&f->cfg);
        fixture_path(f, "visits", f->cfg.counter_path, sizeof(f->cfg.counter_path));
        *state = f;
        return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

int
fixture_teardown(void **state)
{
        struct fixture *f = *state;
        int rc = 0;

        if (f->fsize_lowered)
                fsize_restore(f);
        if (f->counter_open)
                counter_close(&f->counter);
        if (nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0) {
                print_error("removing %s: %s\n", f->dir, strerror(errno));
                rc = -1;
        }
        if (f->extra_dir[0] != '\0' &&
            nftw(f->extra_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0) {
                print_error("removing %s: %s\n", f->extra_dir, strerror(errno));
                rc = -1;
        }
        free(f);
        return rc;
}

void
fixture_path(const struct fixture *f, const char *name, char *out, size_t len)
{
        int n = snprintf(out, len, "%s/%s", f->dir, name);

        assert_true(n > 0 && (size_t)n < len);
}

enum counter_status
fixture_open_counter(struct fixture *f, char *err, size_t errlen)
{
        assert_false(f->counter_open);
        err[0] = '\0';
        enum counter_status st = counter_open(&f->counter, &f->cfg, err, errlen);
        f->counter_open = st == COUNTER_OK;
        return st;
}

void
fixture_start_counter(struct fixture *f, const char *text)
{
        char err[512];

        if (text != NULL)
                write_text(f->cfg.counter_path, text);
        if (fixture_open_counter(f, err, sizeof(err)) != COUNTER_OK)
                fail_msg("%s", err);
}

void
fixture_close_counter(struct fixture *f)
{
        assert_true(f->counter_open);
        f->counter_open = 0;
        assert_int_equal(counter_close(&f->counter), 0);
}

void
fsize_lower(struct fixture *f, rlim_t bytes)
{
        struct sigaction ign;
        struct rlimit lim;

        assert_false(f->fsize_lowered);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &f->fsize), 0);
        memset(&ign, 0, sizeof(ign));
        ign.sa_handler = SIG_IGN;
        assert_int_equal(sigaction(SIGXFSZ, &ign, &f->xfsz), 0);
        lim.rlim_cur = bytes;
        lim.rlim_max = f->fsize.rlim_max;
        f->fsize_lowered = 1;
        /* From here until fsize_restore(): no assertions. */
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
                int err = errno;
                fsize_restore(f);
                fail_msg("setrlimit(RLIMIT_FSIZE, %llu): %s", (unsigned long long)bytes,
                         strerror(err));
        }
}

void
fsize_restore(struct fixture *f)
{
        if (!f->fsize_lowered)
                return;
        int rc = setrlimit(RLIMIT_FSIZE, &f->fsize);
        int err = errno;
        sigaction(SIGXFSZ, &f->xfsz, NULL);
        f->fsize_lowered = 0;
        if (rc != 0)
                fail_msg("restoring RLIMIT_FSIZE: %s", strerror(err));
}

void
write_file(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

        if (fd < 0)
                fail_msg("open %s: %s", path, strerror(errno));
        ssize_t w = write(fd, data, len);
        int err = errno;
        close(fd);
        if (w != (ssize_t)len)
                fail_msg("write %s: %s", path, w < 0 ? strerror(err) : "short write");
}

void
write_text(const char *path, const char *text)
{
        write_file(path, text, strlen(text));
}

size_t
read_file(const char *path, char *buf, size_t cap)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                fail_msg("open %s: %s", path, strerror(errno));
        ssize_t n = read(fd, buf, cap);
        int err = errno;
        close(fd);
        if (n < 0)
                fail_msg("read %s: %s", path, strerror(err));
        assert_true((size_t)n < cap); /* the whole file, not a prefix */
        buf[n] = '\0';
        return (size_t)n;
}

void
assert_contains_at(const char *haystack, const char *needle, const char *file, int line)
{
        if (strstr(haystack, needle) == NULL) {
                print_error("\"%s\"\n  does not contain \"%s\"\n", haystack, needle);
                _fail(file, line);
        }
}

void
assert_not_contains_at(const char *haystack, const char *needle, const char *file, int line)
{
        if (strstr(haystack, needle) != NULL) {
                print_error("\"%s\"\n  contains \"%s\"\n", haystack, needle);
                _fail(file, line);
        }
}

/* Bytes as a C string literal, so that a mismatch shows newlines and NULs. */
static void
escaped(const char *s, size_t len, char *out, size_t outlen)
{
        size_t n = 0;

        for (size_t i = 0; i < len && n + 5 < outlen; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '\n')
                        n += (size_t)snprintf(out + n, outlen - n, "\\n");
                else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
                        n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", c);
                else
                        out[n++] = (char)c;
        }
        out[n] = '\0';
}

void
assert_file_bytes_at(const char *path, const void *bytes, size_t len, const char *file, int line)
{
        char buf[4096], want[1024], got[1024];
        size_t n = read_file(path, buf, sizeof(buf));

        if (n != len || memcmp(buf, bytes, len) != 0) {
                escaped(bytes, len, want, sizeof(want));
                escaped(buf, n, got, sizeof(got));
                print_error("%s holds \"%s\" (%zu bytes), expected \"%s\" (%zu bytes)\n", path, got,
                            n, want, len);
                _fail(file, line);
        }
}
