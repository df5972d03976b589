"""Per-clause verdicts and the result file (JSON, versioned schema).

The stable minimum other tools rely on: top-level ``schema_version``,
``backend`` (``name``, ``version``), ``device`` and ``clauses``, one entry per
clause of the catalogue with at least ``id``, ``section``, ``level`` and
``status``. ``conformance/result.schema.json`` is the full JSON Schema.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance._errors import ResultFileError
from conformance._manifest import KnownFailure
from spec import Catalogue, Level

SCHEMA_VERSION = 1

#: Every status a clause can get, worst first where they are ranked.
STATUSES = ("pass", "fail", "error", "not-applicable", "skipped", "blocked", "xfail", "pending")

#: Statuses that fail a run when a MUST clause has them.
FAILING = frozenset({"fail", "error", "blocked"})

#: Prefixes of a skip reason that say which kind of skip it is.
NOT_APPLICABLE = "not-applicable: "
SKIPPED = "skipped: "


@dataclass
class TestOutcome:
    """What one test (one node id) did for its clause."""

    nodeid: str
    outcome: str  # passed, failed, error, xfail, xpassed, not-applicable, skipped
    duration_s: float
    message: str = ""
    example: list[str] = field(default_factory=list)
    reproduce: str = ""


@dataclass
class ClauseResult:
    """The verdict of one clause on one backend and device."""

    id: str
    section: str
    level: str
    title: str
    statement: str
    status: str
    reason: str = ""
    tests: list[TestOutcome] = field(default_factory=list)
    failure: dict[str, Any] | None = None
    known_failure: dict[str, Any] | None = None  # the manifest entry: reason, link, unexpected_pass


@dataclass
class RunResult:
    """A whole run: backend, device, environment and a verdict per clause."""

    backend: dict[str, str]
    device: str
    profile: str
    clauses: list[ClauseResult]
    started: str
    duration_s: float
    environment: dict[str, str] = field(default_factory=dict)
    tool: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for clause in self.clauses:
            counts[clause.status] += 1
        return counts

    def failing_must(self) -> list[ClauseResult]:
        return [c for c in self.clauses if c.level == Level.MUST.value and c.status in FAILING]

    @property
    def exit_code(self) -> int:
        """0 when every applicable MUST clause passes, 1 otherwise."""
        return 1 if self.failing_must() else 0

    def to_json(self) -> dict[str, Any]:
        data = {
            "schema_version": SCHEMA_VERSION,
            "tool": self.tool,
            "backend": self.backend,
            "device": self.device,
            "profile": self.profile,
            "started": self.started,
            "duration_s": round(self.duration_s, 3),
            "environment": self.environment,
            "summary": self.counts(),
            "exit_code": self.exit_code,
            "clauses": [asdict(c) for c in self.clauses],
        }
        return data


def rerun_template(backend: str, device: str, profile: str) -> str:
    """The command that reruns one clause of a run, with ``{clause}`` to fill in."""
    return f"blockspec run --backend {backend} --device {device} --profile {profile} --clause {{clause}}"


def aggregate(
    catalogue: Catalogue,
    outcomes: dict[str, list[TestOutcome]],
    selected: set[str] | None,
    rerun: str,
    known: Mapping[str, KnownFailure] | None = None,
) -> list[ClauseResult]:
    """One verdict per catalogue clause from its tests' outcomes.

    ``selected`` None means every clause was asked for; otherwise the others
    are ``skipped``. ``rerun`` is a command with ``{clause}`` to fill in.
    """
    results: dict[str, ClauseResult] = {}
    for clause in catalogue.values():
        tests = outcomes.get(clause.id, [])
        result = ClauseResult(
            clause.id, clause.section, clause.level.value, clause.title, clause.statement, "pending", tests=tests
        )
        if selected is not None and clause.id not in selected:
            result.status, result.reason = "skipped", "not selected (--clause)"
        elif tests:
            result.status, result.reason = _verdict(tests)
            if result.status in ("fail", "error"):
                result.failure = _failure(tests, rerun.format(clause=clause.id))
        else:
            result.reason = "no test checks this clause yet"
        entry = (known or {}).get(clause.id)
        if entry is not None:
            unexpected = result.status == "pass" and any(t.outcome == "xpassed" for t in tests)
            result.known_failure = {"reason": entry.reason, "link": entry.link, "unexpected_pass": unexpected}
            if result.status == "xfail":
                result.failure = _failure(tests, rerun.format(clause=clause.id), outcomes=("xfail",))
        results[clause.id] = result
    _block_dependents(catalogue, results)
    return list(results.values())


def _first_line(message: str) -> str:
    lines = message.strip().splitlines()
    return lines[0][:300] if lines else "(no message)"


def _deciding(tests: list[TestOutcome], outcomes: tuple[str, ...] = ("error", "failed")) -> TestOutcome | None:
    """The test whose outcome decides the clause's status: an error, else a failure."""
    for outcome in outcomes:
        for test in tests:
            if test.outcome == outcome:
                return test
    return None


