"""`make run`'s script: serves on the port, stops everything on Ctrl-C or SIGTERM."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness
import pytest
from harness import (BINARY, EX_CONFIG, EX_DATAERR, EX_UNAVAILABLE, TOP, UNPRIVILEGED, Client,
                     Proc, Stack, TestFailure, copy_checkout, free_port, free_ports, freeze,
                     reachable_by_others, render_config, unprivileged_argv, wait_for,
                     wait_for_output)

RUN = os.path.join(TOP, "scripts", "run.sh")
SERVE = os.path.join(TOP, "scripts", "serve.sh")
EX_IOERR = 74


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def processes_under(folder):
    out = subprocess.run(["pgrep", "-f", folder], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


def stopped(proc, sig, timeout=10):
    """proc's exit status once sig (to its process group) has stopped it; a process that
    does not stop fails the test with its output."""
    try:
        return proc.stop(sig, timeout)
    except TestFailure as e:
        raise TestFailure(f"{e}; it printed:\n{proc.output()[-3000:]}") from None


def waited(proc, timeout=10):
    """proc's exit status; one that does not exit in time fails the test with its output."""
    try:
        return proc.wait(timeout)
    except TestFailure as e:
        raise TestFailure(f"{e}; it printed:\n{proc.output()[-3000:]}") from None


class Run:
    def __init__(self, run_dir):
        self.dir = run_dir
        self.port, self.metrics_port = free_ports(2)
        self.proc = Proc([RUN], env=dict(os.environ, RUN_DIR=run_dir, PORT=str(self.port),
                                         METRICS_PORT=str(self.metrics_port)))
        self.http = Client(self.port)
        wait_for(self.answers, timeout=10, what="make run to serve")

    def answers(self):
        assert self.proc.alive(), "run.sh exited:\n" + self.proc.output()
        try:
            return self.http.get("/readyz").status == 200
        except OSError:
            return False


def test_run_serves_and_ctrl_c_stops_everything():
    d = tempfile.mkdtemp(prefix="mt-run-")
    try:
        run = Run(d)
        r = run.http.get("/", headers={"Accept": "application/json"})
        assert (r.status, r.json()["visits"]) == (200, 1), "first visit"
        out = wait_for_output(run.proc, "http://127.0.0.1:")
        assert out.count(f"http://127.0.0.1:{run.port}/ ") == 1, f"prints its address once:\n{out}"
        # Ctrl-C: SIGINT to the whole foreground process group.
        status = stopped(run.proc, signal.SIGINT)
        assert status == 0, f"exit status on Ctrl-C: {status}:\n{run.proc.output()}"
        wait_for(lambda: not processes_under(d), timeout=5, what="every process to stop")
        with open(os.path.join(d, "data", "visits")) as f:
            assert f.read() == "1\n", "counter file"
        # A second run continues the count.
        run = Run(d)
        r = run.http.get("/", headers={"Accept": "application/json"})
        assert r.json()["visits"] == 2, "second run continues"
        # SIGTERM to the script alone, as a supervisor would send it.
        os.kill(run.proc.pid, signal.SIGTERM)
        status = waited(run.proc)
        assert status == 0, f"exit status on SIGTERM: {status}:\n{run.proc.output()}"
        wait_for(lambda: not processes_under(d), timeout=5, what="every process to stop")
        assert not os.path.exists(os.path.join(d, "sock", "fcgi.sock")), "socket removed"
    finally:
        for pid in processes_under(d):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)


def test_when_the_responder_dies_nginx_is_stopped_too():
    d = tempfile.mkdtemp(prefix="mt-run-")
    try:
        run = Run(d)
        responder = [p for p in processes_under(d)
                     if b"--config" in open(f"/proc/{p}/cmdline", "rb").read()]
        assert len(responder) == 1, "one responder process"
        os.kill(responder[0], signal.SIGKILL)
        status = run.proc.wait(10)
        assert status != 0, f"run.sh exits non-zero, got {status}"
        wait_for(lambda: not processes_under(d), timeout=5, what="nginx to stop")
        assert "the responder exited" in run.proc.output(), run.proc.output()
    finally:
        for pid in processes_under(d):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)

