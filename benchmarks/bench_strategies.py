"""Hypothesis test cases per second, per strategy, and the ratio against an older version of the strategies.

Each strategy is drawn the way the suite draws it: hypothesis's own
generation (``@given``, derandomized, generate phase only, no database) with
a test body that does nothing, so the time is the drawing alone. The older
version (``git show REV:conformance/kit/strategies.py``, ``main`` by default)
is imported beside the current one in this same process, and the two are run
alternately, ``--rounds`` times each; the median of each side is kept. The
ratio ``new/old`` of cases per second (above 1: the current strategies draw
faster) means the same on a loaded machine, where a time alone does not.
Times are the process's CPU time, which other processes on the machine
disturb less than the wall clock.

Derandomized, both versions see the same choices; ``same draws`` says
whether they also gave the same values (same labels and draw order), in
which case every verdict of the suite is unchanged by the difference.
``choices`` is the mean number of choices hypothesis makes per test case (each
integer, boolean, float or element drawn): the cost of drawing that no load
changes. Each choice costs tens of microseconds of hypothesis' own work
(recording, spans, its tree of what was tried), whatever the strategy does
with it, so fewer choices for the same values is the lasting way to draw faster.

    python benchmarks/bench_strategies.py [--old main] [--examples 200] [--rounds 3] [--shapes full|palette]
    python benchmarks/bench_strategies.py --json strategies.json   # also write the rows (docs/performance.md)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance import arch as A  # noqa: E402
from conformance.kit import strategies as new_module  # noqa: E402

FLOATS = ("float32", "float64")
ALL_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
ALL_CONTAINERS = ("sequential", "named", "block", "my_sequential")
ALL_LEAVES = ("linear", "linear_maybe_bias", "relu", "centered", "my_linear")

Build = Callable[[ModuleType], st.SearchStrategy[Any]]


def _net_and_input(m: ModuleType) -> st.SearchStrategy[Any]:
    """As most suite tests draw: a net built inside the test's draw, then an input batch for it."""

    @st.composite
    def draw_both(draw: st.DrawFn) -> Any:
        net = draw(m.nets(FLOATS, containers=ALL_CONTAINERS, leaves=ALL_LEAVES))
        return net, draw(m.inputs(net))

    return draw_both()


#: What is benchmarked: a name and how to build the strategy from a strategies module.
STRATEGIES: dict[str, Build] = {
    "nets": lambda m: m.nets(FLOATS),
    "nets (all kinds, ties)": lambda m: m.nets(FLOATS, ties="any", containers=ALL_CONTAINERS, leaves=ALL_LEAVES),
    "nets + inputs, in a draw": _net_and_input,
    "tied_nets": lambda m: m.tied_nets(FLOATS, containers=ALL_CONTAINERS),
    "mlps": lambda m: m.mlps(FLOATS),
    "param_tied_nets": lambda m: m.param_tied_nets(FLOATS),
    "tied_sequences": lambda m: m.tied_sequences(FLOATS),
    "raw_arrays": lambda m: m.raw_arrays(ALL_DTYPES),
    "io_containers": lambda m: m.io_containers(("float32", "int64", "bool")),
    "widths(32, 256)": lambda m: m.widths(32, 256),
    "batch_sizes": lambda m: m.batch_sizes(),
}


