"""MC.1.6 Input layout and batch: the module-contract clauses of this group, over drawn inputs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules import _behaviour as B


@pytest.mark.clause("MOD-ANY-BATCH")
@given(data=st.data())
def test_any_batch(subject: Any, check: Check, data: st.DataObject) -> None:
    B.check_any_batch(subject, check, data)


@pytest.mark.clause("MOD-NONCONTIGUOUS")
@given(data=st.data())
def test_noncontiguous(subject: Any, check: Check, data: st.DataObject) -> None:
    B.check_noncontiguous(subject, check, data)


@pytest.mark.clause("MOD-BATCH-INDEPENDENT")
@given(data=st.data())
def test_batch_independent(subject: Any, check: Check, data: st.DataObject) -> None:
    B.check_batch_independent(subject, check, data)


@pytest.mark.clause("MOD-CHANNELS-LAST")
@given(data=st.data())
def test_channels_last(subject: Any, check: Check, data: st.DataObject) -> None:
    B.check_channels_last(subject, check, data)
