"""The static dashboard (``blockspec dashboard``), read as HTML: cells, escaping, merging, coverage, atomic writes."""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance._errors import ResultFileError
from conformance.report import build_dashboard, load_coverage, load_results, merge_runs
from conformance.report.dashboard import MARKER
from spec import load_catalogue
from tests.helpers import HTML_NAME, Cli, result_document, write_result


class _Cells(HTMLParser):
    """Collects the matrix cells (``td.cell``): (clause, run, status class, visible status text)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str, str, str]] = []
        self.unexpected: set[tuple[str, str]] = set()  # (clause, run) of cells marked as unexpected passes
        self.clause = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-clause"):
            self.clause = a["data-clause"] or ""
        classes = (a.get("class") or "").split()
        if tag == "td" and "cell" in classes:
            status = next((c[2:] for c in classes if c.startswith("c-")), "")
            self._cell = [self.clause, a.get("data-run") or "", status, ""]
            if "unexpected" in classes:
                self.unexpected.add((self.clause, a.get("data-run") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append((self._cell[0], self._cell[1], self._cell[2], self._cell[3].strip()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[3] += data


def _cells(site: Path) -> _Cells:
    parser = _Cells()
    parser.feed((site / "index.html").read_text(encoding="utf-8"))
    return parser


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


@pytest.fixture
def three_runs(tmp_path: Path) -> list[Path]:
    inputs = tmp_path / "in"
    inputs.mkdir()
    return [
        write_result(inputs / "torch.json", result_document("torch", "2.9", statuses={"SEQ-INDEX": "fail"})),
        write_result(inputs / "ref.json", result_document("reference", "0.1", statuses={"TIE-GRAD-SUM": "blocked"})),
        write_result(
            inputs / "html.json",
            result_document(HTML_NAME, "1", statuses={"BLOCK-NESTING": "error"}, message="<script>x</script>"),
        ),
    ]


def test_matrix_has_a_cell_per_clause_and_run_with_the_json_status(three_runs: list[Path], tmp_path: Path) -> None:
    site = tmp_path / "site"
    merged = merge_runs(load_results(three_runs))
    build_dashboard(merged, site)
    cells = _cells(site).cells
    expected = {
        (cid, str(number), verdict.status)
        for number, run in enumerate(merged.columns, 1)
        for cid, verdict in run.verdicts.items()
    }
    observed = {(c, r, s) for c, r, s, _ in cells}
    assert observed == expected, (
        f"observed {len(observed)} cells; expected {len(expected)}; differing: {sorted(observed ^ expected)[:5]}"
    )
    wrong_text = [c for c in cells if c[3] != c[2]]
    assert not wrong_text, f"observed status words differing from the cell's status class: {wrong_text[:5]}"
    pages = {p.stem for p in (site / "clauses").glob("*.html")}
    assert pages == set(load_catalogue()), f"observed clause pages {sorted(pages ^ set(load_catalogue()))[:5]} differ"


def test_every_run_has_its_verdict_and_known_must_failures_are_named(tmp_path: Path) -> None:
    """No self-certification: the dashboard says 'conforms except' a run's known MUST failures, and lists stale entries."""
    document = result_document("fakeframe", statuses={"LAZY-LOAD-STATE": "xfail", "DEV-COUNT": "not-applicable"})
    for clause in document["clauses"]:
        if clause["id"] in ("LAZY-LOAD-STATE", "DEV-COUNT"):
            stale = clause["id"] == "DEV-COUNT"
            clause["known_failure"] = {"reason": "upstream", "link": "", "unexpected_pass": False, "stale": stale}
    runs = [
        write_result(tmp_path / "plain.json", result_document("reference", "0.1")),
        write_result(tmp_path / "known.json", document),
    ]
    site = tmp_path / "site"
    build_dashboard(merge_runs(load_results(runs)), site)
    index = (site / "index.html").read_text(encoding="utf-8")
    verdicts = index[index.index('id="verdicts"') :].split("</section>")[0]
    items = re.findall(r"<li[^>]*>(.*?)</li>", verdicts, re.S)
    known = [i for i in items if "fakeframe" in i]
    plain = [i for i in items if "reference" in i]
    assert len(items) == 2 and known and plain, f"observed verdict items {items}; expected one per run"
    assert "conforms except 1 known failure(s): LAZY-LOAD-STATE" in known[0], f"observed {known[0]!r}"
    assert "every applicable, selected MUST clause was checked and passes" in plain[0], f"observed {plain[0]!r}"
    stale = index[index.index('id="stale-entries"') :].split("</section>")[0]
    assert "1 stale known failure</h2>" in stale and "clauses/DEV-COUNT.html" in stale, f"observed {stale!r}"


