"""The counter's promise when the world around it misbehaves (issue 8).

Every visit that got a 200 is in the counter file, and the file never goes
backwards, tears or resets: when another process deletes, replaces or rewrites
it, when the disk fills or fails, when a second responder races the first, when
the responder starts with its standard descriptors closed. Faults are real
ones: RLIMIT_FSIZE, a full tmpfs, a read-only bind mount, a directory in the
way, and syscalls failed or delayed by strace in the live process. Tests that
need root (mounts; strace attaching to a running process where Yama forbids it
to a user) are skipped without it; a test of a permission that root would
ignore runs its responder as nobody when run as root.
"""

import contextlib
import fcntl
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
from concurrent.futures import ThreadPoolExecutor

import pytest

import harness
from harness import BINARY, Proc, Stack, wait_for

EX_IOERR = 74
JSON = {"Accept": "application/json"}


def need_root(what):
    if os.geteuid() != 0:
        pytest.skip(f"needs root: {what}")


def need_strace(attach=True):
    """strace installed and, with attach, allowed to attach to a running responder: as root,
    or as its own user where Yama does not restrict ptrace to descendants (ptrace_scope 0 or
    no Yama: the responder is pytest's child, strace its sibling)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    if attach and os.geteuid() != 0 and ptrace_scope() > 0:
        pytest.skip(f"needs root: strace attaches to a running responder, and "
                    f"kernel.yama.ptrace_scope is {ptrace_scope()}")


def ptrace_scope():
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read())
    except FileNotFoundError:
        return 0  # no Yama: a user may trace their own processes


@contextlib.contextmanager
def mounted(target, *args):
    """mount(8) with args onto target for the with block; unmounted after, whatever happens."""
    subprocess.run(["mount", *args, target], check=True, capture_output=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", target], check=True, capture_output=True)


class Trace:
    text = ""  # what strace wrote, once detached


@contextlib.contextmanager
def strace(pid, *args):
    """strace attached to every thread of pid with args (inject=...); detached after."""
    out = tempfile.NamedTemporaryFile(prefix="mt-strace-", delete=False)
    out.close()
    trace = Trace()
    p = Proc(["strace", "-f", "-qq", "-ttt", "-p", str(pid), "-o", out.name, *args])
    try:
        # -qq hides "attached"; strace is attached once the tracee shows a tracer.
        wait_for(lambda: tracer_of(pid) == p.pid or not p.alive(), timeout=10,
                 what="strace to attach")
        assert p.alive(), p.output()
        # The other threads are attached right after the first: wait for each to show it.
        wait_for(lambda: all(tracer_of(f"{pid}/task/{t}") in (p.pid, None)
                             for t in os.listdir(f"/proc/{pid}/task")) or not p.alive(),
                 timeout=10, what="strace to attach to every thread")
        assert p.alive(), p.output()
        yield trace
    finally:
        p.stop(signal.SIGINT)  # detaches; the responder runs on
        wait_for(lambda: tracer_of(pid) in (0, None), timeout=10, what="strace to detach")
        try:
            with open(out.name) as f:
                trace.text = f.read()
        finally:
            os.unlink(out.name)


def tracer_of(pid):
    """The TracerPid of pid (or of "pid/task/tid"): 0 untraced, None gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(re.search(r"TracerPid:\s+(\d+)", f.read()).group(1))
    except FileNotFoundError:
        return None


def set_fsize(pid, soft):
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, resource.RLIM_INFINITY))


def visit(s):
    """One GET / as JSON: (status, the count it reports or None)."""
    r = s.get("/", headers=JSON)
    return r.status, (r.json()["visits"] if r.status == 200 else None)


def replace_file(path, data):
    """What a restore from backup does: a new file renamed over the old one."""
    new = path + ".restore"
    with open(new, "wb") as f:
        f.write(data)
    os.rename(new, path)


def write_in_place(path, data):
    """What `echo N > file` does: the same inode, truncated and rewritten."""
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data)


def errors(log):
    return [line for line in log.splitlines() if "level=error" in line]


def recoveries(log):
    return [line for line in log.splitlines() if "level=info" in line and "works again" in line]


def log_when(s, ready):
    """The responder's log once ready(log) holds. Its lines reach us through a pipe, a moment
    after the response that followed them; a test counting lines stops the responder first."""
    wait_for(lambda: ready(s.responder.output()), what="a line in the responder's log")
    return s.responder.output()


