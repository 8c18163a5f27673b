"""pytest set-up shared by the Python suites (tests/integration, tests/browser).

scripts/test.sh counts TAP lines, so pytest's own terminal reporter is taken
out and this plugin prints one line per test instead:

    ok - integration/test_counter.py::test_name (1.2 s)
    not ok - integration/test_counter.py::test_name      + "# " lines: the failure
    ok - integration/test_x.py::test_y # SKIP reason       a skip, counted apart

It also makes sure that no process a test started outlives the test, shows
what those processes printed under a test that failed (and nothing of it
under one that passed: the level=error lines a test expects stay out of a
green run), and fails a test whose processes printed a sanitizer report
(make test-asan).

MT_TEST_FORCE_SKIP=REASON makes every test SKIP with REASON: only
tests/integration/test_scripts.py uses it, to see scripts/test.sh's CI
guard against skips bite.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))
# Assertions inside the harness get pytest's detailed messages too.
pytest.register_assert_rewrite("harness")
import harness  # noqa: E402


def _name(report):
    # Node ids are relative to tests/ (pytest.ini's folder): "integration/test_x.py::test_y".
    return report.nodeid


def _emit(line):
    # pytest captures fd 1 while a test runs; this writes to the real stdout.
    _out.write(line + "\n")
    _out.flush()


def _detail(text, limit=80):
    for line in text.rstrip().splitlines()[-limit:]:
        _emit(f"# {line}")


_out = None
_reported = set()


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    global _out
    _out = os.fdopen(os.dup(1), "w", buffering=1)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        config.pluginmanager.unregister(reporter)


def pytest_runtest_logreport(report):
    name = _name(report)
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _emit(f"ok - {name} # SKIP {reason.removeprefix('Skipped: ')}")
    elif report.failed:
        if report.when != "teardown" or report.nodeid not in _reported:
            _emit(f"not ok - {name}" + (f" ({report.when})" if report.when != "call" else ""))
            _detail(report.longreprtext)
            for title, content in report.sections:
                _emit(f"# --- {title}")
                _detail(content, 40)
        _reported.add(report.nodeid)
    elif report.when == "call":
        _emit(f"ok - {name} ({report.duration:.1f} s)")


def pytest_collectreport(report):
    if report.failed:
        _emit(f"not ok - collecting {report.nodeid or 'tests'}")
        _detail(report.longreprtext)


def pytest_internalerror(excrepr):
    _emit("not ok - pytest internal error")
    _detail(str(excrepr))


@pytest.fixture(autouse=True)
def _no_leftover_processes():
    harness.outputs_of_this_test()  # forget the processes of an earlier test
    yield
    harness.kill_leftovers()


def pytest_runtest_setup(item):
    reason = os.environ.get("MT_TEST_FORCE_SKIP")
    if reason:
        pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Under make test-asan: a test whose processes printed a sanitizer report
    # fails, whatever it checked itself. Decided on the test's own report (not
    # in a teardown) so that the test shows once, as "not ok".
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or report.skipped:
        return
    harness.kill_leftovers()  # their output is whole from here on
    outputs = harness.outputs_of_this_test()
    if report.failed:
        report.sections.extend(outputs)
    reports = harness.sanitizer_reports()
    if reports:
        before = f"{report.longreprtext}\n" if report.failed else ""
        report.outcome = "failed"
        report.longrepr = before + "sanitizer report:\n" + "\n".join(reports)
        if not before:
            report.sections.extend(outputs)
