"""Hostile files: every malformed input to ``report``/``dashboard`` ends in exit 2 and a message (issue 11).

Each case builds the file in ``tmp_path``, runs the command in a subprocess,
and asserts the exit status, a one-line message naming the file and what is
wrong, no traceback, and that nothing on disk was written, overwritten or
left behind.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance._errors import UsageError
from conformance._manifest import load_manifest
from conformance.report import InvalidResultFile, load_coverage, load_result, load_results, schema_problems
from spec import SpecError, load_catalogue
from spec._loader import CLAUSES_DIR
from spec._reading import MAX_RESULT_BYTES, RefusedFile, read_text_bounded
from tests.helpers import Cli, result_document, schema_errors, write_result

if TYPE_CHECKING:
    import jsonschema


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"\n--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-2000:]}"


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (not following symlinks): its kind and, for files, its content."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                out[rel] = "dir"
            elif path.is_file():
                out[rel] = f"{path.stat().st_mode & 0o777:o} " + path.read_bytes().decode("utf-8", "replace")
            else:
                out[rel] = "special"
    return out


# --- the hostile files ------------------------------------------------------------------------------------


def _deep_top(path: Path) -> str:
    path.write_text("[" * 2000 + "]" * 2000, encoding="utf-8")
    return "nests arrays or objects too deeply"


def _deep_inside(path: Path) -> str:
    text = json.dumps(result_document())
    path.write_text(text[:-1] + ', "extra": ' + "[" * 2000 + "]" * 2000 + "}", encoding="utf-8")
    return "nests arrays or objects too deeply"


def _dev_zero(path: Path) -> str:
    path.symlink_to("/dev/zero")
    return "is not a regular file (a character device)"


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "is not a regular file (a FIFO"


def _symlink_loop(path: Path) -> str:
    other = path.with_name("other.json")
    other.symlink_to(path.name)
    path.symlink_to(other.name)
    return "symlink loop"


def _big_section(path: Path) -> str:
    document = result_document()
    unknown = dict(document["clauses"][0], id="ZZ-UNKNOWN", section="4." + "7" * 5000)
    document["clauses"].append(unknown)
    write_result(path, document)
    return ""  # a valid file: it must render


def _trailing_newline(path: Path) -> str:
    document = result_document()
    document["clauses"][0]["id"] += "\n"
    write_result(path, document)
    return "clauses/0/id: expected text matching"


def _infinity(path: Path) -> str:
    text = json.dumps(result_document()).replace('"duration_s": 1.5', '"duration_s": Infinity')
    path.write_text(text, encoding="utf-8")
    return "Infinity is not a JSON number"


def _huge_integer(path: Path) -> str:
    text = json.dumps(result_document()).replace('"duration_s": 1.5', '"duration_s": ' + "9" * 5000)
    path.write_text(text, encoding="utf-8")
    return "is not usable JSON: Exceeds the limit"


def _too_big(path: Path) -> str:
    with path.open("wb") as handle:  # sparse: no disk is spent
        handle.truncate(MAX_RESULT_BYTES + 1)
    return f"over the {MAX_RESULT_BYTES}-byte limit"


def _not_utf8(path: Path) -> str:
    path.write_bytes(b'{"backend": "\xff"}')
    return "is not UTF-8 text"


HOSTILE: dict[str, Callable[[Path], str]] = {
    "nested 2000 deep": _deep_top,
    "nested 2000 deep inside a field": _deep_inside,
    "a symlink to /dev/zero": _dev_zero,
    "a FIFO": _fifo,
    "a symlink loop": _symlink_loop,
    "an unknown clause whose section has 5000 digits": _big_section,
    "a clause id with a trailing newline": _trailing_newline,
    "Infinity": _infinity,
    "an integer of 5000 digits": _huge_integer,
    "over the size limit": _too_big,
    "not UTF-8": _not_utf8,
}


@pytest.mark.parametrize("command", ["report", "dashboard"])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_result_file_is_exit_2_with_a_message(case: str, command: str, cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    says = HOSTILE[case](bad)
    out = tmp_path / ("out" if command == "dashboard" else "out.md")
    before = snapshot(tmp_path)
    proc = cli([command, str(bad), "-o", str(out)])
    if not says:  # a valid, if odd, file: it renders
        assert proc.returncode == 0, (
            f"{case}/{command}: observed exit status {proc.returncode}; expected 0{_explain(proc)}"
        )
        assert out.exists(), f"{case}/{command}: observed no {out.name}; expected it written"
        return
    assert proc.returncode == 2, f"{case}/{command}: observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "Traceback" not in proc.stderr, f"{case}/{command}: observed a traceback; expected a message{_explain(proc)}"
    assert f"blockspec: error: {bad}" in proc.stderr and says in proc.stderr, (
        f"{case}/{command}: observed {proc.stderr.strip()!r}; expected an error naming {bad} and saying {says!r}"
    )
    after = snapshot(tmp_path)
    assert after == before, f"{case}/{command}: observed {sorted(after)}; expected nothing written ({sorted(before)})"


def test_a_hostile_file_in_a_results_directory_is_named(cli: Cli, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    write_result(results / "a.json", result_document())
    (results / "loop").symlink_to("loop")  # a directory entry that loops on itself
    _fifo(results / "z.json")
    proc = cli(["report", str(results)])
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert f"{results / 'z.json'}: is not a regular file" in proc.stderr, f"observed {proc.stderr!r}"


def test_a_results_directory_that_is_a_symlink_loop_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "results").symlink_to("results")
    proc = cli(["dashboard", "results", "-o", "site"])
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "results: is a symlink loop" in proc.stderr, f"observed {proc.stderr!r}; expected the loop named"
    assert not (tmp_path / "site").exists(), "observed a site written from nothing; expected none"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """The FIFO test above would hang, not fail, if the reader waited: this one checks the reader alone."""
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    with pytest.raises(RefusedFile, match="FIFO"):
        read_text_bounded(path, 1024)


def test_the_section_of_5000_digits_sorts_as_a_number(tmp_path: Path) -> None:
    from conformance.report.merge import natural_key

    big, small = "4." + "7" * 5000, "4.10"
    assert natural_key(small) < natural_key(big), "observed a 5000-digit section before 4.10; expected after"
    assert natural_key("4.9") < natural_key("4.10") < natural_key("4.010a"), (
        "observed digit runs not compared as numbers"
    )


def test_the_id_pattern_is_anchored_at_the_very_end() -> None:
    document = result_document()
    document["clauses"][0]["id"] += "\n"
    problems = schema_problems(document)
    assert any("clauses/0/id" in p for p in problems), f"observed problems {problems}; expected clauses/0/id refused"
    assert not schema_problems(result_document()), "observed problems in a valid document; expected none"


# --- a lone surrogate -------------------------------------------------------------------------------------


def _surrogate_file(path: Path) -> Path:
    document = result_document(statuses={"SEQ-INDEX": "fail"}, message="bad name \ud800 here")
    document["backend"]["version"] = "1.0\udcff"
    document["device"] = "cpu\ud800"
    path.write_text(json.dumps(document), encoding="utf-8")  # ensure_ascii: the file holds \\ud800 escapes
    return path


@pytest.mark.parametrize("command", ["report", "dashboard"])
def test_a_lone_surrogate_is_replaced_and_said_so(command: str, cli: Cli, tmp_path: Path) -> None:
    path = _surrogate_file(tmp_path / "s.json")
    out = tmp_path / ("site" if command == "dashboard" else "out.md")
    proc = cli([command, str(path), "-o", str(out)])
    assert proc.returncode == 1 or proc.returncode == 0, f"{command}: observed exit {proc.returncode}{_explain(proc)}"
    assert "lone surrogate" in proc.stderr and "U+FFFD" in proc.stderr, (
        f"{command}: observed stderr {proc.stderr!r}; expected a note that surrogates were replaced"
    )
    text = (out / "index.html" if command == "dashboard" else out).read_text(encoding="utf-8")
    assert "1.0\N{REPLACEMENT CHARACTER}" in text, f"{command}: observed no replaced version in the output"
    assert "lone surrogate" in text, f"{command}: observed the output silent about the replacement; expected a note"


def test_a_lone_surrogate_printed_to_stdout(cli: Cli, tmp_path: Path) -> None:
    path = _surrogate_file(tmp_path / "s.json")
    proc = cli(["report", str(path)])
    assert proc.returncode == 0, f"observed exit {proc.returncode}; expected 0{_explain(proc)}"
    assert "bad name \N{REPLACEMENT CHARACTER} here" in proc.stdout, "observed the message not shown with U+FFFD"


def test_a_run_without_surrogates_has_no_note(tmp_path: Path) -> None:
    run = load_result(write_result(tmp_path / "r.json", result_document()))
    assert run.notes == (), f"observed notes {run.notes}; expected none"


# --- coverage JSON ----------------------------------------------------------------------------------------


def _coverage(files: str) -> str:
    return '{"meta": {"version": "7.6"}, "files": ' + files + "}"


COVERAGE: dict[str, tuple[str, str]] = {
    "Infinity": (_coverage('{"a.py": {"summary": {"num_statements": Infinity, "covered_lines": 1}}}'), "Infinity"),
    "NaN": (_coverage('{"a.py": {"summary": {"num_statements": 3, "covered_lines": NaN}}}'), "NaN"),
    "1e400": (_coverage('{"a.py": {"summary": {"num_statements": 1e400, "covered_lines": 1}}}'), "num_statements"),
    "2**70": (_coverage('{"a.py": {"summary": {"num_statements": ' + str(2**70) + ', "covered_lines": 1}}}'), "2**63"),
    "negative": (_coverage('{"a.py": {"summary": {"num_statements": -1, "covered_lines": 0}}}'), "num_statements"),
    "deep": ("[" * 3000 + "]" * 3000, "too deeply"),
}


@pytest.mark.parametrize("case", list(COVERAGE))
def test_bad_coverage_json_is_exit_2(case: str, cli: Cli, tmp_path: Path) -> None:
    good = write_result(tmp_path / "r.json", result_document())
    text, says = COVERAGE[case]
    (tmp_path / "cov.json").write_text(text, encoding="utf-8")
    before = snapshot(tmp_path)
    proc = cli(["dashboard", str(good), "--coverage", "cov.json", "-o", "site"])
    assert proc.returncode == 2, f"{case}: observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "Traceback" not in proc.stderr, f"{case}: observed a traceback{_explain(proc)}"
    assert "cov.json" in proc.stderr and says in proc.stderr, f"{case}: observed {proc.stderr!r}; expected {says!r}"
    assert snapshot(tmp_path) == before, f"{case}: observed files written; expected none"


@pytest.mark.parametrize("make", [_dev_zero, _fifo], ids=["dev-zero", "fifo"])
def test_coverage_json_that_is_not_a_regular_file_is_refused(make: Callable[[Path], str], tmp_path: Path) -> None:
    path = tmp_path / "cov.json"
    make(path)
    with pytest.raises(UsageError, match="is not a regular file"):
        load_coverage(path)


# --- manifests and spec TOML ------------------------------------------------------------------------------

TOML_CASES: dict[str, tuple[Callable[[Path], Any], str]] = {
    "deep array": (lambda p: p.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8"), "too deeply"),
    "deep inline table": (
        lambda p: p.write_text("x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n", encoding="utf-8"),
        "too deeply",
    ),
    "huge": (lambda p: p.open("wb").truncate(8 * 2**20 + 1), "byte limit"),
    "5000-digit integer": (lambda p: p.write_text("x = " + "9" * 5000 + "\n", encoding="utf-8"), "Exceeds the limit"),
    "fifo": (lambda p: os.mkfifo(p), "not a regular file"),
    "dev-zero": (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
}


@pytest.mark.parametrize("case", list(TOML_CASES))
def test_a_hostile_manifest_is_a_usage_error(case: str, tmp_path: Path) -> None:
    make, says = TOML_CASES[case]
    path = tmp_path / "known.toml"
    make(path)
    with pytest.raises(UsageError) as caught:
        load_manifest(path, load_catalogue())
    message = str(caught.value)
    assert str(path) in message and says in message, f"{case}: observed {message!r}; expected {says!r} and the path"


def test_a_hostile_manifest_on_the_command_line_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "known.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    proc = cli(["run", "--backend", "reference", "--clause", "SEQ-INDEX", "--known-failures", "known.toml"])
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "Traceback" not in proc.stderr and "known.toml" in proc.stderr, f"observed {proc.stderr!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["known.toml"], "observed files left behind"


def _catalogue_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "clauses"
    directory.mkdir()
    for source in CLAUSES_DIR.glob("*.toml"):
        (directory / source.name).write_bytes(source.read_bytes())
    return directory


@pytest.mark.parametrize("case", list(TOML_CASES))
def test_a_hostile_spec_file_is_a_spec_error(case: str, tmp_path: Path) -> None:
    directory = _catalogue_copy(tmp_path)
    make, says = TOML_CASES[case]
    make(directory / "zz-hostile.toml")
    with pytest.raises(SpecError) as caught:
        load_catalogue(directory)
    message = str(caught.value)
    assert "zz-hostile.toml" in message and says in message, f"{case}: observed {message!r}; expected {says!r}"


def test_a_spec_clause_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    directory = _catalogue_copy(tmp_path)
    target = directory / "4.1-layers-and-modules.toml"
    if not target.exists():
        target = sorted(directory.glob("*.toml"))[0]
    text = target.read_text(encoding="utf-8")
    first_id = text.split('id = "', 1)[1].split('"', 1)[0]
    target.write_text(text.replace(f'id = "{first_id}"', f'id = "{first_id}\\n"', 1), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_catalogue(directory)
    assert "expected UPPER-CASE words" in str(caught.value), f"observed {caught.value}; expected the id refused"


# --- files written as users expect ------------------------------------------------------------------------


@pytest.fixture
def umask_022() -> Any:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path: Path) -> None:
    from conformance._files import write_text_atomic

    for umask, expected in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        old = os.umask(umask)
        try:
            path = tmp_path / f"new-{umask:o}.md"
            write_text_atomic(path, "text\n")
        finally:
            os.umask(old)
        mode = path.stat().st_mode & 0o777
        assert mode == expected, f"umask {umask:o}: observed mode {mode:o}; expected {expected:o} (as open() gives)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new-2.md", "new-22.md", "new-77.md"], "observed litter"


def test_an_existing_file_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    from conformance._files import write_text_atomic

    for mode in (0o644, 0o640, 0o604):
        path = tmp_path / f"kept-{mode:o}.json"
        path.write_text("old\n", encoding="utf-8")
        path.chmod(mode)
        write_text_atomic(path, "new\n")
        observed = path.stat().st_mode & 0o777
        assert observed == mode, f"observed mode {observed:o} after rewriting; expected the file's own {mode:o}"
        assert path.read_text(encoding="utf-8") == "new\n", "observed the old content; expected the new"
    assert all(not p.name.startswith(".") for p in tmp_path.iterdir()), "observed temporary files left behind"


@pytest.mark.parametrize("command", ["report", "spec"])
def test_command_outputs_are_0644_under_umask_022(command: str, cli: Cli, tmp_path: Path, umask_022: None) -> None:
    args = ["spec", "-o", "out.md"] if command == "spec" else ["report", "r.json", "-o", "out.md"]
    write_result(tmp_path / "r.json", result_document())
    proc = cli(args)
    assert proc.returncode == 0, f"{command}: observed exit status {proc.returncode}{_explain(proc)}"
    mode = (tmp_path / "out.md").stat().st_mode & 0o777
    assert mode == 0o644, f"{command}: observed mode {mode:o}; expected 644 (umask 022)"


def _site_litter(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.endswith((".tmp", ".old")))


def test_dashboard_into_the_current_directory_twice_leaves_no_litter(cli: Cli, tmp_path: Path, umask_022: None) -> None:
    write_result(tmp_path / "r.json", result_document())
    site = tmp_path / "site"
    site.mkdir()
    for attempt in (1, 2):
        proc = cli(["dashboard", "../r.json", "-o", "."], cwd=site)
        assert proc.returncode == 0, f"build {attempt}: observed exit status {proc.returncode}{_explain(proc)}"
        assert (site / "index.html").is_file(), f"build {attempt}: observed no index.html in the current directory"
        for where in (site, tmp_path):
            assert _site_litter(where) == [], f"build {attempt}: observed litter {_site_litter(where)} in {where}"
    mode = (site / "index.html").stat().st_mode & 0o777
    assert mode == 0o644, f"observed index.html mode {mode:o}; expected 644"
    assert (site / "clauses").stat().st_mode & 0o777 == 0o755, "observed a private clauses/; expected 755"


def test_a_killed_builds_leftovers_are_removed_at_the_next_build(cli: Cli, tmp_path: Path) -> None:
    write_result(tmp_path / "r.json", result_document())
    stale = [".site.k1ll3d00.tmp", ".site.a_b_c_d1.old", ".site.0123abcd.tmp"]
    for name in stale:
        (tmp_path / name / "clauses").mkdir(parents=True)
        (tmp_path / name / "clauses" / "X.html").write_text("half a page", encoding="utf-8")
    keep = [".site.notours.tmp", ".other.k1ll3d00.tmp", "site.k1ll3d00.tmp"]  # not a build's leftover name
    for name in keep:
        (tmp_path / name).mkdir()
    proc = cli(["dashboard", "r.json", "-o", "site"])
    assert proc.returncode == 0, f"observed exit status {proc.returncode}{_explain(proc)}"
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".old")))
    assert left == sorted(keep), f"observed {left}; expected the stale builds removed and only {sorted(keep)} kept"


def test_coverage_html_publishes_nothing_a_symlink_finds_outside_it(cli: Cli, tmp_path: Path) -> None:
    write_result(tmp_path / "r.json", result_document())
    (tmp_path / "cov.json").write_text(
        _coverage('{"a.py": {"summary": {"num_statements": 2, "covered_lines": 1}}}'), encoding="utf-8"
    )
    secret = tmp_path / "outside" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("PRIVATE KEY", encoding="utf-8")
    html = tmp_path / "htmlcov"
    (html / "sub").mkdir(parents=True)
    (html / "index.html").write_text("<html>coverage</html>", encoding="utf-8")
    (html / "a_py.html").write_text("<html>a.py</html>", encoding="utf-8")
    (html / "key.html").symlink_to(secret)
    (html / "outside").symlink_to(secret.parent, target_is_directory=True)
    (html / "zero.html").symlink_to("/dev/zero")
    (html / "dangling.html").symlink_to(tmp_path / "nowhere")
    (html / "sub" / "same.html").symlink_to(html / "a_py.html")  # inside: copied
    (html / "sub" / "up").symlink_to("..", target_is_directory=True)  # inside, but copied forever
    os.mkfifo(html / "pipe")
    proc = cli(["dashboard", "r.json", "--coverage", "cov.json", "--coverage-html", "htmlcov", "-o", "site"])
    assert proc.returncode == 0, f"observed exit status {proc.returncode}{_explain(proc)}"
    copied = snapshot(tmp_path / "site" / "coverage")
    assert "PRIVATE KEY" not in "".join(copied.values()), f"observed the secret published: {sorted(copied)}"
    assert set(copied) == {"index.html", "a_py.html", "sub", "sub/same.html"}, f"observed {sorted(copied)}"
    page = (tmp_path / "site" / "coverage.html").read_text(encoding="utf-8")
    for name in ("key.html", "outside", "zero.html", "dangling.html", "pipe", "sub/up"):
        assert f"<code>{name}</code>" in page, f"observed coverage.html silent about {name}; expected it listed"


# --- scale and text of hostile reports --------------------------------------------------------------------


class _CountingList(list[str]):
    """A list that counts the elements scanned by iteration and ``index``: a page's cost in clauses visited."""

    visited = 0

    def __iter__(self) -> Any:
        for item in super().__iter__():
            _CountingList.visited += 1
            yield item

    def index(self, value: str, *args: Any) -> int:
        found = super().index(value, *args)
        _CountingList.visited += found + 1
        return found