def whole_log(s):
    """Stops the responder (exit 0 expected) and returns everything it logged."""
    assert s.stop_responder() == 0
    return s.responder.output()


# 1. sync=always: a failed batch never hands its numbers out again.

def test_failed_batches_never_hand_out_a_number_twice():
    # (The unit test of the same name reproduces the race every time; through
    # nginx it shows in about half the runs of the old code.)
    with Stack(config={("counter", "sync"): "always"}, workers=16, counter="1000\n") as s:
        stop = threading.Event()

        def toggle():
            # Writes fail with EFBIG while the limit is 0: batches fail at random moments.
            while not stop.is_set():
                # How long each fault lasts: durations, not waits for state.
                set_fsize(s.responder.pid, 0)
                stop.wait(0.003)
                set_fsize(s.responder.pid, resource.RLIM_INFINITY)
                stop.wait(0.005)

        def client(_):
            seen, conn = [], s.connection()
            for _ in range(200):
                r = s.request("GET", "/", headers=JSON, conn=conn)
                seen.append((r.status, r.json()["visits"] if r.status == 200 else None))
            conn.close()
            return seen

        toggler = threading.Thread(target=toggle)
        toggler.start()
        try:
            with ThreadPoolExecutor(32) as pool:
                results = [x for part in pool.map(client, range(32)) for x in part]
        finally:
            stop.set()
            toggler.join()
            set_fsize(s.responder.pid, resource.RLIM_INFINITY)
        numbers = [n for status, n in results if status == 200]
        refused = sum(1 for status, _ in results if status == 503)
        assert refused > 0 and len(numbers) > 0, (refused, len(numbers))
        dupes = sorted({n for n in numbers if numbers.count(n) > 1})
        assert not dupes, f"{len(dupes)} counts were acknowledged twice, e.g. {dupes[:5]}"
        final = s.counter_value()
        assert final >= 1000 + len(numbers), (final, len(numbers))
        assert final >= max(numbers)
        assert s.get("/visits").text == f"{final}\n"


# 2. Two responders: the lock is proven to be on the file the path names.

