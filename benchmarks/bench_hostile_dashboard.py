"""Build time of the dashboard and the Markdown report for a result file with many unknown clauses.

    python benchmarks/bench_hostile_dashboard.py --clauses 20000

A hostile (or merely far newer) result file may name thousands of clauses
this blockspec does not know; each gets its own page. The build must stay
linear in their number: this prints the time per clause at a few sizes, so
a quadratic step shows as a time per clause that grows with the size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.report import build_dashboard, load_results, merge_runs, render_markdown
from tests.helpers import result_document, write_result


def hostile(path: Path, unknown: int) -> Path:
    document = result_document()
    template = document["clauses"][0]
    for number in range(unknown):
        document["clauses"].append(
            dict(template, id=f"ZZ-UNKNOWN-{number}", section=f"4.{number % 97}.{number}", status="fail")
            | {"failure": None, "reason": f"[ZZ-UNKNOWN-{number}] observed {number}"}
        )
    return write_result(path, document)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clauses", type=int, default=20000, help="unknown clauses at the largest size")
    args = parser.parse_args()
    sizes = sorted({max(1, args.clauses // 4), max(1, args.clauses // 2), args.clauses})
    print(f"{'unknown clauses':>16} {'load s':>8} {'dashboard s':>12} {'report s':>9} {'ms/clause':>10}")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            source = hostile(Path(tmp) / "r.json", size)
            start = time.perf_counter()
            merged = merge_runs(load_results([source]))
            loaded = time.perf_counter()
            build_dashboard(merged, Path(tmp) / "site")
            built = time.perf_counter()
            render_markdown(merged)
            reported = time.perf_counter()
        per = 1000 * (built - loaded) / size
        print(f"{size:>16} {loaded - start:>8.2f} {built - loaded:>12.2f} {reported - built:>9.2f} {per:>10.3f}")


if __name__ == "__main__":
    main()
