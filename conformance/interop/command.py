"""``blockspec interop``: one isolated run per ordered pair, all written to one interop file.

Each pair runs as ``blockspec run`` runs a backend (its own child processes, statuses, rerun
command and result), its result going to a temporary file. ``--json PATH`` then writes one file
(``#/$defs/interop`` of ``result.schema.json``): ``kind: "interop"``, the pairs asked for, and
their results, each the result file ``blockspec run --json`` would write for that pair. The file
is written once, atomically, at the end; a Ctrl-C or SIGTERM stops at the pair it interrupts and
writes what ran, marked ``incomplete``, as ``blockspec run --json`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance._errors import UsageError
from conformance._files import check_writable, run_directory, write_text_atomic
from conformance._interop import SEPARATOR, split_pair
from conformance._interrupt import Terminated, user_interrupted
from conformance._text import replace_surrogates
from conformance._version import tool_version
from conformance.report.interop import matrix_markdown
from conformance.run.result import SCHEMA_VERSION


def ordered_pairs(backends: str, pairs: list[str]) -> list[str]:
    """The pairs to check: those named with ``--pair``, else every ordered pair of ``--backends``."""
    if pairs:
        return [f"{a}{SEPARATOR}{b}" for a, b in (split_pair(p) for p in pairs)]
    names = [n.strip() for n in backends.split(",") if n.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise UsageError(f"--backends needs two or more distinct backends, comma-separated; got {backends[:80]!r}")
    return [f"{a}{SEPARATOR}{b}" for a in names for b in names if a != b]


def interop_document(
    pairs: list[str], results: list[dict[str, Any]], *, profile: str, started: str, duration_s: float, incomplete: str
) -> dict[str, Any]:
    """The interop file: the pairs asked for and each result (``#/$defs/interop`` of the result schema)."""
    codes = [r.get("exit_code", 1) for r in results]  # no pair's result earns no pass: 1
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "interop",
        "tool": {"name": "blockspec", "version": tool_version()},
        "profile": profile,
        "started": started,
        "duration_s": round(duration_s, 3),
        "pairs": pairs,
        "exit_code": 130 if incomplete else max(codes, default=1),
        "results": results,
    }
    if incomplete:
        document["incomplete"] = incomplete
    return document


def interop_command(args: argparse.Namespace) -> int:
    from conformance.interop.subject import PAIR
    from conformance.run.cache import compile_cache
    from conformance.run.isolate import run_isolated
    from conformance.run.request import RunRequest
    from conformance.run.summary import summary_lines

    pairs = ordered_pairs(args.backends, args.pair)
    path: Path | None = args.json
    if path is not None:
        check_writable(path)  # a directory, a FIFO, a missing parent: refused before any pair runs
    requests = [
        RunRequest(
            pair,
            subject=PAIR,
            profile=args.profile,
            clauses=tuple(args.clause),
            seed=args.seed,
            timeout=args.timeout,
            load_timeout=args.load_timeout,
            compile_cache=args.compile_cache,
        )
        for pair in pairs
    ]
    for request in requests:  # every request refused before any runs
        request.validate()
    started, clock = datetime.now(UTC).isoformat(timespec="seconds"), time.perf_counter()
    results: list[dict[str, Any]] = []
    incomplete, terminated = "", None
    # One compile cache for every pair (as for every -n worker of one run): ten pairs with tinygrad compile
    # the same kernels once, not ten times; made fresh for this command and removed at its end, unless
    # --compile-cache names one to keep.
    with run_directory("run") as tmp, compile_cache(args.compile_cache):
        for index, request in enumerate(requests):
            # Each pair's result goes to a file of its own first: a SIGTERM ends run_isolated after it writes it.
            own = tmp / f"pair-{index}.json"
            try:
                try:
                    result = run_isolated(RunRequest(**{**request.__dict__, "json_path": own}), quiet=args.quiet)
                finally:
                    if own.exists():
                        results.append(json.loads(own.read_text(encoding="utf-8")))
                print("\n".join(summary_lines(result)))
                if result.incomplete:
                    incomplete = f"{result.incomplete}, during {request.target}"
                    break
            except KeyboardInterrupt:  # between two pairs, or while one is summed up
                if not user_interrupted():
                    raise
                incomplete = f"interrupted by the user (Ctrl-C), during {request.target}"
                break
            except Terminated as exc:
                terminated, incomplete = exc, f"terminated by {exc.name}, during {request.target}"
                break
    if len(results) < len(pairs):
        print(f"blockspec: {incomplete}; {len(pairs) - len(results)} pair(s) not run", file=sys.stderr)
    cells = [(r["backend"]["name"], {s: n for s, n in r["summary"].items() if n}) for r in results]
    duration_s = time.perf_counter() - clock
    document = interop_document(
        pairs, results, profile=args.profile, started=started, duration_s=duration_s, incomplete=incomplete
    )
    if path is not None:
        data, _ = replace_surrogates(document)  # each result already had its own replaced and noted
        write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    if terminated is not None:
        raise terminated
    print(matrix_markdown(cells), end="")
    if path is not None:
        print(f"interop file: {path} (blockspec report {path}; blockspec dashboard {path} -o SITE)")
    code: int = document["exit_code"]
    return code
