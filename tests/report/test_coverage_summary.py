"""conformance.report.coverage_summary: coverage.py's JSON report summed per module, package and in total; any
file that is not such a report refused with a message naming the file and what is wrong with it.

The inputs are written by hand in the shape ``coverage json`` writes; the dashboard's page of these figures is
tested in test_dashboard.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance._errors import ResultFileError
from conformance.report.coverage_summary import Tally, load_coverage
from spec._reading import MAX_RESULT_BYTES

_FIELDS = ("num_statements", "covered_lines", "num_branches", "covered_branches")


def _report(files: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"meta": {"version": "7.6.1", "timestamp": "2026-01-02T03:04:05", "branch_coverage": True, **(meta or {})},
            "files": files, "totals": {}}  # fmt: skip


def _entry(statements: int, covered: int, branches: int = 0, covered_branches: int = 0) -> dict[str, Any]:
    """One file's entry: coverage.py writes more (executed_lines, missing_lines), which is not read."""
    counts = (statements, covered, branches, covered_branches)
    return {"executed_lines": [], "summary": dict(zip(_FIELDS, counts, strict=True))}


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _figures(tally: Tally) -> tuple[int, int, int, int]:
    return tally.statements, tally.covered_statements, tally.branches, tally.covered_branches


# --- figures ---------------------------------------------------------------------------------------------------

_SEGMENT = st.sampled_from(["conformance", "report", "run", "spec", "a b", "x"])


@st.composite
def _counts(draw: st.DrawFn) -> tuple[int, int, int, int]:
    statements = draw(st.integers(0, 10**6), label="statements")
    branches = draw(st.integers(0, 10**6), label="branches")
    covered = draw(st.integers(0, statements), label="covered lines")
    covered_branches = draw(st.integers(0, branches), label="covered branches")
    return statements, covered, branches, covered_branches


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.dictionaries(
        st.builds(lambda dirs, stem: "/".join([*dirs, f"{stem}.py"]), st.lists(_SEGMENT, max_size=3), _SEGMENT),
        _counts(),
        max_size=8,
    ).map(dict)
)
def test_each_module_has_its_figures_under_its_package_and_the_sums_add_up(
    files: dict[str, tuple[int, int, int, int]], tmp_path: Path
) -> None:
    path = _write(tmp_path / "coverage.json", _report({name: _entry(*counts) for name, counts in files.items()}))
    summary = load_coverage(path)
    expected_modules: dict[str, list[tuple[str, tuple[int, int, int, int]]]] = {}
    for name in sorted(files):
        package = ".".join(PurePosixPath(name).parent.parts) or "(top level)"
        expected_modules.setdefault(package, []).append((name, files[name]))
    observed_modules = {p: [(m.name, _figures(m)) for m in ms] for p, ms in summary.modules.items()}
    assert observed_modules == expected_modules, (
        f"files {sorted(files)}: observed modules {observed_modules}; expected {expected_modules}"
    )
    assert list(summary.modules) == sorted(expected_modules), (
        f"observed packages in the order {list(summary.modules)}; expected sorted {sorted(expected_modules)}"
    )
    sums = {p: tuple(map(sum, zip(*(c for _, c in ms), strict=True))) for p, ms in expected_modules.items()}
    observed_packages = [(p.name, _figures(p)) for p in summary.packages]
    assert observed_packages == sorted(sums.items()), (
        f"observed package sums {observed_packages}; expected {sorted(sums.items())}"
    )
    total = tuple(sum(c[i] for c in files.values()) for i in range(4))
    assert _figures(summary.total) == total, f"observed total {_figures(summary.total)}; expected {total}"


@settings(max_examples=100, deadline=None)
@given(counts=_counts())
def test_percent_counts_statements_and_branches_together_and_branch_percent_apart(
    counts: tuple[int, int, int, int],
) -> None:
    statements, covered, branches, covered_branches = counts
    tally = Tally("m.py", statements, covered, branches, covered_branches)
    whole = 100.0 if statements + branches == 0 else 100.0 * (covered + covered_branches) / (statements + branches)
    assert tally.percent == pytest.approx(whole), f"{counts}: observed percent {tally.percent}; expected {whole}"
    part = None if branches == 0 else 100.0 * covered_branches / branches
    assert tally.branch_percent == (part if part is None else pytest.approx(part)), (
        f"{counts}: observed branch_percent {tally.branch_percent}; expected {part}"
    )


