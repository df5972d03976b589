"""Reading result files back, merging them, and the Markdown report (``blockspec report``)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.report import (
    DuplicateRunError,
    InvalidResultFile,
    load_result,
    load_results,
    merge_runs,
    render_markdown,
    schema_problems,
)
from conformance.report.markdown import fenced, inline
from conformance.run.status import STATUSES
from spec import load_catalogue
from tests.helpers import HTML_NAME, Cli, result_document, schema_errors, write_result

if TYPE_CHECKING:
    import jsonschema


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


# --- the loader's schema check agrees with jsonschema -------------------------------------------------


def _mutations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Documents each broken (or not) in one way, named."""
    out: list[tuple[str, dict[str, Any]]] = [("unchanged", document)]

    def mutate(name: str, change: Any) -> None:
        doc = copy.deepcopy(document)
        change(doc)
        out.append((name, doc))

    mutate("no-device", lambda d: d.pop("device"))
    mutate("empty-device", lambda d: d.update(device=""))
    mutate("version-number", lambda d: d["backend"].update(version=2))
    mutate("extra-top-field", lambda d: d.update(surprise=1))
    mutate("bad-status", lambda d: d["clauses"][0].update(status="passed"))
    mutate("bad-level", lambda d: d["clauses"][1].update(level="must"))
    mutate("bad-id", lambda d: d["clauses"][2].update(id="lower-case"))
    mutate("bad-section", lambda d: d["clauses"][2].update(section="four"))
    mutate("negative-duration", lambda d: d.update(duration_s=-1))
    mutate("bool-duration", lambda d: d.update(duration_s=True))
    mutate("exit-code-true", lambda d: d.update(exit_code=True))
    mutate("exit-code-float", lambda d: d.update(exit_code=1.0))
    mutate("summary-missing-status", lambda d: d["summary"].pop("xfail"))
    mutate("summary-negative", lambda d: d["summary"].update(fail=-1))
    mutate("env-number", lambda d: d["environment"].update(cores=16))
    mutate(
        "failure-without-rerun",
        lambda d: d["clauses"][3].update(failure={"message": "m", "example": [], "reproduce": ""}),
    )
    mutate(
        "failure-empty-rerun",
        lambda d: d["clauses"][3].update(failure={"message": "m", "example": [], "reproduce": "", "rerun": ""}),
    )
    mutate("failure-string", lambda d: d["clauses"][3].update(failure="boom"))
    mutate("test-bad-outcome", lambda d: d["clauses"][0]["tests"][0].update(outcome="xfail"))
    mutate("test-no-nodeid", lambda d: d["clauses"][0]["tests"][0].pop("nodeid"))
    mutate("clauses-object", lambda d: d.update(clauses={}))
    mutate("tool-extra-string", lambda d: d["tool"].update(commit="abc"))
    mutate("backend-extra-number", lambda d: d["backend"].update(build=3))
    return out


def test_loader_schema_check_agrees_with_jsonschema(result_validator: jsonschema.protocols.Validator) -> None:
    base = result_document(statuses={"SEQ-INDEX": "fail", "BLOCK-NESTING": "error"})
    for name, document in _mutations(base):
        ours = schema_problems(document)
        theirs = schema_errors(result_validator, document)
        assert bool(ours) == bool(theirs), (
            f"document {name!r}: observed the loader's problems {ours[:3]}; expected agreement with jsonschema's {theirs[:3]}"
        )


def test_real_result_file_loads(
    seq_index_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]], tmp_path: Path
) -> None:
    _, data = seq_index_run
    run = load_result(write_result(tmp_path / "r.json", data))
    assert run.backend == "torch" and run.device == "cpu", (
        f"observed {run.backend} on {run.device}; expected torch on cpu"
    )
    assert list(run.verdicts) == list(load_catalogue()), "observed clauses out of the catalogue's order"
    assert run.verdicts["SEQ-INDEX"].status == "pass", f"observed {run.verdicts['SEQ-INDEX']}; expected pass"


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a blockspec result file"),
        ('{"hello": "world"}', "not a blockspec result file"),
        ("schema-2", "schema_version 2"),
        ("no-schema-version", "schema_version null"),
        ("bad-status", "clauses/0/status"),
        ("bad-started", "ISO 8601"),
        ("duplicate-clause", "appears twice"),
    ],
)
def test_bad_result_file_is_refused_with_its_name(content: str | None, says: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    document = result_document()
    if content == "schema-2":
        document["schema_version"] = 2
        content = json.dumps(document)
    elif content == "no-schema-version":
        del document["schema_version"]
        content = json.dumps(document)
    elif content == "bad-status":
        document["clauses"][0]["status"] = "green"
        content = json.dumps(document)
    elif content == "bad-started":
        document["started"] = "yesterday"
        content = json.dumps(document)
    elif content == "duplicate-clause":
        document["clauses"].append(document["clauses"][0])
        content = json.dumps(document)
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidResultFile) as caught:
        load_results([path])
    message = str(caught.value)
    assert str(path) in message and says in message, f"observed {message!r}; expected the file and {says!r} named"


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidResultFile, match=r"no \*\.json"):
        load_results([tmp_path])


