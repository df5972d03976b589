"""The kill matrix: every clause is shown able to fail by a mutant backend.

Each mutant (tests/mutants/) breaks one behaviour. The whole suite runs on
it in a subprocess; its target clause must fail (or error), and no other MUST
clause may fail or error: dependents of the target may only be ``blocked``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_traceability import clauses_with_tests

ROOT = Path(__file__).resolve().parent.parent
#: Every ``tests/mutants/*_mutants.py`` module: one per backend.
MUTANT_MODULES = tuple(f"tests.mutants.{path.stem}" for path in sorted((ROOT / "tests" / "mutants").glob("*_mutants.py")))


def mutants() -> list[tuple[str, str, str]]:
    """(module, class name, target clause) of every mutant whose module imports here."""
    found = []
    for module_name in MUTANT_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # the framework is not installed in this environment
            continue
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module_name and hasattr(cls, "target"):
                found.append((module_name, name, cls.target))
    return found


MUTANTS = mutants()


def test_every_tested_clause_has_a_mutant() -> None:
    if not MUTANTS:
        pytest.skip("no mutant module importable (torch missing)")
    targets = {target for _, _, target in MUTANTS}
    uncaught = sorted(clauses_with_tests() - targets)
    assert not uncaught, f"clauses with tests but no mutant to show they can fail: {uncaught}"


@pytest.mark.parametrize(("module", "name", "target"), MUTANTS, ids=[f"{n}->{t}" for _, n, t in MUTANTS])
def test_mutant_fails_exactly_its_clause(module: str, name: str, target: str, tmp_path: Path) -> None:
    result_file = tmp_path / "result.json"
    command = [
        sys.executable,
        "-m",
        "conformance",
        "run",
        "--backend",
        f"{module}:{name}",
        "--profile",
        "fast",
        "--no-shrink",
        "--in-process",  # no mutant crashes; one process per mutant is isolation enough here
        "--json",
        str(result_file),
    ]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result_file.exists(), f"no result file; exit {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
    clauses = {c["id"]: c for c in json.loads(result_file.read_text())["clauses"]}
    assert clauses[target]["status"] in ("fail", "error"), (
        f"mutant {name} should fail {target}; observed status {clauses[target]['status']!r}"
    )
    collateral = {
        cid: c["status"]
        for cid, c in clauses.items()
        if cid != target and c["level"] == "MUST" and c["status"] in ("fail", "error")
    }
    assert not collateral, f"mutant {name} (target {target}) also fails unrelated MUST clauses: {collateral}"
    expected_exit = 1 if clauses[target]["level"] == "MUST" else 0
    assert completed.returncode == expected_exit, (
        f"mutant {name}: observed exit status {completed.returncode}; expected {expected_exit} "
        f"(target {target} is {clauses[target]['level']})"
    )
