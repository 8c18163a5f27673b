"""Hostile and malformed HTTP through the real nginx, over raw sockets.

http.client cannot send most of these (a 9 KB request line, HTTP/0.9, a bad
version, a header nginx refuses), so each test writes the bytes itself and
parses what comes back. Every error nginx produces must carry its own status,
our short text and the security headers; nothing here may count a visit.
"""

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import NGINX_CONF, Stack, freeze, wait_for

SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}

def _header_timeout():
    with open(NGINX_CONF) as f:
        return int(re.search(r"^\s*client_header_timeout (\d+)s;", f.read(), re.M).group(1))


HEADER_TIMEOUT = _header_timeout()  # seconds; client_body_timeout is the same
SLOW_CONNECTIONS = 10_000
UNAVAILABLE = "moscow-time is unavailable for a moment; try again shortly\n"


class Raw:
    """One HTTP response as it came off the wire."""

    def __init__(self, data):
        self.data = data
        head, sep, self.body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n") if sep else []
        self.status_line = lines[0] if lines else ""
        parts = self.status_line.split(" ", 2)
        self.status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def __repr__(self):
        return f"<Raw {self.data[:600]!r}>"


def exchange(port, data, timeout=10.0):
    """Sends data on a new connection and reads until nginx closes it.

    Returns (bytes received, how the connection ended: "eof" or "reset").
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks, end = [], "eof"
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except ConnectionResetError:
            end = "reset"
        return b"".join(chunks), end


def request(port, data, timeout=10.0):
    return Raw(exchange(port, data, timeout)[0])


def assert_error(r, status, text, what):
    """An error as nginx must send it: status, our text, plain text type, security headers."""
    assert r.status == status, f"{what}: status {r.status}, expected {status}: {r!r}"
    assert r.text == text, f"{what}: body {r.text!r}, expected {text!r}"
    assert r.headers.get("content-type") == "text/plain; charset=utf-8", f"{what}: {r!r}"
    assert int(r.headers.get("content-length", -1)) == len(r.body), f"{what}: {r!r}"
    for name, value in SECURITY.items():
        assert r.headers.get(name) == value, f"{what}: {name} missing or wrong: {r!r}"
    assert "default-src 'none'" in r.headers.get("content-security-policy", ""), f"{what}: {r!r}"
    assert r.headers.get("server") == "nginx", f"{what}: version banner: {r!r}"


def get(path, extra=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + extra + b"\r\n"


# (what, request bytes, status, body): errors nginx answers from the request alone.
REQUEST_ERRORS = [
    ("malformed request line", b"GARBAGE\r\n\r\n", 400, "bad request\n"),
    ("path above the root", get(b"/../x"), 400, "bad request\n"),
    ("encoded path above the root", get(b"/%2e%2e/etc/passwd"), 400, "bad request\n"),
    ("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400,
     "bad request\n"),
    ("NUL in a header value", get(b"/", b"X-A: b\x00c\r\n"), 400, "bad request\n"),
    ("POST with a malformed path", b"POST /../x HTTP/1.1\r\nHost: t\r\n\r\n", 400,
     "bad request\n"),
    ("unknown path", get(b"/nope"), 404, "not found\n"),
    ("internal error location from outside", get(b"/_errors/400"), 404, "not found\n"),
    ("POST", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
     405, "method not allowed\n"),
    ("DELETE on an unknown path", b"DELETE /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 405,
     "method not allowed\n"),
    ("GET with a 4 KiB body", get(b"/", b"Content-Length: 4096\r\n") + b"x" * 4096, 413,
     "request body too large\n"),
    ("9 KB request line", get(b"/" + b"a" * 9000), 414, "request URI too long\n"),
    ("9 KB request line, POST", b"POST /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414,
     "request URI too long\n"),
    ("one 9 KB header", get(b"/", b"X-Big: " + b"y" * 9000 + b"\r\n"), 431,
     "request header fields too large\n"),
    ("headers over 32 KB in all",
     get(b"/", b"".join(b"X-%d: %s\r\n" % (i, b"y" * 7000) for i in range(6))), 431,
     "request header fields too large\n"),
    ("HTTP/2.0 request line over plain HTTP", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505,
     "HTTP version not supported\n"),
    ("TRACE", b"TRACE / HTTP/1.1\r\nHost: t\r\n\r\n", 405, "method not allowed\n"),
    ("lower-case method", b"get / HTTP/1.1\r\nHost: t\r\n\r\n", 400, "bad request\n"),
]

# The same errors for HEAD: the method keeps its meaning (no body) on the way
# to the error page, and must not turn the error into a 405.
HEAD_ERRORS = [
    ("HEAD, 9 KB request line", b"HEAD /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    ("HEAD, HTTP/2.0", b"HEAD / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ("HEAD, bad path", b"HEAD /../x HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("HEAD, 9 KB header", b"HEAD / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n",
     431),
    ("HEAD, unknown path", b"HEAD /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 404),
]


def test_every_request_error_has_its_status_our_text_and_the_security_headers():
    with Stack() as s:
        for what, data, status, text in REQUEST_ERRORS:
            assert_error(request(s.port, data), status, text, what)
        assert s.counter_value() == 0, "nothing counted"
        # Lines that must not be there: only the whole output, after a stop, can say so.
        assert s.stop_responder() == 0
        assert "error" not in s.responder.output(), s.responder.output()
        s.nginx.stop()
        assert "[alert]" not in s.nginx.output() and "[crit]" not in s.nginx.output(), \
            s.nginx.output()


def test_head_of_an_error_has_its_status_the_headers_and_no_body():
    texts = {status: text for _, _, status, text in REQUEST_ERRORS}
    with Stack() as s:
        for what, data, status in HEAD_ERRORS:
            r = request(s.port, data)
            assert r.status == status and r.body == b"", f"{what}: {r!r}"
            assert int(r.headers["content-length"]) == len(texts[status]), f"{what}: {r!r}"
            for name, value in SECURITY.items():
                assert r.headers.get(name) == value, f"{what}: {name}: {r!r}"


def test_responder_down_is_502_and_stopped_responder_is_504():
    with Stack(counter="5\n") as s:
        # Stopped: nginx connects (the kernel queues it) and waits fastcgi_read_timeout.
        freeze(s.responder.pid)
        try:
            start = time.monotonic()
            r = request(s.port, get(b"/visits"), timeout=30)
            waited = time.monotonic() - start
        finally:
            os.kill(s.responder.pid, signal.SIGCONT)
        assert_error(r, 504, UNAVAILABLE, "responder stopped")
        assert waited < 20, f"504 after {waited:.1f} s"
        s.stop_responder()
        for path in (b"/", b"/visits", b"/readyz"):
            assert_error(request(s.port, get(path)), 502, UNAVAILABLE, f"GET {path} responder down")
        r = request(s.port, get(b"/healthz"))
        assert (r.status, r.text) == (200, "ok\n"), f"/healthz without the responder: {r!r}"
        assert s.counter_bytes() == b"5\n"


def test_unwritable_counter_503_passes_through_with_the_security_headers():
    with Stack(counter="5\n") as s:
        subprocess.run(["prlimit", f"--pid={s.responder.pid}", "--fsize=0:unlimited"],
                       check=True)
        try:
            r = request(s.port, get(b"/"))
        finally:
            subprocess.run(["prlimit", f"--pid={s.responder.pid}", "--fsize=unlimited"],
                           check=True)
        assert r.status == 503, r
        assert r.headers.get("retry-after") == "1", r
        for name, value in SECURITY.items():
            assert r.headers.get(name) == value, f"{name}: {r!r}"
        assert s.counter_bytes() == b"5\n"


def test_timed_out_requests_are_closed_without_a_response():
    # nginx 1.22 never writes a 408: on client_header_timeout or client_body_timeout
    # it closes the connection (reset: reset_timedout_connection). What must hold:
    # the close comes, nothing half-written precedes it, and nothing is counted.
    cases = {"half a header": b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ",
             "half a body": get(b"/", b"Content-Length: 100\r\n") + b"abc"}

    def timed(data):
        start = time.monotonic()
        got, end = exchange(s.port, data, timeout=30)
        return got, end, time.monotonic() - start

    with Stack() as s:
        with ThreadPoolExecutor(len(cases)) as pool:  # both wait out their timeout at once
            results = dict(zip(cases, pool.map(timed, cases.values())))
        for what, (got, end, waited) in results.items():
            assert got == b"", f"{what}: {got!r}"
            assert end in ("eof", "reset"), what
            assert waited < HEADER_TIMEOUT * 3, f"{what}: closed after {waited:.1f} s"
        assert s.counter_value() == 0, "nothing counted"


def test_http09_is_refused_and_never_counted():
    # HTTP/0.9 has no status line and no headers: no answer to it could carry a
    # status or the security headers. nginx closes it unanswered (444) before
    # anything reaches the responder.
    with Stack(counter="7\n") as s:
        for data in (b"GET /\r\n", b"GET /visits\r\n", b"GET /readyz\r\n", b"GET /nope\r\n",
                     b"GET /healthz\r\n", b"GET /_errors/400\r\n"):
            got, _ = exchange(s.port, data)
            assert got == b"", f"{data!r} answered {got!r}"
        # What nginx's parser refuses itself (a method other than GET, a bad
        # path) gets a bare 400 text: no request line parsed, so nothing in
        # the configuration can tell it from the other unparsed lines.
        for data in (b"POST /\r\n", b"HEAD /\r\n", b"GET /../x\r\n"):
            got, _ = exchange(s.port, data)
            assert got == b"bad request\n", f"{data!r} answered {got!r}"
        assert s.counter_bytes() == b"7\n", "HTTP/0.9 counted a visit"
        # HTTP/1.0 and 1.1 still work.
        r = request(s.port, b"GET /visits HTTP/1.0\r\n\r\n")
        assert (r.status, r.text) == (200, "7\n"), r
        r = request(s.port, get(b"/visits"))
        assert (r.status, r.text) == (200, "7\n"), r
        # The responder never saw them: its whole output, after the stop, says so.
        assert s.stop_responder() == 0
        assert "GET" not in s.responder.output(), s.responder.output()




class Slowloris:
    """tests/integration/slowloris.py in its own process; `counts` is what it reported."""

    SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slowloris.py")

    def __init__(self, port, count, seconds):
        self.p = subprocess.Popen([sys.executable, self.SCRIPT, str(port), str(count),
                                   str(seconds)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.counts, self.done = [], False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            if line.startswith("open "):
                self.counts.append(int(line.split()[1]))
            elif line.strip() == "done":
                self.done = True

    def now(self):
        return self.counts[-1] if self.counts else 0

    def stop(self):
        self.p.stdin.close()  # it exits when its stdin closes
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
        self.reader.join(5)


def nginx_rss_kib(nginx):
    """Resident memory of the nginx master and its workers."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(nginx.pid), "-p", str(nginx.pid)],
                         capture_output=True, text=True).stdout
    return sum(int(x) for x in out.split())


