"""The chart suite's own hygiene: it leaves nothing in TMPDIR."""

import os
import shutil
import subprocess
import tempfile

from harness import TOP


def test_the_chart_suite_leaves_no_temporary_file():
    # A copy of the checkout sharing its tools (installed there on a first run,
    # as the chart suite would), so that the README it writes is the copy's.
    os.makedirs(os.path.join(TOP, ".tools"), exist_ok=True)
    copy = tempfile.mkdtemp(prefix="mt-chart-copy-")
    scratch = tempfile.mkdtemp(prefix="mt-chart-tmp-")
    try:
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=TOP,
                               capture_output=True, check=True).stdout.split(b"\0")
        for f in filter(None, files):
            src, dst = os.path.join(TOP, f.decode()), os.path.join(copy, f.decode())
            if os.path.isfile(src):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(src, dst)
        os.symlink(os.path.join(TOP, ".tools"), os.path.join(copy, ".tools"))
        os.symlink(os.path.join(TOP, "build"), os.path.join(copy, "build"))
        r = subprocess.run([os.path.join(copy, "tests", "chart", "run.sh"), "--write-readme"],
                           env=dict(os.environ, TMPDIR=scratch), capture_output=True, text=True,
                           timeout=600, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stdout + r.stderr
        assert os.listdir(scratch) == [], f"left in TMPDIR: {os.listdir(scratch)}"
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
