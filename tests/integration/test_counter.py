"""The visits counter through the whole stack: exact, durable, never torn or reset."""

import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

from harness import EX_DATAERR, Stack, wait_for


def hammer(stack, total, clients, path="/", stop=None):
    """total GETs from `clients` keep-alive clients; returns the statuses seen."""
    per = [total // clients + (i < total % clients) for i in range(clients)]

    def client(n):
        statuses = []
        conn = stack.connection()
        for _ in range(n):
            if stop is not None and stop.is_set():
                break
            try:
                statuses.append(stack.request("GET", path, conn=conn).status)
            except OSError:
                statuses.append(None)
                conn.close()
                conn = stack.connection()
        conn.close()
        return statuses

    with ThreadPoolExecutor(clients) as pool:
        return [s for result in pool.map(client, per) for s in result]


def test_5000_parallel_visits_add_exactly_5000():
    with Stack(counter="1000\n", workers=4) as s:
        statuses = hammer(s, 5000, 32)
        assert statuses.count(200) == 5000, "200 responses"
        assert s.counter_value() == 6000, "counter file"
        assert s.get("/visits").text == "6000\n", "/visits"


def test_exact_with_sync_always_and_one_worker():
    with Stack(config={("counter", "sync"): "always"}, workers=1) as s:
        statuses = hammer(s, 1000, 16)
        assert statuses.count(200) == 1000, "200 responses"
        assert s.counter_value() == 1000, "counter file"
        assert s.get("/visits").text == "1000\n", "/visits"


def test_count_continues_across_restarts():
    with Stack() as s:
        for _ in range(3):
            s.get("/")
        assert s.stop_responder() == 0, "exit status on SIGTERM"
        assert not os.path.exists(s.socket_path), "socket removed at exit"
        s.start_responder()
        r = s.get("/", headers={"Accept": "application/json"})
        assert r.json()["visits"] == 4, "first visit after the restart"
        assert s.counter_bytes() == b"4\n", "counter file"


def test_legacy_visits_file_carries_on():
    # The Flask app wrote str(n) with no newline.
    with Stack(counter="123") as s:
        assert s.get("/visits").text == "123\n", "/visits"
        assert s.get("/", headers={"Accept": "application/json"}).json()["visits"] == 124, "next visit"
        assert s.counter_bytes() == b"124\n", "counter file"


def test_absent_and_empty_counter_files_start_at_zero():
    for content in (None, ""):
        with Stack(counter=content) as s:
            assert s.get("/visits").text == "0\n", f"/visits with {content!r}"
            s.get("/")
            assert s.counter_bytes() == b"1\n", "counter file"


def test_corrupt_counter_file_refuses_to_start_and_is_left_untouched():
    cases = [b"twelve\n", b"-5\n", b"99999999999999999999\n", b"12 13\n", b"\x00\x01\x02",
             b"7" * 100]
    for content in cases:
        with Stack(counter=content, start=False) as s:
            before = os.stat(s.counter_path)
            p = s.spawn_responder()
            status = p.wait(5)
            out = p.output()
            assert status == EX_DATAERR, f"exit status for {content!r}"
            assert s.counter_path in out and "corrupt" in out, f"message names the file: {out}"
            assert "left untouched" in out, f"message: {out}"
            assert s.counter_bytes() == content, "file bytes"
            after = os.stat(s.counter_path)
            assert after.st_mtime_ns == before.st_mtime_ns, "mtime"
            assert not os.path.exists(s.socket_path), "no socket left behind"


def test_sigkill_during_load_loses_no_acknowledged_visit():
    with Stack(workers=4) as s:
        stop = threading.Event()
        result = []
        loader = threading.Thread(target=lambda: result.extend(hammer(s, 100000, 16, stop=stop)))
        loader.start()
        wait_for(lambda: s.counter_value() >= 2000, timeout=30, what="2000 visits")
        s.responder.send(signal.SIGKILL)
        s.responder.wait(5)
        # nginx has seen the responder go: whatever was in flight got its 502.
        wait_for(lambda: s.get("/visits").status == 502, what="nginx to answer 502")
        stop.set()
        loader.join(30)
        ok = result.count(200)
        after_kill = s.counter_value()  # parses, or counter_value() raises
        assert ok >= 2000, f"only {ok} visits got 200"
        assert after_kill >= ok, f"file holds {after_kill} but {ok} visits got 200"
        # A stale socket is replaced and the count carries on.
        assert os.path.exists(s.socket_path), "SIGKILL leaves the socket file"
        s.start_responder()
        assert s.get("/visits").text == f"{after_kill}\n", "/visits after the restart"
        s.get("/")
        assert s.counter_value() == after_kill + 1, "next visit"


def test_sigterm_during_load_counts_exactly_the_200s():
    with Stack(workers=4, config={("counter", "sync"): "always"}) as s:
        stop = threading.Event()
        result = []
        loader = threading.Thread(target=lambda: result.extend(hammer(s, 100000, 16, stop=stop)))
        loader.start()
        wait_for(lambda: s.counter_value() >= 500, timeout=30, what="500 visits")
        assert s.stop_responder(signal.SIGTERM, timeout=5) == 0, "exit status"
        stop.set()
        loader.join(30)
        assert s.counter_value() == result.count(200), "counter file vs 200 responses"


def test_counter_file_never_reads_torn_or_smaller_under_load():
    # Each start crosses numbers that grow by a digit (9 -> 10 ... 999999 -> 1000000):
    # the moments a file rewritten in place would be read torn.
    for start, visits in ((0, 1500), (999990, 1500)):
        with Stack(counter=f"{start}\n", workers=4) as s:
            stop = threading.Event()
            loader = threading.Thread(target=hammer, args=(s, visits, 8), kwargs={"stop": stop})
            loader.start()
            last, reads = start, 0
            try:
                while loader.is_alive():
                    value = s.counter_value()  # raises on anything but digits and a newline
                    assert value >= last, f"counter went back from {last} to {value}"
                    last, reads = value, reads + 1
            finally:
                stop.set()
                loader.join(30)
            assert s.counter_value() == start + visits, "final count"
            assert reads > 100, f"only {reads} reads"
            assert not os.path.exists(s.counter_path + ".tmp"), "no temporary file left"


def prlimit_fsize(pid, soft):
    subprocess.run(["prlimit", f"--pid={pid}", f"--fsize={soft}:unlimited"], check=True)


def test_unwritable_counter_answers_503_then_recovers():
    with Stack(counter="50\n") as s:
        assert s.get("/").status == 200, "before the fault"
        # RLIMIT_FSIZE 0 on the live responder: the kernel fails its writes (EFBIG).
        prlimit_fsize(s.responder.pid, 0)
        try:
            for _ in range(5):
                r = s.get("/")
                assert r.status == 503, "GET / while the file cannot be written"
                assert r.header("retry-after") == "1", "Retry-After"
                assert r.header("cache-control") == "no-store", "Cache-Control"
                # A short generic reason; the path and errno text only in the log.
                assert r.text == "the visit could not be counted; try again shortly\n", r.text
            r = s.get("/readyz")
            assert r.status == 503, "/readyz while the file cannot be written"
            assert r.text == "not ready: the counter file cannot be used\n", r.text
            assert s.get("/visits").text == "51\n", "/visits keeps the last good value"
            assert s.counter_bytes() == b"51\n", "file keeps the last good value"
        finally:
            prlimit_fsize(s.responder.pid, "unlimited")
        assert s.get("/readyz").status == 200, "/readyz after recovery"
        assert s.get("/").status == 200, "GET / after recovery"
        assert s.counter_bytes() == b"52\n", "file after recovery"
        assert s.stop_responder() == 0  # its whole log, to count lines in
        log = s.responder.output()
        assert log.count("level=error") == 1, f"the failure is logged once:\n{log}"
        assert f"cannot write the counter file {s.counter_path}: File too large" in log, \
            f"the log has the path and the reason:\n{log}"
        assert "works again" in log, f"the recovery is logged:\n{log}"


def test_short_write_leaves_the_old_count():
    # 99 -> 100 needs 4 bytes; a 3-byte limit makes the kernel write only 3.
    with Stack(counter="99\n") as s:
        prlimit_fsize(s.responder.pid, 3)
        try:
            assert s.get("/").status == 503, "GET / with a short write"
            assert s.counter_bytes() == b"99\n", "file after the short write"
        finally:
            prlimit_fsize(s.responder.pid, "unlimited")
        assert s.get("/").status == 200, "GET / after recovery"
        assert s.counter_bytes() == b"100\n", "file after recovery"


def test_probes_never_count():
    with Stack(counter="7\n") as s:
        for _ in range(20):
            for path in ("/healthz", "/readyz", "/visits"):
                assert s.get(path).status == 200, path
            assert s.request("HEAD", "/").status == 200, "HEAD /"
        assert s.counter_bytes() == b"7\n", "counter file"


def test_two_responders_cannot_share_a_counter_file():
    with Stack() as s:
        cfg, _, _ = s.other_config("second", socket=True)
        p = s.spawn_responder(cfg)
        assert p.wait(5) == 69, "exit status of the second responder"
        assert "another responder is using it" in p.output(), p.output()
        assert s.get("/").status == 200, "the first one still serves"

