"""Each interop mutant writer fails exactly its INTEROP clause; the CLI refuses bad pairs; the interop file
is written once, read by the report and the dashboard, and refused with a message when malformed."""

from __future__ import annotations

import argparse
import json
import signal
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from conformance._cli import _parser, main
from conformance._interrupt import Terminated
from conformance.interop.command import interop_command, interop_document
from conformance.interop.subject import PAIR
from conformance.report import InvalidResultFile, build_dashboard, load_result, load_results, merge_runs
from conformance.report.markdown import inline
from conformance.run.inprocess import run_suite
from conformance.run.request import RunRequest
from conformance.run.status import Status
from spec import load_catalogue
from tests.helpers import result_document, run_cli, schema_errors, write_result

if TYPE_CHECKING:
    import jsonschema

MUTANTS = {
    "NarrowsToBfloat16": "INTEROP-DTYPE-BITS",
    "DropsLinearTranspose": "INTEROP-LAYOUT",
    "SavesTieTwice": "INTEROP-TIES",
    "RenamesAKey": "INTEROP-KEYS",
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_each_mutant_fails_exactly_its_clause(mutant: str) -> None:
    pair = f"tests.mutants.interop:{mutant}->torch"  # torch reads bfloat16; the reference (NumPy) cannot
    # A kill needs the verdict, not a minimal example: no shrinking (minutes per failing clause).
    result = run_suite(RunRequest(pair, subject=PAIR, profile="fast", shrink=False))
    statuses = {c.id: Status(c.status).value for c in result.clauses}
    failing = sorted(c for c, s in statuses.items() if s == "fail")
    assert failing == [MUTANTS[mutant]], (
        f"{pair}: observed failing {failing}; expected [{MUTANTS[mutant]}] ({statuses})"
    )
    # FORWARD depends on all four: blocked when its own check fails too, pass when the reader undoes the damage.
    forward = statuses["INTEROP-FORWARD"]
    assert forward in ("blocked", "pass"), f"{pair}: observed INTEROP-FORWARD {forward}; expected blocked or pass"


def test_a_correct_pair_passes_every_clause() -> None:
    result = run_suite(RunRequest("torch->reference", subject=PAIR, profile="fast"))
    statuses = {c.id: Status(c.status).value for c in result.clauses}
    assert set(statuses.values()) == {"pass"}, f"torch->reference: observed {statuses}; expected every clause pass"


@pytest.mark.parametrize(
    "argv",
    [
        ["--pair", "torch"],
        ["--pair", "torch->"],
        ["--backends", "torch"],
        ["--pair", "nosuch->torch"],
        ["--clause", "NOPE"],
    ],
)
def test_a_malformed_pair_is_a_usage_error(argv: list[str], tmp_path: Path) -> None:
    proc = run_cli(["interop", *argv], tmp_path)
    assert proc.returncode == 2, f"observed exit {proc.returncode}; expected 2 ({proc.stderr[-300:]})"
    assert "Traceback" not in proc.stderr, f"observed a traceback for {argv}: {proc.stderr[-300:]}"


# --- the interop file: written once, read by report and dashboard ----------------------------------------

PLANTED = {
    "torch->flax": {"INTEROP-LAYOUT": "fail", "INTEROP-FORWARD": "blocked"},
    "flax->torch": {"INTEROP-DTYPE-BITS": "xfail"},
    "torch->keras": {},
}


def _pair_result(pair: str, statuses: dict[str, str] | None = None) -> dict[str, Any]:
    """One pair's result as ``blockspec interop`` embeds it; a failing clause's rerun names the pair."""
    document = result_document(pair, "2.13->0.10", statuses=statuses or {}, subject="interop")
    for clause in document["clauses"]:
        rerun = f"blockspec interop --pair '{pair}' --profile fast --clause {clause['id']}"
        if clause["status"] == "xfail":
            clause["reason"] = f"known failure: {pair} writes bfloat16 as float16 (upstream issue 1)"
            clause["known_failure"] = {"reason": clause["reason"], "link": "", "unexpected_pass": False}
            clause["failure"] = {"message": clause["reason"], "example": ["dtype=bfloat16"], "reproduce": ""}
        if clause["failure"] is not None:
            clause["failure"]["rerun"] = rerun
    return document


def _interop_file(path: Path, planted: dict[str, dict[str, str]] = PLANTED, **changes: Any) -> Path:
    results = [_pair_result(pair, statuses) for pair, statuses in planted.items()]
    document = interop_document(
        list(planted), results, profile="fast", started="2026-01-01T10:00:00+00:00", duration_s=3.0, incomplete=""
    )
    document.update(changes)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_the_interop_file_follows_its_schema_and_loads_as_one_run_per_pair(
    tmp_path: Path, result_validator: jsonschema.protocols.Validator
) -> None:
    path = _interop_file(tmp_path / "interop.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    envelope = result_validator.evolve(schema=result_validator.schema["$defs"]["interop"])
    errors = schema_errors(envelope, document)
    assert errors == [], f"observed the interop file breaking #/$defs/interop (jsonschema): {errors[:5]}"
    broken = {**document, "results": [{**document["results"][0], "clauses": "none"}]}
    assert schema_errors(envelope, broken), "observed jsonschema accepting a result with clauses 'none'"
    runs = load_results([path])
    observed = {(run.backend, run.pair) for run in runs}
    expected = {(p, tuple(p.split("->"))) for p in PLANTED}
    assert observed == expected, f"observed runs {sorted(observed)}; expected one per pair {sorted(expected)}"


def test_a_planted_failing_pair_is_in_the_report_with_its_example_and_rerun(tmp_path: Path) -> None:
    proc = run_cli(["report", str(_interop_file(tmp_path / "interop.json"))], tmp_path)
    text = proc.stdout
    assert proc.returncode == 0, f"observed exit {proc.returncode}; expected 0 ({proc.stderr[-500:]})"
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    header = [c.strip() for c in rows["writer \\ reader"].strip("|").split("|")]
    torch_row = dict(zip(header, (c.strip() for c in rows["torch"].strip("|").split("|")), strict=True))
    assert torch_row["flax"] == "3 pass, 1 fail, 1 blocked", f"observed torch->flax cell {torch_row['flax']!r}"
    assert torch_row["keras"] == "5 pass", f"observed torch->keras cell {torch_row['keras']!r}; expected 5 pass"
    start = text.find(f"### {inline('torch->flax')}")
    assert start >= 0, f"observed no section for the failing pair torch->flax in:\n{text[:2000]}"
    failing = text[start:]
    for expected in ("FAIL INTEROP-LAYOUT", "width=3", "blockspec interop --pair 'torch->flax' --profile fast"):
        assert expected in failing, f"observed no {expected!r} in the torch->flax section:\n{failing[:1500]}"
    xfail = next((ln for ln in text.splitlines() if "**INTEROP-DTYPE-BITS**" in ln), "")
    for expected in ("writes bfloat16 as float16", "rerun: `blockspec interop --pair 'flax->torch'"):
        assert expected in xfail, f"observed the xfail line {xfail!r}; expected {expected!r} in it"
    assert f"### {inline('torch->keras')}" not in text, "observed a section for torch->keras, a pair that passes"


class _PairCells(HTMLParser):
    """(clause, writer, reader) -> status of every cell of ``interop.html``'s matrices."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str, str], str] = {}
        self.clause = self.writer = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.clause = a.get("data-clause") or ""
        elif tag == "tr" and a.get("data-writer"):
            self.writer = a["data-writer"] or ""
        elif tag == "td" and a.get("data-reader"):
            classes = (a.get("class") or "").split()
            status = next((c[2:] for c in classes if c.startswith("c-")), "diagonal")
            self.cells[self.clause, self.writer, a["data-reader"] or ""] = status


def test_the_dashboard_shows_a_writer_by_reader_matrix_per_interop_clause(tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_dashboard(merge_runs(load_results([_interop_file(tmp_path / "interop.json")])), site)
    parser = _PairCells()
    parser.feed((site / "interop.html").read_text(encoding="utf-8"))
    names = ["flax", "torch", "keras"]
    expected = {}
    for clause in load_catalogue(subject="interop"):
        for writer in names:
            for reader in names:
                pair = f"{writer}->{reader}"
                status = "diagonal" if writer == reader else "absent" if pair not in PLANTED else "pass"
                expected[clause, writer, reader] = PLANTED.get(pair, {}).get(clause, status)
    differing = sorted(k for k in expected.keys() | parser.cells.keys() if expected.get(k) != parser.cells.get(k))
    assert not differing, (
        f"observed {[(k, parser.cells.get(k)) for k in differing[:5]]}; expected {[expected.get(k) for k in differing[:5]]}"
    )
    assert parser.cells["INTEROP-LAYOUT", "torch", "flax"] == "fail", "observed the planted failure not shown"
    nav = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="interop.html"' in nav, "observed no link to interop.html on the index page"


def _broken(document: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(name, interop file broken one way, words the loader's message must hold)."""
    first = document["results"][0]
    return [
        ("no-results", {k: v for k, v in document.items() if k != "results"}, "missing required field 'results'"),
        ("results-not-a-list", {**document, "results": {"a": 1}}, "results: expected array"),
        ("empty-results", {**document, "results": []}, "no pair's result"),
        ("bad-pair-name", {**document, "pairs": ["torch"]}, "pairs/0: expected text matching"),
        ("result-not-a-result", {**document, "results": [{"clauses": []}]}, "missing required field 'backend'"),
        ("result-bad-status", {**document, "results": [_status(first, "passed")]}, "results/0/clauses/0/status"),
        ("pair-not-listed", {**document, "pairs": document["pairs"][1:]}, "is not one of the file's pairs"),
        ("pair-twice", {**document, "results": [first, first]}, "has a result twice"),
        ("other-kind", {**document, "kind": "sweep"}, 'the only kind of result file is "interop"'),
        ("newer-version", {**document, "schema_version": 2}, "has schema_version 2"),
    ]


def _status(result: dict[str, Any], status: str) -> dict[str, Any]:
    return {**result, "clauses": [{**result["clauses"][0], "status": status}, *result["clauses"][1:]]}


def test_a_malformed_interop_file_is_refused_with_a_message(tmp_path: Path) -> None:
    document = json.loads(_interop_file(tmp_path / "good.json").read_text(encoding="utf-8"))
    for name, broken, words in _broken(document):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(broken), encoding="utf-8")
        with pytest.raises(InvalidResultFile) as caught:
            load_results([path])
        assert words in str(caught.value), f"{name}: observed {str(caught.value)[:300]!r}; expected {words!r} in it"
    with pytest.raises(InvalidResultFile, match="is an interop file holding 3 pairs' results"):
        load_result(tmp_path / "good.json")  # `blockspec expect` reads one run's file


@pytest.mark.parametrize("command", ["report", "dashboard"])
def test_report_and_dashboard_exit_2_on_a_malformed_interop_file(command: str, tmp_path: Path) -> None:
    document = json.loads(_interop_file(tmp_path / "good.json").read_text(encoding="utf-8"))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**document, "results": [{**document["results"][0], "clauses": 3}]}), encoding="utf-8")
    extra = ["-o", str(tmp_path / "site")] if command == "dashboard" else []
    proc = run_cli([command, str(path), *extra], tmp_path)
    assert proc.returncode == 2, f"{command}: observed exit {proc.returncode}; expected 2 ({proc.stderr[-300:]})"
    assert "Traceback" not in proc.stderr, f"{command}: observed a traceback: {proc.stderr[-500:]}"
    assert "results/0/clauses: expected array" in proc.stderr, f"{command}: observed {proc.stderr[-300:]!r}"


