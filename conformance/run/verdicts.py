"""The one result builder: a run's events in, a verdict per clause out.

Both ways of running the suite feed the same :class:`Ledger` with the same
events and call the same :func:`build_result`, so they cannot disagree: the
in-process session applies its events as they happen; the isolated parent
reads them back from the child's journal (``conformance.run.journal``).

The events are plain JSON objects::

    {"event": "begin", "subject": {"name", "version"}, "capabilities": [...], "known": {clause: {reason, link}}}
    {"event": "collected", "all": {nodeid: clause}, "selected": [nodeid, ...], "errors": [text, ...]}
    {"event": "deselected", "tests": {nodeid: why}}
    {"event": "start", "nodeid": ..., "clause": ...}
    {"event": "finish", "nodeid": ..., "clause": ..., "outcome": {TestOutcome fields} | null}
    {"event": "end", "environment": {...}, "exitstatus": int, "interrupted": why | "", "stopped": why | "",
     "worker": "gw0" | ""}                       (a pytest-xdist worker's end is not the run's end)
    {"event": "refused", "message": ...}        (the child could not start the run: a usage error)

A verdict is earned: a selected clause whose capabilities the subject
declares is ``pass`` only when every one of its tests ran to completion and
passed. A test that did not run — deselected by a pytest option or plugin,
in a module that failed to import, cut off by an interrupt — makes its
clause ``error`` with the reason ``not run: <why>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.run.result import ClauseResult, RunResult, TestOutcome
from conformance.run.status import Outcome, Status
from spec import Catalogue


@dataclass
class Ledger:
    """Everything a run's events have said so far."""

    subject: dict[str, str] = field(default_factory=dict)
    device: str = ""  # the device the run checked (the subject's host device unless one was asked for)
    capabilities: frozenset[str] | None = None
    known: dict[str, dict[str, str]] = field(default_factory=dict)
    collected: dict[str, str] = field(default_factory=dict)  # every test the suite has: node id -> clause
    deselected: dict[str, str] = field(default_factory=dict)  # node id -> why it was not run
    collection_errors: list[str] = field(default_factory=list)
    outcomes: dict[str, tuple[str, TestOutcome]] = field(default_factory=dict)  # node id -> (clause, outcome)
    environment: dict[str, str] = field(default_factory=dict)
    running_tests: dict[str, str] = field(default_factory=dict)  # started, not finished: node id -> clause
    began: bool = False
    ended: bool = False
    interrupted: str = ""  # the user's Ctrl-C
    stopped: str = ""  # another reason the suite stopped early (a backend's KeyboardInterrupt)
    exitstatus: int | None = None
    refused: str = ""

    def apply(self, event: Mapping[str, Any]) -> None:
        """Take one event into account (see the module docstring for the kinds)."""
        kind = event["event"]
        if kind == "begin":
            self.began = True
            self.subject = {str(k): str(v) for k, v in event["subject"].items()}
            self.capabilities = frozenset(event["capabilities"])
            self.known = {str(k): dict(v) for k, v in event["known"].items()}
            self.device = str(event.get("device", ""))
        elif kind == "collected":
            self.collected.update(event["all"])
            self.collection_errors += [e for e in event.get("errors", []) if e not in self.collection_errors]
        elif kind == "deselected":
            for nodeid, why in event["tests"].items():
                self.deselected.setdefault(nodeid, why)
        elif kind == "start":
            self.running_tests[event["nodeid"]] = event["clause"]
        elif kind == "finish":
            if event["outcome"] is not None:
                self.record(event["clause"], TestOutcome(**event["outcome"]))
            self.running_tests.pop(event["nodeid"], None)
        elif kind == "end" and event.get("worker"):
            self.environment = {str(k): str(v) for k, v in (event.get("environment") or {}).items()}
        elif kind == "end":
            self.environment = {str(k): str(v) for k, v in (event.get("environment") or {}).items()}
            self.interrupted = self.interrupted or event.get("interrupted", "")
            self.stopped = event.get("stopped", "")
            self.exitstatus = event.get("exitstatus")
            self.ended = True
        elif kind == "refused":
            self.refused = event["message"]

    @property
    def running(self) -> str | None:
        """The test started last and not finished yet (one at a time without ``-n``)."""
        return next(reversed(self.running_tests), None)

    def record(self, clause: str, outcome: TestOutcome) -> None:
        self.outcomes[outcome.nodeid] = (clause, outcome)
        self.deselected.pop(outcome.nodeid, None)


