"""Bad config.ini files: exit 78 and one message naming the file, the key and the problem."""

import os
import subprocess
import tempfile

import pytest

from harness import BINARY, EX_CONFIG, EXAMPLE_CONFIG, render_config


def run_binary(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)


def test_the_shipped_example_is_valid():
    r = run_binary("--check-config", EXAMPLE_CONFIG)
    assert r.returncode == 0, f"--check-config exit status ({r.stderr})"
    assert r.stdout == f"{EXAMPLE_CONFIG}: ok\n", "stdout"


def test_cli_version_help_and_usage():
    r = run_binary("--version")
    with open(os.path.join(os.path.dirname(EXAMPLE_CONFIG), "VERSION")) as f:
        version = f.read().strip()
    assert (r.returncode, r.stdout) == (0, f"moscow-time {version}\n"), "--version"
    r = run_binary("--help")
    assert r.returncode == 0 and "--check-config" in r.stdout and "--print-config" in r.stdout, \
        f"--help: {r}"
    r = run_binary("--bogus")
    assert r.returncode == 64 and "usage:" in r.stderr, f"unknown option: {r}"


BAD = [
    # (what, config text or overrides, expected fragments of the message)
    ("unknown key", "[server]\nworkerz = 4\n", ["[server] workerz", "unknown key", "workers"]),
    ("unknown section", "[cache]\nsize = 1\n", ["[cache]", "unknown section"]),
    ("key before any section", "workers = 4\n", ["before any [section]"]),
    ("wrong type", {("server", "workers"): "many"},
     ["[server] workers", '"many"', "expected an integer from 1 to 256"]),
    ("out of range", {("server", "workers"): "0"}, ["[server] workers", '"0"', "1 to 256"]),
    ("too many workers", {("server", "workers"): "1000"}, ["[server] workers", "1 to 256"]),
    ("interval out of range", {("counter", "sync_interval_ms"): "0"},
     ["[counter] sync_interval_ms", "1 to 60000"]),
    ("bad sync", {("counter", "sync"): "sometimes"},
     ["[counter] sync", '"sometimes"', "always, interval, never"]),
    ("bad log level", {("log", "level"): "loud"}, ["[log] level", "debug, info, warn, error"]),
    ("unknown time zone", {("clock", "timezone"): "Mars/Olympus"},
     ["[clock] timezone", '"Mars/Olympus"', "unknown time zone"]),
    ("time zone path trick", {("clock", "timezone"): "../../../etc/passwd"},
     ["[clock] timezone", "expected a time zone name"]),
    ("bad strftime format", {("clock", "format"): "%Q"}, ["[clock] format", "%Q"]),
    ("world-writable socket", {("server", "socket_mode"): "0666"},
     ["[server] socket_mode", '"0666"', "no bits for others"]),
    ("socket mode not octal", {("server", "socket_mode"): "rw-rw----"},
     ["[server] socket_mode", "octal"]),
    ("socket path too long", {("server", "socket"): "/tmp/" + "s" * 120},
     ["[server] socket", "too long", "107"]),
    ("empty counter path", {("counter", "path"): '""'}, ["[counter] path"]),
    ("syntax error", "[server\nworkers = 4\n", ["not a valid ini file"]),
]


def test_each_class_of_bad_config_exits_78_naming_file_and_key():
    with tempfile.TemporaryDirectory(prefix="mt-cfg-") as d:
        for what, content, fragments in BAD:
            path = os.path.join(d, "config.ini")
            with open(path, "w") as f:
                f.write(content if isinstance(content, str) else render_config(content))
            for mode in ("--check-config", "--config"):
                r = run_binary(mode, path)
                assert r.returncode == EX_CONFIG, f"{what}: exit status of {mode}"
                lines = r.stderr.splitlines()
                assert len(lines) == 1, f"{what}: one line on stderr, got {r.stderr!r}"
                assert path in lines[0], f"{what}: message names the file: {lines[0]}"
                for frag in fragments:
                    assert frag in lines[0], f"{what}: {frag!r} not in {lines[0]!r}"
                assert r.stdout == "", f"{what}: stdout"


