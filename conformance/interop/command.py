"""``blockspec interop``: one isolated run per ordered pair, each a result file like any run's."""

from __future__ import annotations

import argparse
from pathlib import Path

from conformance._errors import UsageError
from conformance.interop import SEPARATOR, split_pair
from conformance.interop.matrix import matrix_markdown


def ordered_pairs(backends: str, pairs: list[str]) -> list[str]:
    """The pairs to check: those named with ``--pair``, else every ordered pair of ``--backends``."""
    if pairs:
        return [f"{a}{SEPARATOR}{b}" for a, b in (split_pair(p) for p in pairs)]
    names = [n.strip() for n in backends.split(",") if n.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise UsageError(f"--backends needs two or more distinct backends, comma-separated; got {backends[:80]!r}")
    return [f"{a}{SEPARATOR}{b}" for a in names for b in names if a != b]


def result_name(pair: str) -> str:
    """The file a pair's result goes to: ``torch->flax`` -> ``torch-to-flax.json``."""
    writer, reader = split_pair(pair)
    safe = [n.replace(":", "_").replace("/", "_") for n in (writer, reader)]
    return f"{safe[0]}-to-{safe[1]}.json"


def interop_command(args: argparse.Namespace) -> int:
    from conformance.run.isolate import run_isolated
    from conformance.run.request import RunRequest
    from conformance.run.summary import summary_lines

    pairs = ordered_pairs(args.backends, args.pair)
    directory: Path | None = args.json
    if directory is not None:
        if directory.exists() and not directory.is_dir():
            raise UsageError(f"--json {directory} exists and is not a directory (one result file per pair goes there)")
        directory.mkdir(parents=True, exist_ok=True)
    requests = [
        RunRequest(
            pair,
            kind="interop",
            profile=args.profile,
            clauses=tuple(args.clause),
            json_path=None if directory is None else directory / result_name(pair),
            seed=args.seed,
            timeout=args.timeout,
        )
        for pair in pairs
    ]
    for request in requests:  # every request refused before any runs
        request.validate()
    codes, cells = [], []
    for request in requests:
        result = run_isolated(request, quiet=args.quiet)
        print("\n".join(summary_lines(result)))
        codes.append(result.exit_code)
        cells.append((request.target, {k: v for k, v in result.counts().items() if v}))
    print(matrix_markdown(cells), end="")
    if directory is not None:
        print(f"result files: {directory} (blockspec report {directory}; blockspec dashboard {directory})")
    return max(codes)
