"""scripts/test.sh itself: a checkout in a path with a space, and its guard against skips."""

import os
import re
import shutil
import subprocess
import tempfile

from harness import TOP, copy_checkout

TEST_SH = os.path.join(TOP, "scripts", "test.sh")
SUMMARY = re.compile(r"(\d+) passed, (\d+) failed(?:, (\d+) skipped)?")


def run_test_sh(cwd, *suites, env=None, timeout=600):
    # Its logs in a folder of its own: in this checkout, build/test-logs is the outer run's.
    logs = tempfile.mkdtemp(prefix="mt-test-logs-")
    try:
        r = subprocess.run([os.path.join(cwd, "scripts", "test.sh"), *suites], cwd=cwd,
                           env=dict(os.environ, STRICT_SKIPS="", TEST_LOGS=logs, **(env or {})),
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    out = r.stdout + r.stderr
    last = r.stdout.rstrip("\n").rpartition("\n")[2]
    return r.returncode, last, out


def test_the_test_script_builds_and_runs_a_suite_in_a_path_with_a_space():
    top = tempfile.mkdtemp(prefix="mt-space-")
    try:
        copy = copy_checkout(os.path.join(top, "with space", "moscow-time"))
        status, last, out = run_test_sh(copy, "unit")
        assert status == 0, out[-4000:]
        m = SUMMARY.fullmatch(last)
        assert m and int(m[1]) > 100 and m[2] == "0", out[-4000:]
    finally:
        shutil.rmtree(top, ignore_errors=True)


ONE_TEST = {"PYTEST_ADDOPTS": "-k test_favicon_is_empty_not_an_error"}


def test_under_CI_a_test_that_says_SKIP_fails_the_run():
    env = dict(ONE_TEST, MT_TEST_FORCE_SKIP="strace is not installed")
    status, last, out = run_test_sh(TOP, "integration", env=dict(env, CI="false"))
    assert (status, last) == (0, "1 passed, 0 failed, 1 skipped"), out[-4000:]
    status, last, out = run_test_sh(TOP, "integration", env=dict(env, CI="true"))
    assert status != 0 and last == "1 passed, 1 failed, 1 skipped", out[-4000:]
    assert "not ok - no test may SKIP under CI unless it needs root as a normal user: " \
           "integration/test_routes.py::test_favicon_is_empty_not_an_error # SKIP strace is " \
           "not installed" in out, out[-4000:]


def test_under_CI_only_a_normal_user_may_skip_what_needs_root():
    env = dict(ONE_TEST, MT_TEST_FORCE_SKIP="needs root: a mount", CI="true")
    status, last, out = run_test_sh(TOP, "integration", env=env)
    if os.geteuid() == 0:
        assert status != 0 and last == "1 passed, 1 failed, 1 skipped", out[-4000:]
    else:
        assert (status, last) == (0, "1 passed, 0 failed, 1 skipped"), out[-4000:]


def test_a_failed_make_test_ends_with_the_summary_line():
    # make lint with a shell script shellcheck refuses: the run fails, and the
    # last line of everything make printed is still the summary.
    top = tempfile.mkdtemp(prefix="mt-make-")
    try:
        copy = copy_checkout(os.path.join(top, "moscow-time"))
        with open(os.path.join(copy, "scripts", "broken.sh"), "w") as f:
            f.write("#!/bin/sh\necho $undefined_on_purpose\n")
        subprocess.run(["git", "init", "-q"], cwd=copy, check=True)  # lint lists files with git
        r = subprocess.run(["make", "-s", "lint"], cwd=copy, capture_output=True, text=True,
                           timeout=600, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, MAKEFLAGS=""))
        lines = (r.stdout + r.stderr).rstrip("\n").split("\n")
        assert r.returncode != 0, r.stdout + r.stderr
        assert SUMMARY.fullmatch(lines[-1]) and lines[-1].endswith(" 1 failed"), lines[-10:]
        assert "Error" not in r.stderr, r.stderr
    finally:
        shutil.rmtree(top, ignore_errors=True)