def _many_unknown(path: Path, count: int) -> Path:
    document = result_document()
    template = document["clauses"][0]
    for number in range(count):
        document["clauses"].append(dict(template, id=f"ZZ-UNKNOWN-{number:05d}", section="4.9"))
    return write_result(path, document)


def test_a_clause_page_visits_a_bounded_number_of_clauses(tmp_path: Path) -> None:
    """The dashboard of 20,000 unknown clauses took 73 s: each page scanned every clause (``list.index``, ``set``).

    Counted, not timed: building each page may visit only a few clauses, whatever their number.
    """
    from datetime import UTC, datetime

    from conformance.report import merge_runs
    from conformance.report.dashboard import _Site

    site = _Site(
        merge_runs([load_result(_many_unknown(tmp_path / "r.json", 2000))]),
        load_catalogue(),
        None,
        False,
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    site.clause_ids = _CountingList(site.clause_ids)
    _CountingList.visited = 0
    for clause_id in list.__iter__(site.clause_ids):
        page = site._clause_page(clause_id)
        assert page["id"] == clause_id, f"observed the page of {page['id']}; expected {clause_id}"
    pages = len(site.clause_ids)
    assert _CountingList.visited <= 4 * pages, (
        f"observed {_CountingList.visited} clauses visited building {pages} pages; expected at most {4 * pages} "
        "(linear, not quadratic)"
    )


def test_the_last_unknown_clause_page_links_back_and_not_forward(tmp_path: Path) -> None:
    from conformance.report import build_dashboard, merge_runs

    site = tmp_path / "site"
    build_dashboard(merge_runs([load_result(_many_unknown(tmp_path / "r.json", 30))]), site)
    last = (site / "clauses" / "ZZ-UNKNOWN-00029.html").read_text(encoding="utf-8")
    assert 'href="ZZ-UNKNOWN-00028.html" rel="prev"' in last, "observed no link to the previous clause"
    assert 'rel="next"' not in last, "observed a link past the last clause"


def _outside_code(markdown: str) -> str:
    """``markdown`` without its fenced blocks and code spans (where GitHub neither mentions nor renders)."""
    import re

    without_blocks = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", markdown)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", without_blocks)


