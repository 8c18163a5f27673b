#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One directory per fuzzer process: libFuzzer's entry points take no context. */
static char dir[256];

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static void
remove_dir(void)
{
        if (dir[0] != '\0')
                nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s:%d: property failed: %s: ", file, line, cond);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        abort();
}

const char *
fuzz_dir(const char *name)
{
        const char *tmp = getenv("TMPDIR");

        snprintf(dir, sizeof(dir), "%s/mt-fuzz-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
        if (mkdtemp(dir) == NULL)
                fuzz_fail(__FILE__, __LINE__, "mkdtemp", "%s: %s", dir, strerror(errno));
        atexit(remove_dir);
        return dir;
}

void
fuzz_path(const char *name, char *out, size_t len)
{
        int n = snprintf(out, len, "%s/%s", dir, name);

        fuzz_assert(n > 0 && (size_t)n < len, "path %s/%s too long", dir, name);
}

void
fuzz_write_file(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        fuzz_assert(fd >= 0, "open %s: %s", path, strerror(errno));
        for (size_t done = 0; done < len;) {
                ssize_t n = write(fd, (const char *)data + done, len - done);
                fuzz_assert(n > 0, "write %s: %s", path, strerror(errno));
                done += (size_t)n;
        }
        fuzz_assert(close(fd) == 0, "close %s: %s", path, strerror(errno));
}

size_t
fuzz_read_file(const char *path, void *buf, size_t cap)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t done = 0;

        fuzz_assert(fd >= 0, "open %s: %s", path, strerror(errno));
        while (done < cap) {
                ssize_t n = read(fd, (char *)buf + done, cap - done);
                fuzz_assert(n >= 0, "read %s: %s", path, strerror(errno));
                if (n == 0)
                        break;
                done += (size_t)n;
        }
        close(fd);
        return done;
}