# --- a responder that cannot start stops `make run` at once (issue 11, item 1)

def run_dir_with(counter=None, config=None):
    """A RUN_DIR as `make run` makes it, with a counter file and/or config.ini given."""
    d = tempfile.mkdtemp(prefix="mt-run-")
    for sub in ("data", "sock", "nginx"):
        os.mkdir(os.path.join(d, sub))
    if counter == "directory":
        os.mkdir(os.path.join(d, "data", "visits"))
    elif counter is not None:
        with open(os.path.join(d, "data", "visits"), "w") as f:
            f.write(counter)
    if config is not None:
        with open(os.path.join(d, "config.ini"), "w") as f:
            f.write(render_config({("server", "socket"): os.path.join(d, "sock", "fcgi.sock"),
                                   ("counter", "path"): os.path.join(d, "data", "visits"),
                                   **config}))
    return d


def stop_all_under(d):
    for pid in processes_under(d):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def assert_exits_alone(argv, d, code, env=None):
    """argv exits with `code` within 5 s and leaves no process under d."""
    t0 = time.monotonic()
    port, metrics_port = free_ports(2)
    p = Proc(argv, env=dict(os.environ, RUN_DIR=d, PORT=str(port), METRICS_PORT=str(metrics_port),
                            **(env or {})))
    status = p.wait(5)
    took = time.monotonic() - t0
    assert status == code, f"{argv[0]} exited {status}, expected {code}:\n{p.output()}"
    assert took <= 5, f"took {took:.1f} s"
    # Whatever it started exists by now (a fork is done before its parent exits).
    assert processes_under(d) == [], f"left running: {processes_under(d)}\n{p.output()}"
    return p.output()


def test_make_run_exits_65_at_once_on_a_corrupt_counter():
    d = run_dir_with(counter="garbage\n")
    try:
        out = assert_exits_alone([RUN], d, EX_DATAERR)
        assert "is corrupt" in out
        with open(os.path.join(d, "data", "visits")) as f:
            assert f.read() == "garbage\n", "the corrupt file is left untouched"
        assert not os.path.exists(os.path.join(d, "nginx", "nginx.pid")), "nginx was started"
    finally:
        stop_all_under(d)
        shutil.rmtree(d, ignore_errors=True)


def test_make_run_exits_74_at_once_when_the_counter_cannot_be_opened():
    d = run_dir_with(counter="directory")
    try:
        out = assert_exits_alone([RUN], d, EX_IOERR)
        assert "cannot open" in out
    finally:
        stop_all_under(d)
        shutil.rmtree(d, ignore_errors=True)


def test_make_run_exits_69_at_once_when_another_responder_holds_the_counter():
    d = run_dir_with()
    other = None
    try:
        # Another responder (its own socket, outside RUN_DIR) on this counter file.
        sock_dir = tempfile.mkdtemp(prefix="mt-other-")
        cfg = os.path.join(sock_dir, "other.ini")
        with open(cfg, "w") as f:
            f.write(render_config({("server", "socket"): os.path.join(sock_dir, "fcgi.sock"),
                                   ("counter", "path"): os.path.join(d, "data", "visits")}))
        other = Proc([BINARY, "--config", cfg])
        wait_for(lambda: "level=info ready:" in other.output(), what="the other responder")
        out = assert_exits_alone([RUN], d, EX_UNAVAILABLE)
        assert "flock held" in out
        assert other.alive(), "the other responder still runs"
    finally:
        if other is not None:
            other.stop()
        stop_all_under(d)
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_make_run_and_serve_exit_78_at_once_on_a_bad_config():
    d = run_dir_with(config={("server", "workers"): "0"})
    try:
        out = assert_exits_alone([RUN], d, EX_CONFIG)
        assert "[server] workers" in out
        # serve.sh itself, as the container runs it (no --check-config first).
        out = assert_exits_alone([SERVE, os.path.join(d, "config.ini"), d,
                                  *[f"127.0.0.1:{p}" for p in free_ports(2)]], d, EX_CONFIG)
        assert "[server] workers" in out
        assert not os.path.exists(os.path.join(d, "nginx", "nginx.pid")), "nginx was started"
    finally:
        stop_all_under(d)
        shutil.rmtree(d, ignore_errors=True)


