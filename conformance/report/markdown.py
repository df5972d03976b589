"""A Markdown report of result files, sized for a pull-request comment.

Per backend and device: counts by status and level (for the pairs of an interop file, one writer ×
reader matrix of counts instead); then every clause that
failed or errored, with its statement, message, shrunk example and the
command that reruns it (hypothesis' reproduction blob folded away after it);
blocked clauses, unexpected passes and known failures (xfail) with their
reasons and rerun commands. Text from result files is escaped, so a backend name or message
holding HTML or Markdown shows as text, an ``@name`` notifies no one (a word
joiner follows the ``@``), and control characters (ANSI escapes, NUL,
bidirectional overrides) show as symbols (``␛``), never acting on a terminal.

A report longer than ``max_chars`` (GitHub refuses a comment over 65536
characters) is shortened, and says so at the top. If every listed verdict fits
in one line (clause, the message's first line, rerun command), the first keep
their whole form and the rest one line; if not, the first keep one line and
the rest their clause's name; if not even the names fit, the last are counted
instead of listed. Nothing is cut in the middle of a block.

>>> from conformance.report import load_results, merge_runs, render_markdown
>>> text = render_markdown(merge_runs(load_results(["r.json"])))  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conformance.report.interop import matrix_markdown, pair_runs
from conformance.report.loader import ClauseVerdict, Run
from conformance.report.merge import Merged
from conformance.run.status import STATUSES
from conformance.run.summary import known_must_failures, verdict_sentence

#: GitHub refuses comments over 65536 characters; long examples are cut to stay well below.
MAX_EXAMPLE_LINES = 40
MAX_MESSAGE_CHARS = 2000
#: The default size of a report, in characters: under GitHub's 65536 with room for a caller's own text.
DEFAULT_MAX_CHARS = 60000
#: The smallest ``max_chars`` accepted: the summary line and the shortening notice fit in it.
MIN_MAX_CHARS = 2000
#: Characters held back for the notice that says what was shortened.
_NOTICE_RESERVE = 600
#: The message's first line, in a failure's one-line form, is cut to this many characters.
_SHORT_MESSAGE_CHARS = 200

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
#: Control characters (C0 but tab and newline, DEL, C1) and the bidirectional overrides of "Trojan source".
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: ``@name`` or ``@org/team``: GitHub notifies them, from a comment's text (not from code).
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")


def neutral(text: str) -> str:
    """``text`` with no control character left: ANSI escapes and the like are shown, never obeyed.

    A control character becomes its Unicode picture (ESC as ``␛``, NUL as
    ``␀``), or ``<U+XXXX>`` where it has none, so a terminal printing the
    report or a reader of the comment sees that it was there.
    """
    return _CONTROL.sub(_picture, text)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else f"<U+{code:04X}>"


def inline(text: str) -> str:
    """``text`` as literal Markdown inline text: no HTML, links, emphasis, headings, table breaks or @mentions."""
    text = neutral(text).replace("&", "&amp;")
    text = _MENTION.sub("@\u2060", text)  # a word joiner: shown as @name, notifies no one
    text = _SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1), "\\" + m.group(1)), text)
    text = " ".join(text.split())
    return "\\" + text if text[:1] in ("#", "+", "-", "=") else text


def fenced(text: str, info: str = "") -> str:
    """A code block that ``text`` cannot close early, however many backticks it holds."""
    text = neutral(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


@dataclass(frozen=True)
class _Entry:
    """One listed verdict in three forms, richest first: whole, one line, and its clause's name only."""

    whole: tuple[str, ...]
    line: str
    name: str

    def form(self, level: int) -> tuple[str, ...]:
        return (self.whole, (self.line,), (self.name,))[level]


#: The forms of an entry: its whole form, one line, its clause's name only.
_WHOLE, _LINE, _NAME = 0, 1, 2