def test_missing_and_unreadable_config():
    with tempfile.TemporaryDirectory(prefix="mt-cfg-") as d:
        missing = os.path.join(d, "nope.ini")
        r = run_binary("--config", missing)
        assert r.returncode == EX_CONFIG, "missing file"
        assert missing in r.stderr and "No such file or directory" in r.stderr, r.stderr
        r = run_binary("--config", d)
        assert r.returncode == EX_CONFIG, "a directory"
        assert d in r.stderr, r.stderr


def test_a_bad_config_changes_nothing():
    with tempfile.TemporaryDirectory(prefix="mt-cfg-") as d:
        counter = os.path.join(d, "visits")
        sock = os.path.join(d, "fcgi.sock")
        path = os.path.join(d, "config.ini")
        with open(counter, "w") as f:
            f.write("77\n")
        with open(path, "w") as f:
            f.write(render_config({("server", "socket"): sock, ("counter", "path"): counter,
                                   ("server", "workers"): "lots"}))
        r = run_binary("--config", path)
        assert r.returncode == EX_CONFIG, "exit status"
        assert sorted(os.listdir(d)) == ["config.ini", "visits"], "no socket, no new files"
        with open(counter) as f:
            assert f.read() == "77\n", "counter file"


def test_keys_are_case_insensitive_values_are_not():
    # iniparser folds section and key names to lower case; values keep their case.
    with tempfile.TemporaryDirectory(prefix="mt-cfg-") as d:
        path = os.path.join(d, "config.ini")
        with open(path, "w") as f:
            f.write("[Clock]\nTimeZone = Europe/Moscow\n")
        assert run_binary("--check-config", path).returncode == 0, "mixed-case names"
        with open(path, "w") as f:
            f.write("[clock]\ntimezone = europe/moscow\n")
        assert run_binary("--check-config", path).returncode == EX_CONFIG, "lower-case zone"


def test_print_config_shows_the_example_in_table_order():
    r = run_binary("--print-config", EXAMPLE_CONFIG)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == ("[server] socket = /run/moscow-time/sock/fcgi.sock\n"
                        "[server] socket_mode = 0660\n"
                        "[server] workers = 16\n"
                        "[clock] timezone = Europe/Moscow\n"
                        "[clock] format = %Y-%m-%d %H:%M:%S %Z\n"
                        "[counter] path = /data/visits\n"
                        "[counter] sync = interval\n"
                        "[counter] sync_interval_ms = 1000\n"
                        "[log] level = info\n")


def test_print_config_shows_values_as_the_responder_uses_them(tmp_path):
    path = tmp_path / "config.ini"
    path.write_text("[Server]\nsocket_mode = 600\nWorkers = 007\n[clock]\nformat = \"%H:%M\"\n")
    r = run_binary("--print-config", str(path))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "[server] socket_mode = 0600" in lines
    assert "[server] workers = 7" in lines
    assert "[clock] format = %H:%M" in lines
    assert "[counter] path = /data/visits" in lines, "a key not in the file: its default"


@pytest.mark.parametrize("text", ["[server]\nworkers = 0\n", "[nope]\n", "junk\n", None],
                         ids=["out of range", "unknown section", "syntax error", "missing file"])
def test_print_config_refuses_a_bad_file_as_check_config_does(tmp_path, text):
    path = tmp_path / "config.ini"
    if text is not None:
        path.write_text(text)
    p, c = run_binary("--print-config", str(path)), run_binary("--check-config", str(path))
    assert (p.returncode, p.stdout) == (EX_CONFIG, "")
    assert c.returncode == EX_CONFIG
    assert p.stderr == c.stderr, "the same message"
    assert len(p.stderr.splitlines()) == 1, p.stderr
    assert str(path) in p.stderr
