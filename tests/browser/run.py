"""The page in a real browser: headless Chromium loads / through nginx.

Asserts that the rendered page shows the Moscow time and the visit count, and
that the browser logged no console message at all (a Content-Security-Policy
violation, a failed resource or a script error each log one). A control run
against a page with a deliberately wrong style hash proves the detector sees
such errors. Prints TAP lines; SKIP when Chromium is not installed.
"""

import datetime
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Stack, TestFailure, check, check_eq  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0"]


def load(url):
    """Returns (rendered DOM, console messages) of url."""
    profile = tempfile.mkdtemp(prefix="mt-chromium-")
    try:
        r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    check_eq(r.returncode, 0, f"chromium exit status ({r.stderr[-2000:]})")
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    return r.stdout, console


def test_page_renders_time_and_count_without_console_errors():
    with Stack(counter="41\n") as s:
        dom, console = load(f"http://127.0.0.1:{s.port}/")
        check_eq(console, [], "console messages (CSP violations, failed loads, errors)")
        m = re.search(r'<time id="time" datetime="([^"]+)">(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) MSK</time>',
                      dom)
        check(m, f"rendered time not found in the DOM:\n{dom}")
        shown = datetime.datetime.fromisoformat(m.group(1))
        check_eq(shown.utcoffset(), datetime.timedelta(hours=3), "UTC offset")
        check(abs(shown.timestamp() - time.time()) <= 5, f"time {m.group(1)} is not now")
        check('<span id="visits">42</span>' in dom, f"count 42 not in the DOM:\n{dom}")
        check_eq(s.counter_value(), 42, "the browser's visit counted once (favicon is not a visit)")


class BadCspPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>x</title><style>p{color:red}</style><p>x</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'sha256-AAAA'")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_control_a_csp_violation_is_detected():
    server = http.server.HTTPServer(("127.0.0.1", 0), BadCspPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _, console = load(f"http://127.0.0.1:{server.server_port}/")
    finally:
        server.shutdown()
        server.server_close()
    check(any("Content Security Policy" in line for line in console),
          f"the detector missed a CSP violation: {console}")


def main():
    tests = [test_page_renders_time_and_count_without_console_errors,
             test_control_a_csp_violation_is_detected]
    failed = 0
    for fn in tests:
        name = "browser: " + fn.__name__[5:].replace("_", " ")
        if CHROMIUM is None:
            print(f"ok - {name} # SKIP chromium is not installed (apt-get install chromium)")
            continue
        try:
            fn()
            print(f"ok - {name}", flush=True)
        except (TestFailure, subprocess.TimeoutExpired, OSError) as e:
            failed += 1
            print(f"not ok - {name}", flush=True)
            for line in str(e).splitlines():
                print(f"# {line}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
