"""``python -m conformance`` is the ``blockspec`` command: main's status is the process's, and an import runs nothing."""

from __future__ import annotations

import runpy

import pytest

import conformance._cli
from tests.helpers import REPO_ROOT, run_cli

#: Run as a file: pytest's assertion rewriter, the loader of conformance's modules here, cannot hand runpy code.
MAIN = str(REPO_ROOT / "conformance" / "__main__.py")


@pytest.mark.parametrize("status", [0, 1, 2])
def test_the_status_main_returns_is_the_exit_status(monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    monkeypatch.setattr(conformance._cli, "main", lambda: status)
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(MAIN, run_name="__main__")
    assert exited.value.code == status, f"observed exit status {exited.value.code!r}; expected main's {status}"


def test_importing_it_under_another_name_runs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A multiprocessing child re-imports its parent's main module under another name: no command may run."""
    calls: list[str] = []

    def main() -> int:
        calls.append("main")
        return 0

    monkeypatch.setattr(conformance._cli, "main", main)
    runpy.run_path(MAIN, run_name="__mp_main__")
    assert calls == [], f"observed main called {len(calls)} time(s) on import; expected none"


def test_a_real_command_and_a_usage_error_through_python_m() -> None:
    listed = run_cli(["spec"], cwd=REPO_ROOT, extra_path=[REPO_ROOT])
    assert listed.returncode == 0 and "SEQ-INDEX" in listed.stdout, (
        f"observed exit status {listed.returncode}, stdout {listed.stdout[-500:]!r}; expected 0 listing SEQ-INDEX"
    )
    refused = run_cli(["no-such-command"], cwd=REPO_ROOT, extra_path=[REPO_ROOT])
    assert refused.returncode == 2 and "invalid choice" in refused.stderr and "Traceback" not in refused.stderr, (
        f"observed exit status {refused.returncode}, stderr {refused.stderr[-500:]!r}; expected 2 with a usage error"
    )