def render_markdown(merged: Merged, max_chars: int | None = DEFAULT_MAX_CHARS) -> str:
    """The report as Markdown text, shortened to at most ``max_chars`` characters (``None``: never)."""
    if max_chars is not None and max_chars < MIN_MAX_CHARS:
        raise ValueError(f"max_chars must be at least {MIN_MAX_CHARS}, got {max_chars}")
    columns = merged.columns
    bad = sum(1 for run in columns for v in run.verdicts.values() if v.status in ("fail", "error"))
    title = ["## blockspec conformance", ""]
    verdict = "every applicable MUST clause passes" if not _failing_must(columns) else "some MUST clauses do not pass"
    known = sum(len(known_must_failures(run.verdicts.values())) for run in columns)
    if known and not _failing_must(columns):
        verdict = f"every applicable MUST clause passes except {known} known failure(s)"
    title.append(f"{len(columns)} run(s); {verdict}; {bad} failing or erroring clause verdict(s).")
    title.append("")
    units: list[str | _Entry] = []
    for text in [*(n for run in columns for n in run.notes), *(s.message for s in merged.superseded)]:
        units.append(f"> [!NOTE]\n> {inline(text)}")
        units.append("")
    plain, pairs = [run for run in columns if run.pair is None], pair_runs(columns)
    if plain or not pairs:
        units += [*_counts_table(tuple(plain)), ""]
    if pairs:
        units += _interop_table(pairs)
    table = len(units)
    for run in plain:
        units += _failures(run)
    for run in pairs:  # after the backends: every pair that does not pass, under its matrix
        units += _failures(run)
    whole = [*title, *_lines(units, _WHOLE)]
    if max_chars is None or len(_text(whole)) <= max_chars:
        return _text(whole)
    return _shortened(title, units, table, max_chars)


def _text(lines: list[str]) -> str:
    return "\n".join(lines).rstrip() + "\n"


def _cost(lines: list[str] | tuple[str, ...]) -> int:
    """Characters that ``lines`` add to a report, newlines included (an upper bound of their share)."""
    return sum(len(line) + 1 for line in lines)


def _lines(units: list[str | _Entry], level: int) -> list[str]:
    out: list[str] = []
    for unit in units:
        out += [unit] if isinstance(unit, str) else unit.form(level)
    return out


def _shortened(title: list[str], units: list[str | _Entry], table: int, max_chars: int) -> str:
    """The report within ``max_chars``, and a notice of what was shortened.

    The richest form that every entry can take decides: the first entries get
    the next richer form while it fits, the others that one. Where not even
    every name fits, names are listed in order while they fit and the rest are
    counted. ``units[:table]`` is the counts table.
    """
    budget = max_chars - _cost(title) - _NOTICE_RESERVE
    out: list[str] = []
    used: dict[int, int] = dict.fromkeys((_WHOLE, _LINE, _NAME), 0)  # entries shown in each form
    left_out, cut, table_cut = 0, False, False
    floor = next((level for level in (_LINE, _NAME) if _cost(_lines(units, level)) <= budget), None)
    if floor is not None:
        spare = budget - _cost(_lines(units, floor))
        for unit in units:
            if isinstance(unit, str):
                out.append(unit)
                continue
            level = floor
            extra = _cost(unit.form(floor - 1)) - _cost(unit.form(floor))
            if spare >= 0 and extra <= spare:
                level, spare = floor - 1, spare - extra
            elif extra:
                spare = -1  # one entry shortened: so is every entry after it, as the notice says
            out += unit.form(level)
            used[_shortest(unit, level)] += 1
    else:
        spent = 0
        for index, unit in enumerate(units):
            lines = [unit] if isinstance(unit, str) else list(unit.form(_NAME))
            if cut or spent + _cost(lines) > budget:  # from the first unit that does not fit on: count
                cut = True
                left_out += isinstance(unit, _Entry)
                table_cut = table_cut or index < table
                continue
            out += lines
            spent += _cost(lines)
            if isinstance(unit, _Entry):
                used[_shortest(unit, _NAME)] += 1
        if cut:
            rest = f"{left_out} more listed verdict(s)" + (" and the rest of the counts table" if table_cut else "")
            out += ["", f"… cut here: {rest} did not fit; the result files have them."]
    notice = [
        "> [!WARNING]",
        f"> Shortened to fit {max_chars} characters (GitHub refuses a comment over 65536): "
        f"{used[_LINE]} failure(s) shown in one line, without statement, example and details; "
        f"{used[_NAME]} listed verdict(s) by name only; {left_out} listed verdict(s) left out. "
        "The result files and `blockspec dashboard` have everything; "
        "`blockspec report --max-chars 0` prints the whole report.",
        "",
    ]
    return _text([*title, *notice, *out])


def _shortest(entry: _Entry, level: int) -> int:
    """The richest form that shows the same as ``entry.form(level)``: a one-line entry is whole as a line."""
    while level > _WHOLE and entry.form(level - 1) == entry.form(level):
        level -= 1
    return level


