"""Build time and page weight of the dashboard for many result files.

    python benchmarks/bench_dashboard.py --runs 50

Makes ``--runs`` synthetic result files (every catalogue clause; 4 backends ×
3 devices over versions and dates, about 5 % of verdicts failing with a
message and a shrunk example, some superseded), then times
``blockspec dashboard`` on them (median of ``--repeat`` builds, in process)
and prints the weight of the matrix page, a clause page and the whole site.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.report import build_dashboard, load_results, merge_runs, render_markdown
from conformance.run.result import SCHEMA_VERSION
from conformance.run.status import STATUSES
from spec import load_catalogue

BACKENDS = ("torch", "reference", "flax", "tinygrad")
DEVICES = ("cpu", "cuda:0", "sim:0")
WEIGHTS = {"pass": 80, "fail": 4, "error": 1, "not-applicable": 5, "skipped": 5, "blocked": 2, "xfail": 2, "pending": 1}


def synthetic(index: int, rng: random.Random) -> dict[str, object]:
    backend = BACKENDS[index % len(BACKENDS)]
    device = DEVICES[(index // len(BACKENDS)) % len(DEVICES)]
    version = f"2.{index // 12}"
    day = 1 + index % 28
    clauses = []
    for clause in load_catalogue().values():
        status = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        failing = status in ("fail", "error")
        clauses.append(
            {
                "id": clause.id,
                "section": clause.section,
                "level": clause.level.value,
                "title": clause.title,
                "statement": clause.statement,
                "status": status,
                "reason": "" if status == "pass" else f"[{clause.id}] {backend} on {device}: observed 3; expected 4",
                "tests": [
                    {
                        "nodeid": f"conformance/suite/test_x.py::test_{clause.id}",
                        "outcome": "passed",
                        "duration_s": 0.01,
                    }
                ],
                "failure": {
                    "test": f"conformance/suite/test_x.py::test_{clause.id}",
                    "message": f"[{clause.id}] {backend} on {device}: observed 3; expected 4\n" * 3,
                    "example": [f"Draw {i} (widths): [{i}, {i + 1}, {i + 2}]" for i in range(1, 15)],
                    "reproduce": "@reproduce_failure('6.170.17', b'AEEAQQFBAEEBQQBBAAA=')",
                    "rerun": f"blockspec run --backend {backend} --device {device} --clause {clause.id}",
                }
                if failing
                else None,
            }
        )
    counts = dict.fromkeys(STATUSES, 0)
    for c in clauses:
        counts[str(c["status"])] += 1
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "blockspec", "version": "0.1.0"},
        "backend": {"name": backend, "version": version, "adapter": backend},
        "device": device,
        "profile": "ci",
        "started": f"2026-03-{day:02d}T{index % 24:02d}:00:00+00:00",
        "duration_s": 12.5,
        "environment": {"python": "3.11.7", "platform": "Linux-6.1-x86_64", "machine": "x86_64", "host": f"ci-{index}"},
        "summary": counts,
        "exit_code": 1,
        "clauses": clauses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the site here too (to look at it)")
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "results"
        inputs.mkdir()
        for i in range(args.runs):
            (inputs / f"r{i:03d}.json").write_text(json.dumps(synthetic(i, rng)), encoding="utf-8")
        input_bytes = sum(p.stat().st_size for p in inputs.iterdir())
        times, load_times = [], []
        for n in range(args.repeat):
            t0 = time.perf_counter()
            merged = merge_runs(load_results([inputs]))
            t1 = time.perf_counter()
            build_dashboard(merged, Path(tmp) / f"site{n}")
            times.append(time.perf_counter() - t0)
            load_times.append(t1 - t0)
        site = Path(tmp) / "site0"
        files = [p for p in site.rglob("*") if p.is_file()]
        t0 = time.perf_counter()
        markdown = render_markdown(merged)
        md_time = time.perf_counter() - t0
        print(
            f"result files: {args.runs} ({input_bytes / 1e6:.1f} MB), columns: {len(merged.columns)}, "
            f"superseded: {len(merged.superseded)}, trends: {len(merged.trends)}"
        )
        print(
            f"build (load + merge + render + write), median of {args.repeat}: {statistics.median(times):.2f} s "
            f"(load + validate: {statistics.median(load_times):.2f} s)"
        )
        print(f"markdown report: {md_time * 1000:.0f} ms, {len(markdown) / 1e3:.0f} kB")
        print(f"site: {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.2f} MB")
        for page in ("index.html", "style.css", "runs.html", "trends.html", "clauses/SEQ-INDEX.html"):
            data = (site / page).read_bytes()
            print(f"  {page:24} {len(data) / 1e3:7.1f} kB  ({len(gzip.compress(data)) / 1e3:5.1f} kB gzipped)")
        print(
            f"  index.html + style.css (what the matrix view loads): "
            f"{((site / 'index.html').stat().st_size + (site / 'style.css').stat().st_size) / 1e3:.1f} kB"
        )
        if args.keep:
            build_dashboard(merged, args.keep)


if __name__ == "__main__":
    main()
