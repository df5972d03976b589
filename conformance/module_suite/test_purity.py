"""MC.1.3 Purity and determinism: the module-contract clauses of this group, over drawn inputs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules import _behaviour as B


@pytest.mark.clause("MOD-EVAL-DETERMINISTIC")
@given(data=st.data())
def test_eval_deterministic(subject: Any, check: Check, data: st.DataObject) -> None:
    B.check_eval_deterministic(subject, check, data)


@pytest.mark.clause("MOD-INPUT-UNCHANGED")
@given(data=st.data())
def test_input_unchanged(subject: Any, check: Check, data: st.DataObject) -> None:
    B.check_input_unchanged(subject, check, data)
