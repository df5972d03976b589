"""A static HTML dashboard of merged result files: no server, no network, no script.

Pages: ``index.html`` (the clause × run matrix, grouped by chapter section,
with MUST/SHOULD pass rates per column), ``clauses/<ID>.html`` (statement,
rationale, chapter text, verdicts, failure details, rerun commands),
``runs.html`` (the environment of each run), ``trends.html`` (a backend and
device over versions and dates), for the pairs of an interop file ``interop.html``
(a writer × reader matrix per INTEROP clause) and, when given, ``coverage.html`` with
coverage.py's own HTML report copied under ``coverage/``. Every status shows
as a word and a symbol, never as colour alone; every text from a result file
is escaped by Jinja's autoescape.

The site is written to a temporary directory next to the target and renamed
into place, so a failed build leaves the old site (or nothing) behind.

>>> from conformance.report import build_dashboard, load_results, merge_runs
>>> build_dashboard(merge_runs(load_results(["results/"])), Path("site"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance._errors import ResultFileError, UsageError
from conformance._text import replace_surrogates
from conformance.report.coverage_summary import CoverageSummary
from conformance.report.interop import clause_matrices
from conformance.report.loader import ClauseVerdict, Run
from conformance.report.merge import Merged, number_key
from conformance.run.status import STATUSES
from conformance.run.summary import verdict_sentence
from spec import ALL, SECTIONS, Catalogue, Clause, load_catalogue

#: The file that marks a directory as a dashboard this command may replace.
MARKER = ".blockspec-dashboard"
TEMPLATES = Path(__file__).parent / "templates"

#: Per status: the symbol shown next to its word, and what it means.
STATUS_INFO: dict[str, tuple[str, str]] = {
    "pass": ("✓", "the clause's tests passed"),
    "fail": ("✗", "a test found a counterexample"),
    "error": ("‼", "the backend or the harness crashed"),
    "not-applicable": ("∅", "the backend does not declare a capability the clause needs"),
    "skipped": ("↷", "not checked here (no accelerator, not selected)"),
    "blocked": ("⊘", "a clause it depends on does not pass"),
    "xfail": ("≈", "a declared known failure"),
    "pending": ("…", "no test checks this clause yet"),
    "absent": ("—", "this result file has no verdict for the clause"),
}

#: The mark on a pass whose clause the backend's known-failure manifest lists, and what it means.
UNEXPECTED_PASS: tuple[str, str] = ("!", "unexpected pass: listed as a known failure, yet passing (remove the entry)")


@dataclass(frozen=True)
class Cell:
    """One run's verdict of one clause, as the matrix shows it."""

    run: int  # 1-based column number
    status: str
    reason: str
    href: str
    unexpected_pass: bool = False


@dataclass(frozen=True)
class Row:
    id: str
    section: str
    level: str
    title: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Group:
    section: str
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Rate:
    passed: int
    applicable: int

    @property
    def percent(self) -> float | None:
        return None if self.applicable == 0 else 100.0 * self.passed / self.applicable

    @property
    def text(self) -> str:
        pct = self.percent
        return "no applicable clause" if pct is None else f"{pct:.0f}% ({self.passed}/{self.applicable})"

    @property
    def grade(self) -> str:
        pct = self.percent
        return "none" if pct is None else "full" if pct == 100 else "part" if pct >= 80 else "low"


