"""The one way a Python test that cannot run here stops (the pytest side of test/support/skips.ts).

Outside CI the test is skipped and the reason printed; in CI (the CI variable set to anything
non-empty, as scripts/test.sh and scripts/test-python.sh read it) it fails with that reason instead,
so a missing server or binary never passes CI as a skip. Every conditional skip in the Python tests
goes through `skip_or_fail_in_ci`.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci(env: dict[str, str] | None = None) -> bool:
    """Whether this run is CI's: CI set and not empty (`.ci/run` exports CI=true)."""
    return (env if env is not None else os.environ).get("CI", "") != ""


def skip_or_fail_in_ci(what: str, reason: str) -> NoReturn:
    """Stops the current test (or fixture): skipped with `what: reason` printed, or failed with it in CI."""
    if in_ci():
        pytest.fail(
            f"{what} cannot run in CI: {reason} (CI={os.environ.get('CI')}: a test that cannot run fails in CI instead of skipping)",
            pytrace=False,
        )
    print(f"\nSKIPPED {what}: {reason} (in CI this fails)")
    pytest.skip(f"{what}: {reason}")
