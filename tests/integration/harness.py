"""Start a real nginx and the real responder on loopback, talk HTTP to them.

Every test builds its own Stack: a fresh temporary folder (config.ini, counter,
socket, nginx prefix), the responder from build/, nginx through
scripts/start-nginx.sh on two free 127.0.0.1 ports (Stack.port, public, and
Stack.metrics_port, the metrics server). Stack.close() stops every process it
started and removes the folder, also when the test failed.
"""

import atexit
import contextlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("MOSCOW_TIME_BIN", os.path.join(TOP, "build", "moscow-time"))
EXAMPLE_CONFIG = os.path.join(TOP, "fcgi-app", "config.ini")
START_NGINX = os.path.join(TOP, "scripts", "start-nginx.sh")
NGINX_CONF = os.path.join(TOP, "nginx-conf", "nginx.conf")

EX_DATAERR, EX_UNAVAILABLE, EX_CONFIG = 65, 69, 78

_live = []  # every process started, so that a crashed test cannot leak one
_started = []  # every process started since the last sanitizer_reports()
_this_test = []  # every process the running test started: shown when it fails

# What AddressSanitizer, LeakSanitizer, UBSan and ThreadSanitizer print (make test-asan
# and make test-tsan run the responder built with them, MOSCOW_TIME_BIN=build/...).
SANITIZER_REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: |"
                              r"SUMMARY: UndefinedBehaviorSanitizer|WARNING: ThreadSanitizer")


class TestFailure(AssertionError):
    pass


