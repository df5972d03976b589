"""check-module's cost: a broken one-layer module's full verdict (the CLI), and the correct modules' verdicts.

Usage (idle machine; compare two checkouts by their PYTHONPATH, in the same session)::

    PYTHONPATH=$PWD python benchmarks/bench_check_module.py --profile ci            # both measures
    PYTHONPATH=$PWD python benchmarks/bench_check_module.py --only broken --profile ci

The broken module is tests.modules.broken:HardCodedReshape (a reshape with a fixed batch: MOD-ANY-BATCH
fails on most examples, and ten clauses depend on it). The correct set is tests/modules/correct.py, each
module checked in process (conformance.modules.evaluate); the script prints the median and the slowest.

Each figure comes with a ratio against a peer measured in the same run: the command against a bare
torch process that builds the same module and runs one forward and backward (its floor: a check-module
child starts such a process too); each in-process verdict against one forward and backward of the same
module on its first example, in this process (the verdict's cost, counted in plain passes).
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


#: A bare torch process: build the broken module and run one forward and backward (the command's peer).
PEER = (
    "import torch\n"
    "from tests.modules.broken import HardCodedReshape\n"
    "y = HardCodedReshape()(torch.randn(4, 6))\n"
    "y.sum().backward()\n"
)


def broken(profile: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", PEER], cwd=ROOT, env=os.environ.copy(), check=True)
    peer = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "conformance", "check-module", "tests.modules.broken:HardCodedReshape",
            "--input-shape", "4,6", "--profile", profile, "--json", str(Path(tmp) / "m.json"),
        ]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), check=False)
        took = time.perf_counter() - start
    print(
        f"broken one-layer module (HardCodedReshape), {profile}: {took:.1f} s, exit {proc.returncode}; "
        f"{took / peer:.1f}x a bare torch process running its forward and backward ({peer:.1f} s)"
    )
    print("  command: " + " ".join(command[1:]))
    return took


def correct(profile: str) -> list[tuple[float, str]]:
    sys.path.insert(0, str(ROOT))
    from conformance.modules import evaluate, load_subject
    from tests.modules.correct import CASES

    times, ratios = [], []
    for case in CASES:
        subject = load_subject(case.factory, case.shapes, inputs=case.inputs)
        start = time.perf_counter()
        evaluate(subject, profile=profile)
        times.append((time.perf_counter() - start, case.name))
        ratios.append(times[-1][0] / forward_backward(subject))
        print(f"  {times[-1][0]:6.1f} s  {ratios[-1]:9.0f} passes  {case.name}", flush=True)
    values = [t for t, _ in times]
    slowest = max(times)
    print(f"correct modules ({len(times)}), {profile}: median {statistics.median(values):.1f} s, "
          f"slowest {slowest[0]:.1f} s ({slowest[1]}); median verdict {statistics.median(ratios):.0f}x "
          "one forward and backward of the same module")  # fmt: skip
    return times


def forward_backward(subject: object) -> float:
    """Seconds of one forward and backward of the subject's module on its first example (best of 5)."""
    import torch

    from conformance.modules._inputs import call, example_inputs, floating

    module, inputs = subject.build(), example_inputs(subject)  # type: ignore[attr-defined]
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        outputs = [t for _, t in floating(call(module, inputs)) if t.requires_grad]
        if outputs:
            torch.autograd.backward([t.sum() for t in outputs])
        best = min(best, time.perf_counter() - start)
    return best


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
