"""conformance.report._command: what ``blockspec report`` and ``blockspec dashboard`` do with their arguments,
where their output goes, and that every refusal is a usage error (exit status 2), raised before anything is
written.

The rendering itself is tested in test_markdown.py and test_dashboard.py; these tests call the commands in
this process, with arguments parsed by the command line's own parser.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conformance import _cli
from conformance._errors import ResultFileError, UsageError
from conformance.report import _command, load_results, merge_runs
from conformance.report.dashboard import MARKER
from conformance.report.markdown import DEFAULT_MAX_CHARS, MIN_MAX_CHARS, render_markdown
from tests.helpers import result_document, write_result


def _args(*argv: str | Path) -> argparse.Namespace:
    """``argv`` as the ``blockspec`` command line parses it."""
    return _cli._parser().parse_args([str(a) for a in argv])


def _main(monkeypatch: pytest.MonkeyPatch, *argv: str | Path) -> int:
    """``blockspec *argv`` in this process, its SIGINT handler left out (pytest keeps its own)."""
    monkeypatch.setattr(_cli, "install_interrupt", lambda: None)
    return _cli.main([str(a) for a in argv])


def _two_runs(tmp_path: Path) -> list[Path]:
    """Two results of one column, the second started later: one run in the matrix, one superseded."""
    return [
        write_result(tmp_path / "old.json", result_document(started="2026-01-01T10:00:00+00:00")),
        write_result(tmp_path / "new.json", result_document(started="2026-01-02T10:00:00+00:00")),
    ]


def _coverage_json(path: Path) -> Path:
    summary = {"covered_lines": 4, "num_statements": 5, "num_branches": 2, "covered_branches": 1}
    files = {"conformance/_cli.py": {"summary": summary}}
    path.write_text(json.dumps({"meta": {"version": "7.17"}, "files": files}), encoding="utf-8")
    return path


def _coverage_html(directory: Path) -> Path:
    directory.mkdir()
    (directory / "index.html").write_text("<html>coverage</html>", encoding="utf-8")
    status = {"files": {"x": {"index": {"file": "conformance/_cli.py", "url": "z_cli_py.html"}}}}
    (directory / "status.json").write_text(json.dumps(status), encoding="utf-8")
    return directory


# --- report ----------------------------------------------------------------------------------------------


def test_report_without_output_writes_the_markdown_to_stdout_and_notes_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _two_runs(tmp_path)
    code = _command.report_command(_args("report", *paths))
    out, err = capsys.readouterr()
    expected = render_markdown(merge_runs(load_results(paths)))
    assert code == 0, f"report to stdout: observed exit status {code}; expected 0"
    assert out == expected, f"report to stdout: observed {out[:200]!r}...; expected the rendered report whole"
    notes = err.splitlines()
    assert len(notes) == 1 and notes[0].startswith("blockspec: note: ") and "superseded" in notes[0], (
        f"report to stdout: observed stderr {err!r}; expected one 'blockspec: note:' line on the superseded run"
    )


def test_report_with_output_writes_the_same_text_to_the_file_and_names_it_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _two_runs(tmp_path)
    _command.report_command(_args("report", *paths))
    printed = capsys.readouterr().out
    target = tmp_path / "report.md"
    code = _command.report_command(_args("report", *paths, "-o", target))
    out, err = capsys.readouterr()
    written = target.read_text(encoding="utf-8")
    assert code == 0, f"report -o: observed exit status {code}; expected 0"
    assert written == printed, f"report -o: observed the file {written[:120]!r}...; expected what stdout shows"
    assert out == "", f"report -o: observed stdout {out[:200]!r}; expected nothing (the report is in the file)"
    assert f"report: {target}\n" in err, f"report -o: observed stderr {err!r}; expected 'report: {target}'"


def test_an_unwritable_output_is_refused_and_nothing_goes_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _two_runs(tmp_path)
    for case, target in (("a directory", tmp_path), ("a missing parent", tmp_path / "no" / "r.md")):
        with pytest.raises(ResultFileError) as info:
            _command.report_command(_args("report", *paths, "-o", target))
        out = capsys.readouterr().out
        assert str(target) in str(info.value), f"report -o {case}: observed {info.value}; expected the path named"
        assert out == "", f"report -o {case}: observed stdout {out[:200]!r}; expected no report there instead"


@settings(max_examples=60, deadline=None)
@example(max_chars=MIN_MAX_CHARS)
@example(max_chars=MIN_MAX_CHARS - 1)
@example(max_chars=0)
@example(max_chars=-1)
@given(max_chars=st.none() | st.integers(-(2**40), 2**40) | st.integers(-5, MIN_MAX_CHARS + 5))
def test_max_chars_none_is_the_default_zero_never_shortens_and_too_small_is_a_usage_error(
    max_chars: int | None,
) -> None:
    seen: list[int | None] = []

    def render(merged: Any, limit: int | None) -> str:
        seen.append(limit)
        return "report\n"

    argv = ["report", "r.json"] + ([] if max_chars is None else ["--max-chars", str(max_chars)])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_command, "_merged", lambda args: "merged")
        mp.setattr("conformance.report.markdown.render_markdown", render)
        if max_chars is not None and max_chars != 0 and max_chars < MIN_MAX_CHARS:
            with pytest.raises(UsageError) as info:
                _command.report_command(_args(*argv))
            message = str(info.value)
            assert "--max-chars" in message and str(max_chars) in message and str(MIN_MAX_CHARS) in message, (
                f"--max-chars {max_chars}: observed {message!r}; expected the option, the value and the minimum"
            )
            assert not seen, f"--max-chars {max_chars}: observed a report rendered {seen}; expected none"
            return
        _command.report_command(_args(*argv))
    expected = {None: DEFAULT_MAX_CHARS, 0: None}.get(max_chars, max_chars)  # type: ignore[arg-type]
    assert seen == [expected], f"--max-chars {max_chars}: observed the renderer given {seen}; expected [{expected}]"


def test_a_file_name_that_is_not_utf8_is_shown_with_a_replacement_character(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / os.fsdecode(b"caf\xe9.json")  # a lone surrogate in the path's text
    write_result(odd, result_document(statuses={"SEQ-INDEX": "fail"}))
    target = tmp_path / "report.md"
    code = _main(monkeypatch, "report", odd, "-o", target)  # main lets stderr show the note's surrogate escaped
    err = capsys.readouterr().err
    text = target.read_text(encoding="utf-8")
    assert code == 0, f"a non-UTF-8 file name: observed exit status {code}; expected 0"
    assert "caf\N{REPLACEMENT CHARACTER}.json" in text, (
        f"a non-UTF-8 file name: observed no 'caf\\ufffd.json' in the report; expected the name shown\n{text[:600]}"
    )
    notes = [line for line in err.splitlines() if line.startswith("blockspec: note: ")]
    assert any("not UTF-8" in line for line in notes), (
        f"a non-UTF-8 file name: observed stderr {err!r}; expected a 'blockspec: note:' saying it is not UTF-8"
    )


def test_a_refusal_of_report_is_exit_status_2_with_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _two_runs(tmp_path)
    code = _main(monkeypatch, "report", *paths, "--max-chars", str(MIN_MAX_CHARS - 1))
    out, err = capsys.readouterr()
    assert code == 2, f"report --max-chars {MIN_MAX_CHARS - 1}: observed exit status {code}; expected 2"
    assert err.startswith("blockspec: error: --max-chars must be 0"), (
        f"report --max-chars {MIN_MAX_CHARS - 1}: observed stderr {err!r}; expected 'blockspec: error: --max-chars'"
    )
    assert out == "", f"report --max-chars {MIN_MAX_CHARS - 1}: observed stdout {out[:200]!r}; expected nothing"


# --- dashboard ---------------------------------------------------------------------------------------------


def test_dashboard_builds_the_site_and_says_where_with_its_pages_and_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    code = _command.dashboard_command(_args("dashboard", *_two_runs(tmp_path), "-o", site))
    out, err = capsys.readouterr()
    pages = sorted(p for p in site.rglob("*.html"))
    expected = f"dashboard: {site / 'index.html'} ({len(pages)} pages, 1 runs)\n"
    assert code == 0, f"dashboard: observed exit status {code}; expected 0"
    assert out == expected, f"dashboard: observed stdout {out!r}; expected {expected!r} (two files, one column)"
    assert (site / MARKER).is_file(), f"dashboard: observed no {MARKER} in {site}; expected the site built there"
    assert err.startswith("blockspec: note: ") and "superseded" in err, (
        f"dashboard: observed stderr {err!r}; expected a 'blockspec: note:' on the superseded run"
    )


def test_coverage_html_without_coverage_is_refused_before_anything_is_read_or_written(tmp_path: Path) -> None:
    site = tmp_path / "site"
    html = _coverage_html(tmp_path / "htmlcov")
    missing = tmp_path / "missing.json"  # read first, it would be refused with another message
    with pytest.raises(UsageError) as info:
        _command.dashboard_command(_args("dashboard", missing, "-o", site, "--coverage-html", html))
    message = str(info.value)
    assert message.startswith("--coverage-html needs --coverage"), (
        f"--coverage-html alone: observed {message!r}; expected '--coverage-html needs --coverage ...'"
    )
    assert not site.exists(), f"--coverage-html alone: observed {site} written; expected nothing"


def test_coverage_html_that_is_not_a_directory_is_refused_by_name(tmp_path: Path) -> None:
    runs = _two_runs(tmp_path)
    coverage = _coverage_json(tmp_path / "coverage.json")
    a_file = tmp_path / "htmlcov.txt"
    a_file.write_text("not a directory", encoding="utf-8")
    for case, html in (("missing", tmp_path / "htmlcov"), ("a file", a_file)):
        site = tmp_path / f"site-{case.replace(' ', '-')}"
        with pytest.raises(UsageError) as info:
            _command.dashboard_command(
                _args("dashboard", *runs, "-o", site, "--coverage", coverage, "--coverage-html", html)
            )
        message = str(info.value)
        assert message.startswith(f"--coverage-html {html}: no such directory"), (
            f"--coverage-html {case}: observed {message!r}; expected '--coverage-html {html}: no such directory'"
        )
        assert not site.exists(), f"--coverage-html {case}: observed {site} written; expected nothing"


def test_a_malformed_coverage_report_is_refused_and_no_site_is_written(tmp_path: Path) -> None:
    site = tmp_path / "site"
    coverage = tmp_path / "coverage.json"
    coverage.write_text('{"meta": {}, "files": {"a.py": {}}}', encoding="utf-8")
    with pytest.raises(ResultFileError) as info:
        _command.dashboard_command(_args("dashboard", *_two_runs(tmp_path), "-o", site, "--coverage", coverage))
    assert str(coverage) in str(info.value) and "'a.py'" in str(info.value), (
        f"a malformed --coverage: observed {info.value}; expected the file and its bad entry named"
    )
    assert not site.exists(), f"a malformed --coverage: observed {site} written; expected nothing"


def test_coverage_and_its_html_report_reach_the_site_together(tmp_path: Path) -> None:
    site = tmp_path / "site"
    coverage = _coverage_json(tmp_path / "coverage.json")
    html = _coverage_html(tmp_path / "htmlcov")
    _command.dashboard_command(
        _args("dashboard", *_two_runs(tmp_path), "-o", site, "--coverage", coverage, "--coverage-html", html)
    )
    page = (site / "coverage.html").read_text(encoding="utf-8")
    assert 'href="coverage/z_cli_py.html"' in page, (
        "--coverage with --coverage-html: observed no link to the module's page of the HTML report; expected one"
    )
    copied = site / "coverage" / "index.html"
    assert copied.is_file(), f"--coverage with --coverage-html: observed no {copied}; expected the report copied"


def test_a_refusal_of_dashboard_is_exit_status_2_with_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    html = _coverage_html(tmp_path / "htmlcov")
    code = _main(monkeypatch, "dashboard", *_two_runs(tmp_path), "-o", tmp_path / "site", "--coverage-html", html)
    out, err = capsys.readouterr()
    assert code == 2, f"dashboard --coverage-html alone: observed exit status {code}; expected 2"
    assert err.startswith("blockspec: error: --coverage-html needs --coverage"), (
        f"dashboard --coverage-html alone: observed stderr {err!r}; expected 'blockspec: error: --coverage-html ...'"
    )
    assert out == "", f"dashboard --coverage-html alone: observed stdout {out!r}; expected nothing"
