"""Runs every test_* function of the test_*.py modules here; prints TAP lines.

    python3 tests/integration/run.py [substring...]   only tests whose name contains one
"""

import importlib
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    if not os.access(harness.BINARY, os.X_OK):
        print(f"not ok - responder binary {harness.BINARY} exists (run make build)")
        return 1
    failed = 0
    for name in sorted(os.listdir(here)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        module = importlib.import_module(name[:-3])
        tests = sorted((fn.__code__.co_firstlineno, attr, fn) for attr, fn in vars(module).items()
                       if attr.startswith("test_") and callable(fn))
        for _, attr, fn in tests:
            full = f"{name[5:-3]}: {attr[5:].replace('_', ' ')}"
            if argv and not any(a in full for a in argv):
                continue
            start = time.monotonic()
            try:
                fn()
                print(f"ok - {full} ({time.monotonic() - start:.1f} s)", flush=True)
            except harness.Skip as skip:
                print(f"ok - {full} # SKIP {skip}", flush=True)
            except Exception:
                failed += 1
                print(f"not ok - {full}", flush=True)
                for line in traceback.format_exc().rstrip().splitlines():
                    print(f"# {line}", flush=True)
            finally:
                harness.kill_leftovers()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