def build_dashboard(
    merged: Merged,
    out: Path,
    *,
    coverage: CoverageSummary | None = None,
    coverage_html: Path | None = None,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> list[Path]:
    """Write the site to ``out`` (replacing a dashboard there) and return the pages written.

    Refuses (:class:`UsageError`) to replace a non-empty directory that is not
    a dashboard, and to write into a missing parent directory.
    """
    out = Path(os.path.abspath(out))  # `-o .` has a name and a parent, like any other directory
    _check_target(out)
    env = _environment()
    catalogue = load_catalogue(subject=ALL) if catalogue is None else catalogue
    now = datetime.now(UTC) if now is None else now
    site = _Site(merged, catalogue, coverage, coverage_html is not None, now)
    _remove_stale(out)
    try:
        tmp = _new_directory(out, "tmp")
    except OSError as exc:
        raise ResultFileError(f"cannot write {out}: {exc.strerror or exc}") from exc
    try:
        if coverage_html is not None:
            site.left_out = _copy_inside(coverage_html, tmp / "coverage")
        written = site.render(env, tmp)
        (tmp / MARKER).write_text("written by `blockspec dashboard`; the next build replaces this directory\n")
        _swap_into_place(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ResultFileError(f"cannot write {out}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / page.relative_to(tmp) for page in written]


def _check_target(out: Path) -> None:
    parent = out.parent
    if not parent.is_dir():
        raise ResultFileError(f"cannot write {out}: directory {parent} does not exist (create it first)")
    if out.exists() and not out.is_dir():
        raise ResultFileError(f"cannot write the dashboard to {out}: it is a file, expected a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ResultFileError(
            f"refusing to replace {out}: it is a non-empty directory that no `blockspec dashboard` wrote "
            "(choose an empty or new directory)"
        )


def _new_directory(out: Path, kind: str) -> Path:
    """A new ``.<name>.<random>.<kind>`` beside ``out``, with the mode the umask gives (a site is for reading)."""
    for _ in range(100):
        path = out.parent / f".{out.name}.{secrets.token_hex(4)}.{kind}"
        try:
            path.mkdir(0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {out}")


def _remove_stale(out: Path) -> None:
    """Remove what a killed build left beside ``out``: its ``.<name>.*.tmp`` and ``.<name>.*.old`` directories.

    Only directories named as this module (or an older blockspec, through
    ``mkdtemp``) names them; two builds into one directory at once are not
    supported, and the later one wins.
    """
    stale = re.compile(re.escape(f".{out.name}.") + r"[A-Za-z0-9_]{8}\.(tmp|old)")
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return
    for entry in entries:
        if stale.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the new site over ``out``; the old one is removed, or put back if the rename fails."""
    if not out.exists():
        os.replace(tmp, out)
        return
    if _holds_cwd(out):  # renaming it would leave the caller's shell in a deleted directory
        _swap_contents(tmp, out)
        return
    old = _new_directory(out, "old")
    try:
        os.replace(out, old / "site")
        try:
            os.replace(tmp, out)
        except OSError:
            os.replace(old / "site", out)  # put the old site back
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _holds_cwd(out: Path) -> bool:
    try:
        return Path.cwd().resolve().is_relative_to(out.resolve())
    except OSError:
        return False


def _swap_contents(tmp: Path, out: Path) -> None:
    """Replace what ``out`` holds by what ``tmp`` holds, entry by entry (``out`` itself stays)."""
    old = _new_directory(out, "old")
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        for entry in list(out.iterdir()):
            os.replace(entry, old / entry.name)
            moved_old.append(entry.name)
        for entry in list(tmp.iterdir()):
            os.replace(entry, out / entry.name)
            moved_new.append(entry.name)
    except OSError:
        for name in moved_new:
            _remove(out / name)
        for name in moved_old:
            os.replace(old / name, out / name)  # put the old site back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
    tmp.rmdir()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _copy_inside(source: Path, target: Path) -> list[str]:
    """Copy the directory ``source`` to ``target``, leaving out what a symlink finds outside ``source``.

    coverage.py's HTML report holds regular files only; a symlink (to
    ``~/.ssh``, ``/etc/passwd``, ``/dev/zero``), a symlinked directory or a
    FIFO in it is not published. Returns what was left out, relative to
    ``source``.
    """
    root = source.resolve()
    left_out: list[str] = []

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set()
        for name in names:
            path = Path(directory) / name
            try:
                resolved = path.resolve(strict=True)
                # A linked directory is left out too: one pointing up the tree would be copied forever.
                regular = resolved.is_file() or (resolved.is_dir() and not path.is_symlink())
            except (OSError, RuntimeError):  # dangling, or a symlink loop
                resolved, regular = path, False
            if not regular or not resolved.is_relative_to(root):
                skipped.add(name)
                left_out.append(str(path.relative_to(source)))
        return skipped

    shutil.copytree(source, target, ignore=ignore)
    return sorted(left_out)


def _environment() -> Any:
    try:
        import jinja2
    except ImportError:
        raise UsageError(
            "the dashboard needs jinja2: pip install 'blockspec[report]' (or pip install jinja2)"
        ) from None
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["STATUS_INFO"] = STATUS_INFO
    env.globals["UNEXPECTED_PASS"] = UNEXPECTED_PASS
    env.globals["STATUSES"] = STATUSES
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.0f}%"
    return env


class _Site:
    """The view of merged runs that the templates read."""

    def __init__(
        self, merged: Merged, catalogue: Catalogue, coverage: CoverageSummary | None, coverage_html: bool, now: datetime
    ) -> None:
        self.merged, self.catalogue, self.coverage, self.coverage_html = merged, catalogue, coverage, coverage_html
        self.columns = merged.columns
        self.generated = now.isoformat(timespec="seconds")
        self.clause_ids = self._clause_ids()
        # Built once: a page per clause must not scan every clause (20,000 unknown ones built in 73 s).
        self.positions = {cid: number for number, cid in enumerate(self.clause_ids)}
        self.known = frozenset(self.clause_ids)
        self.left_out: list[str] = []  # entries of coverage.py's HTML report not copied (symlinks out of it)
        self.matrices = clause_matrices(self.columns)  # one writer × reader matrix per clause of the pairs

    def _clause_ids(self) -> list[str]:
        """Every clause of any run: the catalogue's order first, then unknown ones by section and id."""
        seen = {cid for run in self.columns for cid in run.verdicts}
        known = [cid for cid in self.catalogue if cid in seen]
        unknown = sorted(seen - set(known), key=lambda cid: (self._first(cid).section, cid))
        return known + unknown

    def _first(self, clause_id: str) -> ClauseVerdict:
        return next(run.verdicts[clause_id] for run in self.columns if clause_id in run.verdicts)

    def _meta(self, clause_id: str) -> tuple[str, str, str]:
        clause = self.catalogue.get(clause_id)
        if clause is not None:
            return clause.section, clause.level.value, clause.title
        first = self._first(clause_id)
        return first.section, first.level, first.title or first.statement[:80]

    def groups(self, root: str) -> list[Group]:
        by_section: dict[str, list[Row]] = {}
        for cid in self.clause_ids:
            section, level, title = self._meta(cid)
            cells = []
            for number, run in enumerate(self.columns, 1):
                verdict = run.verdicts.get(cid)
                status = "absent" if verdict is None else verdict.status
                reason = "" if verdict is None else verdict.reason
                unexpected = verdict is not None and verdict.unexpected_pass
                href = f"{root}clauses/{cid}.html#run-{number}"
                cells.append(Cell(number, status, reason, href, unexpected))
            chapter_section = ".".join(section.split(".")[:2])
            by_section.setdefault(chapter_section, []).append(Row(cid, section, level, title, tuple(cells)))
        return [
            Group(s, SECTIONS.get(s, ""), tuple(rows))
            for s, rows in sorted(by_section.items(), key=lambda kv: _section_key(kv[0]))
        ]

    def rates(self, level: str) -> list[Rate]:
        return [Rate(*run.pass_rate(level)) for run in self.columns]

    def common(self, root: str, page: str) -> dict[str, Any]:
        return {
            "root": root,
            "page": page,
            "columns": self.columns,
            "generated": self.generated,
            "notes": [
                *(n for run in self.merged.columns for n in run.notes),
                *(s.message for s in self.merged.superseded),
            ],
            "has_trends": bool(self.merged.trends),
            "has_interop": bool(self.matrices),
            "coverage": self.coverage,
        }

    def render(self, env: Any, out: Path) -> list[Path]:
        written: list[Path] = []

        def write(name: str, template: str, **context: Any) -> None:
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            page = env.get_template(template).render(**context)
            # The loader replaced surrogates in the files' text; a file *name* that is not UTF-8 remains.
            path.write_text(replace_surrogates(page)[0], encoding="utf-8")
            written.append(path)

        shutil.copyfile(TEMPLATES / "style.css", out / "style.css")
        levels = {lv for run in self.columns for lv in run.level_counts()}
        write(
            "index.html",
            "index.html",
            **self.common("", "index"),
            groups=self.groups(""),
            rates=[(lv, self.rates(lv)) for lv in ("MUST", "SHOULD") if lv in levels],
            clause_count=len(self.clause_ids),
            unexpected=self._unexpected_passes(),
            stale=self._stale_entries(),
            verdicts=[verdict_sentence(run.verdicts.values()) for run in self.columns],
        )
        for cid in self.clause_ids:
            write(f"clauses/{cid}.html", "clause.html", **self.common("../", "clause"), **self._clause_page(cid))
        write("runs.html", "runs.html", **self.common("", "runs"), superseded=self.merged.superseded)
        write("trends.html", "trends.html", **self.common("", "trends"), trends=self._trends())
        if self.matrices:
            pairs = sum(run.pair is not None for run in self.columns)
            write("interop.html", "interop.html", **self.common("", "interop"), matrices=self.matrices, pairs=pairs)
        if self.coverage is not None:
            write(
                "coverage.html",
                "coverage.html",
                **self.common("", "coverage"),
                html=self.coverage_html,
                left_out=self.left_out,
            )
        return written

    def _unexpected_passes(self) -> list[tuple[int, Run, ClauseVerdict]]:
        """(column, run, verdict) of every pass the run's known-failure manifest did not expect."""
        return [
            (number, run, verdict)
            for number, run in enumerate(self.columns, 1)
            for cid in self.clause_ids
            if (verdict := run.verdicts.get(cid)) is not None and verdict.unexpected_pass
        ]

    def _stale_entries(self) -> list[tuple[int, Run, ClauseVerdict]]:
        """(column, run, verdict) of every known-failure entry whose clause is not applicable to the run."""
        return [
            (number, run, verdict)
            for number, run in enumerate(self.columns, 1)
            for cid in self.clause_ids
            if (verdict := run.verdicts.get(cid)) is not None and verdict.stale_entry
        ]

    def _clause_page(self, clause_id: str) -> dict[str, Any]:
        clause: Clause | None = self.catalogue.get(clause_id)
        first = self._first(clause_id)
        section, level, title = self._meta(clause_id)
        verdicts = [(number, run, run.verdicts.get(clause_id)) for number, run in enumerate(self.columns, 1)]
        position = self.positions[clause_id]
        return {
            "id": clause_id,
            "clause": clause,
            "section": section,
            "section_title": SECTIONS.get(section, ""),
            "level": level,
            "title": title,
            "statement": clause.statement if clause is not None else first.statement,
            "verdicts": verdicts,
            "failures": [(n, r, v) for n, r, v in verdicts if v is not None and v.failure is not None],
            "previous": self.clause_ids[position - 1] if position > 0 else None,
            "next": self.clause_ids[position + 1] if position + 1 < len(self.clause_ids) else None,
            "known": self.known,
        }

    def _trends(self) -> list[dict[str, Any]]:
        winners = {id(run) for run in self.columns}
        out = []
        for (backend, device), runs in self.merged.trends.items():
            points = []
            previous: Run | None = None
            for run in runs:
                changes = [] if previous is None else list(_changes(previous, run))
                points.append(
                    {"run": run, "rate": Rate(*run.pass_rate("MUST")), "counts": run.counts(), "changes": changes}
                    | {"superseded": id(run) not in winners}
                )
                previous = run
            out.append({"backend": backend, "device": device, "points": points, "spark": _sparkline(points)})
        return out


def _changes(before: Run, after: Run) -> Iterable[tuple[str, str, str]]:
    for cid in dict.fromkeys([*before.verdicts, *after.verdicts]):
        old = before.verdicts.get(cid)
        new = after.verdicts.get(cid)
        old_status = "absent" if old is None else old.status
        new_status = "absent" if new is None else new.status
        if old_status != new_status:
            yield cid, old_status, new_status


def _sparkline(points: list[dict[str, Any]]) -> str:
    """SVG polyline coordinates of the MUST pass rate, 0-100 %, over a 200 × 40 box."""
    rates = [p["rate"].percent for p in points]
    if len(rates) < 2:
        return ""
    step = 200 / (len(rates) - 1)
    return " ".join(f"{i * step:.1f},{40 - 0.38 * (r or 0) - 1:.1f}" for i, r in enumerate(rates))


__all__ = ["MARKER", "STATUS_INFO", "UNEXPECTED_PASS", "build_dashboard"]


def _section_key(section: str) -> list[tuple[int, int, str]]:
    """Sort ``4.10`` after ``4.9`` and a lettered section (``MC.1``) after the numbered ones."""
    return [number_key(p) for p in section.split(".")]
