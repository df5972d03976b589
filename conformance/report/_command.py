"""``blockspec report`` and ``blockspec dashboard``: read, merge, render; bad input is exit status 2."""

from __future__ import annotations

import argparse
import sys

from conformance._errors import UsageError
from conformance._text import replace_surrogates
from conformance.report.loader import load_results
from conformance.report.merge import Merged, merge_runs


def _merged(args: argparse.Namespace) -> Merged:
    runs = load_results(args.results)
    for run in runs:
        for text in run.notes:
            print(f"blockspec: note: {text}", file=sys.stderr)
    merged = merge_runs(runs)
    for note in merged.superseded:
        print(f"blockspec: note: {note.message}", file=sys.stderr)
    return merged


def report_command(args: argparse.Namespace) -> int:
    from conformance.report.markdown import DEFAULT_MAX_CHARS, MIN_MAX_CHARS, render_markdown

    max_chars = DEFAULT_MAX_CHARS if args.max_chars is None else args.max_chars or None
    if max_chars is not None and max_chars < MIN_MAX_CHARS:
        raise UsageError(f"--max-chars must be 0 (never shorten) or at least {MIN_MAX_CHARS}, got {args.max_chars}")
    # A file name that is not UTF-8 reaches the text as lone surrogates; no output can hold them.
    text = replace_surrogates(render_markdown(_merged(args), max_chars))[0]
    if args.output is None:
        sys.stdout.write(text)
        return 0
    from conformance._files import write_text_atomic

    write_text_atomic(args.output, text)
    print(f"report: {args.output}", file=sys.stderr)
    return 0


def dashboard_command(args: argparse.Namespace) -> int:
    from conformance.report.coverage_summary import load_coverage
    from conformance.report.dashboard import build_dashboard

    if args.coverage_html is not None and args.coverage is None:
        raise UsageError("--coverage-html needs --coverage too (the JSON report gives the figures)")
    if args.coverage_html is not None and not args.coverage_html.is_dir():
        raise UsageError(f"--coverage-html {args.coverage_html}: no such directory (make it with `coverage html`)")
    merged = _merged(args)
    coverage = None if args.coverage is None else load_coverage(args.coverage, args.coverage_html)
    pages = build_dashboard(merged, args.output, coverage=coverage, coverage_html=args.coverage_html)
    print(f"dashboard: {args.output / 'index.html'} ({len(pages)} pages, {len(merged.columns)} runs)")
    return 0
