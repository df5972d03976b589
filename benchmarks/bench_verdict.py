"""How long a verdict takes per backend: wall time, hypothesis test cases, and seconds per 1000 cases.

Each backend's conformance run goes in a child process of this one, one after
the other (so they share the machine alike), with the same profile. The
child counts the test cases hypothesis runs (each call of its internal
``execute_once``, wrapped for the count; hypothesis's own observability
would count them too, but quadruples the reference's time).
Backends whose framework is not installed are listed as such.

    python benchmarks/bench_verdict.py [--profile ci] [--backends reference torch flax keras tinygrad] [-n N]
    python benchmarks/bench_verdict.py --profile thorough --backends reference flax --speedup 2

Ratios are against the first backend listed (the reference by default): a
ratio, unlike a time, means the same on a loaded machine. ``--speedup N``
instead runs each backend isolated with ``-n 1`` and then ``-n N`` and
prints how much faster the second is.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Runs in the child: count hypothesis's test cases, then run blockspec as the command line would.
_CHILD = """
import json, sys
from hypothesis import core
cases = [0]
execute_once = core.StateForActualGivenExecution.execute_once
def counted(self, *args, **kwargs):
    cases[0] += 1
    return execute_once(self, *args, **kwargs)
core.StateForActualGivenExecution.execute_once = counted
from conformance._cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    json.dump({"cases": cases[0], "exit": code}, handle)
"""


def run_backend(backend: str, profile: str, workers: int, where: Path, *, isolated: bool = False) -> dict[str, object]:
    counts, result = where / f"{backend}-{workers}-counts.json", where / f"{backend}-{workers}.json"
    # In process: the count comes from the process that runs the tests. -n needs isolated workers, uncounted.
    mode = ["--in-process"] if workers == 1 and not isolated else ["-n", str(workers)]
    args = ["run", "--backend", backend, "--profile", profile, "--quiet", "--json", str(result), *mode]
    clock = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(counts), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - clock
    if not result.exists():
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        return {"backend": backend, "wall": wall, "problem": tail[0][:120]}
    data = json.loads(result.read_text(encoding="utf-8"))
    cases = json.loads(counts.read_text(encoding="utf-8"))["cases"] if counts.exists() else 0
    return {"backend": backend, "wall": wall, "cases": cases, "summary": data["summary"], "exit": data["exit_code"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci", choices=["fast", "ci", "thorough"])
    parser.add_argument("--backends", nargs="+", default=["reference", "torch", "flax", "keras", "tinygrad"])
    parser.add_argument("-n", "--workers", type=int, default=1, help="test processes per run (pytest-xdist)")
    parser.add_argument("--speedup", type=int, metavar="N", help="time -n 1 against -n N (both isolated) per backend")
    args = parser.parse_args(argv)
    if args.speedup:
        return speedup(args.backends, args.profile, args.speedup)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-verdict-") as tmp:
        for backend in args.backends:
            row = run_backend(backend, args.profile, args.workers, Path(tmp))
            rows.append(row)
            print(f"  {backend}: {row['wall']:.1f} s", file=sys.stderr, flush=True)
    base = rows[0]["wall"] if rows and "problem" not in rows[0] else None
    print(f"profile {args.profile}, -n {args.workers}")
    print(f"{'backend':10} {'wall s':>8} {'ratio':>7} {'cases':>7} {'s/1000 cases':>13}  verdicts")
    for row in rows:
        wall = float(row["wall"])  # type: ignore[arg-type]
        ratio = f"{wall / base:.2f}x" if isinstance(base, float) else "-"
        if "problem" in row:
            print(f"{row['backend']:10} {wall:8.1f} {ratio:>7} {'-':>7} {'-':>13}  not run: {row['problem']}")
            continue
        cases = int(row["cases"])  # type: ignore[call-overload]
        per = f"{1000 * wall / cases:.1f}" if cases else "-"
        summary = ", ".join(f"{n} {s}" for s, n in row["summary"].items() if n)  # type: ignore[attr-defined]
        print(f"{row['backend']:10} {wall:8.1f} {ratio:>7} {cases:7d} {per:>13}  {summary}")
    return 0


def speedup(backends: list[str], profile: str, workers: int) -> int:
    """Each backend isolated at ``-n 1`` and at ``-n workers``, one after the other: walls and their ratio."""
    print(f"profile {profile}: -n 1 against -n {workers}, both isolated")
    print(f"{'backend':10} {'-n 1 s':>8} {f'-n {workers} s':>8} {'speed-up':>9}  verdicts")
    with tempfile.TemporaryDirectory(prefix="bench-verdict-") as tmp:
        for backend in backends:
            one = run_backend(backend, profile, 1, Path(tmp), isolated=True)
            many = run_backend(backend, profile, workers, Path(tmp))
            if "problem" in one or "problem" in many:
                print(f"{backend:10} not run: {one.get('problem') or many.get('problem')}")
                continue
            walls = float(one["wall"]), float(many["wall"])  # type: ignore[arg-type]
            same = "same" if one["summary"] == many["summary"] else f"DIFFER: {one['summary']} vs {many['summary']}"
            print(f"{backend:10} {walls[0]:8.1f} {walls[1]:8.1f} {walls[0] / walls[1]:8.2f}x  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
