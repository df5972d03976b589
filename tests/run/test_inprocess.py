"""conformance.run.inprocess: the suite run by pytest in this process, its verdicts returned.

The runs check two fast clauses (SEQ-INDEX, SEQ-ORDER) on the reference backend (NumPy) at profile ``fast``.
"""

from __future__ import annotations

import io
import sys
import types
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("numpy")  # the reference backend

from conformance._errors import UsageError
from conformance.run import inprocess
from conformance.run.inprocess import run_suite
from conformance.run.journal import parse_event
from conformance.run.request import RunRequest
from conformance.run.result import RunResult

SELECTED = ("SEQ-INDEX", "SEQ-ORDER")
#: A module of the suite this process imported before the run (under other settings, say).
STALE = "conformance.suite.test_zz_imported_before"
#: Not the suite's: the run leaves it alone.
OTHER = "conformance.suite_elsewhere.test_kept"


class _Recorder:
    """A pytest plugin handed to the run: the node ids of the tests it saw reported."""

    def __init__(self) -> None:
        self.reported: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.reported.append(report.nodeid)


@dataclass
class _Run:
    result: RunResult
    recorder: _Recorder
    output: str
    files: Path
    modules_left: set[str]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> _Run:
    """One quiet run of the two clauses by backend name, with a plugin, a JUnit file and a pytest option."""
    files = tmp_path_factory.mktemp("in-process")
    recorder = _Recorder()
    with pytest.MonkeyPatch.context() as patch:
        for name in (STALE, OTHER):
            patch.setitem(sys.modules, name, types.ModuleType(name))
        printed = io.StringIO()  # pytest's terminal writes through sys.stdout
        patch.setattr(sys, "stdout", printed)
        result = run_suite(
            "reference",
            clauses=SELECTED,
            profile="fast",
            junit_path=files / "junit.xml",
            pytest_args=["--blockspec-journal", str(files / "journal.jsonl")],
            plugins=[recorder],
            quiet=True,
        )
        left = {name for name in (STALE, OTHER) if name in sys.modules}
    return _Run(result, recorder, printed.getvalue(), files, left)


def test_the_selected_clauses_are_checked_and_the_others_left_out(run: _Run) -> None:
    statuses = {c.id: str(c.status) for c in run.result.clauses}
    checked = {cid: statuses[cid] for cid in SELECTED}
    assert checked == dict.fromkeys(SELECTED, "pass"), f"observed {checked}; expected both to pass"
    others = {s for cid, s in statuses.items() if cid not in SELECTED}
    assert others == {"skipped"}, f"observed {others} for clauses not selected; expected skipped only"
    tested = {c.id: [t.nodeid for t in c.tests] for c in run.result.clauses if c.id in SELECTED}
    assert all(n and n[0].startswith("conformance/suite/") for n in tested.values()), (
        f"observed tests {tested}; expected each clause's suite test"
    )
    facts = (run.result.exit_code, run.result.profile, run.result.backend["name"], run.result.device)
    assert facts == (0, "fast", "reference", "cpu"), f"observed exit, profile, backend, device {facts}"


def test_a_quiet_run_prints_nothing(run: _Run) -> None:
    assert run.output == "", f"observed {run.output[:500]!r} printed by a quiet run; expected nothing"


def test_the_plugins_and_pytest_options_given_join_the_run(run: _Run) -> None:
    ran = sorted(t.nodeid for c in run.result.clauses for t in c.tests)
    assert sorted(run.recorder.reported) == ran, f"observed the plugin told of {run.recorder.reported}; expected {ran}"
    journal = (run.files / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    kinds = [event["event"] for event, _ in map(parse_event, journal) if event]
    assert kinds[0] == "begin" and kinds[-1] == "end", f"observed journal events {kinds}; expected begin ... end"


def test_the_junit_file_names_each_tests_clause(run: _Run) -> None:
    cases = ET.parse(run.files / "junit.xml").getroot().iter("testcase")
    clauses = sorted(p.get("value", "") for case in cases for p in case.iter("property") if p.get("name") == "clause")
    assert clauses == sorted(SELECTED), f"observed clause properties {clauses}; expected {sorted(SELECTED)}"


def test_the_suites_modules_imported_before_are_imported_afresh(run: _Run) -> None:
    assert run.modules_left == {OTHER}, (
        f"observed {sorted(run.modules_left)} still imported after the run; expected only {OTHER} (not the suite's)"
    )


def test_a_prepared_request_runs_as_prepared(monkeypatch: pytest.MonkeyPatch) -> None:
    prepared = RunRequest("reference", clauses=("SEQ-INDEX",), profile="fast").prepare()

    def refuse(self: RunRequest) -> Any:
        raise AssertionError("prepared again")

    monkeypatch.setattr(RunRequest, "prepare", refuse)
    result = run_suite(prepared, quiet=True)
    status = next(str(c.status) for c in result.clauses if c.id == "SEQ-INDEX")
    assert status == "pass", f"observed SEQ-INDEX {status}; expected pass"


def test_a_run_that_is_not_quiet_prints_pytests_lines_and_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_suite(RunRequest("reference", clauses=("SEQ-INDEX",), profile="fast"))
    out = capsys.readouterr().out
    assert result.exit_code == 0, f"observed exit {result.exit_code}; expected 0\n{out[-2000:]}"
    for part in ("1 passed", "blockspec conformance"):
        assert part in out, f"observed output without {part!r}; expected pytest's line and the summary:\n{out[-2000:]}"


def test_bad_input_is_refused_before_pytest_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(inprocess.pytest, "main", lambda *args, **kwargs: started.append(args) or 0)
    for case, options in {"unknown clause": {"clauses": ("NO-SUCH",)}, "unknown profile": {"profile": "x"}}.items():
        with pytest.raises(UsageError):
            run_suite("reference", **options)
        assert not started, f"{case}: observed pytest started with {started}; expected a refusal first"


def test_a_run_pytest_refuses_is_a_usage_error_not_a_result() -> None:
    with pytest.raises(UsageError) as info:
        run_suite("reference", clauses=("SEQ-INDEX",), pytest_args=["--no-such-pytest-option"], quiet=True)
    says = "the conformance suite did not run (pytest exit status 4)"
    assert says in str(info.value), f"observed {info.value}; expected {says!r}"
