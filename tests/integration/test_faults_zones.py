"""Time zones that are missing or broken (issue 21, items 2 and 3).

A missing or broken zone file is a configuration error naming the zone: exit 78
at start; at a reload one error line and the running configuration kept; never
an abort. A reload checks every key against the configuration in force after
it: a new format against the zone that stays running when the zone's change
needs a restart. Each test runs the responder with a private TZDIR, a copy of
the few zones it needs.
"""

import os
import shutil
import signal
import subprocess

import pytest

from harness import BINARY, EX_CONFIG, Stack, render_config, wait_for_output
from test_reload import shown_time

SYSTEM_ZONES = "/usr/share/zoneinfo"


@pytest.fixture
def tzdir(tmp_path):
    """A private zone database with UTC, Europe/Moscow and Asia/Kathmandu."""
    root = tmp_path / "zoneinfo"
    for zone in ("UTC", "Europe/Moscow", "Asia/Kathmandu"):
        (root / zone).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.path.join(SYSTEM_ZONES, zone), root / zone)
    return root


def broken(tzdir, zone, how):
    """Replaces zone's file: "missing", "garbage", or "cut" (a TZif header and no more)."""
    path = tzdir / zone
    with open(os.path.join(SYSTEM_ZONES, zone), "rb") as f:
        good = f.read()
    path.unlink()
    if how == "garbage":
        path.write_bytes(b"not a zone\n" * 8)
    elif how == "cut":
        path.write_bytes(good[:100])
    return good


def run_check(tzdir, tmp_path, overrides):
    path = tmp_path / "config.ini"
    path.write_text(render_config(overrides))
    return subprocess.run([BINARY, "--config", str(path)], capture_output=True, text=True,
                          timeout=10, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, TZDIR=str(tzdir)))


@pytest.mark.parametrize("how", ["missing", "garbage", "cut"])
def test_a_missing_or_broken_zone_at_start_exits_78_naming_it(tzdir, tmp_path, how):
    broken(tzdir, "Europe/Moscow", how)
    # The default zone: nothing in config.ini names it.
    r = run_check(tzdir, tmp_path, {("counter", "path"): str(tmp_path / "visits"),
                                    ("server", "socket"): str(tmp_path / "sock")})
    assert r.returncode == EX_CONFIG, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert "[clock] timezone = \"Europe/Moscow\"" in lines[0], lines
    assert "unknown time zone" in lines[0], lines
    assert not os.path.exists(tmp_path / "visits")  # refused before anything was touched


def test_a_missing_default_zone_does_not_matter_with_another_zone(tzdir):
    broken(tzdir, "Europe/Moscow", "missing")
    with Stack(config={("clock", "timezone"): "UTC"},
               responder_env={"TZDIR": str(tzdir)}) as s:
        assert shown_time(s).endswith(" UTC")
        s.responder.send(signal.SIGHUP)  # reloads check the default zone no more than starts
        wait_for_output(s.responder, "config reload (SIGHUP):")
        assert shown_time(s).endswith(" UTC")
        assert s.stop_responder() == 0


@pytest.mark.parametrize("how", ["missing", "garbage", "cut"])
def test_a_zone_gone_at_a_reload_is_one_error_and_the_running_config_stays(tzdir, how):
    with Stack(responder_env={"TZDIR": str(tzdir)}) as s:
        assert shown_time(s).endswith(" MSK")
        good = broken(tzdir, "Europe/Moscow", how)
        s.responder.send(signal.SIGHUP)
        out = wait_for_output(s.responder, "config reload (SIGHUP) rejected")
        errors = [line for line in out.splitlines() if "level=error" in line]
        assert len(errors) == 1, errors
        assert "[clock] timezone = \"Europe/Moscow\"" in errors[0], errors
        assert "the running configuration is kept" in errors[0], errors
        assert s.responder.alive()
        assert shown_time(s).endswith(" MSK")  # the zone in force is still there
        # The zone back: the next reload is applied.
        (tzdir / "Europe/Moscow").write_bytes(good)
        s.responder.send(signal.SIGHUP)
        wait_for_output(s.responder, "config reload (SIGHUP): ")
        assert s.stop_responder() == 0


def test_a_reload_checks_the_format_against_the_zone_that_stays(tzdir):
    """Running in Kathmandu (%Z is "+0545"), a reload with timezone = UTC (restart-only: not
    applied) and a 124-byte format that fits 127 bytes in UTC ("UTC") but not in Kathmandu
    is refused: checked against UTC, it would leave the page's time empty."""
    fmt = "x" * 120 + "%Z%Z"
    with Stack(config={("clock", "timezone"): "Asia/Kathmandu"},
               responder_env={"TZDIR": str(tzdir)}) as s:
        assert shown_time(s).endswith("+0545")
        s.write_config({("server", "socket"): s.socket_path,
                        ("counter", "path"): s.counter_path,
                        ("clock", "timezone"): "UTC", ("clock", "format"): fmt})
        s.responder.send(signal.SIGHUP)
        out = wait_for_output(s.responder, "config reload (SIGHUP) rejected")
        errors = [line for line in out.splitlines() if "level=error" in line]
        assert len(errors) == 1 and "[clock] format" in errors[0], errors
        assert "Asia/Kathmandu" in errors[0], errors
        shown = shown_time(s)
        assert shown and shown.endswith("+0545"), shown
        assert s.stop_responder() == 0