def test_a_report_without_branches_counts_them_zero_and_keeps_its_meta(tmp_path: Path) -> None:
    """``coverage json`` without ``--branch`` writes no branch counts; the meta fields are shown as written."""
    entry = {"summary": {"num_statements": 8, "covered_lines": 6}}
    path = _write(tmp_path / "c.json", {"meta": {"version": "7.2", "timestamp": "t0"}, "files": {"m.py": entry}})
    summary = load_coverage(path)
    module = summary.modules["(top level)"][0]
    assert _figures(module) == (8, 6, 0, 0), f"statements only: observed {_figures(module)}; expected (8, 6, 0, 0)"
    assert module.branch_percent is None, f"statements only: observed {module.branch_percent}; expected None"
    meta = (summary.source, summary.version, summary.timestamp, summary.branch)
    assert meta == (path, "7.2", "t0", False), f"statements only: observed {meta}; expected ({path}, 7.2, t0, False)"
    bare = load_coverage(_write(tmp_path / "bare.json", {"meta": {}, "files": {}}))
    shown = (bare.version, bare.timestamp, bare.branch, _figures(bare.total), bare.packages, bare.modules)
    assert shown == ("?", "", False, (0, 0, 0, 0), [], {}), f"empty meta and files: observed {shown}"


def test_windows_paths_and_lone_surrogates_give_dotted_packages_in_plain_text(tmp_path: Path) -> None:
    files = {"conformance\\report\\loader.py": _entry(4, 3), "caf\udce9/m.py": _entry(2, 2)}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_report(files)), encoding="utf-8")  # json.dumps writes the surrogate escaped
    summary = load_coverage(path)
    packages = [p.name for p in summary.packages]
    assert packages == ["caf\N{REPLACEMENT CHARACTER}", "conformance.report"], (
        f"a backslash path and a surrogate: observed packages {packages!r}; expected ['caf\\ufffd', "
        "'conformance.report']"
    )
    names = [m.name for ms in summary.modules.values() for m in ms]
    assert names == ["caf\N{REPLACEMENT CHARACTER}/m.py", "conformance\\report\\loader.py"], (
        f"a backslash path and a surrogate: observed module names {names!r}; expected them as written, U+FFFD shown"
    )


def test_a_covered_count_over_its_total_is_refused(tmp_path: Path) -> None:
    for case, entry in (
        ("covered_lines over num_statements", _entry(5, 9)),
        ("covered_branches without num_branches", _entry(5, 5, 0, 3)),
    ):
        path = _write(tmp_path / "c.json", _report({"m.py": entry}))
        with pytest.raises(ResultFileError, match=r"'m\.py'"):
            summary = load_coverage(path)
            pytest.fail(f"{case}: observed it accepted at {summary.total.percent:.0f}%; expected it refused")


def test_an_absolute_paths_package_is_its_directory_dotted(tmp_path: Path) -> None:
    """coverage.py writes files outside the current directory with absolute paths."""
    summary = load_coverage(_write(tmp_path / "c.json", _report({"/abs/pkg/m.py": _entry(1, 1)})))
    names = [p.name for p in summary.packages]
    assert names in (["abs.pkg"], ["/abs/pkg"]), (
        f"an absolute path: observed packages {names}; expected its directory dotted (abs.pkg) or as written"
    )


# --- links to coverage.py's HTML report ------------------------------------------------------------------------


def _html(directory: Path, status: str | None) -> Path:
    directory.mkdir()
    (directory / "index.html").write_text("<html></html>", encoding="utf-8")
    if status is not None:
        (directory / "status.json").write_text(status, encoding="utf-8")
    return directory


def test_each_module_links_to_its_html_page_and_one_not_listed_links_nowhere(tmp_path: Path) -> None:
    status = {"files": {"k": {"index": {"file": "pkg/a.py", "url": "z_pkg_a_py.html"}}}}
    html = _html(tmp_path / "htmlcov", json.dumps(status))
    coverage = _write(tmp_path / "c.json", _report({"pkg/a.py": _entry(1, 1), "pkg/b.py": _entry(1, 0)}))
    links = {m.name: m.html for m in load_coverage(coverage, html).modules["pkg"]}
    assert links == {"pkg/a.py": "z_pkg_a_py.html", "pkg/b.py": ""}, (
        f"observed links {links}; expected a.py's page from status.json and none for b.py"
    )


@pytest.mark.parametrize(
    "status", [None, "{nope", "[]", '{"files": {"k": {"index": {}}}}', '{"files": [1]}', "[" * 100_000]
)
def test_an_html_report_without_a_usable_index_links_no_module_but_loads(tmp_path: Path, status: str | None) -> None:
    """An older coverage.py writes no status.json (or another shape): the report's index is linked, modules not."""
    html = _html(tmp_path / "htmlcov", status)
    summary = load_coverage(_write(tmp_path / "c.json", _report({"pkg/a.py": _entry(3, 2)})), html)
    links = [m.html for ms in summary.modules.values() for m in ms]
    assert links == [""], f"status.json {str(status)[:40]!r}: observed links {links}; expected none"
    assert _figures(summary.total) == (3, 2, 0, 0), f"status.json {str(status)[:40]!r}: observed the figures changed"