def test_unexpected_passes_are_marked_in_the_matrix_and_listed(tmp_path: Path) -> None:
    """A pass that the backend's known-failure manifest lists is marked in words, not shown as a plain pass."""
    document = result_document("fakeframe")
    clause = next(c for c in document["clauses"] if c["id"] == "SEQ-INDEX")
    clause["known_failure"] = {"reason": "thought broken", "link": "", "unexpected_pass": True}
    clause["reason"] = "unexpected pass: the clause is listed as a known failure: thought broken"
    runs = [
        write_result(tmp_path / "plain.json", result_document("reference", "0.1")),
        write_result(tmp_path / "listed.json", document),
    ]
    site = tmp_path / "site"
    merged = merge_runs(load_results(runs))
    build_dashboard(merged, site)
    column = str(next(n for n, run in enumerate(merged.columns, 1) if run.backend == "fakeframe"))
    parsed = _cells(site)
    assert parsed.unexpected == {("SEQ-INDEX", column)}, (
        f"observed cells marked unexpected {sorted(parsed.unexpected)}; expected only SEQ-INDEX in run {column}"
    )
    text = next(c[3] for c in parsed.cells if c[:2] == ("SEQ-INDEX", column))
    assert "pass" in text and "unexpected" in text, (
        f"observed the cell's words {text!r}; expected 'pass' and 'unexpected'"
    )
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "1 unexpected pass</h2>" in index, "observed no '1 unexpected pass' heading on the index page"
    assert f'href="clauses/SEQ-INDEX.html#run-{column}"' in index, "observed no link from the list to the verdict"
    page = (site / "clauses" / "SEQ-INDEX.html").read_text(encoding="utf-8")
    row = page[page.index(f'id="run-{column}"') :].split("</tr>")[0]
    assert "st s-pass unexpected" in row and "thought broken" in row, (
        f"observed the clause page's verdict row {row!r}; expected a pass marked unexpected, with the manifest's reason"
    )


