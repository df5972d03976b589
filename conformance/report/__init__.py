"""Reports of result files: a Markdown summary for pull requests and a static HTML dashboard.

Result files are read back with :func:`load_results` (validated against
``result.schema.json`` without needing ``jsonschema``), merged with
:func:`merge_runs` (one column per backend, device and version), then
rendered::

    >>> from pathlib import Path
    >>> from conformance.report import build_dashboard, load_results, merge_runs, render_markdown
    >>> merged = merge_runs(load_results(["results/"]))  # doctest: +SKIP
    >>> print(render_markdown(merged))  # doctest: +SKIP
    >>> build_dashboard(merged, Path("site"))  # doctest: +SKIP

The dashboard needs ``jinja2`` (the ``report`` extra); the Markdown report needs nothing.
"""

from __future__ import annotations

from conformance.report.coverage_summary import CoverageSummary, load_coverage
from conformance.report.dashboard import build_dashboard
from conformance.report.loader import (
    ClauseVerdict,
    Failure,
    InvalidResultFile,
    Run,
    load_result,
    load_results,
    schema_problems,
)
from conformance.report.markdown import render_markdown
from conformance.report.merge import DuplicateRunError, Merged, Supersession, merge_runs

__all__ = [
    "ClauseVerdict",
    "CoverageSummary",
    "DuplicateRunError",
    "Failure",
    "InvalidResultFile",
    "Merged",
    "Run",
    "Supersession",
    "build_dashboard",
    "load_coverage",
    "load_result",
    "load_results",
    "merge_runs",
    "render_markdown",
    "schema_problems",
]
