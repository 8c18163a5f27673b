"""Every route and method through nginx: exact status, headers and body."""

import base64
import datetime
import hashlib
import re
import socket
import subprocess

from harness import Stack

SECURITY_HEADERS = ("x-content-type-options", "content-security-policy", "referrer-policy")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def dynamic_headers(r, content_type):
    assert r.header("content-type") == content_type, "Content-Type"
    assert r.header("cache-control") == "no-store", "Cache-Control"
    assert r.header("x-content-type-options") == "nosniff", "X-Content-Type-Options"
    assert r.header("server") == "nginx", "Server header (no version banner)"
    for h in SECURITY_HEADERS:
        assert r.header(h), f"missing {h}: {r.headers}"


def moscow_now():
    out = subprocess.run(["date", "+%s %z %Z"], env={"TZ": "Europe/Moscow"}, check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), out[1], out[2]


def test_root_serves_the_page_with_time_and_count():
    with Stack() as s:
        r = s.get("/", headers={"Accept": BROWSER_ACCEPT})
        assert r.status == 200, "status"
        dynamic_headers(r, "text/html; charset=utf-8")
        assert int(r.header("content-length")) == len(r.body), "Content-Length"
        assert r.header("vary") == "Accept", "Vary"
        assert '<span id="visits">1</span>' in r.text, f"count 1 missing: {r.text}"
        assert "<title>Time in Moscow</title>" in r.text, "title"
        m = re.search(r'<time id="time" datetime="([^"]+)">([^<]+)</time>', r.text)
        assert m, f"no <time> element: {r.text}"
        assert m.group(2).endswith(" MSK"), f"zone abbreviation: {m.group(2)}"
        shown = datetime.datetime.fromisoformat(m.group(1))
        now, offset, _ = moscow_now()
        assert shown.strftime("%z") == offset, "UTC offset of the page's time"
        assert abs(shown.timestamp() - now) <= 2, f"page time {m.group(1)} vs date {now}"
        assert s.counter_value() == 1, "counter file after one visit"


def test_root_as_json_is_moscow_time_within_two_seconds():
    with Stack() as s:
        for i in range(1, 4):
            r = s.get("/", headers={"Accept": "application/json"})
            assert r.status == 200, "status"
            dynamic_headers(r, "application/json")
            data = r.json()
            assert sorted(data) == ["pod", "time", "timezone", "visits"], "JSON keys"
            assert data["pod"] == socket.gethostname(), "pod: [cluster] name, else the hostname"
            assert data["timezone"] == "Europe/Moscow", "timezone"
            assert data["visits"] == i, "visits"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+03:00", data["time"]), f"time format: {data['time']}"
            now, _, _ = moscow_now()
            t = datetime.datetime.fromisoformat(data["time"]).timestamp()
            assert abs(t - now) <= 2, f"{data['time']} is not within 2 s of {now}"


def test_each_get_root_counts_exactly_one():
    with Stack(counter="10\n") as s:
        for expected in range(11, 21):
            assert s.get("/").status == 200, "status"
            assert s.counter_value() == expected, "counter file"
        assert s.get("/visits").text == "20\n", "/visits"


def test_visits_as_text_and_json_never_counts():
    with Stack(counter="41\n") as s:
        for _ in range(3):
            r = s.get("/visits")
            assert r.status == 200, "status"
            dynamic_headers(r, "text/plain; charset=utf-8")
            assert r.text == "41\n", "body"
            assert int(r.header("content-length")) == 3, "Content-Length"
        r = s.get("/visits", headers={"Accept": "application/json"})
        assert r.status == 200, "status"
        dynamic_headers(r, "application/json")
        assert r.json() == {"visits": 41, "pod": socket.gethostname()}, "JSON body"
        assert s.counter_bytes() == b"41\n", "counter file"


def test_head_has_the_same_headers_no_body_and_no_count():
    # 9 -> 10 would change the page's length: start where a GET does not.
    with Stack(counter="10\n") as s:
        count = 10
        for path, accept in (("/", BROWSER_ACCEPT), ("/", "application/json"),
                             ("/visits", "*/*"), ("/visits", "application/json")):
            head = s.request("HEAD", path, headers={"Accept": accept})
            assert head.status == 200, f"HEAD {path} status"
            assert head.body == b"", f"HEAD {path} body"
            assert s.counter_value() == count, f"count after HEAD {path}"
            get = s.get(path, headers={"Accept": accept})
            count += path == "/"
            assert s.counter_value() == count, f"count after GET {path}"
            for h in ("content-type", "cache-control", "vary", "content-security-policy"):
                assert head.header(h) == get.header(h), f"HEAD {path} {h}"
            if path == "/visits":
                assert head.header("content-length") == get.header("content-length"), f"Content-Length of HEAD {path}"
            else:
                # HEAD shows the count without this visit, GET with it: same digits here.
                assert head.header("content-length") == get.header("content-length"), f"Content-Length of HEAD {path}"
        assert s.counter_value() == 12, "count: only the two GET / count"


