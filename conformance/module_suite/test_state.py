"""MC.1.4 State and copies: the module-contract clauses of this group, over drawn inputs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules import _state as S


@pytest.mark.clause("MOD-STATE-ROUNDTRIP")
@given(data=st.data())
def test_state_roundtrip(subject: Any, check: Check, data: st.DataObject) -> None:
    S.check_state_roundtrip(subject, check, data)


@pytest.mark.clause("MOD-DEEPCOPY")
@given(data=st.data())
def test_deepcopy(subject: Any, check: Check, data: st.DataObject) -> None:
    S.check_deepcopy(subject, check, data)


@pytest.mark.clause("MOD-TIES-KEPT")
@settings(max_examples=3)
@given(data=st.data())
def test_ties_kept(subject: Any, check: Check, data: st.DataObject) -> None:
    S.check_ties_kept(subject, check, data)
