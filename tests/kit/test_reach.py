"""The reach audit stays true (issue 21): one row per clause, the draws it names, the ranges it reports.

``conformance.kit.reach.ROWS`` is the data ``blockspec spec --reach`` prints.
A row is held to the suite: every strategy it names is called by a test
citing its clause (decorators included). A new dimension (``MORE_REACH``) is
held to its strategy by sampling it as hypothesis does for a test. And
docs/reach.md is the generator's output, so the document cannot drift.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

from conformance import strategies as hh
from conformance.kit import reach
from conformance.kit import reach_strategies as rs
from spec import load_catalogue
from tests import helpers

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "conformance" / "suite"
DRAWS = 600


def clause_sources() -> dict[str, str]:
    """The source of every suite test (its decorators included), joined per clause it cites."""
    sources: dict[str, list[str]] = {}
    for path in sorted(SUITE.glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.parse(text).body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            body = "\n".join(lines[start - 1 : node.end_lineno])
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "clause":
                    for arg in decorator.args:
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                            sources.setdefault(arg.value, []).append(body)
    return {clause: "\n".join(bodies) for clause, bodies in sources.items()}


def test_every_chapter_clause_has_exactly_one_row() -> None:
    ids = [c.id for c in load_catalogue().clauses]
    missing = sorted(set(ids) - set(reach.ROWS))
    extra = sorted(set(reach.ROWS) - set(ids))
    assert not missing, f"observed clauses without a reach row: {missing}; expected a row per chapter clause"
    assert not extra, f"observed reach rows for no chapter clause: {extra}; expected none"


def test_every_row_has_quantities_and_every_dimension_a_record() -> None:
    for clause, row in reach.ROWS.items():
        assert row.quantities, f"observed no quantity in the row of {clause}; expected at least one"
        for q in row.quantities:
            assert q.dimension or q.drawn, f"observed {clause}'s {q.name!r} with no drawn range; expected one"
            if q.dimension:
                assert q.dimension in hh.REACH or q.dimension in rs.MORE_REACH, (
                    f"observed {clause}'s {q.name!r} on dimension {q.dimension!r}; expected a REACH/MORE_REACH key"
                )


@pytest.mark.parametrize("clause", sorted(reach.ROWS))
def test_a_row_names_only_draws_its_tests_make(clause: str) -> None:
    """Every strategy a row names is called in a test that cites the clause: the table reports real draws."""
    source = clause_sources().get(clause, "")
    for name in reach.ROWS[clause].draws:
        assert re.search(rf"\b{name}\(", source), (
            f"observed no call of {name}() in the tests of {clause}; expected the strategies its reach row names"
        )


def test_the_reach_document_is_the_generators_output() -> None:
    committed = (ROOT / "docs" / "reach.md").read_text(encoding="utf-8")
    assert committed == reach.render_chapter(), (
        "observed docs/reach.md differing from `blockspec spec --reach`; expected it regenerated "
        "(blockspec spec --reach -o docs/reach.md)"
    )


def sample(strategy: st.SearchStrategy[object], draws: int = DRAWS) -> list[object]:
    """``draws`` values of ``strategy`` (default :data:`DRAWS`), as tests/helpers.py samples them."""
    return helpers.sample(strategy, draws)


def _net() -> hh.Net:
    from conformance import arch as A

    return hh.Net(A.ReLU(), 3, 3, "float32", 0)


def _half_widths() -> list[int]:
    """Every layer width of sampled half-precision MLPs (its input's and each layer's output)."""
    from conformance import arch as A

    widths: list[int] = []
    for net in sample(rs.half_mlps("float16")):
        assert isinstance(net, hh.Net), f"observed {net!r} from half_mlps; expected a Net"
        widths += [net.in_width] + [n.out_features for _, n in A.walk(net.arch) if isinstance(n, A.Linear)]
    return widths


#: How to read each MORE_REACH dimension off its strategy's draws.
MEASURES: dict[str, Callable[[], list[int]]] = {
    "input_rank": lambda: [np.asarray(x).ndim for x in sample(rs.ranked_inputs(_net()))],
    "wide_batch": lambda: [int(b) for b in sample(rs.wide_batches())],  # type: ignore[call-overload]
    "layer_width": lambda: [int(w) for w in sample(hh.widths())],  # type: ignore[call-overload]
    "fan": lambda: [int(w) for w in sample(hh.widths(64))],  # type: ignore[call-overload]
    "half_width": lambda: _half_widths(),
    "init_constant": lambda: [
        0 if v == 0 else math.frexp(v)[1] - 1  # type: ignore[arg-type]
        for v in sample(rs.special_constants("float64"))
    ],
    "init_normal": lambda: [
        0 if std == 0 else math.frexp(std)[1] - 1
        for strategy in (rs.ordinary_normal_arguments("float64"), rs.normal_arguments("float64"))
        for _, std in sample(strategy)  # type: ignore[misc]
    ],
    "conversions": lambda: [
        len(chain)  # type: ignore[arg-type]
        for start in ("float32", "float64")
        for chain in sample(rs.conversion_chains(("float32", "float64", "float16", "bfloat16"), start))
    ],
    "device_count": lambda: [
        c  # type: ignore[misc]
        for pair in sample(st.tuples(rs.device_counts(), rs.many_devices()))
        for c in pair  # type: ignore[attr-defined]
        if c is not None
    ],
    "moves": lambda: [
        len(route)  # type: ignore[arg-type]
        for route in sample(rs.device_routes("sim:0", ("cpu", "sim:0", "sim:1")))
    ],
    "half_rows": lambda: [
        int(np.prod(lead))  # type: ignore[call-overload]
        for rank in (1, 2, 3, 4)
        for lead in sample(rs.half_leading_shapes(rank))
    ],
}


@pytest.mark.parametrize("palette", [False, True], ids=["full", "palette"])
@pytest.mark.parametrize("dimension", sorted(rs.MORE_REACH))
def test_new_dimensions_reach_their_record(dimension: str, palette: bool) -> None:
    """The strategy behind each new dimension draws within its range and reaches every boundary, palette or not."""
    record = rs.MORE_REACH[dimension]
    hh.use_palette(hh.palette_for(0) if palette else None)
    try:
        values = sorted(set(MEASURES[dimension]()))
    finally:
        hh.use_palette(None)
    outside = [v for v in values if not record.low <= v <= record.high]
    assert not outside, f"observed {dimension} values {outside}; expected within [{record.low}, {record.high}]"
    for boundary in record.boundaries:
        hit = boundary in values if boundary == record.low else values[-1] >= boundary
        assert hit, (
            f"observed {dimension} draws spanning {values[0]}..{values[-1]} in {DRAWS}; "
            f"expected the boundary {boundary} {'itself' if boundary == record.low else 'or more'}"
        )


def test_every_new_dimension_is_measured() -> None:
    assert set(MEASURES) == set(rs.MORE_REACH), (
        f"observed measures {sorted(MEASURES)}; expected {sorted(rs.MORE_REACH)}"
    )


def test_rank_draws_reach_every_rank_in_few_examples() -> None:
    """Every rank comes up within the ci profile's 30 examples (the sample order of a real test, derandomized)."""
    ranks = {np.asarray(x).ndim for x in sample(rs.ranked_inputs(_net()), draws=30)}
    assert {1, 2, 3, 4} <= ranks, f"observed ranks {sorted(ranks)} in 30 draws; expected 1, 2, 3 and 4"