def test_readyz_answers_ready_and_does_not_count():
    with Stack(counter="3\n") as s:
        for _ in range(5):
            r = s.get("/readyz")
            assert r.status == 200, "status"
            dynamic_headers(r, "text/plain; charset=utf-8")
            assert r.text == "ready\n", "body"
        assert s.counter_bytes() == b"3\n", "counter file"


def test_healthz_is_answered_by_nginx():
    with Stack(counter="3\n") as s:
        r = s.get("/healthz")
        assert (r.status, r.text) == (200, "ok\n"), "healthz"
        assert r.header("content-type") == "text/plain; charset=utf-8", "Content-Type"
        assert s.counter_bytes() == b"3\n", "counter file"


def test_unknown_paths_are_404_with_headers():
    with Stack() as s:
        for path in ("/nope", "/visits/", "/index.html", "/readyz/x", "/style.css",
                     "/favicon.ico.bak", "//x", "/Visits"):
            r = s.get(path)
            assert r.status == 404, f"GET {path}"
            assert r.text == "not found\n", f"body of {path}"
            assert r.header("content-type") == "text/plain; charset=utf-8", "Content-Type"
            assert int(r.header("content-length")) == len(r.body), "Content-Length"
            assert r.header("x-content-type-options") == "nosniff", "nosniff"
        assert s.counter_value() == 0, "counter"


def test_wrong_methods_are_405_with_allow():
    with Stack() as s:
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"):
            for path in ("/", "/visits", "/healthz", "/nope"):
                r = s.request(method, path, body=b"x=1" if method in ("POST", "PUT") else None)
                assert r.status == 405, f"{method} {path}"
                assert r.header("allow") == "GET, HEAD", f"Allow on {method} {path}"
                assert r.header("content-type") == "text/plain; charset=utf-8", "Content-Type"
                assert r.text == "method not allowed\n", "body"
        assert s.counter_value() == 0, "counter: nothing counted"
        assert s.stop_responder() == 0  # its whole output, to look for what must not be there
        assert "method" not in s.responder.output(), "the responder never saw them"


def test_query_string_does_not_change_the_route():
    with Stack() as s:
        assert s.get("/?utm=1&x=%20").status == 200, "/?query"
        assert s.get("/visits?format=json").text == "1\n", "/visits?query"
        assert s.get("/readyz?probe=1").status == 200, "/readyz?query"
        assert s.get("/nope?x").status == 404, "/nope?x"


def test_csp_allows_exactly_the_page_style():
    with Stack() as s:
        r = s.get("/")
        style = re.search(r"<style>(.*?)</style>", r.text, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        csp = r.header("content-security-policy")
        assert f"style-src 'sha256-{digest}'" in csp, f"CSP {csp!r} does not carry the page's style hash sha256-{digest}: update " "nginx-conf/nginx.conf"
        assert "default-src 'none'" in csp, "CSP default-src"
        assert r.header("referrer-policy") == "no-referrer", "Referrer-Policy"


def test_malformed_requests_get_a_plain_400():
    with Stack() as s:
        for path in ("/../x", "/%2e%2e/etc/passwd"):
            r = s.get(path)
            assert (r.status, r.text) == (400, "bad request\n"), f"GET {path}"
            assert r.header("content-type") == "text/plain; charset=utf-8", "Content-Type"
        assert s.counter_value() == 0, "nothing counted"


def test_request_body_and_header_limits():
    with Stack() as s:
        r = s.request("GET", "/", body=b"x" * 4096, headers={"Content-Type": "text/plain"})
        assert r.status == 413, "GET with a 4 KiB body"
        r = s.get("/", headers={"X-Big": "y" * 16384})
        assert r.status in (400, 431, 494), f"16 KiB header: {r.status}"
        assert s.counter_value() == 0, "nothing counted"


def test_favicon_is_empty_not_an_error():
    with Stack() as s:
        r = s.get("/favicon.ico")
        assert (r.status, r.body) == (204, b""), "favicon"
