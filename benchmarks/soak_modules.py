"""Soak the module contract: the correct-module set under many seeds must show no MUST failure.

    python benchmarks/soak_modules.py --seeds 30 [--profile fast] [--timing]

Each seed runs every clause on every correct module (tests/modules/correct.py)
with hypothesis seeded by it (not derandomized). Prints each MUST failure
with its message, and a summary line; exits 1 if any. ``--timing`` instead
times one derandomized check per module at the profile (median and slowest).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.modules import evaluate, load_subject
from tests.modules.correct import CASES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--profile", default="fast", choices=["fast", "ci", "thorough"])
    parser.add_argument("--timing", action="store_true", help="time one check per module instead of soaking")
    args = parser.parse_args(argv)
    subjects = [(case, load_subject(case.factory, case.shapes, inputs=case.inputs)) for case in CASES]
    if args.timing:
        times = []
        for case, subject in subjects:
            start = time.perf_counter()
            evaluate(subject, profile=args.profile)
            times.append(time.perf_counter() - start)
            print(f"{times[-1]:6.1f} s  {case.name}", flush=True)
        print(
            f"{len(times)} modules at profile {args.profile}: median {statistics.median(times):.1f} s, "
            f"slowest {max(times):.1f} s, total {sum(times):.0f} s"
        )
        return 0
    failures = 0
    checks = 0
    started = time.perf_counter()
    for seed in range(args.seeds):
        for case, subject in subjects:
            report = evaluate(subject, profile=args.profile, seed=seed, shrink=False)
            checks += len(report.results)
            for result in report.failing():
                failures += 1
                print(f"seed {seed} {case.name}: {result.clause} {result.status}\n{result.message}\n", flush=True)
        print(f"seed {seed}: {failures} MUST failure(s) so far, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"{args.seeds} seeds x {len(subjects)} correct modules, {checks} clause verdicts: {failures} MUST failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