def children_of(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def holds_open(pid, path):
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == path
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_a_second_responder_never_locks_a_file_renamed_away():
    need_strace(attach=False)  # strace starts the second responder itself
    delay = 2.0
    with Stack(counter="9\n") as s:
        cfg, _, _ = s.other_config("second", socket=True)
        # The second responder's first flock waits `delay` s after its open: the first
        # responder's next visit renames "10" over the path in that gap and lets go of
        # the old file, the one the second has open.
        second = Proc(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=flock",
                       "-e", f"inject=flock:delay_enter={int(delay * 1e6)}:when=1",
                       BINARY, "--config", cfg],
                      # LeakSanitizer cannot run under ptrace (the ASan build's suite).
                      env=dict(os.environ,
                               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"))
        try:
            pid = wait_for(lambda: (children_of(second.pid) or [None])[0], timeout=10,
                           what="the second responder to run")
            wait_for(lambda: holds_open(pid, s.counter_path) or not second.alive(),
                     timeout=10, what="the second responder to open the counter file")
            start = time.monotonic()
            assert visit(s) == (200, 10)
            assert time.monotonic() - start < delay / 2, "too slow to test the race"
            status = second.wait(delay + 10) if not wait_ready(second, delay + 5) else None
            out = second.output()
            assert status == harness.EX_UNAVAILABLE, f"second responder: {status}\n{out}"
            assert "another responder is using it" in out, out
        finally:
            second.stop(signal.SIGKILL)
        for expected in range(11, 14):
            assert visit(s) == (200, expected)
        assert s.counter_bytes() == b"13\n"


def wait_ready(proc, timeout):
    """True if proc logged that it is ready within timeout s; False if it exited first."""
    try:
        wait_for(lambda: "level=info ready:" in proc.output() or not proc.alive(), timeout)
    except AssertionError:
        return False
    return "level=info ready:" in proc.output()


# 3. Descriptors 0-2 closed at start: nothing else may land on them.

def test_closed_standard_descriptors_never_become_the_counter_file():
    for closed in ("2>&-", "0<&- 1>&- 2>&-"):
        with Stack(counter="41\n", start=False) as s:
            s.responder = Proc(["sh", "-c", f'exec "$0" --config "$1" {closed}', BINARY,
                                s.config_path])
            wait_for(lambda: socket_answers(s.socket_path) or not s.responder.alive(),
                     what="the responder's socket")
            assert s.responder.alive(), f"{closed}: exited {s.responder.wait(1)}"
            s.start_nginx()
            assert visit(s) == (200, 42), closed
            assert s.stop_responder() == 0, closed
            assert s.counter_bytes() == b"42\n", f"{closed}: {s.counter_bytes()[:80]!r}"
            s.start_responder()
            assert visit(s) == (200, 43), closed


def socket_answers(path):
    with socket.socket(socket.AF_UNIX) as c:
        try:
            c.connect(path)
            return True
        except OSError:
            return False


# 4. The file deleted, replaced or rewritten by someone else while the responder runs.

def test_a_deleted_counter_file_is_recreated_from_memory():
    with Stack(counter="41\n") as s:
        assert visit(s) == (200, 42)
        os.unlink(s.counter_path)
        assert visit(s) == (200, 43)
        assert s.counter_bytes() == b"43\n"
        # Deleted again: the readiness probe, then the stop, put it back too.
        os.unlink(s.counter_path)
        assert s.get("/readyz").status == 200
        assert s.counter_bytes() == b"43\n"
        os.unlink(s.counter_path)
        assert s.stop_responder() == 0
        assert s.counter_bytes() == b"43\n"
        s.start_responder()
        assert visit(s) == (200, 44)
        log = s.responder.output()
        assert "created, starting at 0" not in log, log


def test_a_restored_larger_count_is_taken_and_locked():
    with Stack(counter="41\n") as s:
        assert visit(s) == (200, 42)
        replace_file(s.counter_path, b"500\n")
        assert visit(s) == (200, 501)
        assert s.counter_bytes() == b"501\n"
        # The responder holds the new file now: a second one is refused.
        cfg, _, _ = s.other_config("second", socket=True)
        p = s.spawn_responder(cfg)
        assert p.wait(5) == harness.EX_UNAVAILABLE, p.output()
        # Rewritten in place with a larger number of the same length.
        write_in_place(s.counter_path, b"900\n")
        assert visit(s) == (200, 901)
        assert s.counter_bytes() == b"901\n"
        log_when(s, lambda log: "changed from outside" in log)


def test_a_longer_number_written_in_place_is_taken_not_torn():
    with Stack(counter="41\n") as s:
        assert visit(s) == (200, 42)
        with open(s.counter_path, "r+b") as f:  # no truncate: over the first bytes
            f.write(b"12345\n")
        assert s.get("/readyz").status == 200
        assert s.counter_bytes() == b"12345\n"
        assert visit(s) == (200, 12346)
        assert s.counter_bytes() == b"12346\n"


@pytest.mark.parametrize("failing,calls", [("the main thread's watch", "2"),
                                           ("both watches", "1..2")])
def test_visits_see_outside_changes_whichever_watch_is_missing(failing, calls):
    """A visit looks the counter path up only when its own watch on the folder saw the name
    change; the main thread's watch repairs without a visit. inotify_init1 fails (strace) for
    the counter file's watch (the first call) and/or the main thread's (the second): without
    the main thread's, each visit alone must see the change; without both, each visit looks
    the path up."""
    need_strace(attach=False)  # strace starts the responder itself
    trace = tempfile.NamedTemporaryFile(prefix="mt-strace-", delete=False)
    trace.close()
    with Stack(counter="41\n", start=False,
               # LeakSanitizer cannot run under ptrace (the ASan build's suite).
               responder_env={"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "")
                              + ":detect_leaks=0"}) as s:
        s.prefix = ["strace", "-f", "-qq", "-o", trace.name, "--seccomp-bpf",
                    "-e", "trace=inotify_init1",
                    "-e", f"inject=inotify_init1:error=EMFILE:when={calls}"]
        s.start_responder()
        s.start_nginx()
        with open(trace.name) as f:
            injected = f.read().count("(INJECTED)")
        assert injected == (2 if calls == "1..2" else 1), f"strace injected {injected}"
        assert "changes made from outside are seen at the next visit or probe only" in \
            s.responder.output(), s.responder.output()
        assert visit(s) == (200, 42)
        os.unlink(s.counter_path)
        assert visit(s) == (200, 43)
        assert s.counter_bytes() == b"43\n"
        replace_file(s.counter_path, b"500\n")
        assert visit(s) == (200, 501)
        assert s.counter_bytes() == b"501\n"
        replace_file(s.counter_path, b"7\n")
        assert visit(s) == (200, 502)
        assert s.counter_bytes() == b"502\n"
        os.symlink(s.counter_path + ".elsewhere", s.counter_path + ".link")
        os.rename(s.counter_path + ".link", s.counter_path)
        assert visit(s)[0] == 503
        assert os.path.islink(s.counter_path)
    os.unlink(trace.name)


def test_a_smaller_count_from_outside_never_lowers_the_file():
    with Stack(counter="41\n") as s:
        assert visit(s) == (200, 42)
        replace_file(s.counter_path, b"5\n")
        assert visit(s) == (200, 43)
        assert s.counter_bytes() == b"43\n"
        write_in_place(s.counter_path, b"7\n")
        assert s.get("/readyz").status == 200
        assert s.counter_bytes() == b"43\n"
        write_in_place(s.counter_path, b"  44  \n")  # valid, not as written here
        assert visit(s) == (200, 45)
        assert s.counter_bytes() == b"45\n"
        assert s.stop_responder() == 0
        assert s.counter_bytes() == b"45\n"


def test_a_corrupt_file_from_outside_is_refused_and_left_untouched():
    with Stack(counter="41\n") as s:
        assert visit(s) == (200, 42)
        for bad, put in ((b"garbage\n", replace_file), (b"-3\n", write_in_place)):
            put(s.counter_path, bad)
            for _ in range(3):
                assert s.get("/").status == 503, bad
                assert s.get("/readyz").status == 503, bad
            assert s.counter_bytes() == bad
            log_when(s, lambda log: "does not hold a count" in log)
        # The operator puts a count back: visits go on from the larger of the two.
        replace_file(s.counter_path, b"30\n")
        assert visit(s) == (200, 43)
        replace_file(s.counter_path, b"garbage\n")
        assert s.get("/").status == 503
        os.unlink(s.counter_path)  # or deletes it: recreated from memory
        assert visit(s) == (200, 44)
        log = whole_log(s)
        assert len(errors(log)) == 2, log  # once per breakage
        assert s.counter_bytes() == b"44\n"


def test_a_symlink_at_the_counter_path_is_refused():
    with Stack(start=False) as s:
        target = os.path.join(s.dir, "elsewhere")
        with open(target, "w") as f:
            f.write("9\n")
        os.symlink(target, s.counter_path)
        p = s.spawn_responder()
        assert p.wait(5) == EX_IOERR, p.output()
        assert "symbolic link" in p.output(), p.output()
        assert os.path.islink(s.counter_path)
        with open(target) as f:
            assert f.read() == "9\n"


def test_a_symlink_put_over_the_file_is_never_replaced():
    with Stack(counter="9\n") as s:
        target = os.path.join(s.dir, "elsewhere")
        with open(target, "w") as f:
            f.write("100\n")
        link = s.counter_path + ".link"
        os.symlink(target, link)
        os.rename(link, s.counter_path)
        assert s.get("/").status == 503
        assert s.get("/readyz").status == 503
        log_when(s, lambda log: "replaced by a symbolic link" in log)
        assert os.path.islink(s.counter_path)
        with open(target) as f:
            assert f.read() == "100\n"
        os.unlink(s.counter_path)
        assert visit(s) == (200, 10)


def kill_and_restart(s):
    """SIGKILL the responder (no stop, no last look at the file) and start it again."""
    s.stop_responder(signal.SIGKILL)
    s.start_responder()


def wait_for_file(s, expected, what):
    start = time.monotonic()
    wait_for(lambda: os.path.exists(s.counter_path) and s.counter_bytes() == expected,
             timeout=1.0, what=f"{what}: the responder to put {expected!r} in the counter file "
                               f"by itself, without a visit or probe")
    return time.monotonic() - start


@pytest.mark.parametrize("sync", ["interval", "always", "never"])
def test_a_deleted_counter_file_is_put_back_without_a_visit(sync):
    # Nothing but the responder's watch on the directory can save the count here:
    # no visit, no probe, no stop between the deletion and the SIGKILL.
    with Stack(counter="41\n", config={("counter", "sync"): sync}) as s:
        assert visit(s) == (200, 42) and visit(s) == (200, 43)
        os.unlink(s.counter_path)
        wait_for_file(s, b"43\n", "deleted")
        log_when(s, lambda log: "was deleted or moved away: created it again" in log)
        kill_and_restart(s)
        assert visit(s) == (200, 44)
        log = s.responder.output()
        assert "created, starting at 0" not in log, log


def test_a_smaller_count_renamed_over_the_file_is_undone_without_a_visit():
    with Stack(counter="41\n") as s:
        assert visit(s) == (200, 42) and visit(s) == (200, 43)
        replace_file(s.counter_path, b"5\n")
        wait_for_file(s, b"43\n", "a smaller count renamed over it")
        log_when(s, lambda log: "was changed from outside" in log)
        kill_and_restart(s)
        assert visit(s) == (200, 44)


def test_a_count_written_in_place_is_taken_or_undone_without_a_visit():
    with Stack(counter="41\n") as s:
        assert visit(s) == (200, 42) and visit(s) == (200, 43)
        write_in_place(s.counter_path, b"7\n")  # smaller: ours goes back
        wait_for_file(s, b"43\n", "a smaller count written in place")
        log_when(s, lambda log: "was changed from outside" in log)
        write_in_place(s.counter_path, b"900\n")  # larger: taken, counted on from there
        wait_for(lambda: s.get("/visits").text == "900\n", timeout=1.0,
                 what="/visits to say 900 (taken from the file) without a visit")
        assert s.counter_bytes() == b"900\n"
        kill_and_restart(s)
        assert visit(s) == (200, 901)


def test_a_file_being_rewritten_in_place_is_not_taken_for_zero():
    # `echo 900 > visits` truncates, then writes. An event in between (here a chmod, in
    # make test-asan a second responder's close) must not make the responder take the
    # empty moment for 0 and rename its own count over the file being written.
    with Stack(counter="41\n") as s:
        assert visit(s) == (200, 42)
        with open(s.counter_path, "r+b") as f:
            f.truncate(0)
            os.chmod(s.counter_path, 0o640)
            time.sleep(0.06)  # the empty moment lasts three settle times: a duration
            f.write(b"900\n")
        wait_for(lambda: s.get("/visits").text == "900\n", timeout=1.0,
                 what="/visits to say 900 (written in place) without a visit")
        assert visit(s) == (200, 901)
        assert s.counter_bytes() == b"901\n"


def test_a_file_deleted_and_written_again_at_once_is_taken_not_overwritten():
    # `rm visits; echo 500 > visits`: the new file is empty for a moment after its
    # creation. Taking that moment's "0" and putting our own count over it would send
    # the operator's 500 into an orphaned inode.
    with Stack(counter="41\n") as s:
        assert visit(s) == (200, 42)
        os.unlink(s.counter_path)
        with open(s.counter_path, "wb") as f:
            time.sleep(0.005)  # the empty moment a shell leaves: a duration
            f.write(b"500\n")
        wait_for(lambda: s.get("/visits").text == "500\n", timeout=1.0,
                 what="/visits to say 500 (taken from the new file) without a visit")
        assert s.counter_bytes() == b"500\n"
        kill_and_restart(s)
        assert visit(s) == (200, 501)


def test_a_file_taken_by_a_second_responder_is_not_written():
    # The restored file is locked before it is renamed in, as a second responder started
    # on it would hold it: the first one's watch sees it at once and must leave it alone.
    # (Starting a real second responder after the rename races that watch, which now
    # takes the file within milliseconds: a second responder is then refused, exit 69.)
    with Stack(counter="41\n") as s:
        assert visit(s) == (200, 42)
        new = s.counter_path + ".restore"
        with open(new, "wb") as f:
            f.write(b"100\n")
        holder = open(new, "r+b")
        try:
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(new, s.counter_path)
            log_when(s, lambda log: "another process holds locked" in log)
            assert s.get("/").status == 503
            assert s.get("/readyz").status == 503
            assert s.counter_bytes() == b"100\n"
            cfg, _, _ = s.other_config("second", socket=True)
            second = s.spawn_responder(cfg)
            assert second.wait(5) == harness.EX_UNAVAILABLE, second.output()
        finally:
            holder.close()  # lets go of the lock
        assert visit(s) == (200, 101)


# 5. Readiness answers "would the next visit be acknowledged?"

def assert_refused_and_not_ready(s, why):
    for _ in range(3):
        r = s.get("/")
        assert r.status == 503, f"{why}: GET / {r}"
        r = s.get("/readyz")
        assert r.status == 503, f"{why}: /readyz {r}"


def assert_ready_and_counting(s, expected, why):
    r = s.get("/readyz")
    assert r.status == 200, f"{why}: /readyz {r}"
    assert visit(s) == (200, expected), why
    assert s.counter_value() == expected


def test_readiness_fails_with_a_directory_in_the_way_and_recovers():
    with Stack(counter="99\n") as s:
        os.mkdir(s.counter_path + ".tmp")
        assert_refused_and_not_ready(s, "directory at visits.tmp")
        os.rmdir(s.counter_path + ".tmp")
        assert_ready_and_counting(s, 100, "directory removed")


def test_readiness_fails_at_the_maximum():
    with Stack(counter="9223372036854775807\n") as s:
        assert_refused_and_not_ready(s, "counter at its maximum")
        bad = errors(whole_log(s))
        assert len(bad) == 1 and "at its maximum" in bad[0], bad


def test_readiness_fails_when_a_digit_growth_would_exceed_the_size_limit():
    with Stack(counter="99\n") as s:
        set_fsize(s.responder.pid, 3)  # "99\n" fits, "100\n" does not
        try:
            assert_refused_and_not_ready(s, "RLIMIT_FSIZE 3 at 99")
        finally:
            set_fsize(s.responder.pid, resource.RLIM_INFINITY)
        assert_ready_and_counting(s, 100, "limit lifted")


def test_readiness_fails_on_a_full_disk_at_a_digit_growth():
    need_root("mounts a 16 KiB tmpfs")
    with Stack(start=False) as s:
        data = os.path.dirname(s.counter_path)
        with mounted(data, "-t", "tmpfs", "-o", "size=16k", "tmpfs"):
            try:
                with open(s.counter_path, "w") as f:
                    f.write("99\n")
                s.start_responder()
                s.start_nginx()
                filler = os.path.join(data, "filler")
                with open(filler, "wb", buffering=0) as f:
                    try:
                        while True:
                            f.write(b"x" * 1024)
                    except OSError:
                        pass
                assert_refused_and_not_ready(s, "full tmpfs at 99")
                assert s.counter_bytes() == b"99\n"
                os.unlink(filler)
                assert_ready_and_counting(s, 100, "space freed")
            finally:
                s.close()  # before the umount: the responder holds the file


def test_readiness_fails_on_a_read_only_directory_at_a_digit_growth():
    need_root("bind-mounts the data directory read-only")
    with Stack(counter="99\n") as s:
        data = os.path.dirname(s.counter_path)
        with mounted(data, "--bind", "-o", "ro", data):
            assert_refused_and_not_ready(s, "read-only data directory at 99")
            assert s.counter_bytes() == b"99\n"
        assert_ready_and_counting(s, 100, "writable again")


def test_readiness_fails_on_an_unwritable_directory_at_a_digit_growth():
    # Root ignores directory permissions: as root the responder runs as nobody (setpriv).
    why = harness.why_not_unprivileged()
    if why:
        pytest.skip(why)
    with Stack(counter="99\n", unprivileged=True) as s:
        data = os.path.dirname(s.counter_path)
        os.chmod(data, 0o500)
        try:
            assert_refused_and_not_ready(s, "data directory mode 0500 at 99")
        finally:
            os.chmod(data, 0o700)
        assert_ready_and_counting(s, 100, "writable again")


def test_readiness_fails_while_a_syscall_of_the_visit_path_fails():
    need_strace()
    # With sync=always the first refused visit's number is never handed out again.
    cases = [("rename", 99, "always", 101), ("openat", 99, "interval", 100),
             ("pwrite64", 50, "never", 51), ("fdatasync", 50, "always", 52)]
    for call, start, sync, after in cases:
        with Stack(counter=f"{start}\n", config={("counter", "sync"): sync}) as s:
            with strace(s.responder.pid, "-e", f"trace={call}", "-e",
                        f"inject={call}:error=EIO"):
                assert_refused_and_not_ready(s, f"{call} fails (sync={sync})")
                assert s.counter_value() <= start + 1
            assert_ready_and_counting(s, after, f"{call} works again")
            log = whole_log(s)
            assert len(errors(log)) == 1, f"{call}: one error line\n{log}"
            assert len(recoveries(log)) == 1, f"{call}: one recovery line\n{log}"


# 6. Logging: one line when a path breaks, one when it recovers; says what clients get.

def test_a_failing_visit_path_logs_once_not_once_per_probe():
    with Stack(counter="99\n") as s:
        os.mkdir(s.counter_path + ".tmp")
        for _ in range(5):
            assert s.get("/").status == 503
            assert s.get("/readyz").status == 503
        os.rmdir(s.counter_path + ".tmp")
        for _ in range(3):
            assert s.get("/readyz").status == 200
        assert visit(s) == (200, 100)
        log = whole_log(s)
        assert "visits get 503" in errors(log)[0], log
        assert len(recoveries(log)) == 1, log
        assert "visits get 200" in recoveries(log)[0], log
        assert len(errors(log)) == 1, log


def test_a_failing_fsync_with_sync_interval_is_reported_as_it_is():
    need_strace()
    cfg = {("counter", "sync"): "interval", ("counter", "sync_interval_ms"): "50"}
    with Stack(counter="10\n", config=cfg) as s:
        with strace(s.responder.pid, "-e", "trace=fdatasync", "-e",
                    "inject=fdatasync:error=EIO"):
            for expected in range(11, 21):
                failed = fsync_errors(s)
                assert visit(s) == (200, expected)  # acknowledged: written, not synced
                wait_for(lambda: fsync_errors(s) > failed, timeout=2,
                         what="the flusher's next fsync to fail")
            assert s.get("/readyz").status == 200  # the next visit would get a 200
        for _ in range(5):
            assert visit(s)[0] == 200
        log_when(s, lambda log: "fsync works again" in log)
        log = whole_log(s)
        bad = errors(log)
        assert len(bad) == 1, log
        assert "visits still get 200" in bad[0] and "503" not in bad[0], bad
        assert len(recoveries(log)) == 1, log


def fsync_errors(s):
    return s.gauge("moscow_time_visits_file_fsync_errors_total")


# 7. sync=always with a failing fsync: refused visits are not counted for ever.

def test_refused_visits_are_counted_at_most_once_per_failed_batch():
    need_strace()
    with Stack(counter="40\n", config={("counter", "sync"): "always"}, workers=1) as s:
        with strace(s.responder.pid, "-e", "trace=fdatasync", "-e",
                    "inject=fdatasync:error=EIO"):
            for _ in range(6):
                assert s.get("/").status == 503
            during = s.counter_value()
        status, n = visit(s)
        assert status == 200
        # One batch failed (the first 503: its number may stay in the file); the
        # five after it were refused without a number.
        assert during <= 41, f"six refused visits took the file from 40 to {during}"
        assert n <= 42 and s.counter_value() == n, (n, s.counter_value())


# 8. The interval flusher: at most every sync_interval_ms, also after a stall.

def test_the_flusher_does_not_catch_up_after_a_stall():
    need_strace()
    interval = 0.5
    cfg = {("counter", "sync"): "interval", ("counter", "sync_interval_ms"): str(int(interval * 1000))}
    with Stack(config=cfg, counter="100000\n") as s:  # no digit growth (its own fsync)
        stop = threading.Event()

        def load():
            conn = s.connection()
            while not stop.is_set():
                s.request("GET", "/", conn=conn)
            conn.close()

        loaders = [threading.Thread(target=load) for _ in range(6)]
        for loader in loaders:
            loader.start()
        try:
            # The second fdatasync takes 4 intervals; then visits keep the file dirty.
            with strace(s.responder.pid, "-e", "trace=fdatasync", "-e",
                        f"inject=fdatasync:delay_exit={int(4 * interval * 1e6)}:when=2") as t:
                time.sleep(interval * 9)  # the window the fsyncs' timing is read over
        finally:
            stop.set()
            for loader in loaders:
                loader.join()
        starts = [float(m) for m in re.findall(r"^\d+\s+([\d.]+) fdatasync", t.text, re.M)]
        assert len(starts) >= 4, t.text
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert min(gaps) >= interval * 0.8, f"fsyncs {gaps} s apart (interval {interval} s)"
