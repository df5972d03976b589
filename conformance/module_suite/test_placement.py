"""MC.1.5 Placement and precision: the module-contract clauses of this group, over drawn inputs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules import _behaviour as B


@pytest.mark.clause("MOD-DEVICE-MOVE")
@given(data=st.data())
def test_device_move(subject: Any, check: Check, data: st.DataObject) -> None:
    B.check_device_move(subject, check, data)


@pytest.mark.clause("MOD-DTYPE-MOVE")
@given(data=st.data())
def test_dtype_move(subject: Any, check: Check, data: st.DataObject) -> None:
    B.check_dtype_move(subject, check, data)
