"""The scenario runner shared by the SDK scripts (`openai_sdk.py`, `anthropic_sdk.py`).

`run` calls every function named `test_*` of a script in name order, prints one line per
scenario (with the traceback of a failure) and a closing "<label>: N passed, N failed" line,
which the e2e tests look for, and exits non-zero when any scenario failed.
"""

import sys
import traceback


def run(label, namespace):
    tests = [(n, f) for n, f in sorted(namespace.items()) if n.startswith("test_") and callable(f)]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"ok     {name}")
        except Exception:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            print(f"FAILED {name}")
            traceback.print_exc(file=sys.stdout)
    print(f"{label}: {len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