def test_slowloris_does_not_lock_out_a_normal_client():
    need = SLOW_CONNECTIONS + 2000  # the attacker's, in this process's limit; nginx's own
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), max(hard, need)))
    except (ValueError, OSError) as e:
        pytest.skip(f"needs root: {SLOW_CONNECTIONS} connections need RLIMIT_NOFILE {need}, "
                    f"above the hard limit {hard} that only root can raise ({e})")
    try:
        with Stack(counter="3\n") as s:
            window = HEADER_TIMEOUT + 3  # nginx closes them all once, the attacker reopens
            slow = Slowloris(s.port, SLOW_CONNECTIONS, window + 30)
            try:
                wait_for(lambda: slow.now() >= SLOW_CONNECTIONS * 0.95 or slow.p.poll() is not None,
                         timeout=20, what=f"{SLOW_CONNECTIONS} slow connections")
                assert slow.p.poll() is None, "the attacker exited"
                rss, under = nginx_rss_kib(s.nginx), []
                worst, served, end = 0.0, 0, time.monotonic() + window
                while time.monotonic() < end:
                    under.append(slow.now())
                    start = time.monotonic()
                    try:
                        r = request(s.port, get(b"/visits"), timeout=5)
                    except OSError as e:
                        raise AssertionError(f"normal request {served + 1} under {slow.now()} "
                                             f"slow connections: {e!r}")
                    worst = max(worst, time.monotonic() - start)
                    assert (r.status, r.text) == (200, "3\n"), \
                        f"normal request {served + 1} under {slow.now()} slow connections: {r!r}"
                    served += 1
                    time.sleep(0.1)  # a normal request every 100 ms: pacing
                rss = max(rss, nginx_rss_kib(s.nginx))
            finally:
                slow.stop()
            assert worst < 1.0, f"slowest normal request took {worst:.2f} s"
            # The attack was real: most normal requests went in while it held
            # (nearly) all its connections. It dips when nginx times them all
            # out at once and the attacker's reconnects queue in the backlog.
            full = sum(n >= SLOW_CONNECTIONS * 0.9 for n in under)
            assert full >= 0.75 * len(under), \
                f"only {full} of {len(under)} normal requests met a full attack: {under}"
            assert s.counter_bytes() == b"3\n", "slow requests counted nothing"
            s.nginx.stop()  # its whole error log, to look for what must not be there
            out = s.nginx.output()
            for bad in ("worker_connections are not enough", "Too many open files", "[alert]"):
                assert bad not in out, f"nginx: {bad}"
            print(f"# {SLOW_CONNECTIONS} slow connections: nginx RSS {rss / 1024:.0f} MiB, "
                  f"{served} normal requests, slowest {worst * 1000:.0f} ms, "
                  f"{full} of them under >= 90% of the attack")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
