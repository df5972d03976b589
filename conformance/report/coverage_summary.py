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
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file (make it with `coverage json -o {path}`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"{path}: cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"{path}: is not valid JSON ({exc.msg} at line {exc.lineno})") from None
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
        package = ".".join(posix.parent.parts) or "(top level)"
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


def _tally(path: Path, name: str, entry: Any) -> Tally:
    summary = entry.get("summary") if isinstance(entry, dict) else None
    try:
        assert isinstance(summary, dict)
        return Tally(
            name,
            int(summary["num_statements"]),
            int(summary["covered_lines"]),
            int(summary.get("num_branches", 0)),
            int(summary.get("covered_branches", 0)),
        )
    except (AssertionError, KeyError, TypeError, ValueError):
        raise ResultFileError(
            f"{path}: entry {name!r} has no usable summary (expected `coverage json` output)"
        ) from None


def _html_pages(html_dir: Path) -> dict[str, str]:
    """``{source file: page}`` from coverage.py's HTML report; refuses a directory that is not one."""
    if not (html_dir / "index.html").is_file():
        raise ResultFileError(
            f"{html_dir}: is not a coverage.py HTML report (no index.html; make it with `coverage html`)"
        )
    try:
        status = json.loads((html_dir / "status.json").read_text(encoding="utf-8"))
        return {f["index"]["file"]: f["index"]["url"] for f in status["files"].values()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # an older coverage.py: the report's index is linked, modules are not
