"""make run stops cleanly on SIGINT or SIGTERM however it was started (issue 19, item 3).

A background job of a script, `nohup make run &` and some CI launchers start
it with SIGINT ignored, which bash can neither trap nor reset: serve.sh used to
miss the Ctrl-C, the responder and nginx stopped on their own, and make run
exited 1. serve.sh now runs itself again with SIGINT and SIGTERM at their
defaults. Each test starts make run with the signals ignored (env
--ignore-signal), whatever the state of the test runner itself.
"""

import os
import shutil
import signal
import tempfile

import pytest
from harness import Client, Proc, free_ports, wait_for
from test_run import RUN, processes_under, stopped, waited


def start_ignoring(signals, run_dir):
    """make run started with signals ignored; returns (its Proc, its HTTP port)."""
    port, metrics_port = free_ports(2)
    return Proc(["env", f"--ignore-signal={signals}", RUN],
                env=dict(os.environ, RUN_DIR=run_dir, PORT=str(port),
                         METRICS_PORT=str(metrics_port))), port


def wait_serving(proc, port):
    """Waits for one visit to be answered."""
    http = Client(port)

    def serves():
        assert proc.alive(), "run.sh exited:\n" + proc.output()
        try:
            return http.get("/").status == 200
        except OSError:
            return False
    wait_for(serves, timeout=10, what="make run to serve")


def cleanup(proc, d):
    """Stops whatever is left: the whole process group first (nginx's workers too, whose
    command lines do not name the folder), then anything else under d."""
    if proc is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in processes_under(d):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("signals", ["INT", "INT,QUIT", "INT,TERM"])
def test_ctrl_c_stops_a_run_started_with_sigint_ignored(signals):
    d, proc = tempfile.mkdtemp(prefix="mt-run-"), None
    try:
        proc, port = start_ignoring(signals, d)
        wait_serving(proc, port)
        # Ctrl-C: SIGINT to the whole process group.
        status = stopped(proc, signal.SIGINT)
        assert status == 0, f"exit status on Ctrl-C: {status}:\n{proc.output()}"
        assert "moscow-time: stopping" in proc.output(), proc.output()
        wait_for(lambda: not processes_under(d), timeout=5, what="every process to stop")
        with open(os.path.join(d, "data", "visits")) as f:
            assert f.read() == "1\n", "the counter was flushed"
        assert not os.path.exists(os.path.join(d, "sock", "fcgi.sock")), "socket removed"
    finally:
        cleanup(proc, d)


def test_sigterm_to_the_script_alone_stops_a_run_started_with_sigint_and_sigterm_ignored():
    d, proc = tempfile.mkdtemp(prefix="mt-run-"), None
    try:
        proc, port = start_ignoring("INT,TERM", d)
        wait_serving(proc, port)
        os.kill(proc.pid, signal.SIGTERM)  # as a supervisor sends it
        status = waited(proc)
        assert status == 0, f"exit status on SIGTERM: {status}:\n{proc.output()}"
        wait_for(lambda: not processes_under(d), timeout=5, what="every process to stop")
        with open(os.path.join(d, "data", "visits")) as f:
            assert f.read() == "1\n", "the counter was flushed"
    finally:
        cleanup(proc, d)


def test_a_run_started_under_nohup_keeps_sighup_ignored():
    """nohup's choice stands: only SIGINT and SIGTERM are reset."""
    d, proc = tempfile.mkdtemp(prefix="mt-run-"), None
    try:
        proc, port = start_ignoring("INT,HUP", d)
        wait_serving(proc, port)
        # The script (same PID after its exec) as it serves.
        with open(f"/proc/{proc.pid}/status") as f:
            ignored = int(next(x for x in f if x.startswith("SigIgn:")).split()[1], 16)
        assert ignored & (1 << (signal.SIGHUP - 1)), "SIGHUP is no longer ignored"
        assert not ignored & (1 << (signal.SIGINT - 1)), "SIGINT is still ignored"
        status = stopped(proc, signal.SIGINT)
        assert status == 0, f"exit status on Ctrl-C: {status}:\n{proc.output()}"
    finally:
        cleanup(proc, d)
