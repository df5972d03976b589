"""Reading result files back, merging them, and the Markdown report (``blockspec report``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.report import (
    load_results,
    merge_runs,
    render_markdown,
)
from conformance.report.markdown import fenced, inline
from conformance.run.status import STATUSES
from spec import load_catalogue
from tests.helpers import HTML_NAME, Cli, result_document, write_result

if TYPE_CHECKING:
    pass


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


# --- Markdown ---------------------------------------------------------------------------------------------


def test_markdown_has_counts_by_status_and_level_and_each_failure(tmp_path: Path) -> None:
    statuses = {
        "SEQ-INDEX": "fail",
        "BLOCK-NESTING": "error",
        "TIE-GRAD-SUM": "blocked",
        "PARAM-TYPE": "not-applicable",
    }
    path = write_result(tmp_path / "r.json", result_document(statuses=statuses))
    text = render_markdown(merge_runs(load_results([path])))
    catalogue = load_catalogue()
    for cid in ("SEQ-INDEX", "BLOCK-NESTING"):
        section = text.split(f"{cid} [", 1)
        assert len(section) == 2, f"observed no section for failing {cid}; expected one\n{text[:2000]}"
        body = section[1][:3000]
        for part in (
            inline(catalogue[cid].statement)[:60],
            "observed 3; expected 4",
            "Draw 1 (net): Net(width=3)",
            f"--clause {cid}",
        ):
            assert part in body, f"observed the {cid} section without {part!r}\n{body}"
    assert "TIE-GRAD-SUM" in text, "observed the blocked clause missing"
    must = [line for line in text.splitlines() if line.startswith("| fakeframe") and "| MUST |" in line]
    assert must, f"observed no MUST row\n{text[:1500]}"
    cells = [c.strip() for c in must[0].strip("|").split("|")]
    fail_column = 4 + list(STATUSES).index("fail")
    assert cells[fail_column] == "1", f"observed MUST row {cells}; expected 1 fail in column {fail_column}"


def test_markdown_shows_html_and_markdown_as_text(tmp_path: Path) -> None:
    path = write_result(
        tmp_path / "r.json",
        result_document(backend=HTML_NAME, version="1|2", statuses={"SEQ-INDEX": "fail"}, message="``` <b>x</b>"),
    )
    text = render_markdown(merge_runs(load_results([path])))
    prose = re.sub(r"(?ms)^(`{3,})[a-z]*\n.*?^\1$", "", text)  # code blocks show HTML as text anyway
    assert "<img" not in prose and "<b>" not in prose, (
        f"observed a raw tag outside code; expected it escaped\n{prose[:1500]}"
    )
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in text or "&lt;img src=x onerror=alert(1)&gt;" in text, (
        f"observed the backend name not shown as text\n{text[:1500]}"
    )
    rows = [line for line in text.splitlines() if line.startswith("| &lt;img")]
    assert rows and all(line.count(" | ") == 4 + len(STATUSES) for line in rows), (
        f"observed a table row broken by '|': {rows[:1]}"
    )
    assert "````text\n[SEQ-INDEX]" in text, "observed the message's ``` able to close its code block"


def test_fenced_and_inline_helpers() -> None:
    assert fenced("a ```` b").startswith("`````\n"), "observed a fence no longer than the text's backticks"
    assert inline("# heading") == "\\# heading", "observed a leading # left able to make a heading"
    assert inline("a\nb  c") == "a b c", "observed newlines kept in inline text"


def test_report_command_writes_a_file_and_notes_supersession(cli: Cli, tmp_path: Path) -> None:
    write_result(tmp_path / "old.json", result_document(started="2026-01-01T10:00:00+00:00"))
    write_result(tmp_path / "new.json", result_document(started="2026-01-03T10:00:00+00:00"))
    proc = cli(["report", "old.json", "new.json", "-o", "report.md"])
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    assert "superseded" in proc.stderr and "old.json" in proc.stderr, f"observed no supersession note{_explain(proc)}"
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert text.startswith("## blockspec conformance"), f"observed {text[:80]!r}; expected the report's title"
    assert "superseded" in text, "observed the report without the supersession note"


def test_report_of_a_duplicate_exits_2(cli: Cli, tmp_path: Path) -> None:
    write_result(tmp_path / "a.json", result_document())
    write_result(tmp_path / "b.json", result_document())
    proc = cli(["report", "a.json", "b.json"])
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "a.json" in proc.stderr and "b.json" in proc.stderr, f"observed no error naming both files{_explain(proc)}"


def test_unexpected_passes_are_listed_in_the_report(tmp_path: Path) -> None:
    """A clause listed as a known failure that passes is named, so its manifest entry can go."""
    document = result_document("fakeframe")
    clause = next(c for c in document["clauses"] if c["id"] == "SEQ-INDEX")
    clause["known_failure"] = {"reason": "thought broken", "link": "", "unexpected_pass": True}
    clause["reason"] = "unexpected pass: the clause is listed as a known failure: thought broken"
    path = write_result(tmp_path / "r.json", document)
    text = render_markdown(merge_runs(load_results([path])))
    line = next((ln for ln in text.splitlines() if "SEQ-INDEX" in ln and "unexpected pass" in ln), "")
    assert line, f"observed no line naming SEQ-INDEX as an unexpected pass in:\n{text[-1500:]}"
    assert "Unexpected passes" in text, "observed no 'Unexpected passes' heading; expected one"


def _known(document: dict[str, Any], clause_id: str, **entry: object) -> None:
    clause = next(c for c in document["clauses"] if c["id"] == clause_id)
    clause["known_failure"] = {"reason": "upstream bug", "link": "", "unexpected_pass": False, **entry}


def test_known_must_failures_are_named_in_the_report_never_a_plain_pass(tmp_path: Path) -> None:
    """No self-certification: a run whose MUST clauses pass except known failures says which."""
    document = result_document("fakeframe", statuses={"LAZY-LOAD-STATE": "xfail", "MODULE-REPR": "xfail"})
    _known(document, "LAZY-LOAD-STATE")
    _known(document, "MODULE-REPR")
    text = render_markdown(merge_runs(load_results([write_result(tmp_path / "r.json", document)])))
    title = text.splitlines()[2]
    assert "passes except 1 known failure(s)" in title, f"observed title {title!r}; expected the known failure counted"
    assert "Verdict: conforms except 1 known failure(s): LAZY-LOAD-STATE" in text, (
        f"observed no verdict naming the known MUST failure in:\n{text[:1500]}"
    )
    plain = render_markdown(merge_runs(load_results([write_result(tmp_path / "p.json", result_document("plain"))])))
    assert "every applicable MUST clause passes;" in plain.splitlines()[2], "observed the control run's title changed"
    assert "conforms except" not in plain, "observed 'conforms except' on a run without known failures"


def test_stale_manifest_entries_are_listed_in_the_report(tmp_path: Path) -> None:
    document = result_document("fakeframe", statuses={"DEV-COUNT": "not-applicable"})
    _known(document, "DEV-COUNT", stale=True)
    text = render_markdown(merge_runs(load_results([write_result(tmp_path / "r.json", document)])))
    assert "Stale known failures" in text, f"observed no 'Stale known failures' heading in:\n{text[-1500:]}"
    line = next((ln for ln in text.splitlines() if "**DEV-COUNT**" in ln), "")
    assert line.startswith("- ➖"), f"observed {line!r}; expected DEV-COUNT listed as a stale entry"


# --- a report sized for a comment ---------------------------------------------------------------------------

_FENCE = re.compile(r"^(`{3,})")


def _many_failing_runs(tmp_path: Path, runs: int) -> Any:
    """``runs`` result files, each with a third of the clauses failing and long messages: far over 60000 chars."""
    ids = list(load_catalogue())
    paths = []
    for i in range(runs):
        statuses = {cid: ("fail" if n % 2 else "error") for n, cid in enumerate(ids) if (n + i) % 3 == 0}
        statuses.setdefault(ids[(i + 1) % len(ids)], "blocked")  # and one blocked clause, where it is free
        message = f"observed {'3 ' * 300}; expected 4"
        document = result_document(f"backend{i}", f"{i}.0", statuses=statuses, message=message)
        paths.append(write_result(tmp_path / f"r{i}.json", document))
    return merge_runs(load_results(paths))


def _listed(text: str, merged: Any) -> tuple[int, int]:
    """(listed, expected) count of (run, clause) verdicts the report must list: fail, error and blocked."""
    sections = re.split(r"(?m)^### ", text)[1:]
    listed = 0
    for run in merged.columns:
        section = next((s for s in sections if s.startswith(inline(run.label))), "")
        for verdict in run.verdicts.values():
            if verdict.status in ("fail", "error", "blocked"):
                whole = rf"(?m)^#### \S+ {verdict.status.upper()} {verdict.id} \["
                one_line = rf"(?m)^- \S+ \*\*({verdict.status.upper()} )?{verdict.id}\*\* \["
                listed += bool(re.search(whole, section) or re.search(one_line, section))
    expected = sum(v.status in ("fail", "error", "blocked") for run in merged.columns for v in run.verdicts.values())
    return listed, expected


def _balanced(text: str) -> list[str]:
    """What is left open at the end of ``text``: code fences and <details> blocks."""
    problems, fence = [], ""
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match and not fence:
            fence = match.group(1)
        elif fence and line == fence:
            fence = ""
    if fence:
        problems.append(f"an unclosed {fence} fence")
    if text.count("<details>") != text.count("</details>"):
        problems.append(f"{text.count('<details>')} <details> against {text.count('</details>')} </details>")
    return problems


def test_a_report_that_fits_is_whole_and_says_nothing_of_size(tmp_path: Path) -> None:
    path = write_result(tmp_path / "r.json", result_document(statuses={"SEQ-INDEX": "fail"}))
    merged = merge_runs(load_results([path]))
    text = render_markdown(merged)
    assert text == render_markdown(merged, None), "observed a report that fits changed by the size limit"
    assert "Shortened" not in text, f"observed a shortening notice on a report of {len(text)} chars"


@pytest.mark.parametrize(("runs", "first_form"), [(3, "whole"), (12, "one line")])
def test_a_long_report_is_shortened_to_fit_and_still_names_every_verdict(
    tmp_path: Path, runs: int, first_form: str
) -> None:
    """Over the limit, every verdict is still named; the first keep richer forms than the rest."""
    merged = _many_failing_runs(tmp_path, runs)
    whole = render_markdown(merged, None)
    assert len(whole) > 60000, f"observed the whole report at {len(whole)} chars; the test needs one over 60000"
    text = render_markdown(merged)
    assert len(text) <= 60000, f"observed {len(text)} chars; expected at most 60000 (the default limit)"
    assert "> [!WARNING]\n> Shortened to fit 60000 characters" in text, f"observed no notice:\n{text[:800]}"
    listed, expected = _listed(text, merged)
    assert listed == expected, f"observed {listed} of {expected} failing or blocked verdicts named; expected all"
    assert "cut here" not in text and "; 0 listed verdict(s) left out" in text, (
        f"observed verdicts left out although every name fits:\n{text[:800]}"
    )
    first = next(v for v in merged.columns[0].verdicts.values() if v.status in ("fail", "error"))
    shown = {
        "whole": f"{first.id} [{first.level}, §{first.section}]" in text,
        "one line": f"**{first.status.upper()} {first.id}** [{first.level}]: " in text,
    }
    assert shown[first_form], f"observed {first.id} shown as {shown}; expected its {first_form} form ({runs} runs)"
    last = [v for v in merged.columns[-1].verdicts.values() if v.status in ("fail", "error")][-1]
    name = f"**{last.status.upper()} {last.id}** [{last.level}]"
    assert f"{name}\n" in text or f"{name}: " in text, f"observed the last failure {last.id} not shortened"
    assert not _balanced(text), f"observed {_balanced(text)}"


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_limit_holds_and_what_is_left_out_is_counted(data: st.DataObject, tmp_path_factory: Any) -> None:
    runs = data.draw(st.integers(1, 40), label="runs")
    limit = data.draw(st.integers(2000, 300000), label="max_chars")
    merged = _many_failing_runs(tmp_path_factory.mktemp("runs"), runs)
    text = render_markdown(merged, limit)
    assert len(text) <= limit, f"observed {len(text)} chars; expected at most max_chars={limit} ({runs} runs)"
    assert not _balanced(text), f"observed {_balanced(text)} with max_chars={limit}, {runs} runs"
    listed, expected = _listed(text, merged)
    if "Shortened" not in text:
        assert text == render_markdown(merged, None), f"observed a changed report without a notice ({limit})"
        return
    said = re.search(r"(\d+) listed verdict\(s\) left out", text)
    assert said, f"observed a notice without the count left out:\n{text[:800]}"
    assert listed + int(said.group(1)) == expected, (
        f"observed {listed} listed + {said.group(1)} said left out; expected {expected} (max_chars={limit})"
    )


def test_report_command_takes_max_chars(cli: Cli, tmp_path: Path) -> None:
    _many_failing_runs(tmp_path, 3)
    merged_paths = [p.name for p in sorted(tmp_path.glob("r*.json"))]
    proc = cli(["report", *merged_paths, "--max-chars", "5000"])
    assert proc.returncode == 0, f"observed exit {proc.returncode}: {proc.stderr[-800:]}"
    assert len(proc.stdout) <= 5000 and "Shortened to fit 5000" in proc.stdout, (
        f"observed {len(proc.stdout)} chars, notice {'Shortened' in proc.stdout}; expected ≤ 5000 with the notice"
    )
    whole = cli(["report", *merged_paths, "--max-chars", "0"])
    assert whole.returncode == 0 and "Shortened" not in whole.stdout, f"observed {whole.stdout[:400]!r} with 0"
    for bad in ("100", "-1"):
        refused = cli(["report", *merged_paths, "--max-chars", bad])
        assert refused.returncode == 2 and "--max-chars" in refused.stderr, (
            f"observed exit {refused.returncode}, stderr {refused.stderr[-300:]!r} for --max-chars {bad}; expected 2"
        )