def _failures(run: Run) -> list[str | _Entry]:
    failing = [v for v in run.verdicts.values() if v.status in ("fail", "error")]
    blocked = [v for v in run.verdicts.values() if v.status == "blocked"]
    unexpected = [v for v in run.verdicts.values() if v.unexpected_pass]
    stale = [v for v in run.verdicts.values() if v.stale_entry]
    known = [v for v in run.verdicts.values() if v.status == "xfail"]
    if not failing and not blocked and not unexpected and not stale and not known:
        return []
    counted = f"{len(failing)} failing, {len(blocked)} blocked" + (f", {len(known)} known failures" if known else "")
    # The run's verdict in the words of its console summary: known MUST failures are named, never hidden.
    sentence = verdict_sentence(run.verdicts.values())
    lines: list[str | _Entry] = [f"### {inline(run.label)}: {counted}", "", f"Verdict: {inline(sentence)}.", ""]
    for verdict in failing:
        name = f"- {_SYMBOL[verdict.status]} **{verdict.status.upper()} {verdict.id}** [{verdict.level}]"
        lines.append(_Entry(tuple(_failure(verdict)), _failure_line(name, verdict), name))
    if failing:
        lines.append("")  # ends a list of shortened forms
    lines += _listed("Blocked (a clause they depend on does not pass):", _SYMBOL["blocked"], blocked)
    heading = "Unexpected passes (listed as known failures, yet passing: remove their manifest entries):"
    lines += _listed(heading, _SYMBOL["pass"], unexpected)
    heading = "Stale known failures (listed in the manifest, yet not applicable: remove their entries):"
    lines += _listed(heading, _SYMBOL["not-applicable"], stale)
    lines += _listed(
        "Known failures (xfail: declared in the backend's manifest, with the reason):", _SYMBOL["xfail"], known
    )
    return lines


def _interop_table(pairs: list[Run]) -> list[str]:
    """The writer × reader matrix of clause counts, one cell per ordered pair (``blockspec interop``)."""
    cells = [(run.backend, {s: n for s, n in run.counts().items() if n}) for run in pairs]
    return [
        f"### Checkpoint interop: {len(pairs)} ordered pair(s)",
        "",
        "Clause counts per pair: the writer's row, the reader's column (docs/interop.md). "
        "Each pair that does not pass is listed below, with its rerun command.",
        "",
        *matrix_markdown(cells, shown=inline).splitlines(),
        "",
    ]


def _listed(heading: str, symbol: str, verdicts: list[ClauseVerdict]) -> list[str | _Entry]:
    """Verdicts under ``heading``, each in one line with its reason (and rerun command, if any), or by name only."""
    if not verdicts:
        return []
    lines: list[str | _Entry] = [heading, ""]
    for verdict in verdicts:
        name = f"- {symbol} **{verdict.id}** [{verdict.level}]"
        failure = verdict.failure
        rerun = f" — rerun: {code_span(failure.rerun)}" if failure is not None and failure.rerun else ""
        line = f"{name}: {inline(verdict.reason)}{rerun}"
        lines.append(_Entry((line,), line, name))
    return [*lines, ""]


def _failure_line(name: str, verdict: ClauseVerdict) -> str:
    """A failing verdict in one line: its name, the message's first line and the rerun command."""
    failure = verdict.failure
    message = (failure.message if failure is not None else verdict.reason).strip() or "(no message)"
    first = message.splitlines()[0]
    if len(first) > _SHORT_MESSAGE_CHARS:
        first = first[:_SHORT_MESSAGE_CHARS] + " …"
    rerun = f" — rerun: {code_span(failure.rerun)}" if failure is not None and failure.rerun else ""
    return f"{name}: {inline(first)}{rerun}"


def code_span(text: str) -> str:
    """``text`` as an inline code span that its own backticks cannot close."""
    text = " ".join(neutral(text).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _failing_must(columns: tuple[Run, ...]) -> list[ClauseVerdict]:
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


def _failure(verdict: ClauseVerdict) -> list[str]:
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
        lines += [
            "<details><summary>Shrunk example</summary>",
            "",
            fenced("\n".join(example), "text"),
            "",
            "</details>",
            "",
        ]
    lines += ["Rerun just this clause:", "", fenced(failure.rerun, "sh"), ""]
    if failure.blob:
        summary = "Hypothesis reproduction blob (to decorate a copy of the suite's test; the rerun above needs none)"
        lines += [f"<details><summary>{summary}</summary>", "", fenced(failure.blob, "python"), "", "</details>", ""]
    return lines
