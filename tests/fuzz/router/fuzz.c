/*
 * The router: bytes "METHOD\0URI\0ACCEPT" -> routes_handle() on a real
 * counter in a temporary directory, as server.c would call it (the path once
 * as DOCUMENT_URI, once as REQUEST_URI cut at '?'). Besides the sanitizers it
 * checks what every response must be: a status of ours, a well-formed head
 * whose Content-Length is the body's, a count that only GET / moves (by one),
 * and a Content-Type that follows the Accept weights.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "counter.h"
#include "fuzz.h"
#include "log.h"
#include "negotiate.h"
#include "routes.h"

/* libFuzzer's entry points take no context: the set-up lives here for the process. */
static struct config cfg;
static struct counter counter;
static struct clock_text clock_cache;

static void
close_counter(void)
{
        counter_close(&counter);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
        char err[512];

        (void)argc;
        (void)argv;
        log_set_level(LOG_LEVEL_ERROR);
        fuzz_assert(clock_init("Europe/Moscow") == 0, "clock_init");
        config_defaults(&cfg);
        fuzz_dir("router");
        fuzz_path("visits", cfg.counter_path, sizeof(cfg.counter_path));
        cfg.sync = SYNC_NEVER;
        fuzz_assert(counter_open(&counter, &cfg, err, sizeof(err)) == COUNTER_OK, "%s", err);
        atexit(close_counter);
        return 0;
}

/* The next NUL-terminated part of buf[*at..len), or NULL past the end. */
static const char *
next_part(const char *buf, size_t len, size_t *at)
{
        if (*at > len)
                return NULL;
        const char *part = buf + *at;
        *at += strlen(part) + 1;
        return part;
}

enum expected_route { NONE, ROOT, VISITS, READY };

static enum expected_route
route_of(const char *path, size_t len)
{
        if (len == 1 && path[0] == '/')
                return ROOT;
        if (len == 7 && memcmp(path, "/visits", 7) == 0)
                return VISITS;
        if (len == 7 && memcmp(path, "/readyz", 7) == 0)
                return READY;
        return NONE;
}

/* The head is "Status: N ...\r\n" header lines of printable text "\r\n". */
static void
check_head(const struct response *r)
{
        char want[64];

        fuzz_assert(r->head_len > 0 && r->head_len < sizeof(r->head), "head_len %zu", r->head_len);
        fuzz_assert(r->body_len < sizeof(r->body), "body_len %zu", r->body_len);
        snprintf(want, sizeof(want), "Status: %d ", r->status);
        fuzz_assert(strncmp(r->head, want, strlen(want)) == 0, "head starts %.40s", r->head);
        fuzz_assert(memcmp(r->head + r->head_len - 4, "\r\n\r\n", 4) == 0, "head end");
        for (size_t i = 0; i < r->head_len; i++) {
                char ch = r->head[i];
                int line_end = ch == '\r' && i + 1 < r->head_len && r->head[i + 1] == '\n';
                int after_cr = ch == '\n' && i > 0 && r->head[i - 1] == '\r';
                fuzz_assert((ch >= 0x20 && ch < 0x7f) || line_end || after_cr,
                            "byte 0x%02x at %zu of the head", (unsigned char)ch, i);
        }
        snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", r->body_len);
        fuzz_assert(memmem(r->head, r->head_len, want, strlen(want)) != NULL, "Content-Length");
}

/* Weighing types together or one at a time gives the same weights, all within 0..1000. */
static void
check_weights(const char *accept, const char *native, int *native_q, int *json_q)
{
        const char *const types[] = {native, "application/json", "image/png"};
        int q[3], one;

        negotiate_weigh(accept, types, q, 3);
        for (size_t i = 0; i < 3; i++) {
                fuzz_assert(q[i] >= 0 && q[i] <= NEGOTIATE_Q_MAX, "q %d", q[i]);
                negotiate_weigh(accept, &types[i], &one, 1);
                fuzz_assert(one == q[i], "%s: %d alone, %d together", types[i], one, q[i]);
        }
        *native_q = q[0];
        *json_q = q[1];
}

static void
check_type(const struct response *r, const char *accept, enum expected_route route)
{
        int native_q, json_q;
        int json = memmem(r->head, r->head_len, "Content-Type: application/json\r\n", 32) != NULL;

        check_weights(accept, route == VISITS ? "text/plain" : "text/html", &native_q, &json_q);
        fuzz_assert(json == (json_q > native_q), "JSON %d with q native %d json %d", json, native_q,
                    json_q);
}

static void
handle(const char *method, const char *path, size_t path_len, const char *accept)
{
        struct app app = {.cfg = &cfg, .counter = &counter};
        struct request req = {
            .method = method, .path = path, .path_len = path_len, .accept = accept};
        struct response r;
        int get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
        uint64_t before = counter_get(&counter);

        routes_handle(&app, &clock_cache, &req, &r);
        uint64_t after = counter_get(&counter);
        enum expected_route route = route_of(path, path_len);
        check_head(&r);
        fuzz_assert(r.send_body == !head, "send_body %d for %s", r.send_body, method);
        if (!get && !head)
                fuzz_assert(r.status == 405, "%s: %d", method, r.status);
        else if (route == NONE)
                fuzz_assert(r.status == 404, "%.*s: %d", (int)path_len, path, r.status);
        else
                fuzz_assert(r.status == 200 || r.status == 503, "status %d", r.status);
        int counts = get && route == ROOT && r.status == 200;
        fuzz_assert(after == before + (uint64_t)counts, "count %" PRIu64 " -> %" PRIu64, before,
                    after);
        if (r.status == 200 && (route == ROOT || route == VISITS))
                check_type(&r, accept, route);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *buf = malloc(size + 1); /* exactly sized: ASan sees any read past the input */
        size_t at = 0;

        fuzz_assert(buf != NULL, "malloc");
        memcpy(buf, data, size);
        buf[size] = '\0';
        const char *method = next_part(buf, size, &at);
        const char *uri = next_part(buf, size, &at);
        const char *accept = next_part(buf, size, &at);
        if (uri == NULL)
                uri = "";
        handle(method, uri, strlen(uri), accept);
        handle(method, uri, strcspn(uri, "?"), accept);
        free(buf);
        return 0;
}
