"""Run the conformance suite in-process through pytest and return the verdicts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance._discovery import load_backend
from conformance._errors import UsageError
from conformance._manifest import KnownFailure
from conformance._results import RunResult, check_writable
from spec import load_catalogue

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


class _Capture:
    """A throwaway plugin that keeps the pytest config so the session's result can be read."""

    def __init__(self) -> None:
        self.config: pytest.Config | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config


def check_request(
    backend: str,
    *,
    device: str = "cpu",
    clauses: Sequence[str] = (),
    json_path: Path | None = None,
    known_failures: Path | None = None,
) -> dict[str, KnownFailure]:
    """Refuse bad input before any test runs; return the backend's known failures.

    Bad input: an unknown clause, backend or device, an unwritable result
    path, an invalid known-failure manifest.
    """
    catalogue = load_catalogue()
    unknown = [c for c in clauses if c not in catalogue]
    if unknown:
        raise UsageError(f"unknown clause id(s) {', '.join(unknown)}; `blockspec spec` lists them all")
    loaded = load_backend(backend)
    valid = ["cpu", *loaded.accelerators()]
    if device not in valid:
        raise UsageError(
            f"device {device!r} is not available to backend {loaded.name!r}; available: {', '.join(valid)}"
        )
    if json_path is not None:
        check_writable(json_path)
    from conformance._session import known_failures as manifest_of

    return manifest_of(loaded, catalogue, known_failures)


def suite_arguments(
    backend: str,
    *,
    device: str = "cpu",
    profile: str = "ci",
    clauses: Sequence[str] = (),
    json_path: Path | None = None,
    verbose: bool = False,
    shrink: bool = True,
    seed: int | None = None,
    known_failures: Path | None = None,
) -> list[str]:
    """The pytest command line (after ``pytest``) that runs the conformance suite."""
    args = [
        "--pyargs",
        "conformance.suite",
        "-c",
        os.devnull,
        "--rootdir",
        str(_PACKAGE_PARENT),
        "-p",
        "no:cacheprovider",
        "--blockspec-backend",
        backend,
        "--blockspec-device",
        device,
        "--blockspec-profile",
        profile,
    ]
    args += ["-v", "--tb=short"] if verbose else ["-q", "--tb=no", "--no-header", "-rN"]
    for clause in clauses:
        args += ["--blockspec-clause", clause]
    if json_path is not None:
        args += ["--blockspec-json", str(json_path)]
    if not shrink:
        args.append("--blockspec-no-shrink")
    if seed is not None:
        args += ["--blockspec-seed", str(seed), f"--hypothesis-seed={seed}"]
    if known_failures is not None:
        args += ["--blockspec-known-failures", str(known_failures)]
    return args


def run_suite(
    backend: str,
    *,
    device: str = "cpu",
    profile: str = "ci",
    clauses: Sequence[str] = (),
    json_path: Path | None = None,
    verbose: bool = False,
    shrink: bool = True,
    seed: int | None = None,
    known_failures: Path | None = None,
    pytest_args: Sequence[str] = (),
) -> RunResult:
    """Check ``backend`` on ``device`` in this process and return a verdict per clause.

    Bad input (unknown backend, clause or device, an unwritable result path)
    raises :class:`conformance.UsageError` before any test runs.

    >>> result = run_suite("reference", clauses=["SEQ-INDEX"])  # doctest: +SKIP
    >>> result.exit_code
    0
    """
    check_request(backend, device=device, clauses=clauses, json_path=json_path, known_failures=known_failures)
    args = suite_arguments(
        backend,
        device=device,
        profile=profile,
        clauses=clauses,
        json_path=json_path,
        verbose=verbose,
        shrink=shrink,
        seed=seed,
        known_failures=known_failures,
    )
    capture = _Capture()
    code = pytest.main([*args, *pytest_args], plugins=[capture])
    result = _session_result(capture.config)
    if result is None:
        raise UsageError(f"the conformance suite did not run (pytest exit status {int(code)}); rerun with --verbose")
    return result


def _session_result(config: Any) -> RunResult | None:
    if config is None:
        return None
    from conformance.plugin import SESSION_KEY

    session = config.stash.get(SESSION_KEY, None)
    return None if session is None else session.result