def test_spec_reach_prints_the_audit_and_writes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``blockspec spec --reach`` prints the audit (not the catalogue); ``-o`` writes the same text."""
    from conformance._cli import main

    assert main(["spec", "--reach"]) == 0, "observed a non-zero exit from blockspec spec --reach; expected 0"
    printed = capsys.readouterr().out
    assert printed == reach.render_chapter(), "observed spec --reach printing other than the audit; expected it"
    target = tmp_path / "reach.md"
    assert main(["spec", "--reach", "-o", str(target)]) == 0, "observed a non-zero exit writing the audit"
    assert target.read_text(encoding="utf-8") == printed, f"observed {target} differing from the printed audit"


def test_every_recorded_region_mutant_exists_for_torch_and_the_reference() -> None:
    """The document's record names mutants the kill matrix really runs, with the target they really have."""
    from conformance import _killmatrix as K

    found = {(m.module, m.name): m.target for m in K.find_mutants(K.default_modules(ROOT))}
    for record in reach.REGION_MUTANTS:
        for module in ("tests.mutants.reference_mutants", "tests.mutants.torch_mutants"):
            if module.endswith("torch_mutants") and not any(mod == module for mod, _ in found):
                continue  # torch missing here
            if module.endswith("torch_mutants") and not record.torch:
                continue  # a region only the reference reaches
            # a device mutant is judged on torch only where CUDA is: it is bound in torch_cuda_mutants
            cuda = "tests.mutants.torch_cuda_mutants"
            if module.endswith("torch_mutants") and (module, record.name) not in found and (cuda, record.name) in found:
                module = cuda
            target = found.get((module, record.name))
            assert target == record.target, (
                f"observed {module}:{record.name} with target {target!r}; expected {record.target!r} as recorded"
            )
