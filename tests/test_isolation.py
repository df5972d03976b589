"""Isolation: a backend that raises, hangs or kills its process in one clause still gets a complete report.

Each adapter in tests/fixtures/adapters/crashing_adapter.py is the reference
backend with ``len(net)`` broken, which only the SEQ-INDEX test calls. The
whole suite runs through ``blockspec run`` (isolated by default); SEQ-INDEX
must be ``error`` with the reason, every other clause must get the verdict
the reference earns (pass), and the exit status must say a MUST clause failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spec import load_catalogue

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ROOT / "tests" / "fixtures" / "adapters"
TARGET = "SEQ-INDEX"

#: (adapter, extra arguments, words the reason must contain)
CASES = {
    "raises": ("RaisesInLength", [], "RuntimeError: simulated framework bug"),
    "os._exit": ("ExitsInLength", [], "exited with status 3"),
    "segfault": ("SegfaultsInLength", [], "SIGSEGV"),
    "hang": ("HangsInLength", ["--timeout", "20"], "hung: no verdict within 20 s"),
}


def run_blockspec(adapter: str, extra: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    result_file = tmp_path / "r.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ADAPTERS), str(ROOT)])}
    command = [sys.executable, "-m", "conformance", "run", "--backend", f"crashing_adapter:{adapter}"]
    command += ["--profile", "fast", "--no-shrink", "--json", str(result_file), *extra]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    data = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else None
    return proc, data


@pytest.mark.parametrize("case", list(CASES))
def test_a_misbehaving_clause_leaves_a_complete_report(case: str, tmp_path: Path) -> None:
    adapter, extra, reason = CASES[case]
    proc, data = run_blockspec(adapter, extra, tmp_path)
    where = f"\n--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-2000:]}"
    assert data is not None, f"{case}: observed no result file (exit {proc.returncode}); expected one{where}"
    ids = [c["id"] for c in data["clauses"]]
    assert ids == list(load_catalogue()), f"{case}: observed clauses {ids}; expected every catalogue clause"
    by_id = {c["id"]: c for c in data["clauses"]}
    target = by_id[TARGET]
    assert target["status"] == "error", f"{case}: observed {TARGET} {target['status']}; expected error{where}"
    message = (target["failure"] or {}).get("message", "")
    assert reason in message, f"{case}: observed message {message[:500]!r}; expected it to contain {reason!r}"
    others = {cid: c["status"] for cid, c in by_id.items() if cid != TARGET and c["status"] != "pass"}
    assert not others, f"{case}: observed other clauses without their verdict {others}; expected all pass{where}"
    assert proc.returncode == 1, f"{case}: observed exit status {proc.returncode}; expected 1 (a MUST clause errs)"
    assert data["exit_code"] == 1, f"{case}: observed exit_code {data['exit_code']} in the file; expected 1"


def test_in_process_runs_share_the_verdicts(tmp_path: Path) -> None:
    """--in-process gives the same verdict for a raising backend (only crashes and hangs need the child)."""
    proc, data = run_blockspec("RaisesInLength", ["--in-process", "--clause", TARGET], tmp_path)
    assert data is not None, f"observed no result file (exit {proc.returncode}): {proc.stderr[-2000:]}"
    status = next(c["status"] for c in data["clauses"] if c["id"] == TARGET)
    assert status == "error", f"observed {TARGET} {status} in process; expected error"
    assert proc.returncode == 1, f"observed exit status {proc.returncode}; expected 1"


def test_a_non_positive_timeout_is_a_usage_error(tmp_path: Path) -> None:
    proc, data = run_blockspec("RaisesInLength", ["--timeout", "0"], tmp_path)
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2: {proc.stderr[-500:]}"
    assert "--timeout" in proc.stderr, f"observed {proc.stderr[-500:]!r}; expected the option named"
    assert data is None, "observed a result file from a refused run; expected none"
