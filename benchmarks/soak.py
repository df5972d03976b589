"""Soak: the whole suite on each backend under many hypothesis seeds; count non-pass MUST verdicts.

A correct backend must get 0 over every seed: a non-zero count is a flaky
verdict (or a real bug found by a new example) and is printed with the
clause, the seed and the command that reproduces it. Not run in CI: 30 seeds
on two backends take about 15 minutes on a 2-core machine.

    python benchmarks/soak.py [--seeds 30] [--backends reference torch] [--profile ci] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FAILING = {"fail", "error", "blocked"}


def run_once(backend: str, seed: int, profile: str, where: Path) -> tuple[str, int, list[tuple[str, str, str]], float]:
    """One seeded run: (backend, seed, non-pass MUST verdicts as (clause, status, reason), wall seconds)."""
    result_file = where / f"{backend.replace(':', '_')}-{seed}.json"
    command = [sys.executable, "-m", "conformance", "run", "--backend", backend, "--profile", profile]
    command += ["--seed", str(seed), "--quiet", "--json", str(result_file)]
    clock = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - clock
    if not result_file.exists():
        return backend, seed, [("(run)", "error", completed.stderr[-500:])], wall
    data = json.loads(result_file.read_text(encoding="utf-8"))
    bad = [
        (c["id"], c["status"], c["reason"][:200])
        for c in data["clauses"]
        if c["level"] == "MUST" and c["status"] in FAILING
    ]
    return backend, seed, bad, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=30, help="how many seeds (1..N) per backend (default 30)")
    parser.add_argument("--backends", nargs="+", default=["reference", "torch"])
    parser.add_argument("--profile", default="ci", choices=["fast", "ci", "thorough"])
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    args = parser.parse_args()
    runs = [(backend, seed) for backend in args.backends for seed in range(1, args.seeds + 1)]
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="blockspec-soak-") as tmp, ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda r: run_once(r[0], r[1], args.profile, Path(tmp)), runs))
    total = 0
    print("| backend | seeds | non-pass MUST verdicts | mean wall per run |\n|---|---|---|---|")
    for backend in args.backends:
        mine = [r for r in results if r[0] == backend]
        count = sum(len(r[2]) for r in mine)
        total += count
        mean = sum(r[3] for r in mine) / max(1, len(mine))
        print(f"| {backend} | {len(mine)} | {count} | {mean:.1f} s |")
    for backend, seed, bad, _ in results:
        for clause, status, reason in bad:
            print(f"{backend} seed {seed}: {clause} {status}: {reason}")
            print(
                f"  rerun: blockspec run --backend {backend} --profile {args.profile} --seed {seed} --clause {clause}"
            )
    print(f"total non-pass MUST verdicts: {total} over {len(runs)} runs ({time.perf_counter() - clock:.0f} s)")
    return 0 if total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
