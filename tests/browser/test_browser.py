"""The page in a real browser: headless Chromium loads / through nginx.

Asserts that the rendered page shows the Moscow time and the visit count, and
that the browser logged no console message at all (a Content-Security-Policy
violation, a failed resource or a script error each log one). A control run
against a page with a deliberately wrong style hash proves the detector sees
such errors. SKIP when Chromium is not installed.
"""

import datetime
import http.server
import re
import shutil
import subprocess
import tempfile
import threading
import time

import cdp
import pytest
from harness import Stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="chromium is not installed (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0"]


def load(url):
    """Returns (rendered DOM, console messages) of url."""
    profile = tempfile.mkdtemp(prefix="mt-chromium-")
    try:
        r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                           env=cdp.chromium_env(profile))
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert r.returncode == 0, f"chromium exit status ({r.stderr[-2000:]})"
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    return r.stdout, console


def test_page_renders_time_and_count_without_console_errors():
    with Stack(counter="41\n") as s:
        dom, console = load(f"http://127.0.0.1:{s.port}/")
        assert console == [], "console messages (CSP violations, failed loads, errors)"
        m = re.search(r'<time id="time" datetime="([^"]+)">(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) MSK</time>',
                      dom)
        assert m, f"rendered time not found in the DOM:\n{dom}"
        shown = datetime.datetime.fromisoformat(m.group(1))
        assert shown.utcoffset() == datetime.timedelta(hours=3), "UTC offset"
        assert abs(shown.timestamp() - time.time()) <= 5, f"time {m.group(1)} is not now"
        assert '<span id="visits">42</span>' in dom, f"count 42 not in the DOM:\n{dom}"
        assert s.counter_value() == 42, "the browser's visit counted once (favicon is not a visit)"


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
    assert any("Content Security Policy" in line for line in console), f"the detector missed a CSP violation: {console}"