def wait_for(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def wait_for_output(proc, text, timeout=5.0, what=None):
    """proc's output once text is in it.

    A process's lines reach us through a pipe and a reader thread, a moment after the
    request or signal that caused them has been answered: a test that reads output()
    once right after an action races that thread. Returns the output seen.
    """
    try:
        wait_for(lambda: text in proc.output(), timeout,
                 what=what or f"{text!r} in the output of {os.path.basename(proc.p.args[0])}")
    except TestFailure as e:
        raise TestFailure(f"{e}; it printed:\n{proc.output()[-3000:]}") from None
    return proc.output()


def freeze(pid, timeout=5.0):
    """SIGSTOP pid and return once every one of its threads has stopped.

    kill() returns before the group stop reaches the other threads (the one
    that takes the signal tells them when it is next scheduled), so on a
    loaded machine a worker could still answer a request sent right after it.
    """
    os.kill(pid, signal.SIGSTOP)

    def stopped():
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    state = f.read().rpartition(")")[2].split()[0]
            except FileNotFoundError:
                continue  # a thread that exited meanwhile
            if state not in ("T", "t"):
                return False
        return True

    wait_for(stopped, timeout, what=f"every thread of {pid} to stop")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n different free ports (free_port twice may give the same one)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def print_config(path):
    """`moscow-time --print-config path` as [(section, key, value)], in the key table's order."""
    r = subprocess.run([BINARY, "--print-config", path], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise TestFailure(f"--print-config {path}: exit {r.returncode}: {r.stderr.strip()}")
    entries = []
    for line in r.stdout.split("\n")[:-1]:
        m = re.fullmatch(r"\[(\w+)\] (\w+) = (.*)", line)
        if m is None:
            raise TestFailure(f"--print-config {path}: not a [section] key = value line: {line!r}")
        entries.append(m.groups())
    return entries


_example = []


def read_example_config():
    """The example config.ini's keys and values as the responder reads them, in table order."""
    if not _example:
        _example.extend(print_config(EXAMPLE_CONFIG))
    return list(_example)


def ini_value(value):
    """value as config.ini must spell it to mean exactly value (quoted when needed)."""
    if value == value.strip() and not any(c in value for c in ";#") and value[:1] not in "\"'":
        return value
    quote = "'" if '"' in value else '"'
    return f"{quote}{value}{quote}"


def render_config(overrides):
    """config.ini text: the example's keys with overrides {(section, key): text|None}.

    An override is written as given (raw config.ini text); the example's values are quoted
    where config.ini needs it.
    """
    lines, last = [], None
    for section, key, value in read_example_config():
        if section != last:
            lines.append(f"\n[{section}]")
            last = section
        value = overrides.get((section, key), ini_value(value))
        if value is not None:
            lines.append(f"{key} = {value}")
    return "\n".join(lines).lstrip() + "\n"


class Proc:
    """A process whose stdout and stderr go to a pipe, as under a container runtime.

    (A regular log file would also be subject to the RLIMIT_FSIZE the fault
    tests set on the responder.)
    """

    # None: keep all it prints. A number: keep the first KEEP_BYTES / 4 and the last
    # KEEP_BYTES of it (scripts/bench.py: nginx's access log of millions of requests
    # would otherwise be kept whole, gigabytes).
    KEEP_BYTES = None

    def __init__(self, argv, **kw):
        self.chunks = []
        self.head, self.kept, self.dropped = [], 0, 0
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()
        _live.append(self)
        _started.append(self)
        _this_test.append(self)

    def _drain(self):
        for chunk in iter(lambda: self.p.stdout.read1(65536), b""):
            self.chunks.append(chunk)
            self.kept += len(chunk)
            limit = Proc.KEEP_BYTES
            if limit is None:
                continue
            while sum(map(len, self.head)) < limit // 4 and self.chunks:
                self.head.append(self.chunks.pop(0))
                self.kept -= len(self.head[-1])
            while self.kept > limit and len(self.chunks) > 1:
                self.kept -= len(self.chunks[0])
                self.dropped += len(self.chunks.pop(0))

    @property
    def pid(self):
        return self.p.pid

    def output(self):
        gap = [f"\n[... {self.dropped} bytes not kept ...]\n".encode()] if self.dropped else []
        return b"".join([*self.head, *gap, *self.chunks]).decode(errors="replace")

    def alive(self):
        return self.p.poll() is None

    def send(self, sig):
        if self.alive():
            os.killpg(self.p.pid, sig)

    def wait(self, timeout):
        try:
            status = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"{self.p.args[0]} did not exit within {timeout} s")
        self.reader.join(5)  # everything it wrote is in output() from here on
        return status

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Stops the process group; returns the exit status."""
        self.send(sig)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGKILL)
            self.p.wait(5)
            raise TestFailure(f"{self.p.args[0]} ignored signal {sig} for {timeout} s")
        finally:
            self._end_group()
            self.reader.join(5)
            if not self.reader.is_alive():  # closing under a blocked read would hang
                self.p.stdout.close()
            if self in _live:
                _live.remove(self)

    def _end_group(self):
        """What is left of the process group once its leader has exited (an nginx worker
        whose master was killed, say) still holds the output pipe: SIGKILLed, and said
        so in the output, so that nothing a test started outlives it."""
        left = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if int(pid) != self.p.pid and os.getpgid(int(pid)) == self.p.pid:
                    left.append(int(pid))
            except (ProcessLookupError, PermissionError):
                pass
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            self.chunks.append(f"[harness: killed {len(left)} process(es) of its group left "
                               f"running after it: {left}]\n".encode())


def kill_leftovers():
    for proc in list(_live):
        try:
            proc.stop(signal.SIGKILL, 5)
        except TestFailure:
            pass


def outputs_of_this_test(lines=40):
    """[(title, text)]: the end of what each process the test started printed (conftest
    shows them under a failed test), then forgets them."""
    found = []
    for proc in _this_test:
        argv = " ".join(os.path.basename(str(a)) if i == 0 else str(a)
                        for i, a in enumerate(proc.p.args))
        status = proc.p.returncode
        title = f"output of {argv[:120]} (pid {proc.pid}, " + \
                ("running)" if status is None else f"exit status {status})")
        text = "\n".join(proc.output().rstrip("\n").split("\n")[-lines:])
        found.append((title, text or "(nothing)"))
    _this_test.clear()
    return found


def sanitizer_reports():
    """Sanitizer reports in the output of the processes started since the last call.

    Call once they have stopped (kill_leftovers), so that their output is whole.
    """
    found = []
    for proc in _started:
        out = proc.output()
        m = SANITIZER_REPORT.search(out)
        if m:
            start = out.rfind("\n", 0, max(0, m.start() - 300)) + 1
            found.append(f"{proc.p.args[0]} (pid {proc.pid}):\n{out[start:start + 6000]}")
    _started.clear()
    return found


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode()

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:200]!r}>"


class Client:
    """HTTP/1.1 to 127.0.0.1:port; keep-alive when given a connection."""

    def __init__(self, port):
        self.port = port

    def connection(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, headers=None, body=None, conn=None):
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            if own:
                conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)


@contextlib.contextmanager
def descriptors(need, what):
    """RLIMIT_NOFILE of at least need for the with block (and for the processes started in
    it), back as it was after. Raising the hard limit needs root: where it is lower, a
    pytest skip that says so."""
    import pytest
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (need, hard if hard == resource.RLIM_INFINITY else max(hard, need)))
        except (ValueError, OSError):
            pytest.skip(f"needs root: {what} need RLIMIT_NOFILE {need}, above the hard limit "
                        f"{hard} that only root can raise")
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


UNPRIVILEGED = 65534  # nobody:nogroup, whom a test runs as when it needs permissions to hold


def unprivileged_argv():
    """The prefix that runs a command without root: [] when we are not root; setpriv to
    UNPRIVILEGED when we are (None if setpriv is missing). Root ignores file permissions,
    so a test of what a permission refuses runs its responder through this."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    return ["setpriv", f"--reuid={UNPRIVILEGED}", f"--regid={UNPRIVILEGED}", "--clear-groups"]


def reachable_by_others(path):
    """Can a user who is neither owner nor in the group read path (and search every folder
    above it)? A clone in root's own home (mode 0700) is not."""
    p = os.path.abspath(path)
    if not os.stat(p).st_mode & 0o004:
        return False
    while p != "/":
        p = os.path.dirname(p)
        if not os.stat(p).st_mode & 0o001:
            return False
    return True


_shared = {}


def shared_dir():
    """A folder for the whole test session that every user can read (0755), removed at
    exit: what an unprivileged process needs from a checkout other users cannot reach."""
    if "dir" not in _shared:
        d = tempfile.mkdtemp(prefix="mt-shared-")
        os.chmod(d, 0o755)
        _shared["dir"] = d
        atexit.register(shutil.rmtree, d, True)
    return _shared["dir"]


def unprivileged_binary():
    """BINARY, or a copy of it that other users can reach when they cannot reach it."""
    if reachable_by_others(BINARY):
        return BINARY
    copy = os.path.join(shared_dir(), os.path.basename(BINARY))
    if not os.path.exists(copy):
        shutil.copy2(BINARY, copy)
        os.chmod(copy, 0o755)
    return copy


def copy_checkout(dest, build=()):
    """The checkout's files (tracked and new, not ignored: what a fresh clone has) copied
    to dest with their times, and the named files of build/. Returns dest."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=TOP,
                           capture_output=True, check=True).stdout.split(b"\0")
    for f in [*filter(None, (x.decode() for x in files)), *(f"build/{b}" for b in build)]:
        src, dst = os.path.join(TOP, f), os.path.join(dest, f)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
    return dest


def why_not_unprivileged():
    """None if a process can be run without root here (we are not root, or can drop it);
    else why not, for a pytest.skip."""
    if unprivileged_argv() is None:
        return "as root, running a process as another user needs setpriv (util-linux)"
    return None


class Stack:
    """A responder and an nginx in a temporary folder.

    unprivileged=True runs the responder without root (see unprivileged_argv): the folder
    and its files then belong to that user; nginx stays as it is.
    """

    def __init__(self, config=None, counter=None, start=True, workers=None, nginx_extra="",
                 nginx_conf=NGINX_CONF, responder_env=None, unprivileged=False):
        # Short, because a unix socket path holds at most 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="mt-")
        for sub in ("sock", "data", "nginx"):
            os.mkdir(os.path.join(self.dir, sub))
        self.counter_path = os.path.join(self.dir, "data", "visits")
        self.socket_path = os.path.join(self.dir, "sock", "fcgi.sock")
        self.config_path = os.path.join(self.dir, "config.ini")
        overrides = {("server", "socket"): self.socket_path,
                     ("counter", "path"): self.counter_path}
        if workers is not None:
            overrides[("server", "workers")] = str(workers)
        overrides.update(config or {})
        self.write_config(overrides)
        if counter is not None:
            with open(self.counter_path, "wb") as f:
                f.write(counter if isinstance(counter, bytes) else counter.encode())
        self.responder = self.nginx = None
        self.port = self.metrics_port = None  # nginx's public and metrics servers
        self.nginx_extra = nginx_extra
        self.nginx_conf = nginx_conf
        self.responder_env = dict(os.environ, **(responder_env or {}))
        self.prefix = []
        self.binary = BINARY
        if unprivileged:
            self.prefix = unprivileged_argv()
            if self.prefix is None:
                shutil.rmtree(self.dir, ignore_errors=True)
                raise TestFailure("as root, running the responder without root needs setpriv")
            if self.prefix:
                self.binary = unprivileged_binary()
                for top, dirs, files in os.walk(self.dir):
                    for name in [top, *(os.path.join(top, n) for n in dirs + files)]:
                        os.chown(name, UNPRIVILEGED, UNPRIVILEGED)
        if start:
            try:
                self.start_responder()
                self.start_nginx()
            except BaseException:
                self.close()  # no `with` block runs __exit__ when __init__ fails
                raise

    def write_config(self, overrides):
        with open(self.config_path, "w") as f:
            f.write(render_config(overrides))

    def other_config(self, name, socket=False, counter=False):
        """A copy of config.ini for a second responder, with its own socket and/or counter.

        Returns (config path, socket path, counter path).
        """
        sock = os.path.join(self.dir, "sock", f"{name}.sock") if socket else self.socket_path
        counter_path = os.path.join(self.dir, "data", name) if counter else self.counter_path
        with open(self.config_path) as f:
            text = f.read().replace(self.socket_path, sock).replace(self.counter_path,
                                                                   counter_path)
        path = os.path.join(self.dir, f"{name}.ini")
        with open(path, "w") as f:
            f.write(text)
        return path, sock, counter_path

    # processes

    def spawn_responder(self, config_path=None):
        """Starts a responder without waiting for it."""
        return Proc([*self.prefix, self.binary, "--config", config_path or self.config_path],
                    env=self.responder_env)

    def start_responder(self):
        self.responder = self.spawn_responder()
        wait_for(lambda: "level=info ready:" in self.responder.output()
                 or not self.responder.alive(), what="the responder to be ready")
        if not self.responder.alive():
            raise TestFailure("responder exited at start:\n" + self.responder.output())
        return self.responder

    def stop_responder(self, sig=signal.SIGTERM, timeout=5.0):
        status = self.responder.stop(sig, timeout)
        return status

    def start_nginx(self):
        for _ in range(10):
            self.port, self.metrics_port = free_ports(2)
            self.nginx = Proc([START_NGINX, self.dir, f"127.0.0.1:{self.port}",
                               f"127.0.0.1:{self.metrics_port}"],
                              env=dict(os.environ, NGINX_CONF=self.nginx_conf,
                                       NGINX_SERVER_EXTRA=self.nginx_extra))
            try:
                wait_for(lambda: not self.nginx.alive() or self._answers(), timeout=5,
                         what="nginx to answer")
            except TestFailure:
                self.nginx.stop(signal.SIGKILL)
                raise
            if self.nginx.alive():
                return self.nginx
            if "Address already in use" not in self.nginx.output():
                raise TestFailure("nginx exited at start:\n" + self.nginx.output())
            self.nginx.stop()  # another run took the port between our probe and nginx's bind
        raise TestFailure("no free port for nginx after 10 tries")

    def _answers(self):
        try:
            return self.get("/healthz").status == 200
        except OSError:
            return False

    def close(self):
        for proc in (self.nginx, self.responder):
            if proc is not None and proc in _live:
                try:
                    proc.stop(signal.SIGKILL if proc is self.nginx else signal.SIGTERM)
                except TestFailure:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # HTTP: see Client

    def connection(self, timeout=10):
        return Client(self.port).connection(timeout)

    def request(self, method, path, headers=None, body=None, conn=None):
        return Client(self.port).request(method, path, headers, body, conn)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    # state

    def counter_bytes(self):
        with open(self.counter_path, "rb") as f:
            return f.read()

    def gauge(self, name):
        """A sample without labels from /metrics (nginx's metrics server), or None."""
        r = Client(self.metrics_port).get("/metrics")
        m = re.search(rf"^{re.escape(name)} (\S+)$", r.text, re.M)
        return float(m.group(1)) if m else None

    def counter_value(self):
        data = self.counter_bytes()
        if not re.fullmatch(rb"\d+\n?", data):
            raise TestFailure(f"counter file does not parse: {data!r}")
        return int(data)