def build_result(
    ledger: Ledger,
    catalogue: Catalogue,
    *,
    target: str,
    device: str | None,
    profile: str,
    selected: frozenset[str] | None,
    rerun: str,
    started: str,
    duration_s: float,
    tool: Mapping[str, str],
    incomplete: str = "",
) -> RunResult:
    """The run's result: one verdict per catalogue clause, dependents of a failure ``blocked``."""
    per_clause: dict[str, list[TestOutcome]] = {}
    for clause_id, outcome in ledger.outcomes.values():
        per_clause.setdefault(clause_id, []).append(outcome)
    incomplete = incomplete or ledger.interrupted
    results: dict[str, ClauseResult] = {}
    unrun_clauses: set[str] = set()  # an unrun clause is its own root cause, never blocked by another
    for clause in catalogue.values():
        tests = per_clause.get(clause.id, [])
        result = ClauseResult(
            clause.id, clause.section, clause.level.value, clause.title, clause.statement, Status.PENDING, tests=tests
        )
        missing = (
            [c for c in clause.requires if c not in ledger.capabilities] if ledger.capabilities is not None else []
        )
        unrun = [n for n, c in ledger.collected.items() if c == clause.id and n not in ledger.outcomes]
        if selected is not None and clause.id not in selected:
            result.status, result.reason = Status.SKIPPED, "not selected (--clause)"
        elif missing:
            result.status = Status.NOT_APPLICABLE
            result.reason = f"{ledger.subject.get('name', target)} does not declare capability {', '.join(missing)}"
        elif tests and unrun:
            unrun_clauses.add(clause.id)
            result.status, result.reason = Status.ERROR, _not_run(ledger, unrun, len(unrun) + len(tests), incomplete)
            result.failure = _failure_record(result.reason, rerun.format(clause=clause.id))
        elif tests:
            result.status, result.reason = _verdict(tests)
            if result.status in (Status.FAIL, Status.ERROR):
                result.failure = _failure(tests, rerun.format(clause=clause.id))
        else:
            unrun_clauses.add(clause.id)
            result.status, result.reason = Status.ERROR, _not_run(ledger, unrun, len(unrun), incomplete)
            result.failure = _failure_record(result.reason, rerun.format(clause=clause.id))
        entry = ledger.known.get(clause.id)
        if entry is not None:
            _apply_manifest_entry(result, entry, waivable=clause.waivable, stale=bool(missing))
            if result.status == Status.XFAIL:
                result.failure = _failure(tests, rerun.format(clause=clause.id), outcomes=(Outcome.XFAIL,))
            elif result.status == Status.FAIL and result.failure is None:  # a known failure that cannot be waived
                outcomes = (Outcome.XFAIL, Outcome.ERROR, Outcome.FAILED)
                result.failure = _failure(tests, rerun.format(clause=clause.id), outcomes=outcomes)
        results[clause.id] = result
    _block_dependents(catalogue, results, unrun_clauses)
    return RunResult(
        backend={**ledger.subject, "adapter": target} if ledger.subject else {"name": target, "version": "unknown"},
        device=ledger.device or device or "cpu",
        profile=profile,
        clauses=list(results.values()),
        started=started,
        duration_s=duration_s,
        environment=ledger.environment,
        tool=dict(tool),
        incomplete=incomplete,
    )


def _apply_manifest_entry(result: ClauseResult, entry: Mapping[str, str], *, waivable: bool, stale: bool) -> None:
    """What a known-failure manifest entry does to a clause's verdict.

    It turns a failure into ``xfail`` only for a waivable clause: a clause the
    spec marks ``waivable = false`` (a security property) stays ``fail``, and
    its reason says that the entry was ignored. An entry whose clause passes
    is an unexpected pass; one whose clause is not applicable (a capability the
    backend does not declare) is stale. Both are flagged, never counted.
    """
    unexpected = result.status == Status.PASS and any(t.outcome == Outcome.XPASSED for t in result.tests)
    result.known_failure = {
        "reason": entry.get("reason", ""),
        "link": entry.get("link", ""),
        "unexpected_pass": unexpected,
        "stale": stale and result.status == Status.NOT_APPLICABLE,
        "waived": waivable,
    }
    if not waivable and result.status in (Status.XFAIL, Status.FAIL):
        own = result.reason
        if result.status == Status.XFAIL:  # the test's message: the xfail reason, then what failed
            lines = next(t.message for t in result.tests if t.outcome == Outcome.XFAIL).strip().splitlines()
            own = _first_line("\n".join(lines[1:])) if len(lines) > 1 else own
        result.status = Status.FAIL
        result.reason = (
            f"{result.id} is not waivable (the spec marks it waivable = false): the backend's known-failure "
            f"entry cannot make its failure xfail; own outcome: {own}"
        )


