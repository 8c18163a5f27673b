"""The counter folder's watch follows the folder when it is deleted and made again
(issue 21, item 8).

Two inotify watches look at the counter file's folder: the main thread's puts a
deleted count back without a visit; the counter file's own lets a visit skip
looking the path up. Both must be watching the new folder once a folder of the
same name is back, also one made again several levels down (mkdir -p).
"""

import os
import shutil
import tempfile
import time

import pytest

from harness import Stack, wait_for, wait_for_output
from test_integrity import need_strace, replace_file, visit


def wait_for_file(s, expected, what):
    wait_for(lambda: os.path.exists(s.counter_path) and s.counter_bytes() == expected,
             timeout=2.0, what=f"{what}: the responder to put {expected!r} in the counter file "
                               f"by itself, without a visit or probe")


def serve_counter_in(s, folder):
    """The stack s started with its counter file in folder (made here), at 41, and visited
    once: the file holds 42."""
    os.makedirs(folder)
    s.counter_path = os.path.join(folder, "visits")
    with open(s.counter_path, "w") as f:
        f.write("41\n")
    s.write_config({("server", "socket"): s.socket_path, ("counter", "path"): s.counter_path})
    s.start_responder()
    s.start_nginx()
    assert visit(s) == (200, 42)


@pytest.mark.parametrize("depth", [1, 3])
def test_the_main_watch_follows_a_folder_deleted_and_made_again(depth):
    with Stack(start=False) as s:
        # The counter `depth` folders below the stack's data folder, which is deleted whole.
        top = os.path.join(s.dir, "data", "counter")
        folder = os.path.join(top, *["sub"] * (depth - 1))
        serve_counter_in(s, folder)
        shutil.rmtree(top)
        # The main thread has seen the folder go and found nothing to watch in its place.
        wait_for_output(s.responder, f"watching its directory {folder}: No such file or directory")
        os.makedirs(folder)
        wait_for_file(s, b"42\n", "the folder made again")
        wait_for_output(s.responder, f"its directory {folder} is back; watching it again")
        # The new folder is watched: a deletion in it is undone without a visit too.
        os.unlink(s.counter_path)
        wait_for_file(s, b"42\n", "deleted from the new folder")
        assert visit(s) == (200, 43)
        assert s.stop_responder() == 0
        assert s.counter_bytes() == b"43\n"


def test_a_folder_made_while_the_main_watch_looked_above_it_is_followed():
    """mkdir -p races the look up the path: the folder below the one the responder settles
    on watching can be made after it was looked for and before that watch was added; its
    IN_CREATE is then in no queue, and the responder must see it is there (CI, 2026-12-05:
    the counter was not put back after mkdir -p). strace holds each inotify_add_watch's
    return 200 ms, so that the folder below comes in that window every time."""
    need_strace(attach=False)
    with Stack(start=False,
               responder_env={"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "")
                              + ":detect_leaks=0"}) as s:
        top = os.path.join(s.dir, "data", "counter")
        middle = os.path.join(top, "sub")
        folder = os.path.join(middle, "sub")
        s.prefix = ["strace", "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf",
                    "-e", "trace=inotify_add_watch", "-e", "inject=inotify_add_watch:delay_exit=200000"]
        serve_counter_in(s, folder)
        shutil.rmtree(top)
        wait_for_output(s.responder, f"watching its directory {folder}: No such file or directory",
                        timeout=10.0)
        time.sleep(2.0)  # the other watches' last events, each add_watch 200 ms
        mark = len(s.responder.output())
        os.mkdir(top)  # the responder looks for counter/sub: not there yet ...
        time.sleep(0.05)
        os.mkdir(middle)  # ... and is there before the watch on counter is added
        wait_for(lambda: f"looking for {folder} from " in s.responder.output()[mark:], timeout=10.0,
                 what="the responder to settle on a folder to watch")
        os.mkdir(folder)
        wait_for_file(s, b"42\n", "the folders made one by one")
        assert visit(s) == (200, 43)
        assert s.stop_responder() == 0
        assert s.counter_bytes() == b"43\n"


def test_the_main_watch_follows_folders_above_deleted_after_it_looked():
    """The folder goes, then each folder above it, one by one once the responder watches the
    one left: a folder above the counter file's old folder is held by the open file too, so its
    own deletion event never comes; its parent sees its name go."""
    with Stack(start=False) as s:
        top = os.path.join(s.dir, "data", "a")
        folder = os.path.join(top, "b", "c")
        serve_counter_in(s, folder)
        os.unlink(s.counter_path)
        wait_for_file(s, b"42\n", "deleted")
        os.unlink(s.counter_path)
        os.rmdir(folder)
        b = os.path.join(top, "b")
        wait_for_output(s.responder, f"(looked for from {b})")
        os.rmdir(b)
        wait_for_output(s.responder, f"looking for {folder} from {top}\n")
        os.rmdir(top)
        wait_for_output(s.responder, f"looking for {folder} from {os.path.dirname(top)}\n")
        os.makedirs(folder)
        wait_for_file(s, b"42\n", "the folders made again")
        assert visit(s) == (200, 43)


def test_the_counter_files_own_watch_follows_a_folder_made_again():
    """Without the main thread's watch (its inotify_init1 fails, strace), a visit relies on
    the file's own watch alone: a folder made again must be looked at, not trusted."""
    need_strace(attach=False)  # strace starts the responder itself
    trace = tempfile.NamedTemporaryFile(prefix="mt-strace-", delete=False)
    trace.close()
    try:
        with Stack(counter="41\n", start=False,
                   # LeakSanitizer cannot run under ptrace (the ASan build's suite).
                   responder_env={"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "")
                                  + ":detect_leaks=0"}) as s:
            # The second inotify_init1 is the main thread's watch (the first the file's own).
            s.prefix = ["strace", "-f", "-qq", "-o", trace.name, "--seccomp-bpf",
                        "-e", "trace=inotify_init1", "-e", "inject=inotify_init1:error=EMFILE:when=2"]
            s.start_responder()
            s.start_nginx()
            assert "changes made from outside are seen at the next visit or probe only" in \
                s.responder.output(), s.responder.output()
            assert visit(s) == (200, 42)
            folder = os.path.dirname(s.counter_path)
            shutil.rmtree(folder)
            assert visit(s)[0] == 503  # nowhere to write the count
            os.mkdir(folder)
            replace_file(s.counter_path, b"500\n")  # a restore into the new folder
            assert visit(s) == (200, 501)
            assert s.counter_bytes() == b"501\n"
            os.unlink(s.counter_path)
            assert visit(s) == (200, 502)
            assert s.counter_bytes() == b"502\n"
    finally:
        os.unlink(trace.name)
