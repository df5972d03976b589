"""One conformance run inside pytest: capability gating, outcome recording, the result file."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Generator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance import _profiles
from conformance._checks import ClauseViolation
from conformance._discovery import load_backend
from conformance._errors import UsageError
from conformance._manifest import KnownFailure, load_manifest
from conformance._protocol import Backend
from conformance._results import (
    NOT_APPLICABLE,
    SKIPPED,
    RunResult,
    TestOutcome,
    aggregate,
    check_writable,
    rerun_template,
    write_json,
)
from spec import Catalogue, load_catalogue

TOOL_VERSION = "0.1.0"


def clause_of(item: pytest.Item) -> str | None:
    """The clause id an item's ``clause`` marker cites, if any."""
    marker = item.get_closest_marker("clause")
    if marker is None or not marker.args:
        return None
    return str(marker.args[0])


class BlockspecSession:
    """The state of one run; registered as a pytest plugin for its hooks."""

    def __init__(
        self,
        catalogue: Catalogue,
        backend_spec: str,
        backend: Backend,
        device: str,
        profile: str,
        selected: set[str] | None,
        json_path: Path | None,
        known: dict[str, KnownFailure] | None = None,
    ) -> None:
        self.catalogue, self.backend_spec, self.backend = catalogue, backend_spec, backend
        self.device, self.profile, self.selected, self.json_path = device, profile, selected, json_path
        self.known = known or {}
        self.outcomes: dict[str, dict[str, TestOutcome]] = {}
        self.started = datetime.now(UTC)
        self.clock = time.perf_counter()
        self.result: RunResult | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> BlockspecSession:
        catalogue = load_catalogue()
        spec = config.getoption("blockspec_backend")
        backend = load_backend(spec)
        device = config.getoption("blockspec_device")
        wanted = config.getoption("blockspec_clause") or []
        validate_selection(catalogue, backend, device, wanted)
        json_option = config.getoption("blockspec_json")
        json_path = Path(json_option) if json_option else None
        if json_path is not None:
            check_writable(json_path)
        manifest = config.getoption("blockspec_known_failures")
        known = known_failures(backend, catalogue, Path(manifest) if manifest else None)
        profile = config.getoption("blockspec_profile")
        _profiles.load_profile(
            profile,
            shrink=not config.getoption("blockspec_no_shrink"),
            seeded=config.getoption("blockspec_seed") is not None,
        )
        return cls(catalogue, spec, backend, device, profile, set(wanted) or None, json_path, known)

    # --- collection and setup ------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        for item in items:
            known = self.known.get(clause_of(item) or "")
            if known is not None:
                item.add_marker(pytest.mark.xfail(reason=known.describe(), strict=False))
        if self.selected is None:
            return
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            (keep if clause_of(item) in self.selected else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        clause_id = clause_of(item)
        if clause_id is None or clause_id not in self.catalogue:
            return
        # pytest's --junitxml writes these as <property> of the testcase, so CI systems can group by clause.
        item.user_properties += [("clause", clause_id), ("backend", self.backend.name), ("device", self.device)]
        missing = [c for c in self.catalogue[clause_id].requires if c not in self.backend.capabilities]
        if missing:
            pytest.skip(f"{NOT_APPLICABLE}{self.backend.name} does not declare capability {', '.join(missing)}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """A known failure is not shrunk: it must be a fast verdict, not minutes of search.

        A ``@given`` test holds the settings it was decorated with (the
        profile at import time) in hypothesis's ``_hypothesis_internal_use_settings``;
        for a known failure that attribute is swapped for a copy without the
        shrink phase during the call, and put back after it.
        """
        test = getattr(item, "obj", None)
        attribute = "_hypothesis_internal_use_settings"
        if (clause_of(item) or "") not in self.known or not hasattr(test, attribute):
            return (yield)
        from hypothesis import Phase, settings

        original = getattr(test, attribute)
        setattr(test, attribute, settings(original, phases=[p for p in original.phases if p is not Phase.shrink]))
        try:
            return (yield)
        finally:
            setattr(test, attribute, original)

    # --- recording --------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report = yield
        clause_id = clause_of(item)
        if clause_id is not None:
            self._record(clause_id, item.nodeid, call, report)
        return report

    def _record(self, clause_id: str, nodeid: str, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
        per_clause = self.outcomes.setdefault(clause_id, {})
        previous = per_clause.get(nodeid)
        if report.when == "teardown" and report.passed:
            return
        if previous is not None and previous.outcome in ("failed", "error"):
            return  # the first failure of a test is the one to report
        expected_failure = getattr(report, "wasxfail", None)
        if expected_failure is not None and report.skipped:
            # Keep what failed (message, example) under the reason, so a known failure stays inspectable.
            detail = _failure_outcome(nodeid, call, report) if call.excinfo is not None else None
            message = _xfail_reason(expected_failure) + (f"\n{detail.message}" if detail else "")
            per_clause[nodeid] = TestOutcome(
                nodeid,
                "xfail",
                report.duration,
                message,
                detail.example if detail else [],
                detail.reproduce if detail else "",
            )
        elif report.skipped:
            reason = _skip_reason(report)
            kind = "not-applicable" if reason.startswith(NOT_APPLICABLE) else "skipped"
            message = reason.removeprefix(NOT_APPLICABLE).removeprefix(SKIPPED)
            per_clause[nodeid] = TestOutcome(nodeid, kind, report.duration, message)
        elif report.passed:
            if report.when == "call" and expected_failure is not None:
                message = f"unexpected pass: the clause is listed as a {_xfail_reason(expected_failure)}"
                per_clause[nodeid] = TestOutcome(nodeid, "xpassed", report.duration, message)
            elif report.when == "call":
                per_clause[nodeid] = TestOutcome(nodeid, "passed", report.duration)
        else:
            per_clause[nodeid] = _failure_outcome(nodeid, call, report)

    def backend_info(self) -> dict[str, str]:
        """The backend's name and version, as result files and the journal record them."""
        return {"name": self.backend.name, "version": _safe(self.backend.version)}

    # --- the end -------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        rerun = rerun_template(self.backend_spec, self.device, self.profile)
        outcomes = {cid: list(tests.values()) for cid, tests in self.outcomes.items()}
        clauses = aggregate(self.catalogue, outcomes, self.selected, rerun, self.known)
        self.result = RunResult(
            backend={**self.backend_info(), "adapter": self.backend_spec},
            device=self.device,
            profile=self.profile,
            clauses=clauses,
            started=self.started.isoformat(timespec="seconds"),
            duration_s=time.perf_counter() - self.clock,
            environment=_environment(self.backend),
            tool={"name": "blockspec", "version": TOOL_VERSION},
        )
        if self.json_path is not None:
            write_json(self.result, self.json_path)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.result is None:
            return
        from conformance._summary import summary_lines

        terminalreporter.section("blockspec conformance")
        for line in summary_lines(self.result):
            terminalreporter.write_line(line)


def validate_selection(catalogue: Catalogue, backend: Backend, device: str, clauses: Sequence[str]) -> None:
    """A usage error for a clause id the catalogue lacks or a device the backend does not offer."""
    unknown = [c for c in clauses if c not in catalogue]
    if unknown:
        raise UsageError(f"unknown clause id(s) {', '.join(unknown)}; `blockspec spec` lists them all")
    valid = ["cpu", *backend.accelerators()]
    if device not in valid:
        hint = f" (the suite names a device with its index: {device}:0)" if f"{device}:0" in valid else ""
        raise UsageError(
            f"device {device!r} is not available to backend {backend.name!r}; available: {', '.join(valid)}{hint}"
        )


def known_failures(backend: Backend, catalogue: Catalogue, path: Path | None) -> dict[str, KnownFailure]:
    """The manifest given on the command line, else the one the adapter ships (``known_failures``), else none."""
    if path is None:
        shipped = getattr(backend, "known_failures", None)
        path = Path(shipped) if shipped else None
    return {} if path is None else load_manifest(path, catalogue)


def _xfail_reason(wasxfail: str) -> str:
    return wasxfail.removeprefix("reason: ") or "expected to fail"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _failure_outcome(nodeid: str, call: pytest.CallInfo[None], report: pytest.TestReport) -> TestOutcome:
    excinfo = call.excinfo
    if excinfo is None:
        return TestOutcome(nodeid, "error", report.duration, f"{report.when} failed: {report.longreprtext[-500:]}")
    exc = excinfo.value
    notes = _notes(exc)
    example = [n for n in notes if n.startswith(("Falsifying", "Failing test case", "Draw ", "Trying example"))]
    example = [line for n in example for line in n.splitlines()]
    reproduce = next((n.strip() for n in notes if "@reproduce_failure" in n), "")
    leaves = _leaf_exceptions(exc)
    violations = [e for e in leaves if isinstance(e, AssertionError)]
    if report.when == "call" and violations:
        # Other exceptions next to a violation (hypothesis found several) are its consequences.
        outcome = "failed"
        message = "\n".join(str(e) for e in violations)
    else:
        outcome = "error"
        crash = getattr(report.longrepr, "reprcrash", None)
        where = f" (at {crash.path}:{crash.lineno})" if crash is not None else ""
        message = "\n".join(f"{type(e).__name__}: {e}" for e in (leaves or [exc])) + where
        if report.when != "call":
            message = f"{report.when} error: {message}"
    return TestOutcome(nodeid, outcome, report.duration, message, example, reproduce)


def _leaf_exceptions(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaf_exceptions(sub)]
    return [exc]


def _notes(exc: BaseException) -> list[str]:
    notes = list(getattr(exc, "__notes__", []) or [])
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            notes += _notes(sub)
    return notes


def _safe(fn: Any) -> str:
    try:
        return str(fn())
    except Exception as exc:  # a report must not die on a version lookup
        return f"unknown ({type(exc).__name__})"


def _environment(backend: Backend) -> dict[str, str]:
    env = {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine()}
    try:
        env.update({str(k): str(v) for k, v in backend.environment().items()})
    except Exception as exc:
        env["backend_environment_error"] = f"{type(exc).__name__}: {exc}"
    return env


__all__ = ["BlockspecSession", "ClauseViolation", "clause_of"]
