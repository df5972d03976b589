"""conformance.run.progress: what an isolated run shows while it runs, one line per finished test or a live bar.

rich is optional; the live bar is tested against a stand-in ``rich.progress`` that records what it is asked.
"""

from __future__ import annotations

import io
import sys
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.run import progress
from conformance.run.progress import PlainReporter, RichReporter, make_reporter
from conformance.run.result import TestOutcome as Finished
from conformance.run.status import Outcome

NODE = "conformance/suite/test_layers_and_blocks.py::test_sequential_indexing"


def _clock(monkeypatch: pytest.MonkeyPatch, *times: float) -> None:
    """``time.monotonic`` as progress reads it gives ``times`` in turn."""
    ticks = iter(times)
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(ticks))


def test_a_finished_test_is_one_line_with_its_count_word_clause_test_and_times(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _clock(monkeypatch, 100.0, 103.44)
    reporter = PlainReporter()
    reporter.collected(12)
    reporter.started(NODE, "SEQ-INDEX")
    reporter.finished("SEQ-INDEX", Finished(NODE, Outcome.PASSED, 0.214))
    reporter.close()
    expected = (
        "[ 1/12] pass           SEQ-INDEX                  test_layers_and_blocks.py::test_sequential_indexing  "
        "(0.21 s; 3.4 s elapsed)\n"
    )
    observed = capsys.readouterr().out
    assert observed == expected, f"observed {observed!r}; expected {expected!r}"


def test_each_outcome_has_its_word_and_failures_stand_out(capsys: pytest.CaptureFixture[str]) -> None:
    words = {
        "passed": "pass",
        "failed": "FAIL",
        "error": "ERROR",
        "xfail": "xfail",
        "xpassed": "xpassed",
        "skipped": "skipped",
        "not-applicable": "not-applicable",
    }
    reporter = PlainReporter()
    reporter.collected(len(words))
    for outcome in words:
        reporter.finished("SEQ-INDEX", Finished(NODE, outcome, 0.0))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(words), f"observed {len(lines)} lines; expected one per finished test:\n{lines}"
    for (outcome, word), line in zip(words.items(), lines, strict=True):
        shown = line.split("]", 1)[1].split()[0]
        assert shown == word, f"{outcome}: observed {shown!r} in {line!r}; expected {word!r}"


def test_the_count_is_as_wide_as_the_largest_total_any_child_collected(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = PlainReporter()
    reporter.collected(120)
    reporter.collected(7)  # a child restarted after a crash collects only the tests left
    reporter.finished("SEQ-INDEX", Finished(NODE, Outcome.PASSED, 0.0))
    reporter.finished("SEQ-ORDER", Finished(NODE, Outcome.FAILED, 0.0, "observed 1; expected 2"))
    lines = capsys.readouterr().out.splitlines()
    counts = [line[: line.index("]") + 1] for line in lines]
    assert counts == ["[  1/120]", "[  2/120]"], f"observed {counts}; expected [  1/120] and [  2/120]"


def test_nothing_is_printed_until_a_test_finishes(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = PlainReporter()
    reporter.collected(3)
    reporter.started(NODE, "SEQ-INDEX")
    reporter.close()
    observed = capsys.readouterr().out
    assert observed == "", f"observed {observed!r} before any test finished; expected nothing"


#: Any character but a line break or tab (which messages keep: conformance._text.neutral) and lone surrogates.
_NAME = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n\t"), max_size=12)


@settings(max_examples=50, deadline=None)
@given(clause=_NAME, test=_NAME)
def test_a_line_carries_no_control_character_whatever_the_test_is_called(clause: str, test: str) -> None:
    out = io.StringIO()
    reporter = PlainReporter()
    reporter.collected(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdout", out)
        reporter.finished(clause, Finished(f"suite/test_x.py::{test}", Outcome.FAILED, 0.5))
    line = out.getvalue()
    controls = [c for c in line[:-1] if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]
    assert line.endswith("\n") and line.count("\n") == 1 and not controls, (
        f"clause {clause!r}, test {test!r}: observed {line!r} with controls {controls}; expected one neutral line"
    )


# --- which reporter, and the live bar ---------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _FakeProgress:
    """Records what :class:`RichReporter` asks of ``rich.progress.Progress``."""

    def __init__(self, *columns: Any, **options: Any) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.console = types.SimpleNamespace(print=lambda text, **kw: self.calls.append(("print", text, kw)))

    def start(self) -> None:
        self.calls.append(("start",))

    def stop(self) -> None:
        self.calls.append(("stop",))

    def add_task(self, description: str, total: int) -> int:
        self.calls.append(("add_task", description, total))
        return 1

    def update(self, task: int, description: str) -> None:
        self.calls.append(("update", description))

    def advance(self, task: int) -> None:
        self.calls.append(("advance",))


@pytest.fixture
def fake_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("rich.progress")
    module.Progress = _FakeProgress  # type: ignore[attr-defined]
    for column in ("BarColumn", "MofNCompleteColumn", "TextColumn", "TimeElapsedColumn"):
        setattr(module, column, lambda *args, **kwargs: None)
    package = types.ModuleType("rich")
    package.progress = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rich", package)
    monkeypatch.setitem(sys.modules, "rich.progress", module)


def test_a_terminal_gets_the_live_bar_and_a_log_gets_plain_lines(
    fake_rich: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = {"a terminal": (_Terminal(), RichReporter), "a log file": (io.StringIO(), PlainReporter)}
    for case, (stream, kind) in cases.items():
        monkeypatch.setattr(sys, "stdout", stream)
        reporter = make_reporter()
        assert type(reporter) is kind, f"{case}: observed {type(reporter).__name__}; expected {kind.__name__}"


def test_a_terminal_without_rich_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # importing it raises ImportError
    monkeypatch.setattr(sys, "stdout", _Terminal())
    reporter = make_reporter()
    assert type(reporter) is PlainReporter, f"observed {type(reporter).__name__}; expected PlainReporter"


def test_the_live_bar_names_the_clause_running_and_prints_only_failures(fake_rich: None) -> None:
    reporter = RichReporter()
    bar: _FakeProgress = reporter.progress
    reporter.started(NODE, "SEQ-INDEX")  # before collection: no bar yet
    reporter.collected(3)
    reporter.collected(2)  # a restarted child: the bar is already there
    reporter.started(NODE, "SEQ-INDEX")
    reporter.finished("SEQ-INDEX", Finished(NODE, Outcome.PASSED, 0.1))
    reporter.started("suite/test_x.py::test_unmarked", "")
    reporter.finished("SEQ-ORDER", Finished(NODE, Outcome.FAILED, 0.1, "order: observed \x1b[31m(2, 1)\nmore"))
    reporter.finished("PARAM-TYPE", Finished(NODE, Outcome.ERROR, 0.1, "KeyError: 'w'"))
    reporter.finished("PARAM-NAMES-FLAT", Finished(NODE, Outcome.SKIPPED, 0.1, "no accelerator"))
    reporter.close()
    reporter.close()
    expected = [
        ("start",),
        ("add_task", "collecting", 3),
        ("update", "SEQ-INDEX"),
        ("advance",),
        ("update", "test_unmarked"),
        ("advance",),
        ("print", "FAIL   SEQ-ORDER: order: observed \u241b[31m(2, 1)", {"markup": False, "highlight": False}),
        ("advance",),
        ("print", "ERROR  PARAM-TYPE: KeyError: 'w'", {"markup": False, "highlight": False}),
        ("advance",),
        ("stop",),
    ]
    assert bar.calls == expected, f"observed {bar.calls}; expected {expected}"
