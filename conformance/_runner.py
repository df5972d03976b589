"""Run the conformance suite in-process through pytest and return the verdicts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class RunRequest:
    """One conformance run: which backend and device, and how to draw and report."""

    backend: str
    device: str = "cpu"
    profile: str = "ci"
    clauses: tuple[str, ...] = ()
    json_path: Path | None = None
    verbose: bool = False
    shrink: bool = True
    seed: int | None = None
    known_failures: Path | None = None

    def check(self) -> dict[str, KnownFailure]:
        """Refuse bad input before any test runs; return the backend's known failures.

        Bad input: an unknown clause, backend or device, an unwritable result
        path, an invalid known-failure manifest.
        """
        from conformance._session import known_failures, validate_selection

        catalogue = load_catalogue()
        loaded = load_backend(self.backend)
        validate_selection(catalogue, loaded, self.device, self.clauses)
        if self.json_path is not None:
            check_writable(self.json_path)
        return known_failures(loaded, catalogue, self.known_failures)

    def pytest_arguments(self) -> list[str]:
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
            # The plugins the suite needs, loaded by module rather than by entry point: a run then
            # works from a checkout that is not installed (PYTHONPATH=.) and under
            # PYTEST_DISABLE_PLUGIN_AUTOLOAD=1. Blocking the entry point names first keeps an
            # installed copy from registering the same module twice.
            *("-p", "no:blockspec", "-p", "conformance.plugin"),
            *("-p", "no:hypothesispytest", "-p", "_hypothesis_pytestplugin"),
            # The suite asserts through Check, not bare assert: nothing of it needs rewriting.
            *("-W", "ignore::pytest.PytestAssertRewriteWarning"),
            "--blockspec-backend",
            self.backend,
            "--blockspec-device",
            self.device,
            "--blockspec-profile",
            self.profile,
        ]
        args += ["-v", "--tb=short"] if self.verbose else ["-q", "--tb=no", "--no-header", "-rN"]
        for clause in self.clauses:
            args += ["--blockspec-clause", clause]
        if self.json_path is not None:
            args += ["--blockspec-json", str(self.json_path)]
        if not self.shrink:
            args.append("--blockspec-no-shrink")
        if self.seed is not None:
            args += ["--blockspec-seed", str(self.seed), f"--hypothesis-seed={self.seed}"]
        if self.known_failures is not None:
            args += ["--blockspec-known-failures", str(self.known_failures)]
        return args


def run_suite(backend: str | RunRequest, *, pytest_args: Sequence[str] = (), **options: Any) -> RunResult:
    """Check a backend in this process and return a verdict per clause.

    ``backend`` is a :class:`RunRequest`, or a backend name with the
    request's other fields as keywords. Bad input raises
    :class:`conformance.UsageError` before any test runs.

    >>> result = run_suite("reference", clauses=("SEQ-INDEX",))  # doctest: +SKIP
    >>> result.exit_code
    0
    """
    request = backend if isinstance(backend, RunRequest) else RunRequest(backend, **options)
    request.check()
    capture = _Capture()
    code = pytest.main([*request.pytest_arguments(), *pytest_args], plugins=[capture])
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
