"""The module-contract suite, made from the contract table (``conformance.modules._clauses.CONTRACT``).

One test per clause, in the table's order (dependencies first), each citing its clause: it draws
through ``st.data()`` and runs the clause's check function on the subject. A clause the table gives
a number of examples draws at most that many (the profile's number, when lower). Nothing here is
written per clause, so the suite and the table cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules._clauses import CONTRACT, ContractClause


def _name_of(clause: str) -> str:
    """``MOD-GRAD-CORRECT`` -> ``test_grad_correct``."""
    return "test_" + clause.removeprefix("MOD-").lower().replace("-", "_")


def _clause_test(entry: ContractClause) -> Callable[..., None]:
    def test(subject: Any, check: Check, data: st.DataObject) -> None:
        entry.function(subject, check, data)

    test.__name__ = test.__qualname__ = _name_of(entry.id)
    test.contract = entry  # type: ignore[attr-defined]  # what tests/modules/test_engine.py checks the suite by
    test.__doc__ = f"{entry.id}: {entry.function.__module__}.{entry.function.__name__} over drawn examples."
    made: Any = given(data=st.data())(test)
    if entry.examples is not None:  # the profile's number (read at import), capped by the table's
        made = settings(max_examples=min(settings().max_examples, entry.examples))(made)
    return pytest.mark.clause(entry.id)(made)  # type: ignore[no-any-return]


for _entry in CONTRACT:
    globals()[_name_of(_entry.id)] = _clause_test(_entry)
