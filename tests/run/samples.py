"""Sample verdicts and result files for the tests of conformance.run (verdicts, result, summary)."""

from __future__ import annotations

from conformance.run.result import ClauseResult, RunResult
from conformance.run.result import TestOutcome as Outcome
from conformance.run.verdicts import Ledger, build_result
from spec import Catalogue, Clause, Level

RERUN = "blockspec run --backend fake --clause {clause}"


def clause(cid: str, level: str = "MUST", deps: tuple[str, ...] = ()) -> Clause:
    return Clause(cid, "4.1", Level(level), f"title of {cid}", f"statement of {cid}", "why", "quote", depends_on=deps)


def outcome(kind: str, message: str = "", nodeid: str = "suite/test_x.py::test_x") -> Outcome:
    if not message and kind != "passed":
        message = f"{kind} message\nsecond line"
    return Outcome(nodeid, kind, 0.01, message)


def verdicts(
    catalogue: Catalogue,
    outcomes: dict[str, list[Outcome]],
    selected: set[str] | None = None,
    known: dict[str, dict[str, str]] | None = None,
) -> dict[str, ClauseResult]:
    """The verdicts of a run whose every collected test finished with the given outcomes.

    ``known`` is the backend's known-failure manifest, as the run's ``begin`` event carries it.
    """
    ledger = Ledger(
        subject={"name": "fake", "version": "0"}, capabilities=frozenset(), began=True, ended=True, known=known or {}
    )
    for cid, tests in outcomes.items():
        for test in tests:
            if test.nodeid in ledger.collected:  # one node id per test: the samples reuse a default one
                test = Outcome(f"{test.nodeid}@{cid}", test.outcome, test.duration_s, test.message)
            ledger.collected[test.nodeid] = cid
            ledger.record(cid, test)
    result = build_result(
        ledger,
        catalogue,
        target="fake",
        device="cpu",
        profile="fast",
        selected=None if selected is None else frozenset(selected),
        rerun=RERUN,
        started="",
        duration_s=0.0,
        tool={},
    )
    return {r.id: r for r in result.clauses}


def run_result(clauses: list[ClauseResult]) -> RunResult:
    return RunResult(
        backend={"name": "fake", "version": "0.0", "adapter": "fake"},
        device="cpu",
        profile="fast",
        clauses=clauses,
        started="2025-01-01T00:00:00+00:00",
        duration_s=1.25,
        environment={"python": "3.11"},
        tool={"name": "blockspec", "version": "0.1.0"},
    )


def sample_result() -> RunResult:
    catalogue = Catalogue([clause("ROOT-A"), clause("LEAF-C", deps=("ROOT-A",)), clause("OTHER-D", "SHOULD")])
    outcomes = {"ROOT-A": [outcome("failed")], "LEAF-C": [outcome("error")], "OTHER-D": [outcome("not-applicable")]}
    return run_result(list(verdicts(catalogue, outcomes).values()))