def load_old(rev: str) -> ModuleType | None:
    """``conformance/kit/strategies.py`` as of git revision ``rev``, imported as a module of its own."""
    try:
        text = subprocess.run(
            ["git", "show", f"{rev}:conformance/kit/strategies.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"no old strategies at {rev!r}: {exc}", file=sys.stderr)
        return None
    where = Path(tempfile.mkdtemp(prefix="bench-strategies-")) / "old_strategies.py"
    where.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("_old_strategies", where)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_old_strategies"] = module
    spec.loader.exec_module(module)
    return module


def fingerprint(value: Any) -> str:
    """A short digest of a drawn value: arrays by dtype, shape and bytes; nets by architecture and widths."""
    digest = hashlib.sha1()

    def feed(v: Any) -> None:
        if isinstance(v, np.ndarray):
            digest.update(f"{v.dtype}{v.shape}".encode())
            digest.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, (list, tuple)):
            digest.update(f"{type(v).__name__}{len(v)}(".encode())
            for item in v:
                feed(item)
            digest.update(b")")
        elif isinstance(v, dict):
            digest.update(b"{")
            for key, item in v.items():
                feed(key)
                feed(item)
            digest.update(b"}")
        elif hasattr(v, "arch") and hasattr(v, "in_width"):  # a Net of either module
            digest.update(f"{A.describe(v.arch)}|{v.in_width}|{v.out_width}|{v.dtype}|{v.seed}".encode())
        else:
            digest.update(repr(v).encode())

    feed(value)
    return digest.hexdigest()


def draw_cases(strategy: st.SearchStrategy[Any], examples: int) -> tuple[float, int, str, float]:
    """CPU seconds to draw ``examples`` test cases of ``strategy``, the cases run, a digest of the values, and
    the mean number of choices per case."""
    seen: list[str] = []
    choices: list[int] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def case(value: Any) -> None:
        seen.append(fingerprint(value))
        choices.append(len(current_build_context().data.choices))

    clock = time.process_time()
    case()
    spent = time.process_time() - clock
    mean_choices = statistics.mean(choices) if choices else 0.0
    return spent, len(seen), hashlib.sha1("".join(seen).encode()).hexdigest(), mean_choices


def measure(name: str, build: Build, old: ModuleType | None, examples: int, rounds: int, shapes: str) -> dict[str, Any]:
    modules = {"new": new_module, **({"old": old} if old is not None else {})}
    for module in modules.values():
        module.use_palette(module.palette_for(0) if shapes == "palette" else None)
    rates: dict[str, list[float]] = {side: [] for side in modules}
    digests: dict[str, str] = {}
    cases: dict[str, int] = {}
    choices: dict[str, float] = {}
    for _ in range(rounds):
        for side, module in modules.items():  # alternately, so both meet the same load
            spent, count, digest, choices[side] = draw_cases(build(module), examples)
            rates[side].append(count / spent if spent > 0 else float("inf"))
            digests[side], cases[side] = digest, count
    row: dict[str, Any] = {
        "strategy": name,
        "cases": cases["new"],
        "new_per_s": statistics.median(rates["new"]),
        "choices": choices["new"],
    }
    if "old" in rates:
        row["old_per_s"] = statistics.median(rates["old"])
        row["old_choices"] = choices["old"]
        row["ratio"] = row["new_per_s"] / row["old_per_s"]
        row["same_draws"] = digests["old"] == digests["new"] and cases["old"] == cases["new"]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="main", help="git revision of the strategies to compare with (default main)")
    parser.add_argument("--no-old", action="store_true", help="measure the current strategies alone")
    parser.add_argument("--examples", type=int, default=200, help="test cases per strategy and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per side; the median is kept")
    parser.add_argument("--shapes", choices=["full", "palette"], default="full")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="benchmark only these strategies")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    old = None if args.no_old else load_old(args.old)
    chosen = {k: v for k, v in STRATEGIES.items() if not args.only or k in args.only}
    rows = []
    for name, build in chosen.items():
        rows.append(measure(name, build, old, args.examples, args.rounds, args.shapes))
        print(f"  {name}: done", file=sys.stderr, flush=True)
    print(f"shapes {args.shapes}, {args.examples} cases per strategy, median of {args.rounds} alternating rounds")
    print(
        f"{'strategy':26} {'cases/s':>9} {f'old ({args.old})':>12} {'new/old':>8} {'choices':>8} {'old':>6}  same draws"
    )
    for row in rows:
        if "ratio" in row:
            same = "yes" if row["same_draws"] else "no"
            print(
                f"{row['strategy']:26} {row['new_per_s']:9.0f} {row['old_per_s']:12.0f} {row['ratio']:7.2f}x "
                f"{row['choices']:8.1f} {row['old_choices']:6.1f}  {same}"
            )
        else:
            print(f"{row['strategy']:26} {row['new_per_s']:9.0f} {'-':>12} {'-':>8} {row['choices']:8.1f} {'-':>6}  -")
    if args.json:
        meta = {"old": None if old is None else args.old, "examples": args.examples, "rounds": args.rounds}
        args.json.write_text(json.dumps({**meta, "shapes": args.shapes, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
