"""The kill matrix: which mutant backend makes which clause fail.

A mutant is a backend class with a ``target`` attribute naming the clause it
breaks. Running the whole suite on it must make that clause fail (``fail``
or ``error``) while no other MUST clause fails or errs; the target's
dependents may only be ``blocked``. ``blockspec kill-matrix`` runs every
mutant of the given modules and prints, per clause, the mutants that catch
it; the checker's own tests (tests/test_mutants.py) hold the same judgement.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance._errors import UsageError
from spec import Catalogue, load_catalogue


@dataclass(frozen=True)
class Mutant:
    """A mutant backend: ``module:name`` breaks ``target``."""

    module: str
    name: str
    target: str

    @property
    def spec(self) -> str:
        return f"{self.module}:{self.name}"


@dataclass
class Verdict:
    """What the suite said about one mutant, and whether that is the kill the matrix needs."""

    mutant: Mutant
    statuses: dict[str, str] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    problem: str = ""  # empty when the mutant is killed cleanly

    @property
    def killed(self) -> bool:
        return not self.problem


def find_mutants(modules: Iterable[str]) -> list[Mutant]:
    """Every class with a ``target`` defined in ``modules``; a module whose framework is missing is skipped.

    ``module:Class`` selects one mutant of a module.
    """
    found = []
    for selector in modules:
        module_name, _, only = selector.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name, cls in inspect.getmembers(module, inspect.isclass):
            target = getattr(cls, "target", None)
            if cls.__module__ == module_name and isinstance(target, str) and only in ("", name):
                found.append(Mutant(module_name, name, target))
    return found


def not_runnable_here(mutant: Mutant) -> str:
    """Why ``mutant`` cannot be judged on this machine, or ``""`` when it can.

    A mutant may break a behaviour that shows only where its backend has an
    accelerator (``needs_accelerator = True``: elsewhere the target is
    ``skipped``) or only where it has none (``needs_accelerator = False``:
    e.g. the CPU fallback of try_all_gpus). On the wrong machine its verdict
    is neither a kill nor a survival, so it is set aside.
    """
    cls = getattr(importlib.import_module(mutant.module), mutant.name)
    needs = getattr(cls, "needs_accelerator", None)
    if needs is None:
        return ""
    backend = cls()
    present = bool(backend.accelerators())
    if present == needs:
        return ""
    have = "has none" if needs else "has " + ", ".join(backend.accelerators())
    return (
        f"{mutant.target} is broken only {'with' if needs else 'without'} an accelerator and {backend.name} {have} here"
    )


def default_modules(root: Path) -> list[str]:
    """``tests/mutants/*_mutants.py`` under ``root`` (a checkout), as module names."""
    return [f"tests.mutants.{path.stem}" for path in sorted((root / "tests" / "mutants").glob("*_mutants.py"))]


def run_mutant(mutant: Mutant, *, cwd: Path, profile: str = "fast", timeout: float = 600) -> Verdict:
    """Run the whole suite on ``mutant`` in a fresh process and judge the outcome."""
    with tempfile.TemporaryDirectory(prefix="blockspec-mutant-") as tmp:
        result_file = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "conformance", "run", "--backend", mutant.spec, "--profile", profile]
        # No shrinking: a kill needs a verdict, not a minimal example. One process per mutant is the isolation.
        command += ["--no-shrink", "--in-process", "--json", str(result_file)]
        completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        if not result_file.exists():
            output = (completed.stdout + completed.stderr)[-2000:]
            return Verdict(mutant, exit_code=completed.returncode, problem=f"no result file; output:\n{output}")
        data = json.loads(result_file.read_text(encoding="utf-8"))
    verdict = Verdict(
        mutant,
        statuses={c["id"]: c["status"] for c in data["clauses"]},
        levels={c["id"]: c["level"] for c in data["clauses"]},
        exit_code=completed.returncode,
    )
    verdict.problem = judge(verdict)
    return verdict


def judge(verdict: Verdict) -> str:
    """Why ``verdict`` is not a clean kill, or ``""`` when it is."""
    mutant, statuses = verdict.mutant, verdict.statuses
    if mutant.target not in statuses:
        return f"target {mutant.target} is not a clause of the catalogue"
    status = statuses[mutant.target]
    if status not in ("fail", "error"):
        return f"survived: {mutant.target} is {status!r}; expected fail or error"
    collateral = {
        cid: s
        for cid, s in statuses.items()
        if cid != mutant.target and verdict.levels[cid] == "MUST" and s in ("fail", "error")
    }
    if collateral:
        return f"also fails unrelated MUST clauses {collateral} (make them depend on {mutant.target}, or narrow the mutant)"
    expected_exit = 1 if verdict.levels[mutant.target] == "MUST" else 0
    if verdict.exit_code != expected_exit:
        return f"exit status {verdict.exit_code}; expected {expected_exit} ({mutant.target} is {verdict.levels[mutant.target]})"
    return ""


def run_all(mutants: Sequence[Mutant], *, cwd: Path, jobs: int, profile: str = "fast") -> list[Verdict]:
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda m: run_mutant(m, cwd=cwd, profile=profile), mutants))


def matrix_lines(verdicts: Sequence[Verdict], catalogue: Catalogue | None = None) -> tuple[list[str], bool]:
    """The kill matrix as text (clause -> mutants that kill it) and whether it is complete."""
    catalogue = catalogue or load_catalogue()
    killers: dict[str, list[str]] = {cid: [] for cid in catalogue}
    for verdict in verdicts:
        if verdict.killed:
            killers[verdict.mutant.target].append(verdict.mutant.name)
    lines = [f"{'clause':28} {'level':6} mutants that make it fail"]
    for cid, clause in catalogue.items():
        names = ", ".join(killers[cid]) or "NONE: no mutant shows this clause can fail"
        lines.append(f"{cid:28} {clause.level.value:6} {names}")
    problems = [v for v in verdicts if not v.killed]
    for verdict in problems:
        lines.append(f"NOT KILLED {verdict.mutant.spec} (target {verdict.mutant.target}): {verdict.problem}")
    uncaught = [cid for cid, names in killers.items() if not names]
    killed = sum(v.killed for v in verdicts)
    lines.append(
        f"{killed}/{len(verdicts)} mutants killed cleanly; "
        f"{len(catalogue) - len(uncaught)}/{len(catalogue)} clauses shown able to fail"
    )
    return lines, not problems and not uncaught


def main(modules: Sequence[str], *, jobs: int, json_path: Path | None, cwd: Path) -> int:
    """``blockspec kill-matrix``: 0 when every clause is killed by some mutant and every mutant cleanly."""
    names = list(modules) or default_modules(cwd)
    if not names:
        raise UsageError(f"no mutant modules given and none found under {cwd / 'tests' / 'mutants'}")
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    found = find_mutants(names)
    if not found:
        raise UsageError(f"no mutant (a class with a `target` clause id) in {', '.join(names)}")
    not_here = {m: not_runnable_here(m) for m in found}
    mutants = [m for m in found if not not_here[m]]
    print(f"running the suite on {len(mutants)} mutants from {', '.join(names)} ({jobs} at a time)", flush=True)
    verdicts = run_all(mutants, cwd=cwd, jobs=jobs)
    lines, complete = matrix_lines(verdicts)
    lines += [f"NOT RUN HERE {m.spec}: {why}" for m, why in not_here.items() if why]
    print("\n".join(lines))
    if json_path is not None:
        from conformance._results import write_text_atomic

        data: dict[str, Any] = {
            "mutants": [
                {"mutant": v.mutant.spec, "target": v.mutant.target, "killed": v.killed, "problem": v.problem}
                for v in verdicts
            ],
            "not_run": [{"mutant": m.spec, "target": m.target, "reason": why} for m, why in not_here.items() if why],
        }
        write_text_atomic(json_path, json.dumps(data, indent=2) + "\n")
    return 0 if complete else 1
