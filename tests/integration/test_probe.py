"""`moscow-time --probe CONFIG [SECONDS]`: the responder's own liveness probe.

It speaks FastCGI to the configured socket, without nginx: exit 0 when the
responder answers GET /visits with 200 in time, 69 when it does not.
"""

import os
import signal
import socket
import subprocess
import threading
import time

from harness import BINARY, EX_CONFIG, EX_UNAVAILABLE, TOP, Stack, freeze

EX_USAGE = 64


def probe(config, *args, timeout=30):
    t0 = time.monotonic()
    r = subprocess.run([BINARY, "--probe", config, *args], capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stderr, time.monotonic() - t0


def test_a_live_responder_answers_the_probe_without_nginx_and_without_counting():
    with Stack() as s:
        assert s.get("/").status == 200
        s.nginx.stop()  # nginx down: the responder is still alive
        for _ in range(3):
            code, err, _ = probe(s.config_path)
            assert (code, err) == (0, "")
        assert s.counter_value() == 1, "probes count no visit"
        assert s.responder.alive()


def test_a_stopped_responder_fails_the_probe_at_once():
    with Stack() as s:
        assert s.stop_responder() == 0
        code, err, took = probe(s.config_path)
        assert code == EX_UNAVAILABLE, err
        assert s.socket_path in err and "No such file or directory" in err, err
        assert took < 2


def test_a_killed_responder_stale_socket_fails_the_probe_at_once():
    with Stack() as s:
        s.stop_responder(signal.SIGKILL)
        assert os.path.exists(s.socket_path), "SIGKILL leaves the socket file"
        code, err, took = probe(s.config_path)
        assert code == EX_UNAVAILABLE and "Connection refused" in err, err
        assert took < 2


def test_a_hung_responder_fails_the_probe_within_its_timeout():
    with Stack() as s:
        freeze(s.responder.pid)
        try:
            code, err, took = probe(s.config_path, "1")
            assert code == EX_UNAVAILABLE and "no answer in time" in err, err
            assert 0.9 <= took < 3, f"{took:.2f} s for a 1 s timeout"
        finally:
            os.kill(s.responder.pid, signal.SIGCONT)
        assert probe(s.config_path)[0] == 0, "alive again once it runs again"


def test_something_else_on_the_socket_fails_the_probe():
    with Stack(start=False) as s:
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(s.socket_path)
        srv.listen()

        def answer():  # an HTTP server, say, where the responder should be
            conn, _ = srv.accept()
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            conn.close()
        t = threading.Thread(target=answer, daemon=True)
        t.start()
        try:
            code, err, _ = probe(s.config_path)
            assert code == EX_UNAVAILABLE and "not a FastCGI answer" in err, err
        finally:
            t.join(5)
            srv.close()


def test_probe_usage_and_config_errors():
    with Stack(start=False) as s:
        for bad in ("0", "61", "x", "1.5"):
            code, err, _ = probe(s.config_path, bad)
            assert code == EX_USAGE and "timeout" in err, (bad, err)
        with open(s.config_path, "a") as f:
            f.write("[nope]\nkey = 1\n")
        code, err, _ = probe(s.config_path)
        assert code == EX_CONFIG and s.config_path in err, err


def test_an_application_status_with_its_high_bit_set_fails_the_probe_without_undefined_behaviour():
    """END_REQUEST's application status is 32 bits: 2^31 and more must not shift into an int's sign.

    Run with the responder built with UBSan (make builds build/moscow-time-asan for every
    test run), which reported "left shift of 128 by 24 places cannot be represented in
    type 'int'" before the status was read as unsigned.
    """
    asan = os.path.join(TOP, "build", "moscow-time-asan")
    assert os.access(asan, os.X_OK), f"{asan} is missing: make build/moscow-time-asan"
    with Stack(start=False) as s:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(s.socket_path)
        srv.listen(1)

        def answer():
            conn, _ = srv.accept()
            with conn:
                conn.recv(4096)
                out = b"Status: 200 OK\r\n\r\nok\n"
                stdout = bytes([1, 6, 0, 1, 0, len(out), 0, 0]) + out
                end = bytes([1, 3, 0, 1, 0, 8, 0, 0]) + bytes([0x80, 0, 0, 0, 0, 0, 0, 0])
                conn.sendall(stdout + bytes([1, 6, 0, 1, 0, 0, 0, 0]) + end)

        t = threading.Thread(target=answer)
        t.start()
        try:
            r = subprocess.run([asan, "--probe", s.config_path], capture_output=True, text=True,
                               timeout=30, env=dict(os.environ, UBSAN_OPTIONS="halt_on_error=1"))
        finally:
            t.join(timeout=10)
            srv.close()
        assert "runtime error" not in r.stderr, r.stderr
        assert r.returncode == EX_UNAVAILABLE, r.stderr
        assert "application status 2147483648" in r.stderr, r.stderr
