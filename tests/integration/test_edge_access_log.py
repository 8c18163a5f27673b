"""make run as a normal user whose output belongs to someone else (issue 19, item 2).

nginx used to write its access log to /dev/stdout, which it reopens by path:
after `su - alice` in root's terminal, or with the output redirected to a file
root made, that open fails with EACCES, nginx exits and make run with it.
start-nginx.sh now gives nginx a pipe of its own (PREFIX/nginx/access.log)
and copies it to its standard output. Each test runs make run as `nobody`
(runuser) with its output on something root owns, and expects it to serve and
to log the visit there.
"""

import os
import pty
import shutil
import signal
import stat
import subprocess
import tempfile
import threading

import pytest
from harness import TOP, Client, copy_checkout, free_ports, reachable_by_others, wait_for

RUN = os.path.join(TOP, "scripts", "run.sh")
RUN_BINARY = os.path.join(TOP, "build", "moscow-time")  # make run's (not MOSCOW_TIME_BIN)
USER, UID = "nobody", 65534


def why_not():
    """None if make run can be started as USER here; else why not (for a skip)."""
    if os.geteuid() != 0:
        return "needs root: starts make run as another user (runuser)"
    if shutil.which("runuser") is None:
        return "needs runuser (util-linux)"
    return None


def run_script(top):
    """scripts/run.sh of a checkout USER can read: this one, or a copy in top. Debian's
    /root is 0700, so a clone there (a fresh machine's first `make test` as root) is out
    of USER's reach."""
    if all(reachable_by_others(p) for p in (RUN, RUN_BINARY)):
        return RUN
    copy = os.path.join(top, "checkout")
    copy_checkout(copy, build=[os.path.basename(RUN_BINARY)])
    return os.path.join(copy, "scripts", "run.sh")


class Output:
    """Something root owns that the user's make run writes to: a file or a terminal."""

    def __init__(self, kind, folder):
        self.kind, self.chunks = kind, []
        if kind == "file":
            self.path = os.path.join(folder, "run.log")
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            self.reader = None
        else:
            master, self.fd = pty.openpty()
            self.path = os.ttyname(self.fd)
            self.master = master
            self.reader = threading.Thread(target=self._drain, daemon=True)
            self.reader.start()
        st = os.fstat(self.fd)
        assert st.st_uid == 0 and not st.st_mode & stat.S_IWOTH, \
            f"{self.path} must be root's and not writable by others: {oct(st.st_mode)}"

    def _drain(self):
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: no process has the terminal open any more
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def text(self):
        if self.kind == "file":
            with open(self.path, "rb") as f:
                return f.read().decode(errors="replace")
        return b"".join(self.chunks).decode(errors="replace")

    def close(self):
        os.close(self.fd)
        if self.reader is not None:
            self.reader.join(5)
            os.close(self.master)


@pytest.mark.parametrize("kind", ["file", "terminal"])
def test_make_run_as_another_user_serves_and_logs_to_an_output_root_owns(kind):
    reason = why_not()
    if reason:
        pytest.skip(reason)
    top = tempfile.mkdtemp(prefix="mt-edge-")  # root's, 0700: the output lives here
    os.chmod(top, 0o755)
    run_dir = os.path.join(top, "run")
    os.mkdir(run_dir)
    os.chown(run_dir, UID, UID)
    run = run_script(top)
    out = Output(kind, top)
    port, metrics_port = free_ports(2)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": run_dir, "RUN_DIR": run_dir,
           "PORT": str(port), "METRICS_PORT": str(metrics_port)}
    p = subprocess.Popen(["runuser", "-u", USER, "--", "env", "-i",
                          *[f"{k}={v}" for k, v in env.items()], run],
                         stdin=subprocess.DEVNULL, stdout=out.fd, stderr=out.fd,
                         start_new_session=True)
    try:
        http = Client(port)

        def serves():
            assert p.poll() is None, f"make run exited ({p.returncode}):\n{out.text()}"
            try:
                return http.get("/", headers={"User-Agent": "edge-test"}).status == 200
            except OSError:
                return False
        wait_for(serves, timeout=10, what=f"make run as {USER} to serve")
        # The visit's line reaches the output through nginx's pipe (flush=1s).
        wait_for(lambda: '"user_agent":"edge-test"' in out.text(), timeout=5,
                 what=f"the access log line in the {kind}")
        owners = {os.stat(f"/proc/{pid}").st_uid for pid in group_members(p.pid)
                  if pid != p.pid}  # runuser itself stays root
        assert owners == {UID}, f"processes run as {owners}"
        # SIGTERM to the script (runuser's child), as a supervisor sends it;
        # runuser passes its exit status on.
        script = [pid for pid in group_members(p.pid) if parent(pid) == p.pid]
        assert len(script) == 1, script
        os.kill(script[0], signal.SIGTERM)
        assert p.wait(10) == 0, f"exit status on SIGTERM:\n{out.text()}"
        wait_for(lambda: not group_members(p.pid), timeout=5, what="every process to stop")
        assert "Permission denied" not in out.text(), out.text()
    finally:
        if group_members(p.pid):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(5)
        out.close()
        shutil.rmtree(top, ignore_errors=True)


def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[1])


def group_members(pgid):
    """The live (not zombie) processes of process group pgid."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(name))
    return found
