"""`make run`'s script: serves on the port, stops everything on Ctrl-C or SIGTERM."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import TOP, Client, Proc, free_port, wait_for

RUN = os.path.join(TOP, "scripts", "run.sh")


def processes_under(folder):
    out = subprocess.run(["pgrep", "-f", folder], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


class Run:
    def __init__(self, run_dir):
        self.dir, self.port = run_dir, free_port()
        self.proc = Proc([RUN], env=dict(os.environ, RUN_DIR=run_dir, PORT=str(self.port)))
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
        assert run.proc.output().count("http://127.0.0.1:") == 1, "prints its address"
        # Ctrl-C: SIGINT to the whole foreground process group.
        assert run.proc.stop(signal.SIGINT, timeout=10) == 0, "exit status on Ctrl-C"
        wait_for(lambda: not processes_under(d), timeout=5, what="every process to stop")
        with open(os.path.join(d, "data", "visits")) as f:
            assert f.read() == "1\n", "counter file"
        # A second run continues the count.
        run = Run(d)
        r = run.http.get("/", headers={"Accept": "application/json"})
        assert r.json()["visits"] == 2, "second run continues"
        # SIGTERM to the script alone, as a supervisor would send it.
        os.kill(run.proc.pid, signal.SIGTERM)
        assert run.proc.wait(10) == 0, "exit status on SIGTERM"
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
        time.sleep(0.1)
    finally:
        for pid in processes_under(d):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)
