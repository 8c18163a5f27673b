#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
text_init(struct text *t, char *buf, size_t cap)
{
        t->buf = buf;
        t->cap = cap;
        t->len = 0;
        t->overflow = cap == 0;
        if (cap > 0)
                buf[0] = '\0';
}

static void
full(struct text *t)
{
        t->overflow = 1;
        t->buf[t->len] = '\0';
}

void
text_printf(struct text *t, const char *fmt, ...)
{
        va_list ap;

        if (t->overflow)
                return;
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, room, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= room) {
                full(t);
                return;
        }
        t->len += (size_t)n;
}

void
text_put(struct text *t, const char *s, size_t n)
{
        if (t->overflow)
                return;
        if (n >= t->cap - t->len) {
                full(t);
                return;
        }
        memcpy(t->buf + t->len, s, n);
        t->len += n;
        t->buf[t->len] = '\0';
}

void
text_str(struct text *t, const char *s)
{
        text_put(t, s, strlen(s));
}

void
text_dec(struct text *t, uint64_t v)
{
        char digits[20];
        size_t i = sizeof(digits);

        do
                digits[--i] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        text_put(t, digits + i, sizeof(digits) - i);
}

size_t
text_utf8_len(const unsigned char *s)
{
        if (s[0] < 0x80)
                return 1;
        size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
        if (s[0] < 0xc2 || s[0] > 0xf4)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0; /* also stops at the NUL of a cut-off sequence */
        }
        if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
            (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
                return 0; /* overlong, surrogate or past U+10FFFF */
        return n;
}

void
text_json_string(struct text *t, const char *s)
{
        static const char hex[] = "0123456789abcdef";

        TEXT_LIT(t, "\"");
        for (;;) {
                /* Runs of plain printable ASCII are copied whole. */
                size_t run = 0;
                while ((unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x7f &&
                       s[run] != '"' && s[run] != '\\')
                        run++;
                text_put(t, s, run);
                s += run;
                unsigned char c = (unsigned char)*s;
                if (c == '\0')
                        break;
                if (c == '"' || c == '\\') {
                        char esc[2] = {'\\', (char)c};
                        text_put(t, esc, 2);
                        s++;
                } else if (c < 0x20 || c == 0x7f) {
                        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                        text_put(t, esc, 6);
                        s++;
                } else {
                        size_t n = text_utf8_len((const unsigned char *)s);
                        if (n == 0) {
                                TEXT_LIT(t, "\\ufffd");
                                s++;
                        } else {
                                text_put(t, s, n);
                                s += n;
                        }
                }
        }
        TEXT_LIT(t, "\"");
}

static void
hex_byte(struct text *t, unsigned char c)
{
        static const char hex[] = "0123456789abcdef";
        char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};

        text_put(t, esc, 4);
}

void
text_escape(struct text *t, const char *s, size_t n)
{
        const char *end = s + n;

        while (s < end) {
                size_t run = 0;
                while (s + run < end && (unsigned char)s[run] >= 0x20 &&
                       (unsigned char)s[run] < 0x7f && s[run] != '\\' && s[run] != '"')
                        run++;
                text_put(t, s, run);
                s += run;
                if (s == end)
                        break;
                if (*s == '\\' || *s == '"') {
                        char esc[2] = {'\\', *s};
                        text_put(t, esc, 2);
                } else {
                        hex_byte(t, (unsigned char)*s);
                }
                s++;
        }
}

void
text_printable(struct text *t, const char *s)
{
        for (;;) {
                size_t run = 0;
                while ((unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x7f)
                        run++;
                text_put(t, s, run);
                s += run;
                if (*s == '\0')
                        return;
                hex_byte(t, (unsigned char)*s++);
        }
}