@pytest.mark.parametrize("command", ["report", "dashboard"])
@pytest.mark.parametrize("bad", ["missing", "invalid-json", "wrong-schema", "not-result"])
def test_bad_input_exits_2_and_writes_nothing(command: str, bad: str, cli: Cli, tmp_path: Path) -> None:
    good = write_result(tmp_path / "good.json", result_document())
    bad_path = tmp_path / "bad.json"
    if bad == "invalid-json":
        bad_path.write_text("{", encoding="utf-8")
    elif bad == "wrong-schema":
        write_result(bad_path, result_document() | {"schema_version": 99})
    elif bad == "not-result":
        bad_path.write_text('{"name": "a package.json, say"}', encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = cli([command, str(good), str(bad_path), "-o", str(tmp_path / "out")])
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "Traceback" not in proc.stderr, f"observed a traceback; expected a one-line error{_explain(proc)}"
    assert "blockspec: error:" in proc.stderr and "bad.json" in proc.stderr, (
        f"observed no error naming bad.json{_explain(proc)}"
    )
    after = sorted(p.name for p in tmp_path.iterdir())
    assert after == before, f"observed files {after}; expected nothing written (before: {before})"


# --- merging ----------------------------------------------------------------------------------------------


def test_same_backend_device_version_with_equal_start_is_an_error(tmp_path: Path) -> None:
    a = write_result(tmp_path / "a.json", result_document())
    b = write_result(tmp_path / "b.json", result_document())
    with pytest.raises(DuplicateRunError) as caught:
        merge_runs(load_results([a, b]))
    message = str(caught.value)
    assert "a.json" in message and "b.json" in message, f"observed {message!r}; expected both files named"


def test_newer_run_of_the_same_column_wins(tmp_path: Path) -> None:
    old = write_result(tmp_path / "old.json", result_document(started="2026-01-01T10:00:00+00:00"))
    new = write_result(
        tmp_path / "new.json", result_document(started="2026-01-02T10:00:00+00:00", statuses={"SEQ-INDEX": "fail"})
    )
    for order in ([old, new], [new, old]):
        merged = merge_runs(load_results(order))
        assert [r.source.name for r in merged.columns] == ["new.json"], (
            f"observed columns {merged.columns}; expected new.json only"
        )
        assert [s.older.source.name for s in merged.superseded] == ["old.json"], f"observed {merged.superseded}"
        history = merged.history[("fakeframe", "cpu")]
        assert [r.source.name for r in history] == ["old.json", "new.json"], (
            f"observed history {history}; expected oldest first"
        )


def test_start_times_compare_across_time_zones(tmp_path: Path) -> None:
    utc = write_result(tmp_path / "utc.json", result_document(started="2026-01-01T10:00:00+00:00"))
    paris = write_result(tmp_path / "paris.json", result_document(started="2026-01-01T10:30:00+01:00"))
    merged = merge_runs(load_results([utc, paris]))
    assert merged.columns[0].source.name == "utc.json", (
        "observed 10:30+01:00 taken as newer than 10:00Z; expected UTC comparison"
    )


def test_runs_from_many_machines_merge_into_sorted_columns(tmp_path: Path) -> None:
    docs = [
        result_document("torch", "2.10", "cpu"),
        result_document("torch", "2.9", "cpu"),
        result_document("reference", "0.1", "sim:0"),
        result_document("torch", "2.9", "cuda:0"),
    ]
    paths = [write_result(tmp_path / f"{i}.json", d) for i, d in enumerate(docs)]
    merged = merge_runs(load_results([tmp_path]))
    keys = [r.key for r in merged.columns]
    expected = [
        ("reference", "sim:0", "0.1"),
        ("torch", "cpu", "2.9"),
        ("torch", "cpu", "2.10"),
        ("torch", "cuda:0", "2.9"),
    ]
    assert keys == expected, f"observed columns {keys}; expected {expected}"
    assert len(paths) == len(merged.columns), "observed runs lost in the merge"
    assert list(merged.trends) == [("torch", "cpu")], (
        f"observed trends for {list(merged.trends)}; expected torch/cpu only"
    )


def test_the_same_file_twice_is_read_once(tmp_path: Path) -> None:
    path = write_result(tmp_path / "r.json", result_document())
    runs = load_results([path, tmp_path / "." / "r.json"])
    assert len(runs) == 1, f"observed {len(runs)} runs; expected one"


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


def test_junit_xml_of_the_suite_names_each_testcase_clause(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from tests.helpers import run_python

    args = ["-m", "pytest", "--pyargs", "conformance.suite", "-p", "no:cacheprovider", "-q"]
    args += ["--blockspec-backend", "reference", "--blockspec-profile", "fast", "--blockspec-clause", "SEQ-INDEX"]
    proc = run_python([*args, "--junitxml", str(tmp_path / "junit.xml")], tmp_path)
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    props = [{p.get("name"): p.get("value") for p in case.iter("property")} for case in cases]
    assert props and all(p.get("clause") == "SEQ-INDEX" for p in props), f"observed testcase properties {props}"
    assert all(p.get("backend") == "reference" and p.get("device") == "cpu" for p in props), f"observed {props}"


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