def test_a_directory_that_is_not_an_html_report_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "status.json").write_text('{"files": {}}', encoding="utf-8")
    with pytest.raises(ResultFileError) as info:
        load_coverage(_write(tmp_path / "c.json", _report({})), other)
    message = str(info.value)
    assert message.startswith(f"{other}: is not a coverage.py HTML report (no index.html"), (
        f"a directory without index.html: observed {message!r}; expected it named as not an HTML report"
    )


# --- refusals ----------------------------------------------------------------------------------------------------

_SUMMARY = {"num_statements": 5, "covered_lines": 4}


def _malformed() -> list[tuple[str, bytes, str]]:
    """(case, file contents, what the message says after the file's name)."""
    cases = [
        ("not UTF-8", b'{"meta": {}, "files": {}} \xff', "is not UTF-8 text (byte 26"),
        ("not JSON", b"{nope", "is not valid JSON (Expecting property name"),
        ("NaN", b'{"meta": {}, "files": {"m.py": {"summary": {"num_statements": NaN}}}}', "is not usable JSON: NaN"),
        ("a list", b"[]", "is not a coverage.py JSON report (expected `coverage json` output)"),
        ("files a list", b'{"meta": {}, "files": []}', "is not a coverage.py JSON report"),
        ("no meta", b'{"files": {}}', "is not a coverage.py JSON report"),
        ("a result file", json.dumps({"backend": {}, "clauses": []}).encode(), "is not a coverage.py JSON report"),
        ("entry not an object", b'{"meta": {}, "files": {"m.py": 3}}', "entry 'm.py' has no usable summary"),
        ("no summary", b'{"meta": {}, "files": {"m.py": {}}}', "entry 'm.py' has no usable summary"),
        (
            "no covered_lines",
            b'{"meta": {}, "files": {"m.py": {"summary": {"num_statements": 3}}}}',
            "entry 'm.py' has no usable summary",
        ),
    ]
    summary = {"num_statements": 5, "covered_lines": 4}
    for key in _FIELDS:
        for bad in (-1, True, 2.0, "3", None, 2**63 + 1, [1]):
            document = _report({"m.py": {"summary": {**summary, key: bad}}})
            cases.append((f"{key}={bad!r}", json.dumps(document).encode(), f"entry 'm.py': {key} must be a count"))
    return cases


_MALFORMED = _malformed()


@pytest.mark.parametrize(("case", "content", "says"), _MALFORMED, ids=[c for c, _, _ in _MALFORMED])
def test_a_malformed_coverage_file_is_refused_with_what_is_wrong(
    tmp_path: Path, case: str, content: bytes, says: str
) -> None:
    path = tmp_path / "coverage.json"
    path.write_bytes(content)
    with pytest.raises(ResultFileError) as info:
        summary = load_coverage(path)
        pytest.fail(f"{case}: observed it accepted with total {summary.total}; expected it refused")
    message = str(info.value)
    assert message.startswith(f"{path}: {says}"), f"{case}: observed {message!r}; expected '{path}: {says}...'"


def test_the_largest_count_is_accepted_and_a_long_bad_value_is_shown_cut(tmp_path: Path) -> None:
    largest = load_coverage(_write(tmp_path / "big.json", _report({"m.py": _entry(2**63, 2**63)})))
    assert _figures(largest.total) == (2**63, 2**63, 0, 0), f"2**63 statements: observed {_figures(largest.total)}"
    long = "x" * 500
    path = _write(tmp_path / "long.json", _report({"m.py": {"summary": {"num_statements": long, "covered_lines": 4}}}))
    with pytest.raises(ResultFileError) as info:
        load_coverage(path)
    shown = str(info.value).rpartition(" but got ")[2]
    assert shown == repr(long)[:37] + "...", f"a 500-character value: observed it shown as {shown!r}; expected cut"


def test_a_missing_unreadable_or_oversized_path_is_refused_with_advice(tmp_path: Path) -> None:
    missing = tmp_path / "coverage.json"
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.json"
    huge.write_bytes(b"")
    os.truncate(huge, MAX_RESULT_BYTES + 1)  # sparse: nothing of it is written or read
    cases = [
        ("missing", missing, f"{missing}: no such file (make it with `coverage json -o {missing}`)"),
        ("a directory", tmp_path, f"{tmp_path}: cannot be read: "),
        ("a FIFO", fifo, f"{fifo}: is not a regular file"),
        ("over the limit", huge, f"{huge}: is {MAX_RESULT_BYTES + 1} bytes, over the"),
    ]
    for case, path, says in cases:
        with pytest.raises(ResultFileError) as info:
            load_coverage(path)
        message = str(info.value)
        assert message.startswith(says), f"{case}: observed {message!r}; expected {says!r}..."
        if path == huge:
            assert message.endswith("; expected a coverage.py JSON report"), f"{case}: observed {message!r}"
