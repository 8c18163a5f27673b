"""Bad config.ini files: exit 78 and one message naming the file, the key and the problem."""

import os
import re
import subprocess
import tempfile

import pytest

from harness import BINARY, EX_CONFIG, EXAMPLE_CONFIG, Stack, print_config, render_config


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


ANY_LINE = "any"

BAD = [
    # (what, config text or overrides, the line named (ANY_LINE: some line; None: the file),
    #  expected fragments of the message)
    ("unknown key", "[server]\nworkerz = 4\n", 2, ["[server] workerz", "unknown key", "workers"]),
    ("unknown section", "[cache]\nsize = 1\n", 1, ["[cache]", "unknown section"]),
    ("key before any section", "workers = 4\n", 1, ["before any [section]"]),
    ("wrong type", {("server", "workers"): "many"}, ANY_LINE,
     ["[server] workers", '"many"', "expected an integer from 1 to 256"]),
    ("out of range", {("server", "workers"): "0"}, ANY_LINE,
     ["[server] workers", '"0"', "1 to 256"]),
    ("too many workers", {("server", "workers"): "1000"}, ANY_LINE,
     ["[server] workers", "1 to 256"]),
    ("interval out of range", {("counter", "sync_interval_ms"): "0"}, ANY_LINE,
     ["[counter] sync_interval_ms", "1 to 60000"]),
    ("bad sync", {("counter", "sync"): "sometimes"}, ANY_LINE,
     ["[counter] sync", '"sometimes"', "always, interval, never"]),
    ("bad log level", {("log", "level"): "loud"}, ANY_LINE,
     ["[log] level", "debug, info, warn, error"]),
    ("peer without a port", {("cluster", "peers"): "a:8080, b"}, ANY_LINE,
     ["[cluster] peers", '"a:8080, b"', '"b" is not host:port']),
    ("pod name with a space", {("cluster", "name"): '"pod 1"'}, ANY_LINE,
     ["[cluster] name", '"pod 1"', "expected a pod name"]),
    ("metrics neither true nor false", {("metrics", "enabled"): "yes"}, ANY_LINE,
     ["[metrics] enabled", "false, true"]),
    ("unknown time zone", {("clock", "timezone"): "Mars/Olympus"}, ANY_LINE,
     ["[clock] timezone", '"Mars/Olympus"', "unknown time zone"]),
    ("time zone path trick", {("clock", "timezone"): "../../../etc/passwd"}, ANY_LINE,
     ["[clock] timezone", "expected a time zone name"]),
    ("bad strftime format", {("clock", "format"): "%Q"}, ANY_LINE, ["[clock] format", "%Q"]),
    ("world-writable socket", {("server", "socket_mode"): "0666"}, ANY_LINE,
     ["[server] socket_mode", '"0666"', "no bits for others"]),
    ("socket mode not octal", {("server", "socket_mode"): "rw-rw----"}, ANY_LINE,
     ["[server] socket_mode", "octal"]),
    ("socket path too long", {("server", "socket"): "/tmp/" + "s" * 120}, ANY_LINE,
     ["[server] socket", "too long", "107"]),
    ("empty counter path", {("counter", "path"): '""'}, ANY_LINE, ["[counter] path"]),
    ("syntax error", "[server\nworkers = 4\n", 1, ["syntax error", "[server"]),
    # Issue 8, item 10: what iniparser would silently read as something else.
    ("';' inside a value", "[counter]\npath = /data/vis;its\n", 2,
     ["[counter] path", '"/data/vis;its"', "comment", '"/data/vis"']),
    ("'#' inside a value", {("counter", "path"): "/data/vis#its"}, ANY_LINE,
     ["[counter] path", '"/data/vis#its"', "comment"]),
    ("an inline comment", "[server]\nworkers = 4 ; for now\n", 2,
     ["[server] workers", '"4 ; for now"', "comment"]),
    ("text after a closing quote", "[clock]\nformat = \"%H\" %M\n", 2,
     ["[clock] format", "iniparser would read", "closing quote"]),
    ("duplicate key", "[server]\nworkers = 4\nworkers = 8\n", 3,
     ["[server] workers", '"8"', "first at line 2"]),
    ("duplicate section", "[server]\nworkers = 4\n[log]\n[server]\n", 4,
     ["[server]", "first at line 1"]),
    ("control characters in a section name", "[a\x1b[31mb]\n", 1,
     ["[a\\x1b[31mb]", "unknown section"]),
    ("a control character in a key name", "[server]\nwor\x07kers = 4\n", 2,
     ["[server] wor\\x07kers", "unknown key"]),
    ("UTF-8 byte order mark", "\ufeff[server]\nworkers = 4\n", 1, ["UTF-8 byte order mark"]),
    ("%+, which glibc prints as is", {("clock", "format"): "%H %+"}, ANY_LINE,
     ["[clock] format", '"%+"']),
    # 30 x %Z: 90 bytes in Moscow, 150 in Kathmandu (+0545); the page keeps 127.
    ("format too long in the configured zone",
     {("clock", "timezone"): "Asia/Kathmandu", ("clock", "format"): "%Z" * 30}, ANY_LINE,
     ["[clock] format", "Asia/Kathmandu", "127 bytes"]),
]


