"""nginx's own answers carry our text and headers; the access log keeps the client's method
(issue 21, item 6).

An unknown Transfer-Encoding got nginx's stock HTML 501 page, an If-Match on
/healthz its 412 page; a refused POST was logged as "GET" (nginx turns the
method of the internal redirect to the error page into GET).
"""

import json
import re
import signal

from harness import NGINX_CONF, Stack
from test_hostile_http import assert_error, get, request

# The 4xx and 5xx codes nginx 1.22 has a stock page for (ngx_http_error_pages in
# src/http/ngx_http_special_response.c), but the TLS ones (495, 496, 497), 498
# (an internal "canceled", sent as 404) and 499 (a client that hung up: no
# answer). 494 is nginx's "request header too large", sent as 431 here.
NGINX_PAGES = [400, 401, 402, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 416,
               421, 429, 494, 500, 501, 502, 503, 504, 505, 507]

# (what, request bytes, status, our text): what nginx itself answers with an error
# this test file adds to test_hostile_http's REQUEST_ERRORS.
NGINX_ERRORS = [
    ("unknown Transfer-Encoding",
     get(b"/", b"Transfer-Encoding: xchunked\r\n"), 501, "not implemented\n"),
    ("unknown Transfer-Encoding on an unknown path",
     get(b"/nope", b"Transfer-Encoding: gzip\r\n"), 501, "not implemented\n"),
    ("If-Match on nginx's own 200", get(b"/healthz", b'If-Match: "x"\r\n'), 412,
     "precondition failed\n"),
    ("If-Unmodified-Since on nginx's own 200",
     get(b"/healthz", b"If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"), 412,
     "precondition failed\n"),
]


def error_page_codes(conf):
    """The codes of nginx.conf's error_page directives (comments left out)."""
    text = re.sub(r"#[^\n]*", "", conf)
    codes = set()
    for m in re.finditer(r"\berror_page\s+([^;]*);", text):
        for word in m.group(1).split():
            if word.isdigit():
                codes.add(int(word))
    return codes


def test_every_code_nginx_has_a_stock_page_for_has_an_error_page_of_ours():
    with open(NGINX_CONF) as f:
        codes = error_page_codes(f.read())
    missing = [c for c in NGINX_PAGES if c not in codes]
    assert not missing, f"nginx.conf has no error_page for {missing}: nginx's HTML page shows"


def test_the_errors_nginx_makes_have_their_status_our_text_and_the_headers():
    with Stack() as s:
        for what, data, status, text in NGINX_ERRORS:
            assert_error(request(s.port, data), status, text, what)
        for what, data, status, _ in NGINX_ERRORS:
            head = request(s.port, data.replace(b"GET ", b"HEAD ", 1))
            assert head.status == status and head.body == b"", f"HEAD, {what}: {head!r}"
        assert s.counter_value() == 0, "nothing counted"


def logged(stack):
    """The access log's records, once nginx has stopped (a graceful stop flushes it)."""
    stack.nginx.stop(signal.SIGQUIT)
    return [json.loads(line) for line in stack.nginx.output().splitlines()
            if line.startswith("{")]


def test_the_access_log_shows_the_method_the_client_sent():
    sent = [
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
         "POST", "/", 405),
        (b"DELETE /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "DELETE", "/nope", 405),
        (b"PUT /visits HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n" + b"x" * 4096,
         "PUT", "/visits", 413),
        (b"HEAD /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "HEAD", "/nope", 404),
        (get(b"/nope"), "GET", "/nope", 404),
        (get(b"/", b"Transfer-Encoding: xchunked\r\n"), "GET", "/", 501),
        (b"OPTIONS / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "OPTIONS", "/", 405),
    ]
    with Stack() as s:
        for data, _, _, status in sent:
            r = request(s.port, data)
            assert r.status == status, f"{data[:40]!r}: {r!r}"
        records = logged(s)
    got = sorted((r["method"], r["uri"], r["status"]) for r in records)
    want = sorted((method, uri, status) for _, method, uri, status in sent)
    assert got == want, f"logged {got}, sent {want}"
