"""The plain-text summary of a run, for terminals and CI logs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from conformance._text import neutral
from conformance.run.result import RunResult
from conformance.run.status import FAILING, STATUSES, Status


class _Verdict(Protocol):
    """A clause's verdict as a run (``ClauseResult``) or a result file (the report's ``ClauseVerdict``) holds it."""

    @property
    def id(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def status(self) -> str: ...


def known_must_failures(verdicts: Iterable[_Verdict]) -> list[str]:
    """The MUST clauses a backend's known-failure manifest turned into ``xfail``, in catalogue order."""
    return [v.id for v in verdicts if v.level == "MUST" and v.status == Status.XFAIL]


def verdict_sentence(verdicts: Iterable[_Verdict], incomplete: str = "") -> str:
    """The one-sentence verdict of one run; the console summary, the Markdown report and the dashboard all say it.

    A run whose MUST clauses pass except known failures (``xfail``) exits 0, but
    never reads as a plain pass: the sentence names each known MUST failure.
    """
    verdicts = list(verdicts)
    failing = [v for v in verdicts if v.level == "MUST" and v.status in FAILING]
    known = known_must_failures(verdicts)
    known_text = f"{len(known)} known failure(s): {', '.join(known)}"
    if incomplete:
        return f"incomplete: {incomplete}; {len(failing)} MUST clause(s) not passed or not run"
    if failing:
        named = ", ".join(v.id for v in failing[:5]) + (", …" if len(failing) > 5 else "")
        return f"{len(failing)} MUST clause(s) do not pass ({named})" + (f"; and {known_text}" if known else "")
    if known:
        return f"conforms except {known_text} (MUST clauses listed in the backend's known-failure manifest)"
    if not any(v.level == "MUST" and v.status == "pass" for v in verdicts):
        return "nothing to check: no selected MUST clause applies (see each clause's reason)"
    return "every applicable, selected MUST clause was checked and passes"


def summary_lines(result: RunResult) -> list[str]:
    """Counts per status and level, then every non-passing MUST/SHOULD clause with its statement.

    Control characters from the result (a backend's ANSI escapes) are shown as pictures, never obeyed.
    """
    counts = result.counts()
    backend = result.backend
    lines = [
        f"backend {backend['name']} {backend.get('version', '')} on {result.device} "
        f"(profile {result.profile}, {result.duration_s:.1f} s)",
        "  " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]),
    ]
    by_level: dict[str, dict[str, int]] = {}
    for clause in result.clauses:
        by_level.setdefault(clause.level, {}).setdefault(clause.status, 0)
        by_level[clause.level][clause.status] += 1
    for level, level_counts in by_level.items():
        lines.append(f"  {level}: " + ", ".join(f"{n} {s}" for s, n in level_counts.items()))
    for clause in result.clauses:
        if clause.status in (Status.FAIL, Status.ERROR, Status.BLOCKED):
            lines.append(f"{Status(clause.status).value.upper():8} {clause.id} [{clause.level}] {clause.statement}")
            lines.append(f"         {clause.reason}")
            if clause.failure and clause.failure.get("rerun"):
                lines.append(f"         rerun: {clause.failure['rerun']}")
    for clause in result.clauses:
        if clause.known_failure and clause.known_failure.get("unexpected_pass"):
            lines.append(
                f"XPASS    {clause.id} [{clause.level}] listed as a known failure but passes: remove the entry"
            )
        if clause.known_failure and clause.known_failure.get("stale"):
            lines.append(
                f"STALE    {clause.id} [{clause.level}] listed as a known failure but not applicable "
                f"({clause.reason}): remove the entry"
            )
    lines.append(f"verdict: {verdict_sentence(result.clauses, result.incomplete)}")
    return [neutral(line) for line in lines]  # a backend's message must not drive the terminal