# --- the command: one file, written once, what ran kept on an interrupt ----------------------------------


def _arguments(json_path: Path | None, backends: str = "reference,torch,flax") -> argparse.Namespace:
    """What ``blockspec interop`` parses from its command line (the CLI's own parser, every option)."""
    args = ["interop", "--backends", backends, "--profile", "fast", "--timeout", "60", "--quiet"]
    return _parser().parse_args([*args, *(["--json", str(json_path)] if json_path else [])])


def _fake_runs(monkeypatch: pytest.MonkeyPatch, stop_at: str = "", stop: BaseException | None = None) -> list[str]:
    """Pairs run by a stand-in for ``run_isolated`` that writes a passing result (``stop_at``: then stops)."""
    ran: list[str] = []

    def run_isolated(request: Any, *, quiet: bool = False) -> Any:
        ran.append(request.target)
        document = _pair_result(request.target)
        if request.target == stop_at:
            document.update(incomplete="interrupted by the user (Ctrl-C)", exit_code=130)
        write_result(request.json_path, document)
        if request.target == stop_at and stop is not None:
            raise stop
        return SimpleNamespace(incomplete=document.get("incomplete", ""))

    monkeypatch.setattr("conformance.run.isolate.run_isolated", run_isolated)
    monkeypatch.setattr("conformance.run.summary.summary_lines", lambda result: ["(summary)"])
    return ran


