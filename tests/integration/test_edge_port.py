"""make run's port check finds a port in use however it is in use (issue 21, item 7).

It used to connect() to the port, which misses a port bound but not listening,
a connection in TIME-WAIT on it and a listener on another address the wanted
address covers (nginx then printed five "Address already in use" lines and
make failed with Error 1), and hangs on a listener whose queue is full. Now it
binds and listens as nginx will, and says so with exit 69 at once.
"""

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import time

import pytest
from harness import EX_UNAVAILABLE, TOP, Proc, free_port, wait_for
from test_run import RUN, processes_under, run_dir_with, waited

SERVE = os.path.join(TOP, "scripts", "serve.sh")
TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "0A": "LISTEN", "07": "CLOSE"}


def tcp_states(port):
    """The states of the IPv4 TCP sockets whose local port is port (from /proc/net/tcp)."""
    states = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                states.append(TCP_STATES.get(fields[3], fields[3]))
    return states


@contextlib.contextmanager
def bound_not_listening():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    try:
        yield "127.0.0.1", s.getsockname()[1]
    finally:
        s.close()


@contextlib.contextmanager
def time_wait():
    """A connection from 127.0.0.1:PORT that this side closed first: PORT is then held
    by nothing but the TIME-WAIT it leaves (60 s; no socket of ours stays open)."""
    port = free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = socket.socket()
        client.bind(("127.0.0.1", port))
        client.connect(server.getsockname())
        accepted, _ = server.accept()
        client.close()
        assert accepted.recv(1) == b""  # the client's FIN
        accepted.close()
    wait_for(lambda: tcp_states(port) == ["TIME_WAIT"], what=f"only a TIME-WAIT on {port}")
    yield "127.0.0.1", port


@contextlib.contextmanager
def full_queue():
    """A listener that accepts nothing and whose queue is full: a connect() to it hangs."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    waiting = []
    try:
        # Linux queues backlog + 1 connections; the next SYNs are dropped.
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(s.getsockname())
            waiting.append(c)
        yield "127.0.0.1", s.getsockname()[1]
    finally:
        for c in waiting:
            c.close()
        s.close()


WAYS = {"bound but not listening": bound_not_listening, "a connection in TIME-WAIT": time_wait,
        "a listener whose queue is full": full_queue}


def assert_refused(argv, env, d, address):
    t0 = time.monotonic()
    p = Proc(argv, env=dict(os.environ, **env))
    try:
        status = waited(p, 5)
    finally:
        p.stop(signal.SIGKILL)
    out = p.output()
    assert status == EX_UNAVAILABLE, f"exit {status}, expected {EX_UNAVAILABLE}:\n{out}"
    assert time.monotonic() - t0 < 5
    assert f"{address} is taken by another program" in out, out
    assert "Address already in use" not in out and "[emerg]" not in out, \
        f"nginx was started:\n{out}"
    assert processes_under(d) == [], f"left running: {processes_under(d)}\n{out}"
    return out


@pytest.mark.parametrize("way", WAYS)
def test_make_run_says_a_port_in_use_is_taken_and_exits_69(way):
    d = tempfile.mkdtemp(prefix="mt-run-")
    try:
        with WAYS[way]() as (host, port):
            out = assert_refused([RUN], {"RUN_DIR": d, "PORT": str(port),
                                         "METRICS_PORT": str(free_port())}, d, f"{host}:{port}")
            assert "PORT=" in out, out
    finally:
        for pid in processes_under(d):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)


def test_a_listener_on_another_address_that_the_wildcard_covers():
    """serve.sh asked for *:PORT while 127.0.0.2:PORT listens: nginx's bind would fail,
    a connect() to 0.0.0.0 (127.0.0.1) is refused."""
    other = socket.socket()
    try:
        other.bind(("127.0.0.2", 0))
    except OSError as e:
        other.close()
        pytest.skip(f"127.0.0.2 cannot be bound here: {e}")
    d = run_dir_with(config={})
    try:
        other.listen()
        port = other.getsockname()[1]
        assert_refused([SERVE, os.path.join(d, "config.ini"), d, f"*:{port}",
                        f"127.0.0.1:{free_port()}"], {}, d, f"*:{port}")
    finally:
        other.close()
        for pid in processes_under(d):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)