def test_a_responder_killed_while_serving_ends_the_run_with_its_status_at_once():
    d = tempfile.mkdtemp(prefix="mt-run-")
    try:
        run = Run(d)
        responder = [p for p in processes_under(d)
                     if b"--config" in open(f"/proc/{p}/cmdline", "rb").read()]
        assert len(responder) == 1
        t0 = time.monotonic()
        os.kill(responder[0], signal.SIGKILL)
        assert run.proc.wait(5) == 128 + signal.SIGKILL, run.proc.output()
        assert time.monotonic() - t0 <= 5
        wait_for(lambda: not processes_under(d), timeout=5, what="nginx to stop")
    finally:
        stop_all_under(d)
        shutil.rmtree(d, ignore_errors=True)


# --- a second run on the same folder (item 2)

def test_a_second_run_on_the_same_folder_refuses_and_touches_nothing():
    d = tempfile.mkdtemp(prefix="mt-run-")
    try:
        first = Run(d)
        assert first.http.get("/").status == 200
        files = [os.path.join(d, "nginx", "conf", "listen.conf"), os.path.join(d, "nginx", "nginx.pid"),
                 os.path.join(d, "config.ini")]

        def state():
            return [(open(f).read(), os.stat(f).st_mtime_ns, os.stat(f).st_ino) for f in files]
        before = state()

        def servers():
            """The first run's script, responder and nginx master (not their passing
            subshells, which come and go)."""
            return sorted(p for p in processes_under(d) if p == first.proc.pid or
                          re.search(rb"--config|^nginx: master", cmdline(p)))
        pids = servers()
        second = Proc([RUN], env=dict(os.environ, RUN_DIR=d, PORT=str(free_port())))
        assert second.wait(5) == EX_UNAVAILABLE, second.output()
        assert "in use by another moscow-time" in second.output(), second.output()
        assert state() == before, "the first run's files were changed"
        assert servers() == pids, "processes came or went"
        r = first.http.get("/", headers={"Accept": "application/json"})
        assert (r.status, r.json()["visits"]) == (200, 2), "the first run still serves its count"
        status = stopped(first.proc, signal.SIGINT)
        assert status == 0, f"exit status on Ctrl-C: {status}:\n{first.proc.output()}"
        wait_for(lambda: not processes_under(d), timeout=5, what="every process to stop")
        # Once the first has stopped, a run on the folder starts again.
        again = Run(d)
        assert again.http.get("/visits").text == "2\n"
        status = stopped(again.proc, signal.SIGTERM)
        assert status == 0, f"exit status on SIGTERM: {status}:\n{again.proc.output()}"
    finally:
        stop_all_under(d)
        shutil.rmtree(d, ignore_errors=True)


# --- hints (items 6 and 9)

def test_a_taken_port_says_to_choose_another_with_PORT():
    d = tempfile.mkdtemp(prefix="mt-run-")
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = Proc([RUN], env=dict(os.environ, RUN_DIR=d, PORT=str(port),
                                 METRICS_PORT=str(free_port())))
        assert p.wait(5) == EX_UNAVAILABLE, p.output()
        assert f"127.0.0.1:{port} is taken" in p.output() and "PORT=" in p.output(), p.output()
        assert processes_under(d) == []
    finally:
        busy.close()
        stop_all_under(d)
        shutil.rmtree(d, ignore_errors=True)


