"""The processes: socket file, signals, nginx without the responder, logs, starvation."""

import json
import os
import signal
import socket
import stat
import struct
import time
from concurrent.futures import ThreadPoolExecutor

from harness import EX_UNAVAILABLE, Stack


def test_socket_is_0660_and_not_world_accessible():
    with Stack() as s:
        mode = stat.S_IMODE(os.lstat(s.socket_path).st_mode)
        assert oct(mode) == oct(0o660), "socket mode"
        assert stat.S_ISSOCK(os.lstat(s.socket_path).st_mode), "a socket"
    with Stack(config={("server", "socket_mode"): "0600"}) as s:
        assert oct(stat.S_IMODE(os.lstat(s.socket_path).st_mode)) == oct(0o600), "socket_mode 0600"
        assert s.get("/visits").status == 200, "nginx still connects (same user)"


def test_umask_does_not_widen_the_socket():
    old = os.umask(0)
    try:
        with Stack() as s:
            assert oct(stat.S_IMODE(os.lstat(s.socket_path).st_mode)) == oct(0o660), "mode"
    finally:
        os.umask(old)


def test_a_live_socket_is_not_replaced():
    with Stack() as s:
        other, _, _ = s.other_config("other", counter=True)
        p = s.spawn_responder(other)
        assert p.wait(5) == EX_UNAVAILABLE, "exit status of the second responder"
        assert "another process is listening on it" in p.output(), p.output()
        assert s.get("/").status == 200, "the first responder still serves"
        assert os.path.exists(s.socket_path), "its socket is still there"


def test_a_non_socket_file_at_the_socket_path_is_not_replaced():
    with Stack(start=False) as s:
        with open(s.socket_path, "w") as f:
            f.write("precious\n")
        p = s.spawn_responder()
        assert p.wait(5) == EX_UNAVAILABLE, "exit status"
        assert "is not a socket" in p.output(), p.output()
        with open(s.socket_path) as f:
            assert f.read() == "precious\n", "the file"


def test_a_stale_socket_is_replaced():
    with Stack(start=False) as s:
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(s.socket_path)  # bound, never listening: what a killed responder leaves
        stale.close()
        s.start_responder()
        s.start_nginx()
        assert s.get("/").status == 200, "served on the replaced socket"
        assert "removed stale socket" in s.responder.output(), s.responder.output()


def test_sigterm_and_sigint_stop_an_idle_responder_within_a_second():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with Stack() as s:
            s.get("/")
            start = time.monotonic()
            status = s.stop_responder(sig, timeout=5)
            took = time.monotonic() - start
            assert status == 0, f"exit status on {sig.name}"
            assert took < 1.0, f"{sig.name} took {took:.2f} s"
            assert not os.path.exists(s.socket_path), "socket removed"
            assert s.counter_bytes() == b"1\n", "counter flushed"
            assert "flushed at 1" in s.responder.output(), s.responder.output()


def test_healthz_answers_while_the_responder_is_down():
    with Stack(counter="9\n") as s:
        s.stop_responder()
        r = s.get("/healthz")
        assert (r.status, r.text) == (200, "ok\n"), "/healthz"
        for path in ("/", "/visits", "/readyz"):
            r = s.get(path)
            assert r.status == 502, f"{path} with the responder down"
            assert r.header("content-type") == "text/plain; charset=utf-8", "Content-Type"
            assert "unavailable" in r.text, f"our own page: {r.text!r}"
            assert "nginx" not in r.text, "no nginx banner"
        s.start_responder()
        assert s.get("/readyz").status == 200, "ready again"
        assert s.counter_bytes() == b"9\n", "nothing counted"


def test_idle_fastcgi_connections_do_not_starve_the_only_worker():
    with Stack(workers=1) as s:
        idle = []
        for _ in range(20):
            c = socket.socket(socket.AF_UNIX)
            c.connect(s.socket_path)
            idle.append(c)
        try:
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda _: s.get("/").status, range(200)))
            assert statuses.count(200) == 200, "200s with 20 idle connections and 1 worker"
        finally:
            for c in idle:
                c.close()
        assert s.counter_value() == 200, "count"


def test_a_stalled_fastcgi_peer_does_not_hold_up_others():
    with Stack(workers=2) as s:
        c = socket.socket(socket.AF_UNIX)
        c.connect(s.socket_path)
        # Half a FCGI_BEGIN_REQUEST header, then silence: one worker waits on it.
        c.sendall(struct.pack("!BBH", 1, 1, 1))
        try:
            start = time.monotonic()
            for _ in range(50):
                assert s.get("/").status == 200, "GET / next to a stalled peer"
            took = time.monotonic() - start
            assert took < 3, f"50 requests took {took:.1f} s next to a stalled peer"
        finally:
            c.close()


def test_access_log_is_one_json_object_per_line_on_stdout():
    with Stack() as s:
        s.get("/", headers={"User-Agent": 'quote" and \\ backslash'})
        s.get("/visits")
        s.get("/nope")
        s.get("/healthz")  # a probe that succeeds is not logged
        s.nginx.stop(signal.SIGQUIT)  # graceful: flushes the log buffer
        records = []
        for line in s.nginx.output().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        # Each nginx worker buffers its own lines: compare as a set.
        records.sort(key=lambda r: r["uri"])
        assert [(r["uri"], r["status"]) for r in records] == [("/", 200), ("/nope", 404), ("/visits", 200)], "logged requests"
        first = records[0]
        for key in ("time", "remote_addr", "method", "request_time", "upstream_time"):
            assert key in first, f"{key} in {first}"
        assert first["user_agent"] == 'quote" and \\ backslash', "escaped user agent"
        assert float(first["upstream_time"]) >= 0, "upstream time"
        assert records[1]["upstream_time"] == "", "no upstream for a 404"


def test_the_responder_logs_events_not_requests():
    with Stack() as s:
        for _ in range(20):
            s.get("/")
        s.stop_responder()
        lines = s.responder.output().splitlines()
        assert all(" level=" in line for line in lines), f"levelled lines: {lines}"
        assert len(lines) <= 5, f"no per-request logging: {len(lines)} lines"