def _verdict(tests: list[TestOutcome]) -> tuple[str, str]:
    decisive = _deciding(tests)
    if decisive is not None:
        status = "error" if decisive.outcome == "error" else "fail"
        return status, _first_line(decisive.message)
    kinds = {t.outcome for t in tests}
    if "xfail" in kinds:  # a known failure that failed, though another test of the clause may pass
        return "xfail", _first_line(next(t.message for t in tests if t.outcome == "xfail"))
    if "xpassed" in kinds:
        return "pass", next(t.message for t in tests if t.outcome == "xpassed")
    if "passed" in kinds:
        return "pass", ""
    for kind in ("not-applicable", "skipped"):
        if kind in kinds:
            return kind, next(t.message for t in tests if t.outcome == kind)
    return "error", f"unexpected test outcomes {sorted(kinds)}"


def _failure(tests: list[TestOutcome], rerun: str, outcomes: tuple[str, ...] = ("error", "failed")) -> dict[str, Any]:
    worst = _deciding(tests, outcomes)
    assert worst is not None, "a failure record needs a failed or errored test"
    return {
        "test": worst.nodeid,
        "message": worst.message or "(no message)",
        "example": worst.example,
        "reproduce": worst.reproduce,
        "rerun": rerun,
    }


def _block_dependents(catalogue: Catalogue, results: dict[str, ClauseResult]) -> None:
    """A failed or errored clause whose dependency did not pass is ``blocked`` by the root cause."""

    def root_cause(clause_id: str, seen: frozenset[str] = frozenset()) -> str | None:
        for target in catalogue[clause_id].depends_on:
            if target in seen:
                continue
            status = results[target].status
            if status in ("fail", "error"):
                return root_cause(target, seen | {clause_id}) or target
            deeper = root_cause(target, seen | {clause_id})
            if deeper:
                return deeper
        return None

    causes = {cid: root_cause(cid) for cid, r in results.items() if r.status in ("fail", "error")}
    for clause_id, cause in causes.items():
        if cause is not None:
            result = results[clause_id]
            result.status = "blocked"
            result.reason = f"blocked by {cause} ({results[cause].status}); own outcome: {result.reason}"


def write_json(result: RunResult, path: Path) -> None:
    """Write the result file atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write atomically: a reader sees the old file or the whole new one, never half.

    Any operating-system failure (full disk, permissions, a directory in the
    way) becomes a :class:`ResultFileError` and leaves ``path`` untouched.
    """
    check_writable(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ResultFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ResultFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path) -> None:
    """Fail early, before a run, when ``path`` cannot be written."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ResultFileError(f"cannot write {path}: directory {directory} does not exist (create it first)")
    if path.is_dir():
        raise ResultFileError(f"cannot write {path}: it is a directory")
    if not os.access(directory, os.W_OK):
        raise ResultFileError(f"cannot write {path}: directory {directory} is not writable")