def test_make_run_as_a_normal_user_whose_PATH_has_no_sbin():
    """Debian puts nginx in /usr/sbin, which a normal user's PATH lacks.

    As root it runs as nobody (setpriv), from a copy of the checkout when nobody cannot
    reach this one (a clone in root's 0700 home); as a normal user, as that user.
    """
    prefix = unprivileged_argv()
    if prefix is None:
        pytest.skip("as root, running make run as nobody needs setpriv")
    uid = UNPRIVILEGED if prefix else os.geteuid()
    run = RUN
    # run.sh runs build/moscow-time (env -i: not MOSCOW_TIME_BIN, the ASan suite's BINARY).
    binary = os.path.join(TOP, "build", "moscow-time")
    if prefix and not all(reachable_by_others(p) for p in (RUN, binary)):
        copy = tempfile.mkdtemp(prefix="mt-checkout-", dir=harness.shared_dir())
        os.chmod(copy, 0o755)
        copy_checkout(copy, build=[os.path.basename(binary)])
        run = os.path.join(copy, "scripts", "run.sh")
    d = tempfile.mkdtemp(prefix="mt-run-")
    os.chmod(d, 0o777)
    port, metrics_port = free_ports(2)
    # The pipe to its output is made by the user's own shell. (Output that root
    # owns: test_edge_access_log.py.)
    user_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": d, "RUN_DIR": d, "PORT": str(port),
                "METRICS_PORT": str(metrics_port)}
    p = Proc([*prefix, "env", "-i",
              *[f"{k}={v}" for k, v in user_env.items()], "bash", "-c", f"{run} 2>&1 | cat"])
    try:
        http = Client(port)

        def answers():
            assert p.alive(), p.output()
            try:
                return http.get("/").status == 200
            except OSError:
                return False
        wait_for(answers, timeout=10, what=f"make run as uid {uid} to serve")
        owners = {os.stat(f"/proc/{pid}").st_uid for pid in processes_under(d)}
        assert owners == {uid}, owners
        assert p.stop(signal.SIGTERM, timeout=10) in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
        wait_for(lambda: not processes_under(d), timeout=5, what="every process to stop")
    finally:
        if p.alive():
            p.stop(signal.SIGKILL)
        stop_all_under(d)
        shutil.rmtree(d, ignore_errors=True)


# --- nginx's entry point stops gracefully (item 3)

def descendants(pid):
    todo, found = [pid], []
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(c) for c in f.read().split()]
                found += kids
                todo += kids
        except FileNotFoundError:
            pass
    return found


def nginx_titles(pid):
    """The command lines of pid and its descendants that are nginx's processes."""
    titles = []
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except FileNotFoundError:
            continue
        if title.startswith("nginx:"):
            titles.append(title)
    return titles


def test_sigterm_to_the_nginx_entry_point_finishes_requests_on_kept_alive_connections():
    """Kubernetes and docker send SIGTERM, which is nginx's fast stop."""
    with Stack() as s:
        conns = [s.connection(timeout=20) for _ in range(4)]
        try:
            for c in conns:  # each connection kept alive by one request first
                assert s.request("GET", "/visits", conn=c).status == 200
            # The responder stalls: the next requests stay in flight in nginx.
            freeze(s.responder.pid)
            for c in conns:
                c.request("GET", "/")
            # For nginx to pass the four on to the frozen responder. (What is queued on a
            # unix socket shows only through sock_diag, as in `ss -x`: a pause here.)
            time.sleep(0.5)
            os.kill(s.nginx.pid, signal.SIGTERM)  # to the entry point alone, as to PID 1
            # A graceful stop has begun once each nginx worker calls itself shutting down.
            wait_for(lambda: nginx_titles(s.nginx.pid) and
                     all("shutting down" in t for t in nginx_titles(s.nginx.pid)
                         if "worker" in t), timeout=5, what="nginx's workers to start stopping")
            os.kill(s.responder.pid, signal.SIGCONT)
            statuses = []
            for c in conns:
                try:
                    r = c.getresponse()
                    r.read()
                    statuses.append(r.status)
                except OSError as e:  # http.client's RemoteDisconnected is one
                    statuses.append(repr(e))
            assert statuses == [200] * 4, statuses
            assert s.nginx.wait(5) == 0, s.nginx.output()
            assert s.counter_value() == 4
        finally:
            os.kill(s.responder.pid, signal.SIGCONT)
            for c in conns:
                c.close()
