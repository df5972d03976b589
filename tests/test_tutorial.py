"""The README's worked adapter (docs/tutorial) runs end to end and honours its declarations."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from spec import load_catalogue
from tests.helpers import REPO_ROOT, run_cli

TUTORIAL = REPO_ROOT / "docs" / "tutorial"
BACKEND = "tiny_backend:TinyBackend"


def test_tiny_backend_runs_and_honours_its_capabilities(tmp_path: Path) -> None:
    proc = run_cli(
        ["run", "--backend", BACKEND, "--profile", "fast", "--json", "result.json"],
        tmp_path,
        extra_path=[TUTORIAL],
        timeout=600,
    )
    result_file = tmp_path / "result.json"
    assert result_file.exists(), (
        f"backend {BACKEND}: observed no result file (exit {proc.returncode}); expected result.json\n"
        f"{proc.stdout}\n{proc.stderr}"
    )
    data = json.loads(result_file.read_text(encoding="utf-8"))
    assert proc.returncode == 0, f"backend {BACKEND}: observed exit {proc.returncode}; expected 0\n{proc.stdout}"
    statuses = {c["id"]: c["status"] for c in data["clauses"]}
    catalogue = load_catalogue()
    assert set(statuses) == set(catalogue), (
        f"backend {BACKEND}: observed clauses {sorted(set(statuses) ^ set(catalogue))} differing from the catalogue; "
        "expected every clause once"
    )

    declared = _declared_capabilities()
    for clause in catalogue.clauses:
        status = statuses[clause.id]
        if set(clause.requires) - declared:
            assert status == "not-applicable", (
                f"[{clause.id}] backend {BACKEND}: observed {status!r}; expected 'not-applicable' "
                f"(requires {sorted(set(clause.requires) - declared)}, not declared)"
            )
        elif clause.level == "MUST":
            assert status == "pass", f"[{clause.id}] backend {BACKEND}: observed {status!r}; expected 'pass'"


def _declared_capabilities() -> frozenset[str]:
    """The tutorial adapter's own declaration (docs/tutorial is not on the test run's path)."""
    spec = importlib.util.spec_from_file_location("tiny_backend_declaration", TUTORIAL / "tiny_backend.py")
    assert spec is not None and spec.loader is not None
    sys.path.insert(0, str(TUTORIAL))
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(TUTORIAL))
    capabilities: frozenset[str] = module.TinyBackend.capabilities
    return capabilities
