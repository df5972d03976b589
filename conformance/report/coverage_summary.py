"""Code coverage of the checker, read from coverage.py's JSON report (``coverage json``).

Summed per package (the directory of a module, dotted) and listed per module,
with statements and branches apart. When coverage.py's HTML report is given
too, each module links to its annotated page there (found via
``htmlcov/status.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from conformance._errors import ResultFileError
from conformance._text import replace_surrogates
from conformance.report.loader import strict_json
from spec._reading import MAX_RESULT_BYTES, RefusedFile, read_text_bounded


@dataclass
class Tally:
    """Covered and total statements and branches of a module or a package."""

    name: str
    statements: int = 0
    covered_statements: int = 0
    branches: int = 0
    covered_branches: int = 0
    html: str = ""  # the module's page in coverage.py's HTML report, relative to it

    def add(self, other: Tally) -> None:
        self.statements += other.statements
        self.covered_statements += other.covered_statements
        self.branches += other.branches
        self.covered_branches += other.covered_branches

    @property
    def percent(self) -> float:
        """coverage.py's figure: covered statements and branches over all of them."""
        total = self.statements + self.branches
        return 100.0 if total == 0 else 100.0 * (self.covered_statements + self.covered_branches) / total

    @property
    def branch_percent(self) -> float | None:
        return None if self.branches == 0 else 100.0 * self.covered_branches / self.branches


@dataclass
class CoverageSummary:
    """Totals, packages and modules of one coverage.py JSON report."""

    source: Path
    version: str
    timestamp: str
    branch: bool
    total: Tally
    packages: list[Tally] = field(default_factory=list)
    modules: dict[str, list[Tally]] = field(default_factory=dict)  # package -> its modules


def load_coverage(path: Path, html_dir: Path | None = None) -> CoverageSummary:
    """Read ``coverage json`` output; raise :class:`ResultFileError` for anything else."""
    try:
        text = read_text_bounded(path, MAX_RESULT_BYTES)
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file (make it with `coverage json -o {path}`)") from None
    except RefusedFile as exc:
        raise ResultFileError(f"{path}: {exc.problem}; expected a coverage.py JSON report") from None
    except UnicodeDecodeError as exc:
        raise ResultFileError(f"{path}: is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise ResultFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    data, _ = replace_surrogates(strict_json(path, text))
    if not (isinstance(data, dict) and isinstance(data.get("files"), dict) and isinstance(data.get("meta"), dict)):
        raise ResultFileError(f"{path}: is not a coverage.py JSON report (expected `coverage json` output)")
    pages = _html_pages(html_dir) if html_dir is not None else {}
    packages: dict[str, Tally] = {}
    modules: dict[str, list[Tally]] = {}
    total = Tally("total")
    for name, entry in sorted(data["files"].items()):
        tally = _tally(path, name, entry)
        tally.html = pages.get(name, "")
        posix = PurePosixPath(name.replace("\\", "/"))
        package = ".".join(part for part in posix.parent.parts if part != "/") or "(top level)"  # an absolute path too
        packages.setdefault(package, Tally(package)).add(tally)
        modules.setdefault(package, []).append(tally)
        total.add(tally)
    meta = data["meta"]
    return CoverageSummary(
        path,
        str(meta.get("version", "?")),
        str(meta.get("timestamp", "")),
        bool(meta.get("branch_coverage", False)),
        total,
        [packages[p] for p in sorted(packages)],
        {p: modules[p] for p in sorted(modules)},
    )


#: No real module has more statements; larger counts would overflow the percentages.
_MAX_COUNT = 2**63


def _tally(path: Path, name: str, entry: Any) -> Tally:
    summary = entry.get("summary") if isinstance(entry, dict) else None
    fields = ("num_statements", "covered_lines", "num_branches", "covered_branches")
    if not isinstance(summary, dict) or "num_statements" not in summary or "covered_lines" not in summary:
        raise ResultFileError(f"{path}: entry {name!r} has no usable summary (expected `coverage json` output)")
    counts = [summary.get(key, 0) for key in fields]
    for key, value in zip(fields, counts, strict=True):
        if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise ResultFileError(
                f"{path}: entry {name!r}: {key} must be a count (an integer from 0 to 2**63) but got {shown}"
            )
    for covered_key, total_key in (("covered_lines", "num_statements"), ("covered_branches", "num_branches")):
        covered, total = summary.get(covered_key, 0), summary.get(total_key, 0)
        if covered > total:
            raise ResultFileError(
                f"{path}: entry {name!r}: {covered_key} is {covered}, more than {total_key} ({total})"
            )
    return Tally(name, *counts)


def _html_pages(html_dir: Path) -> dict[str, str]:
    """``{source file: page}`` from coverage.py's HTML report; refuses a directory that is not one."""
    if not (html_dir / "index.html").is_file():
        raise ResultFileError(
            f"{html_dir}: is not a coverage.py HTML report (no index.html; make it with `coverage html`)"
        )
    try:
        status = json.loads(read_text_bounded(html_dir / "status.json", MAX_RESULT_BYTES))
        return {f["index"]["file"]: f["index"]["url"] for f in status["files"].values()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return {}  # an older coverage.py: the report's index is linked, modules are not
