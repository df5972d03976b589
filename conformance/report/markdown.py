"""A Markdown report of result files, sized for a pull-request comment.

Per backend and device: counts by status and level; then every clause that
failed or errored, with its statement, message, shrunk example and the
command that reruns it. Text from result files is escaped, so a backend name
or message holding HTML or Markdown shows as text.

>>> from conformance.report import load_results, merge_runs, render_markdown
>>> text = render_markdown(merge_runs(load_results(["r.json"])))  # doctest: +SKIP
"""

from __future__ import annotations

import re

from conformance._results import STATUSES
from conformance.report.loader import Run, Verdict
from conformance.report.merge import Merged

#: GitHub refuses comments over 65536 characters; long examples are cut to stay well below.
MAX_EXAMPLE_LINES = 40
MAX_MESSAGE_CHARS = 2000

_SYMBOL = {
    "pass": "✅",
    "fail": "❌",
    "error": "💥",
    "not-applicable": "➖",
    "skipped": "⏭️",
    "blocked": "⛔",
    "xfail": "🟣",
    "pending": "⏳",
}
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~])")


def inline(text: str) -> str:
    """``text`` as literal Markdown inline text: no HTML, links, emphasis, headings or table breaks."""
    text = text.replace("&", "&amp;")
    text = _SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1), "\\" + m.group(1)), text)
    text = " ".join(text.split())
    return "\\" + text if text[:1] in ("#", "+", "-", "=") else text


def fenced(text: str, info: str = "") -> str:
    """A code block that ``text`` cannot close early, however many backticks it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def render_markdown(merged: Merged) -> str:
    """The whole report as Markdown text."""
    columns = merged.columns
    bad = sum(1 for run in columns for v in run.verdicts.values() if v.status in ("fail", "error"))
    lines = ["## blockspec conformance", ""]
    verdict = "every applicable MUST clause passes" if not _failing_must(columns) else "some MUST clauses do not pass"
    lines.append(f"{len(columns)} run(s); {verdict}; {bad} failing or erroring clause verdict(s).")
    lines.append("")
    for note in merged.superseded:
        lines.append(f"> [!NOTE]\n> {inline(note.message)}")
        lines.append("")
    lines += _counts_table(columns)
    lines.append("")
    for run in columns:
        lines += _failures(run)
    return "\n".join(lines).rstrip() + "\n"


def _failing_must(columns: tuple[Run, ...]) -> list[Verdict]:
    return [
        v
        for r in columns
        for v in r.verdicts.values()
        if v.level == "MUST" and v.status in ("fail", "error", "blocked")
    ]


def _counts_table(columns: tuple[Run, ...]) -> list[str]:
    heading = ["backend", "version", "device", "level", *(f"{_SYMBOL[s]} {s}" for s in STATUSES), "pass rate"]
    lines = ["| " + " | ".join(heading) + " |", "|" + "---|" * 4 + "---:|" * (len(STATUSES) + 1)]
    for run in columns:
        rows = [*run.level_counts().items(), ("all", run.counts())]
        for level, counts in rows:
            if level == "all":
                passed = sum(run.pass_rate(lv)[0] for lv in ("MUST", "SHOULD", "MAY"))
                applicable = sum(run.pass_rate(lv)[1] for lv in ("MUST", "SHOULD", "MAY"))
            else:
                passed, applicable = run.pass_rate(level)
            rate = f"{passed}/{applicable}" + (f" ({100 * passed / applicable:.0f}%)" if applicable else "")
            level_cell = "**all**" if level == "all" else level
            cells = [inline(run.backend), inline(run.version), inline(run.device), level_cell]
            cells += [str(counts[s]) if counts[s] else "·" for s in STATUSES]
            lines.append("| " + " | ".join([*cells, rate]) + " |")
    lines.append("")
    lines.append("Pass rate: passed / applicable (not-applicable, skipped and pending clauses do not count).")
    return lines


def _failures(run: Run) -> list[str]:
    failing = [v for v in run.verdicts.values() if v.status in ("fail", "error")]
    blocked = [v for v in run.verdicts.values() if v.status == "blocked"]
    unexpected = [v for v in run.verdicts.values() if v.unexpected_pass]
    if not failing and not blocked and not unexpected:
        return []
    lines = [f"### {inline(run.label)}: {len(failing)} failing, {len(blocked)} blocked", ""]
    for verdict in failing:
        lines += _failure(verdict)
    if blocked:
        lines.append("Blocked (a clause they depend on does not pass):")
        lines.append("")
        for verdict in blocked:
            lines.append(f"- {_SYMBOL['blocked']} **{verdict.id}** [{verdict.level}]: {inline(verdict.reason)}")
        lines.append("")
    if unexpected:
        lines.append("Unexpected passes (listed as known failures, yet passing: remove their manifest entries):")
        lines.append("")
        for verdict in unexpected:
            lines.append(f"- {_SYMBOL['pass']} **{verdict.id}** [{verdict.level}]: {inline(verdict.reason)}")
        lines.append("")
    return lines


def _failure(verdict: Verdict) -> list[str]:
    lines = [
        f"#### {_SYMBOL[verdict.status]} {verdict.status.upper()} {verdict.id} [{verdict.level}, §{verdict.section}]",
        "",
        f"> {inline(verdict.statement or verdict.title)}",
        "",
    ]
    failure = verdict.failure
    message = failure.message if failure is not None else verdict.reason
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "\n… (cut; the result file has the whole message)"
    lines += [fenced(message or "(no message)", "text"), ""]
    if failure is None:
        return lines
    if failure.example:
        example = list(failure.example[:MAX_EXAMPLE_LINES])
        if len(failure.example) > MAX_EXAMPLE_LINES:
            example.append(f"… ({len(failure.example) - MAX_EXAMPLE_LINES} more lines in the result file)")
        lines += ["<details><summary>Shrunk example</summary>", "", fenced("\n".join(example), "text"), ""]
        if failure.reproduce:
            lines += [fenced(failure.reproduce, "text"), ""]
        lines += ["</details>", ""]
    lines += ["Rerun just this clause:", "", fenced(failure.rerun, "sh"), ""]
    return lines
