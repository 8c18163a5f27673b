#ifndef MT_FUZZ_H
#define MT_FUZZ_H

/*
 * Shared by the libFuzzer harnesses in tests/fuzz/NAME/fuzz.c. Each harness
 * defines LLVMFuzzerTestOneInput (and, if it needs set-up, LLVMFuzzerInitialize);
 * the Makefile builds build/fuzz/NAME from it, common.c and the responder's
 * modules (all of fcgi-app/src but main.c) with -fsanitize=fuzzer,address,undefined.
 */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A fresh directory for this process's files, removed at exit; in $TMPDIR or /tmp. */
const char *fuzz_dir(const char *name);

/* dir/name into out (aborts if it does not fit). */
void fuzz_path(const char *name, char *out, size_t len);

/* Writes len bytes to path, replacing it; aborts on any error. */
void fuzz_write_file(const char *path, const void *data, size_t len);

/* Reads up to cap bytes of path; returns how many. Aborts on error. */
size_t fuzz_read_file(const char *path, void *buf, size_t cap);

/* A property that must hold; else the message on stderr and abort(), which libFuzzer reports. */
#define fuzz_assert(cond, ...)                                                                     \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
        } while (0)

#define FUZZ_FAIL_ATTRS __attribute__((noreturn, format(printf, 4, 5)))
FUZZ_FAIL_ATTRS void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...);

#endif