@pytest.mark.parametrize("what,content,line,fragments", BAD, ids=[b[0] for b in BAD])
def test_each_class_of_bad_config_exits_78_naming_file_line_and_key(tmp_path, what, content,
                                                                      line, fragments):
    path = str(tmp_path / "config.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(content if isinstance(content, str) else render_config(content))
    for mode in ("--check-config", "--config", "--print-config"):
        r = run_binary(mode, path)
        assert r.returncode == EX_CONFIG, f"exit status of {mode}: {r.stderr}"
        lines = r.stderr.splitlines()
        assert len(lines) == 1, f"one line on stderr, got {r.stderr!r}"
        msg = lines[0]
        where = {None: "", ANY_LINE: r":\d+"}.get(line, f":{line}")
        assert re.match(rf"moscow-time: {re.escape(path)}{where}: ", msg), \
            f"the message names the file and line {line}: {msg!r}"
        for frag in fragments:
            assert frag in msg
        assert not any(ord(c) < 0x20 or ord(c) == 0x7f for c in msg), \
            f"a control character reached the terminal: {msg!r}"
        assert r.stdout == ""


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
                        "[log] level = info\n"
                        "[cluster] name = \n"
                        "[cluster] peers = \n"
                        "[cluster] discover = \n"
                        "[cluster] poll_interval_ms = 1000\n"
                        "[cluster] timeout_ms = 500\n"
                        "[metrics] enabled = true\n")


def test_print_keys_lists_the_table_with_what_a_reload_changes():
    r = run_binary("--print-keys")
    assert (r.returncode, r.stderr) == (0, "")
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    printed = run_binary("--print-config", EXAMPLE_CONFIG).stdout
    # The same keys in the same order as --print-config, each with its default.
    assert [f"{k} = {d}" for k, _, _, d, _ in rows] == printed.splitlines()
    assert all(len(row) == 5 and row[4] for row in rows), rows
    live = [k for k, when, _, _, _ in rows if when == "live"]
    # What reload.c applies to a running responder; a change of any other key needs a restart.
    assert live == ["[clock] format", "[log] level", "[cluster] peers", "[cluster] discover",
                    "[cluster] poll_interval_ms", "[cluster] timeout_ms"], live
    assert {when for _, when, _, _, _ in rows} == {"live", "restart"}


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


@pytest.mark.parametrize("mode", ["--check-config", "--config", "--print-config"])
def test_a_fifo_as_config_is_refused_at_once(tmp_path, mode):
    # Opening a FIFO for reading waits for a writer: start-up would hang for ever.
    fifo = tmp_path / "config.ini"
    os.mkfifo(fifo)
    r = run_binary(mode, str(fifo))
    assert r.returncode == EX_CONFIG
    assert r.stderr == f"moscow-time: {fifo}: cannot read the configuration: " \
                       "not a regular file (a FIFO)\n"


def test_a_quoted_value_is_kept_whole_and_the_responder_uses_it():
    with Stack(start=False) as s:
        counter = os.path.join(s.dir, "data", "vis;its #1")
        s.write_config({("server", "socket"): s.socket_path, ("counter", "path"): f'"{counter}"'})
        r = run_binary("--check-config", s.config_path)
        assert r.returncode == 0, r.stderr
        assert ("counter", "path", counter) in print_config(s.config_path)
        s.start_responder()
        s.start_nginx()
        assert s.get("/").status == 200
        assert sorted(os.listdir(os.path.join(s.dir, "data"))) == ["vis;its #1"]
        with open(counter) as f:
            assert f.read() == "1\n"


def test_print_config_reports_a_failed_write():
    with open("/dev/full", "w") as full:
        r = subprocess.run([BINARY, "--print-config", EXAMPLE_CONFIG], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
    assert r.returncode == 71
    assert r.stderr == "moscow-time: writing the configuration: No space left on device\n"