def test_json_writes_one_file_holding_a_result_per_ordered_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = _fake_runs(monkeypatch)
    path = tmp_path / "interop.json"
    code = interop_command(_arguments(path))
    document = json.loads(path.read_text(encoding="utf-8"))
    names = [r["backend"]["name"] for r in document["results"]]
    assert code == 0, f"observed exit {code}; expected 0"
    assert names == ran == document["pairs"] and len(names) == 6, f"observed results {names}; ran {ran}"
    assert (document["kind"], document["exit_code"], "incomplete" in document) == ("interop", 0, False), (
        f"observed kind {document['kind']!r}, exit_code {document['exit_code']}, incomplete {document.get('incomplete')}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["interop.json"], "observed files beside the interop file"


@pytest.mark.parametrize("stop", [None, Terminated(signal.SIGTERM)], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_command_writes_what_ran_marked_incomplete(
    stop: BaseException | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = _fake_runs(monkeypatch, stop_at="torch->reference", stop=stop)
    path = tmp_path / "interop.json"
    if stop is None:
        assert interop_command(_arguments(path)) == 130, "observed an exit status other than 130 after Ctrl-C"
    else:
        with pytest.raises(Terminated):
            interop_command(_arguments(path))
    document = json.loads(path.read_text(encoding="utf-8"))
    names = [r["backend"]["name"] for r in document["results"]]
    assert names == ran == ["reference->torch", "reference->flax", "torch->reference"], f"observed results {names}"
    assert "during torch->reference" in document.get("incomplete", ""), f"observed {document.get('incomplete')!r}"
    notes = [n for run in load_results([path]) for n in run.notes]
    assert any("not run: torch->flax, flax->reference, flax->torch" in n for n in notes), f"observed notes {notes}"


def test_json_naming_a_directory_is_refused_before_any_pair_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = _fake_runs(monkeypatch)
    code = main(["interop", "--backends", "reference,torch", "--json", str(tmp_path)])
    stderr = capsys.readouterr().err
    assert code == 2, f"observed exit {code}; expected 2 ({stderr[-300:]})"
    assert "is a directory" in stderr, f"observed {stderr[-300:]!r}; expected the directory named"
    assert ran == [], f"observed pairs run {ran}; expected none"


def test_the_pairs_share_one_compile_cache_kept_when_named_and_refused_in_a_system_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from conformance.run import isolate
    from conformance.run.cache import CACHE_ENV

    ran = _fake_runs(monkeypatch)
    fake = isolate.run_isolated  # the stand-in _fake_runs put in place
    seen: list[str | None] = []

    def recording(request: Any, *, quiet: bool = False) -> Any:
        seen.append(os.environ.get(CACHE_ENV))
        return fake(request, quiet=quiet)

    monkeypatch.setattr("conformance.run.isolate.run_isolated", recording)
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert main(["interop", "--backends", "reference,torch"]) == 0, capsys.readouterr().err[-300:]
    assert len(seen) == 2 and seen[0] is not None and seen[0] == seen[1], (
        f"observed the pairs' compile caches {seen}; expected one directory for both"
    )
    assert not Path(seen[0]).exists(), f"observed the fresh cache {seen[0]} left behind after the command"
    kept = tmp_path / "cache"
    seen.clear()
    assert main(["interop", "--backends", "reference,torch", "--compile-cache", str(kept)]) == 0
    assert seen == [str(kept.resolve())] * 2, f"observed {seen}; expected {kept} for both pairs"
    assert kept.is_dir(), "observed the named compile cache removed; expected it kept for the next command"
    assert CACHE_ENV not in os.environ, f"observed {CACHE_ENV} still set after the command"
    ran.clear()
    code = main(["interop", "--backends", "reference,torch", "--compile-cache", "/proc/blockspec-cache"])
    stderr = capsys.readouterr().err
    assert code == 2, f"observed exit {code}; expected 2 ({stderr[-300:]})"
    assert "--compile-cache" in stderr, f"observed {stderr[-300:]!r}; expected the option named"
    assert ran == [], f"observed pairs run {ran}; expected none"
