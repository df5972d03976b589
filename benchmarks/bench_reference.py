"""Benchmark the reference framework against PyTorch (CPU) in one process.

Two workloads:

1. The chapter's MLP (Linear(20, 256) -> ReLU -> Linear(256, 10)): one
   forward + backward of ``net(X).sum()`` (gradients reset each time) at batch
   sizes 2, 256 and 4096.
2. Saving and loading a ~100 MB state dict (25 float32 tensors of 1M
   elements): ``reference.save``/``load``, ``torch.save``/``torch.load``
   (``weights_only=True``), and the ``safetensors`` NumPy API directly.

Runs of the frameworks are interleaved and the best of several repeats is
kept, so a noisy machine affects both sides alike. PyTorch and safetensors
are optional; missing ones are reported as such. Prints a Markdown table.

The MLP is also timed for the reference alone *before* PyTorch runs
anything. At batch 4096 that number is larger: each step allocates and frees
several 4 MB NumPy temporaries, and until something in the process raises
glibc's dynamic malloc thresholds (PyTorch's own allocations do), glibc
returns that memory to the kernel every step and the next step page-faults
it back in (about 2,300 faults per step). ``MALLOC_TOP_PAD_=67108864`` in
the environment removes the effect from the start.

    python benchmarks/bench_reference.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import reference
from reference import nn

try:
    import torch
except ImportError:  # pragma: no cover - optional
    torch = None  # type: ignore[assignment]

try:
    import safetensors.numpy as safetensors_numpy
except ImportError:  # pragma: no cover - optional
    safetensors_numpy = None  # type: ignore[assignment]


def best_time(fn: Callable[[], object], number: int) -> float:
    """Seconds per call: the mean over ``number`` calls (one timing block)."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def interleaved(candidates: dict[str, Callable[[], object]], number: int, repeats: int) -> dict[str, float]:
    """Best block time per candidate, alternating candidates every block.

    Each block starts with untimed warm-up calls: switching frameworks
    leaves the other's worker threads spinning for a while (OpenBLAS's and
    PyTorch's OpenMP pools), which on a small machine would otherwise be
    charged to whoever runs next."""
    best = {name: float("inf") for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            for _ in range(max(2, number // 4)):
                fn()
            best[name] = min(best[name], best_time(fn, number))
    return best


# --- MLP -----------------------------------------------------------------------


def reference_mlp_step(batch: int) -> Callable[[], object]:
    reference.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
    X = reference.rand(batch, 20)

    def step() -> object:
        net.zero_grad()
        net(X).sum().backward()
        return None

    return step


def torch_mlp_step(batch: int) -> Callable[[], object]:
    assert torch is not None
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    X = torch.rand(batch, 20)

    def step() -> object:
        net.zero_grad()
        net(X).sum().backward()
        return None

    return step


BATCHES = {2: 400, 256: 200, 4096: 20}  # batch size: calls per timing block


def bench_mlp(quick: bool) -> list[tuple[str, dict[str, float]]]:
    repeats = 3 if quick else 7
    # First the reference alone, before torch has run anything: torch's large
    # allocations raise glibc's dynamic mmap/trim thresholds for the whole
    # process, after which NumPy's 4 MB temporaries stop page-faulting. Both
    # numbers are real; the table shows them side by side.
    cold = {
        batch: interleaved({"x": reference_mlp_step(batch)}, max(number // (4 if quick else 1), 2), repeats)["x"]
        for batch, number in BATCHES.items()
    }
    rows = []
    for batch, number in BATCHES.items():
        candidates = {"reference": reference_mlp_step(batch)}
        if torch is not None:
            candidates["torch"] = torch_mlp_step(batch)
        times = interleaved(candidates, max(number // (4 if quick else 1), 2), repeats)
        times["reference before any torch op"] = cold[batch]
        rows.append((f"MLP fwd+bwd, batch {batch}", times))
    return rows


# --- save / load ------------------------------------------------------------------


def make_state(megabytes: int) -> OrderedDict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    count = max(1, megabytes // 4)
    return OrderedDict((f"layer{i}.weight", rng.standard_normal((1024, 1024), dtype=np.float32)) for i in range(count))


def bench_io(quick: bool, directory: Path) -> list[tuple[str, dict[str, float]]]:
    arrays = make_state(20 if quick else 100)
    size_mb = sum(a.nbytes for a in arrays.values()) / 2**20
    ref_state = OrderedDict((k, reference.from_numpy(v)) for k, v in arrays.items())
    saves: dict[str, Callable[[], object]] = {
        "reference": lambda: reference.save(ref_state, directory / "ref.safetensors"),
    }
    loads: dict[str, Callable[[], object]] = {
        "reference": lambda: reference.load(directory / "ref.safetensors"),
    }
    if torch is not None:
        torch_state = OrderedDict((k, torch.from_numpy(v)) for k, v in arrays.items())
        saves["torch"] = lambda: torch.save(torch_state, directory / "torch.pt")
        loads["torch"] = lambda: torch.load(directory / "torch.pt", weights_only=True)
    if safetensors_numpy is not None:
        plain = dict(arrays)
        saves["safetensors"] = lambda: safetensors_numpy.save_file(plain, str(directory / "st.safetensors"))
        loads["safetensors"] = lambda: safetensors_numpy.load_file(str(directory / "st.safetensors"))
    repeats = 2 if quick else 5
    save_times = interleaved(saves, 1, repeats)

    # The same save without the two fsyncs, to separate durability from
    # format cost (torch.save and safetensors do not fsync).
    real_fsync = os.fsync
    from reference import _serialization

    def no_fsync_save() -> None:
        _serialization.os.fsync = lambda fd: None  # type: ignore[attr-defined]
        try:
            reference.save(ref_state, directory / "ref-nofsync.safetensors")
        finally:
            _serialization.os.fsync = real_fsync  # type: ignore[attr-defined]

    save_times["reference (no fsync)"] = interleaved({"x": no_fsync_save}, 1, repeats)["x"]
    load_times = interleaved(loads, 1, repeats)
    return [(f"save {size_mb:.0f} MB state dict", save_times), (f"load {size_mb:.0f} MB state dict", load_times)]


# --- report ------------------------------------------------------------------------


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    columns: list[str] = []
    for _, times in rows:
        columns += [name for name in times if name not in columns]
    ratios = [c for c in columns if c.startswith("reference")]
    header = (
        "| workload | "
        + " | ".join(f"{c} (ms)" for c in columns)
        + " | "
        + " | ".join(f"{c} / torch" for c in ratios)
        + " |"
    )
    lines = [header, "|" + "---|" * (len(columns) + len(ratios) + 1)]
    for label, times in rows:
        cells = [f"{times[c] * 1e3:.3f}" if c in times else "n/a" for c in columns]
        cells += [f"{times[c] / times['torch']:.2f}x" if c in times and "torch" in times else "n/a" for c in ratios]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a 20 MB state dict")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    args = parser.parse_args(argv)
    if torch is not None and args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": getattr(torch, "__version__", "not installed"),
        "torch threads": torch.get_num_threads() if torch is not None else "n/a",
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    print(" · ".join(f"{k} {v}" for k, v in info.items()))
    print()
    rows = bench_mlp(args.quick)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMPDIR")) as tmp:
        rows += bench_io(args.quick, Path(tmp))
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