def test_html_in_backend_names_and_messages_is_text(three_runs: list[Path], tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_dashboard(merge_runs(load_results(three_runs)), site)
    for page in [site / "index.html", site / "runs.html", site / "clauses" / "BLOCK-NESTING.html"]:
        text = page.read_text(encoding="utf-8")
        assert "<img" not in text and "<script" not in text, f"observed a raw tag in {page.name}"
        assert "&lt;img src=x onerror=alert(1)&gt;" in text, (
            f"observed the HTML backend name not shown as text in {page.name}"
        )
    clause = (site / "clauses" / "BLOCK-NESTING.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;x&lt;/script&gt;" in clause, "observed the message's <script> not shown as text"


def test_clause_page_has_statement_rationale_chapter_failure_and_rerun(three_runs: list[Path], tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_dashboard(merge_runs(load_results(three_runs)), site)
    clause = load_catalogue()["SEQ-INDEX"]
    page = (site / "clauses" / "SEQ-INDEX.html").read_text(encoding="utf-8")
    from html import escape

    for part, what in [
        (clause.statement, "statement"),
        (clause.rationale, "rationale"),
        (clause.chapter, "chapter text"),
        ("observed 3; expected 4", "failure message"),
        ("Draw 1 (net): Net(width=3)", "shrunk example"),
        ("blockspec run --backend torch --device cpu --clause SEQ-INDEX", "rerun command"),
    ]:
        assert escape(part, quote=False)[:80] in page or escape(part)[:80] in page, (
            f"observed the clause page without its {what}"
        )


def test_environment_and_trends_pages(tmp_path: Path) -> None:
    runs = [
        write_result(tmp_path / "a.json", result_document("torch", "2.8", started="2026-01-01T00:00:00+00:00")),
        write_result(
            tmp_path / "b.json",
            result_document("torch", "2.9", started="2026-02-01T00:00:00+00:00", statuses={"SEQ-INDEX": "fail"}),
        ),
        write_result(
            tmp_path / "c.json",
            result_document("torch", "2.9", started="2026-03-01T00:00:00+00:00", statuses={"SEQ-INDEX": "pass"}),
        ),
    ]
    site = tmp_path / "site"
    merged = merge_runs(load_results(runs))
    build_dashboard(merged, site)
    assert [r.source.name for r in merged.columns] == ["a.json", "c.json"], f"observed columns {merged.columns}"
    trends = (site / "trends.html").read_text(encoding="utf-8")
    assert trends.count("SEQ-INDEX</a>") == 2, "observed trends without SEQ-INDEX's pass → fail → pass changes"
    assert "(superseded)" in trends, "observed the superseded run not marked in the trend"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Superseded:" in index and "b.json" in index, "observed no supersession note on the matrix page"
    runs_page = (site / "runs.html").read_text(encoding="utf-8")
    assert "3.11.7" in runs_page and "x86_64" in runs_page, "observed the runs page without the environment"


def test_rebuild_replaces_a_dashboard_but_not_another_directory(three_runs: list[Path], tmp_path: Path) -> None:
    site = tmp_path / "site"
    merged = merge_runs(load_results(three_runs))
    build_dashboard(merged, site)
    (site / "stale.html").write_text("old", encoding="utf-8")
    build_dashboard(merged, site)
    assert not (site / "stale.html").exists(), "observed a stale page kept; expected the site replaced whole"
    assert (site / MARKER).exists(), "observed no marker in the rebuilt site"
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("precious", encoding="utf-8")
    with pytest.raises(ResultFileError, match="refusing to replace"):
        build_dashboard(merged, other)
    assert (other / "notes.txt").read_text(encoding="utf-8") == "precious", "observed a foreign directory changed"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert not leftovers, f"observed temporary directories left behind: {leftovers}"


def _coverage_json(path: Path) -> Path:
    files = {
        "conformance/_cli.py": {
            "summary": {"covered_lines": 40, "num_statements": 50, "num_branches": 10, "covered_branches": 5}
        },
        "conformance/report/loader.py": {
            "summary": {"covered_lines": 90, "num_statements": 100, "num_branches": 20, "covered_branches": 20}
        },
        "spec/_loader.py": {
            "summary": {"covered_lines": 10, "num_statements": 10, "num_branches": 0, "covered_branches": 0}
        },
    }
    path.write_text(json.dumps({"meta": {"version": "7.17", "branch_coverage": True}, "files": files, "totals": {}}))
    return path


def test_coverage_summary_per_package_and_module(three_runs: list[Path], tmp_path: Path) -> None:
    html = tmp_path / "htmlcov"
    html.mkdir()
    (html / "index.html").write_text("<html>coverage</html>", encoding="utf-8")
    (html / "status.json").write_text(
        json.dumps({"files": {"x": {"index": {"file": "conformance/_cli.py", "url": "z_cli_py.html"}}}}),
        encoding="utf-8",
    )
    summary = load_coverage(_coverage_json(tmp_path / "coverage.json"), html)
    packages = {p.name: (p.covered_statements, p.statements, p.covered_branches, p.branches) for p in summary.packages}
    expected = {"conformance": (40, 50, 5, 10), "conformance.report": (90, 100, 20, 20), "spec": (10, 10, 0, 0)}
    assert packages == expected, f"observed packages {packages}; expected {expected}"
    assert round(summary.total.percent, 2) == round(100 * 165 / 190, 2), f"observed total {summary.total.percent}"
    site = tmp_path / "site"
    build_dashboard(merge_runs(load_results(three_runs)), site, coverage=summary, coverage_html=html)
    page = (site / "coverage.html").read_text(encoding="utf-8")
    assert 'href="coverage/z_cli_py.html"' in page, "observed no link to the module's page in coverage.py's report"
    assert (site / "coverage" / "index.html").exists(), "observed coverage.py's HTML not copied into the site"


def test_not_a_coverage_report_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"files": []}', encoding="utf-8")
    with pytest.raises(ResultFileError, match=r"not a coverage\.py JSON report"):
        load_coverage(path)


def test_dashboard_command_builds_the_site_and_reports_supersession(cli: Cli, tmp_path: Path) -> None:
    write_result(tmp_path / "old.json", result_document(started="2026-01-01T00:00:00+00:00"))
    write_result(tmp_path / "new.json", result_document(started="2026-01-02T00:00:00+00:00"))
    proc = cli(
        ["dashboard", "old.json", "new.json", "-o", "site", "--coverage", str(_coverage_json(tmp_path / "c.json"))]
    )
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    assert re.search(r"old\.json .*superseded.* new\.json", proc.stderr), (
        f"observed no supersession note on stderr{_explain(proc)}"
    )
    assert (tmp_path / "site" / "coverage.html").exists(), "observed no coverage page"
    css = (tmp_path / "site" / "style.css").read_text(encoding="utf-8")
    links = re.findall(r"(?:src|href)=\"(https?:)?//", (tmp_path / "site" / "index.html").read_text(encoding="utf-8"))
    assert not links and "url(" not in css and "@import" not in css, "observed a reference off the machine"


def test_dashboard_into_a_missing_parent_exits_2(cli: Cli, tmp_path: Path) -> None:
    write_result(tmp_path / "r.json", result_document())
    proc = cli(["dashboard", "r.json", "-o", "nodir/site"])
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "nodir" in proc.stderr, f"observed no error naming the missing directory{_explain(proc)}"