HOSTILE_TEXT = "@octocat \x1b[31mred\x1b[0m \x1b]52;c;cGF5bG9hZA==\x07 nul\x00 bidi\u202eevil @org/team"


def _hostile_text_report(tmp_path: Path) -> str:
    from conformance.report import merge_runs, render_markdown

    document = result_document(statuses={"SEQ-INDEX": "fail", "SEQ-ORDER": "blocked"}, message=HOSTILE_TEXT)
    document["backend"]["name"] = "@mallory"
    document["clauses"][0]["statement"] = "ping @everyone"
    return render_markdown(merge_runs([load_result(write_result(tmp_path / "r.json", document))]))


def test_the_markdown_report_mentions_no_one(tmp_path: Path) -> None:
    import re

    text = _hostile_text_report(tmp_path)
    mentions = re.findall(r"@[A-Za-z0-9][\w/-]*", _outside_code(text))
    assert not mentions, f"observed mentions {mentions} in the report's text; expected each neutralized"
    assert "@\u2060mallory" in text, "observed the backend's name lost; expected it shown, neutralized"


def test_the_markdown_report_holds_no_control_character(tmp_path: Path) -> None:
    import re

    text = _hostile_text_report(tmp_path)
    controls = sorted({f"U+{ord(c):04X}" for c in re.findall(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", text)})
    assert not controls, f"observed control characters {controls} in the report; expected them shown as symbols"
    assert "\N{SYMBOL FOR ESCAPE}[31mred" in text, "observed the ANSI escape hidden; expected it shown as ␛"


def test_the_report_lists_known_failures_with_their_reasons(tmp_path: Path) -> None:
    from conformance.report import merge_runs, render_markdown

    document = result_document(statuses={"SEQ-INDEX": "xfail", "SEQ-ORDER": "xfail"})
    for clause in document["clauses"]:
        if clause["status"] == "xfail":
            clause["reason"] = f"known failure: {clause['id']} departs on purpose (https://example.org/issue/1)"
    text = render_markdown(merge_runs([load_result(write_result(tmp_path / "r.json", document))]))
    assert "2 known failures" in text, "observed the run's heading silent about its known failures"
    for cid in ("SEQ-INDEX", "SEQ-ORDER"):
        line = next((line for line in text.splitlines() if f"**{cid}**" in line), "")
        assert f"{cid} departs on purpose" in line, f"observed {line!r}; expected {cid} listed with its reason"


def test_the_rerun_command_comes_first_and_the_blob_is_secondary(tmp_path: Path) -> None:
    from conformance.report import build_dashboard, merge_runs, render_markdown

    document = result_document(statuses={"SEQ-INDEX": "fail"})
    failure = next(c for c in document["clauses"] if c["id"] == "SEQ-INDEX")["failure"]
    failure["reproduce"] = (
        "You can reproduce this example by temporarily adding @reproduce_failure('6.1', b'AXic') "
        "as a decorator on your test case"
    )
    merged = merge_runs([load_result(write_result(tmp_path / "r.json", document))])
    rerun = failure["rerun"]
    for name, text in (
        ("report", render_markdown(merged)),
        (
            "dashboard",
            (build_dashboard(merged, tmp_path / "site") and "")
            + html.unescape((tmp_path / "site" / "clauses" / "SEQ-INDEX.html").read_text(encoding="utf-8")),
        ),
    ):
        assert rerun in text, f"{name}: observed no rerun command; expected {rerun!r}"
        assert "temporarily adding" not in text, f"{name}: observed hypothesis' advice; expected the rerun command"
        blob = text.find("@reproduce_failure('6.1', b'AXic')")
        assert blob > text.find(rerun) >= 0, f"{name}: observed the blob missing or before the rerun command"
        assert text.rfind("<details", 0, blob) > text.find(rerun), f"{name}: observed the blob not folded away"


def test_a_named_pipe_as_output_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A FIFO with no reader would block the writer forever: refused at once, kept as it was, nothing written."""
    import threading

    from conformance._errors import ResultFileError
    from conformance._files import write_text_atomic

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    caught: list[BaseException] = []

    def write() -> None:
        try:
            write_text_atomic(pipe, "report\n")
        except BaseException as exc:  # the test reads it below
            caught.append(exc)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(timeout=30)
    blocked = writer.is_alive()
    if blocked:  # blocked in open(): give it a reader so the thread ends
        with open(pipe, encoding="utf-8") as handle:
            handle.read()
    assert not blocked, "observed the writer blocked on the pipe; expected a refusal at once"
    assert caught and isinstance(caught[0], ResultFileError), f"observed {caught}; expected a ResultFileError"
    assert "named pipe" in str(caught[0]), f"observed {caught[0]}; expected the pipe named"
    assert pipe.is_fifo(), "observed the pipe replaced by a file; expected it kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"], "observed temporary files left behind"


def test_dev_null_as_output_is_written_into_not_replaced(tmp_path: Path) -> None:
    from conformance._files import write_text_atomic

    write_text_atomic(Path(os.devnull), "report\n")
    assert Path(os.devnull).is_char_device(), "observed /dev/null replaced; expected it written into"


# --- reference.load: a path that is no regular file -------------------------------------------------------


def _loop(path: Path) -> Path:
    path.symlink_to("other")
    path.with_name("other").symlink_to(path.name)
    return path


def _fifo_at(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _directory_at(path: Path) -> Path:
    path.mkdir()
    return path


LOAD_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "fifo": (_fifo_at, "named pipe"),
    "directory": (_directory_at, "directory"),
    "symlink loop": (_loop, "symlink loop"),
    "dev-zero": (lambda p: Path("/dev/zero"), "device"),
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev/zero are POSIX's")
@pytest.mark.parametrize("case", list(LOAD_CASES))
def test_reference_load_of_a_path_that_is_no_regular_file_is_a_checkpoint_error(case: str, tmp_path: Path) -> None:
    """A FIFO is refused without waiting for a writer (checked in a thread, so a block fails, never hangs)."""
    import threading

    import reference

    make, says = LOAD_CASES[case]
    path = make(tmp_path / "ckpt.safetensors")
    raised: list[BaseException] = []

    def load() -> None:
        try:
            reference.load(path)
        except BaseException as exc:  # the test reads it below
            raised.append(exc)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    loader.join(timeout=30)
    blocked = loader.is_alive()
    if blocked:  # unblock the reader: a writer opens and closes the pipe
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        loader.join(timeout=30)
    assert not blocked, f"{case}: observed reference.load block on {path}; expected a CheckpointError at once"
    assert raised, f"{case}: observed reference.load return; expected a CheckpointError"
    assert isinstance(raised[0], reference.CheckpointError), (
        f"{case}: observed {type(raised[0]).__name__}: {raised[0]}; expected CheckpointError"
    )
    assert says in str(raised[0]), f"{case}: observed {raised[0]}; expected {says!r} in the message"


@pytest.mark.parametrize("command", ["report", "dashboard"])
def test_a_result_file_name_that_is_not_utf8_is_shown_replaced(command: str, cli: Cli, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    name = os.fsdecode(b"r\xff.json")  # a surrogate escape in Python's view of the name
    write_result(results / name, result_document())
    write_result(results / "z.json", result_document(started="2026-02-01T10:00:00+00:00"))  # supersedes it
    out = tmp_path / ("site" if command == "dashboard" else "out.md")
    proc = cli([command, str(results), "-o", str(out)])
    assert proc.returncode == 0, f"{command}: observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    assert "the file name is not UTF-8" in proc.stderr, f"{command}: observed {proc.stderr!r}; expected a note"
    text = (out / "runs.html" if command == "dashboard" else out).read_text(encoding="utf-8")
    assert "r\N{REPLACEMENT CHARACTER}.json" in text, f"{command}: observed the file's name not shown with U+FFFD"


def test_a_really_killed_build_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    """SIGKILL a build once its temporary site exists (waiting on that event, not on a clock), then rebuild."""
    import signal
    import sys
    import time

    from tests.helpers import subprocess_env

    source = _many_unknown(tmp_path / "r.json", 3000)  # a build of some seconds: time to catch it mid-way
    command = [sys.executable, "-m", "conformance", "dashboard", str(source), "-o", "site"]
    proc = subprocess.Popen(command, cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL)
    try:
        while proc.poll() is None and not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
            time.sleep(0.01)
        assert proc.poll() is None, f"observed the build end (status {proc.returncode}) before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    litter = _site_litter(tmp_path)
    assert litter, "observed no temporary site after the kill; expected one to clean"
    small = write_result(tmp_path / "small.json", result_document())
    rebuilt = subprocess.run(
        [sys.executable, "-m", "conformance", "dashboard", str(small), "-o", "site"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rebuilt.returncode == 0, f"observed exit status {rebuilt.returncode}{_explain(rebuilt)}"
    assert _site_litter(tmp_path) == [], f"observed {_site_litter(tmp_path)} left after the next build; expected none"


# --- any text in any field ----------------------------------------------------------------------------------

HOSTILE_STRINGS = [
    "\ud800",
    "\udcff tail",
    "\x1b[2J\x1b]0;title\x07",
    "\x00",
    "@octocat",
    "```",
    "<script>alert(1)</script>",
    "4." + "9" * 5000,
    "SEQ-INDEX\n",
    "\u202egnp.exe",
    "",
]


def _hostile_values() -> Any:
    from hypothesis import strategies as st

    return st.one_of(
        st.sampled_from(HOSTILE_STRINGS),
        st.text(max_size=20),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )


def _field_paths(document: dict[str, Any]) -> list[tuple[str, ...]]:
    clause = ("clauses", "0")
    return [
        ("backend", "name"),
        ("backend", "version"),
        ("device",),
        ("started",),
        ("profile",),
        ("duration_s",),
        (*clause, "id"),
        (*clause, "section"),
        (*clause, "title"),
        (*clause, "statement"),
        (*clause, "reason"),
        (*clause, "failure", "message"),
        (*clause, "failure", "rerun"),
        (*clause, "failure", "reproduce"),
        ("environment", "python"),
    ]


def test_any_value_in_any_field_loads_and_renders_or_is_refused_with_a_message(tmp_path_factory: Any) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from conformance.report import InvalidResultFile, merge_runs, render_markdown

    base = result_document(statuses={"SEQ-INDEX": "fail"})
    base["clauses"].insert(
        0, base["clauses"].pop(next(i for i, c in enumerate(base["clauses"]) if c["id"] == "SEQ-INDEX"))
    )

    @settings(max_examples=60, deadline=None, database=None)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        document = json.loads(json.dumps(base))
        for _ in range(data.draw(st.integers(1, 3), label="fields changed")):
            where = data.draw(st.sampled_from(_field_paths(document)), label="field")
            value = data.draw(_hostile_values(), label=f"value of {'/'.join(where)}")
            target: Any = document
            for part in where[:-1]:
                target = target[int(part)] if isinstance(target, list) else target[part]
            target[where[-1]] = value
        path = tmp_path_factory.mktemp("any") / "r.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        try:
            run = load_result(path)
        except InvalidResultFile as exc:
            assert str(path) in str(exc), f"observed {exc}; expected the message to name {path}"
            return
        text = render_markdown(merge_runs([run]))
        text.encode("utf-8")  # no lone surrogate left: every output can hold the report
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), "observed a control character in the report"

    check()


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
