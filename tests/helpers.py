"""Helpers of the checker's own tests: the CLI in a subprocess, paths, fake result files, the suite's tests.

Test modules import these from here, never from one another.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import conformance.interop
import conformance.module_suite
import conformance.suite
from conformance.run.result import SCHEMA_VERSION
from conformance.run.status import STATUSES
from spec import ALL, load_catalogue

if TYPE_CHECKING:
    import jsonschema

#: The repository root (where ``tests.mutants`` is importable from).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Fake adapter modules (``fake_adapters``, ``exploding_adapter``, ``noapply_adapter``).
ADAPTERS_DIR = Path(__file__).resolve().parent / "fixtures" / "adapters"

#: A CLI call: ``(args, cwd=None, extra_path=())`` -> the finished process.
Cli = Callable[..., "subprocess.CompletedProcess[str]"]


def subprocess_env(extra_path: Sequence[Path] = ()) -> dict[str, str]:
    """The environment for a child Python: ours, minus pytest's own settings, plus ``extra_path``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    parts = [str(p) for p in extra_path]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    if parts:
        env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def run_python(
    args: Sequence[str], cwd: Path, extra_path: Sequence[Path] = (), timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``sys.executable *args`` in ``cwd``, output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=subprocess_env(extra_path),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_cli(
    args: Sequence[str], cwd: Path, extra_path: Sequence[Path] = (), timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``python -m conformance *args`` (the ``blockspec`` command) in ``cwd``."""
    return run_python(["-m", "conformance", *args], cwd, extra_path, timeout)


def schema_errors(validator: jsonschema.protocols.Validator, document: object) -> list[str]:
    """Every way ``document`` breaks the schema, as ``path: message`` lines."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def pytester_output(result: pytest.RunResult) -> str:
    return f"\n--- stdout ---\n{result.stdout.str()[-3000:]}\n--- stderr ---\n{result.stderr.str()[-2000:]}"


# --- fake result files ---------------------------------------------------------------------------------

HTML_NAME = "<img src=x onerror=alert(1)>"


def result_document(
    backend: str = "fakeframe",
    version: str = "1.0",
    device: str = "cpu",
    started: str = "2026-01-01T10:00:00+00:00",
    statuses: dict[str, str] | None = None,
    message: str = "observed 3; expected 4",
    subject: str = "framework",
) -> dict[str, Any]:
    """A result file as ``blockspec run --json`` writes it: every catalogue clause, ``pass`` unless told.

    ``subject``: whose clauses (``"interop"``: the INTEROP-* clauses of one pair's result).
    """
    statuses = statuses or {}
    clauses = []
    for clause in load_catalogue(subject=subject).values():
        status = statuses.get(clause.id, "pass")
        failing = status in ("fail", "error")
        clauses.append(
            {
                "id": clause.id,
                "section": clause.section,
                "level": clause.level.value,
                "title": clause.title,
                "statement": clause.statement,
                "status": status,
                "reason": f"[{clause.id}] {message}" if status != "pass" else "",
                "tests": [{"nodeid": f"suite/test_x.py::test_{clause.id}", "outcome": "passed", "duration_s": 0.01}],
                "failure": {
                    "test": f"suite/test_x.py::test_{clause.id}",
                    "message": f"[{clause.id}] {backend} on {device}: {message}",
                    "example": ["Falsifying example: test_x(", "    width=3,", ")", "Draw 1 (net): Net(width=3)"],
                    "reproduce": "@reproduce_failure('6.1', b'AAA=')",
                    "rerun": f"blockspec run --backend {backend} --device {device} --clause {clause.id}",
                }
                if failing
                else None,
            }
        )
    counts = dict.fromkeys(STATUSES, 0)
    for c in clauses:
        counts[str(c["status"])] += 1
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "blockspec", "version": "0.1.0"},
        "backend": {"name": backend, "version": version, "adapter": backend},
        "device": device,
        "profile": "fast",
        "started": started,
        "duration_s": 1.5,
        "environment": {"python": "3.11.7", "machine": "x86_64"},
        "summary": counts,
        "exit_code": 1
        if any(c["status"] in ("fail", "error", "blocked") and c["level"] == "MUST" for c in clauses)
        else 0,
        "clauses": clauses,
    }


def write_result(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# --- the conformance suite's tests ----------------------------------------------------------------------


#: Each subject's suite package.
SUITES = {"framework": conformance.suite, "module": conformance.module_suite, "interop": conformance.interop}


def conformance_tests(subject: str = "framework") -> Iterator[tuple[str, Any]]:
    """(qualified name, function) of every test function in the suite of ``subject`` (or of all, with ALL)."""
    packages = list(SUITES.values()) if subject == ALL else [SUITES[subject]]
    for package in packages:
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("test_"):
                continue
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, function in inspect.getmembers(module, inspect.isfunction):
                if name.startswith("test_") and function.__module__ == module.__name__:
                    yield f"{module.__name__}.{name}", function


def cited(function: Any) -> list[str]:
    marks = getattr(function, "pytestmark", [])
    return [str(arg) for mark in marks if mark.name == "clause" for arg in mark.args]


def clauses_with_tests(subject: str = "framework") -> set[str]:
    """Clauses cited by the suite of ``subject`` (the framework suite by default, as the kill matrix needs)."""
    return {clause for _, function in conformance_tests(subject) for clause in cited(function)}


_T = TypeVar("_T")


def sample(strategy: st.SearchStrategy[_T], draws: int) -> list[_T]:
    """``draws`` values of ``strategy`` as hypothesis generates them for a test, from a fixed seed."""
    out: list[_T] = []

    @settings(
        max_examples=draws,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: _T) -> None:
        out.append(value)

    collect()
    return out


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs; a zombie (ended, not yet reaped by its new parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def survivors(directory: Path, pattern: str = "*.pid") -> list[int]:
    """The processes whose ids files in ``directory`` hold still alive after 10 s; killed, so none outlives a test."""
    pids = [int(p.read_text(encoding="utf-8")) for p in directory.glob(pattern)]
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in pids if alive(p)]
    for pid in left:  # leave nothing behind a failed test
        os.kill(pid, signal.SIGKILL)
    return left
