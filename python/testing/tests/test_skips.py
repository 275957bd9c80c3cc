"""skip_or_fail_in_ci, the one way a Python test that cannot run stops: skipped with its reason
printed outside CI, failed with it in CI. Proven on the helper and on a real pytest run of a test
file whose fixture cannot start its server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from skips import in_ci, skip_or_fail_in_ci

TESTING_DIR = Path(__file__).resolve().parents[1]

# A test file as the workload tests are written: a module fixture that finds its server missing.
NEEDS_A_WIDGET = f"""
import sys
sys.path.insert(0, {str(TESTING_DIR)!r})
import pytest
from skips import skip_or_fail_in_ci

@pytest.fixture(scope="module")
def widget():
    skip_or_fail_in_ci("widget tests", "widget.sh start failed: no widget here")

def test_uses_the_widget(widget):
    assert widget is not None
"""


def test_reads_ci_as_scripts_test_sh_does() -> None:
    assert [in_ci({}), in_ci({"CI": ""}), in_ci({"CI": "true"}), in_ci({"CI": "1"})] == [False, False, True, True]


def test_outside_ci_it_skips_with_the_reason_printed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match=r"^widget tests: no widget here$"):
        skip_or_fail_in_ci("widget tests", "no widget here")
    assert "SKIPPED widget tests: no widget here (in CI this fails)" in capsys.readouterr().out


def test_in_ci_it_fails_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^widget tests cannot run in CI: no widget here \(CI=true"):
        skip_or_fail_in_ci("widget tests", "no widget here")


def run_pytest(folder: Path, ci: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": ci}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_real_pytest_run_skips_outside_ci_and_fails_in_ci(tmp_path: Path) -> None:
    (tmp_path / "test_needs_a_widget.py").write_text(NEEDS_A_WIDGET)
    local = run_pytest(tmp_path, "", "-rs")
    assert local.returncode == pytest.ExitCode.OK, local.stdout
    assert "1 skipped" in local.stdout and "widget tests: widget.sh start failed: no widget here" in local.stdout, local.stdout

    ci = run_pytest(tmp_path, "true")
    assert ci.returncode == pytest.ExitCode.TESTS_FAILED, ci.stdout
    assert "1 error" in ci.stdout and "widget tests cannot run in CI: widget.sh start failed: no widget here" in ci.stdout, ci.stdout
