#ifndef MT_TEXT_H
#define MT_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * A bounded string builder over a caller's buffer. It remembers running out
 * of room instead of cutting silently, so that an answer is either whole or
 * refused (the page, the cluster answers and /metrics all use it).
 */
struct text {
        char *buf;
        size_t cap;
        size_t len;
        int overflow;
};

void text_init(struct text *t, char *buf, size_t cap);

/* Appends; on running out of room sets overflow and keeps only what fitted whole. */
__attribute__((format(printf, 2, 3))) void text_printf(struct text *t, const char *fmt, ...);

/*
 * The same without a format, for the page a visit renders (a printf per
 * piece cost a visit microseconds): n bytes of s, a string, a decimal.
 */
void text_put(struct text *t, const char *s, size_t n);
void text_str(struct text *t, const char *s);
void text_dec(struct text *t, uint64_t v);

/* A string literal, without its terminating NUL. */
#define TEXT_LIT(t, lit) text_put((t), (lit), sizeof(lit) - 1)

/*
 * s as a JSON string (RFC 8259), quotes included: '"', '\\' and every
 * control byte escaped, and each byte that is not part of valid UTF-8
 * written as U+FFFD, so that whatever s holds the answer stays valid UTF-8.
 */
void text_json_string(struct text *t, const char *s);

/*
 * Bytes from elsewhere (a peer's answer) as printable ASCII, for a log line
 * or an error shown in an answer: printable ASCII stays, '\\' and '"'
 * become \\ and \", every other byte (control, DEL, >= 0x80) \xNN.
 * No byte of the input can end a line, a string or a terminal's sequence.
 */
void text_escape(struct text *t, const char *s, size_t n);

/*
 * s with every byte that is not printable ASCII written as \xNN, the rest
 * as it is: text_escape()'s output comes through unchanged, so a sink may
 * apply it to anything it did not make itself.
 */
void text_printable(struct text *t, const char *s);

/*
 * Length of the well-formed UTF-8 sequence at s (1 to 4), or 0 if the
 * bytes there are not one (overlong, a surrogate, past U+10FFFF, cut off).
 */
size_t text_utf8_len(const unsigned char *s);

#endif