def _not_run(ledger: Ledger, unrun: list[str], total: int, incomplete: str) -> str:
    """Why a selected, applicable clause has tests that did not run."""
    if not unrun:
        errors = "; ".join(ledger.collection_errors)
        if errors:
            return f"not run: no test of this clause was collected; collection failed: {errors}"
        if not ledger.began:
            return "not run: the suite never started (see the run's output)"
        return "not run: no test of this clause was collected (a test module missing or deselected before collection)"
    whys = sorted({ledger.deselected.get(n, "") for n in unrun} - {""})
    if incomplete:
        whys.append(f"the run was interrupted ({incomplete})")
    if ledger.stopped:
        whys.append(ledger.stopped)
    if ledger.collection_errors:
        whys.append("collection failed: " + "; ".join(ledger.collection_errors))
    if not whys:
        whys.append("pytest did not run it (--collect-only, -x, or a plugin that stops the session?)")
    names = ", ".join(n.rpartition("::")[2] for n in unrun[:3]) + (", ..." if len(unrun) > 3 else "")
    return f"not run: {len(unrun)} of its {total} test(s) did not run ({names}): {'; '.join(whys)}"


#: The longest reason kept whole; a longer first line is cut at a word and says where the rest is.
REASON_CHARS = 1000


def _first_line(message: str) -> str:
    """The message's first line, the clause's reason: whole, or cut at a word with a pointer to the rest."""
    lines = message.strip().splitlines()
    if not lines:
        return "(no message)"
    line = lines[0]
    if len(line) <= REASON_CHARS:
        return line
    cut = line.rfind(" ", REASON_CHARS // 2, REASON_CHARS)
    kept = line[: cut if cut > 0 else REASON_CHARS]
    return f"{kept} … ({len(line) - len(kept)} more characters: see failure.message)"


def _deciding(
    tests: list[TestOutcome], outcomes: tuple[Outcome, ...] = (Outcome.ERROR, Outcome.FAILED)
) -> TestOutcome | None:
    """The test whose outcome decides the clause's status: an error, else a failure."""
    for outcome in outcomes:
        for test in tests:
            if test.outcome == outcome:
                return test
    return None


def _verdict(tests: list[TestOutcome]) -> tuple[Status, str]:
    decisive = _deciding(tests)
    if decisive is not None:
        status = Status.ERROR if decisive.outcome == Outcome.ERROR else Status.FAIL
        return status, _first_line(decisive.message)
    kinds = {t.outcome for t in tests}
    if Outcome.XFAIL in kinds:  # a known failure that failed, though another test of the clause may pass
        return Status.XFAIL, _first_line(next(t.message for t in tests if t.outcome == Outcome.XFAIL))
    if Outcome.XPASSED in kinds:
        return Status.PASS, next(t.message for t in tests if t.outcome == Outcome.XPASSED)
    if Outcome.PASSED in kinds:
        return Status.PASS, ""
    for kind, status in ((Outcome.NOT_APPLICABLE, Status.NOT_APPLICABLE), (Outcome.SKIPPED, Status.SKIPPED)):
        if kind in kinds:
            return status, next(t.message for t in tests if t.outcome == kind)
    return Status.ERROR, f"unexpected test outcomes {sorted(kinds)}"


def _failure(
    tests: list[TestOutcome], rerun: str, outcomes: tuple[Outcome, ...] = (Outcome.ERROR, Outcome.FAILED)
) -> dict[str, Any]:
    worst = _deciding(tests, outcomes)
    if worst is None:
        raise ValueError("a failure record needs a failed or errored test")
    return {
        "test": worst.nodeid,
        "message": worst.message or "(no message)",
        "example": worst.example,
        "reproduce": worst.reproduce,
        "rerun": rerun,
    }


def _failure_record(message: str, rerun: str) -> dict[str, Any]:
    return {"test": "", "message": message, "example": [], "reproduce": "", "rerun": rerun}


def _block_dependents(catalogue: Catalogue, results: dict[str, ClauseResult], unrun: set[str]) -> None:
    """A failed or errored clause whose dependency failed is ``blocked`` by the root cause.

    A clause that did not run (``unrun``) is neither blocked nor a cause.
    """

    def root_cause(clause_id: str, seen: frozenset[str] = frozenset()) -> str | None:
        for target in catalogue[clause_id].depends_on:
            if target in seen or target not in results:
                continue
            status = results[target].status
            # A clause that did not run is no evidence against the ones resting on it (but its own roots are).
            if status in (Status.FAIL, Status.ERROR) and target not in unrun:
                return root_cause(target, seen | {clause_id}) or target
            deeper = root_cause(target, seen | {clause_id})
            if deeper:
                return deeper
        return None

    causes = {
        cid: root_cause(cid)
        for cid, r in results.items()
        if r.status in (Status.FAIL, Status.ERROR) and cid not in unrun
    }
    for clause_id, cause in causes.items():
        if cause is not None:
            result = results[clause_id]
            result.status = Status.BLOCKED
            result.reason = f"blocked by {cause} ({results[cause].status}); own outcome: {result.reason}"
