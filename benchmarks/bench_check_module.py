"""check-module's cost: a broken one-layer module's full verdict (the CLI), and the correct modules' verdicts.

Usage (idle machine; compare two checkouts by their PYTHONPATH, in the same session)::

    PYTHONPATH=$PWD python benchmarks/bench_check_module.py --profile ci            # both measures
    PYTHONPATH=$PWD python benchmarks/bench_check_module.py --only broken --profile ci

The broken module is tests.modules.broken:HardCodedReshape (a reshape with a fixed batch: MOD-ANY-BATCH
fails on most examples, and ten clauses depend on it). The correct set is tests/modules/correct.py, each
module checked in process (conformance.modules.evaluate); the script prints the median and the slowest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def broken(profile: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "conformance", "check-module", "tests.modules.broken:HardCodedReshape",
            "--input-shape", "4,6", "--profile", profile, "--json", str(Path(tmp) / "m.json"),
        ]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), check=False)
        took = time.perf_counter() - start
    print(f"broken one-layer module (HardCodedReshape), {profile}: {took:.1f} s, exit {proc.returncode}")
    print("  command: " + " ".join(command[1:]))
    return took


def correct(profile: str) -> list[tuple[float, str]]:
    sys.path.insert(0, str(ROOT))
    from conformance.modules import evaluate, load_subject
    from tests.modules.correct import CASES

    times = []
    for case in CASES:
        start = time.perf_counter()
        evaluate(load_subject(case.factory, case.shapes, inputs=case.inputs), profile=profile)
        times.append((time.perf_counter() - start, case.name))
        print(f"  {times[-1][0]:6.1f} s  {case.name}", flush=True)
    values = [t for t, _ in times]
    slowest = max(times)
    print(f"correct modules ({len(times)}), {profile}: median {statistics.median(values):.1f} s, "
          f"slowest {slowest[0]:.1f} s ({slowest[1]})")  # fmt: skip
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--only", choices=("broken", "correct"))
    args = parser.parse_args()
    if args.only in (None, "broken"):
        broken(args.profile)
    if args.only in (None, "correct"):
        correct(args.profile)


if __name__ == "__main__":
    main()
