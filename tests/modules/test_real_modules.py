"""Real modules nobody here wrote keep their expected verdicts: no false alarm, and the true departures found.

Slow (a ResNet-18 and transformers models, every clause): ``python -m pytest -m slow tests/modules``.
"""

from __future__ import annotations

import importlib

import pytest

pytest.importorskip("torch")

from conformance.modules import evaluate, load_subject
from tests.modules.real import REAL, Real

pytestmark = pytest.mark.slow

FAILING = ("fail", "error")


def _needs(case: Real) -> None:
    """Skip, with the reason, when the package the factory needs does not import here."""
    if not case.needs:
        return
    try:
        importlib.import_module(case.needs)
        case.factory()
    except ImportError as exc:
        pytest.skip(f"{case.needs} does not import here ({type(exc).__name__}: {exc}); timm needs torchvision")


@pytest.mark.parametrize("case", REAL, ids=[c.name for c in REAL])
def test_a_real_module_gets_its_expected_verdict(case: Real) -> None:
    _needs(case)
    report = evaluate(load_subject(case.factory, case.shapes, inputs=case.inputs), profile="fast", shrink=False)
    failing = {r.id for r in report.results if r.status in FAILING}
    listing = "\n".join(f"  {r.id}: {r.status} {(r.message or '').splitlines()[:1]}" for r in report.results)
    assert failing == set(case.fails), (
        f"{case.name} (module, torch): observed failing clauses {sorted(failing)}; "
        f"expected {sorted(case.fails)}\n{listing}"
    )
