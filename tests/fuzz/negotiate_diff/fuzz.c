/*
 * Differential fuzzer for negotiate.c: negotiate_weigh() against the
 * reference weigher in reference.c (RFC 9110 read plainly, no fast path).
 * Any difference in any weight aborts with the input, the types and both
 * answers.
 *
 * Input: the first byte picks the wanted types: one of the responder's own
 * sets (what routes.c asks), others that reach the odd corners, or (when
 * it is past them) one or two types taken from the input itself, up to the
 * first and second '\n'. The rest is the Accept value; a NUL ends it, as it
 * would end a C string. -max_len in flags lets values pass NEGOTIATE_MAX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "negotiate.h"
#include "reference.h"

static const char *const SETS[][NEGOTIATE_TYPES_MAX] = {
    {"text/html", "application/json"},
    {"text/plain", "application/json"},
    {"TEXT/Plain", "application/*", "*/*", "nosubtype"},
    {"a/b", "a/bb", "b/a", "text/"},
};
static const size_t SET_SIZES[] = {2, 2, 4, 4};
#define N_SETS (sizeof(SET_SIZES) / sizeof(SET_SIZES[0]))

/* s[0..len) escaped for the failure message. */
static void
print_escaped(const char *what, const char *s, size_t len)
{
        fprintf(stderr, "%s (%zu bytes): \"", what, len);
        for (size_t i = 0; i < len && i < 2000; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                        fputc(c, stderr);
                else
                        fprintf(stderr, "\\x%02x", c);
        }
        fprintf(stderr, "%s\"\n", len > 2000 ? "..." : "");
}

/* The next '\n'-ended piece of data[*at..size) as a C string (malloc'ed). */
static char *
line(const uint8_t *data, size_t size, size_t *at)
{
        size_t start = *at;
        while (*at < size && data[*at] != '\n')
                (*at)++;
        char *s = strndup((const char *)data + start, *at - start);
        if (*at < size)
                (*at)++;
        if (s == NULL)
                abort();
        return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        size_t at = 1, n;
        const char *types[NEGOTIATE_TYPES_MAX] = {0};
        char *own[2] = {NULL, NULL};
        unsigned pick = data[0];

        if (pick % (N_SETS + 2) < N_SETS) {
                n = SET_SIZES[pick % (N_SETS + 2)];
                memcpy(types, SETS[pick % (N_SETS + 2)], sizeof(types));
        } else {
                n = pick % (N_SETS + 2) - N_SETS + 1; /* one or two of the input's own */
                for (size_t t = 0; t < n; t++)
                        types[t] = own[t] = line(data, size, &at);
        }
        char *accept = strndup((const char *)data + at, size - at);
        if (accept == NULL)
                abort();
        int got[NEGOTIATE_TYPES_MAX] = {0}, want[NEGOTIATE_TYPES_MAX] = {0};
        negotiate_weigh(accept, types, got, n);
        reference_weigh(accept, types, want, n);
        if (memcmp(got, want, sizeof(got)) != 0) {
                print_escaped("Accept", accept, strlen(accept));
                for (size_t t = 0; t < n; t++) {
                        print_escaped("type", types[t], strlen(types[t]));
                        fprintf(stderr, "  negotiate.c q=%d, reference q=%d\n", got[t], want[t]);
                }
                fuzz_fail(__FILE__, __LINE__, "negotiate_weigh == reference_weigh",
                          "the parser and the reference weigh differently");
        }
        free(accept);
        free(own[0]);
        free(own[1]);
        return 0;
}
