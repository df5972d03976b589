"""MC.1.1 Registration: the module-contract clauses of this group, over drawn inputs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules import _behaviour as B


@pytest.mark.clause("MOD-REGISTERED")
@given(data=st.data())
def test_registered(subject: Any, check: Check, data: st.DataObject) -> None:
    B.check_registered(subject, check, data)


@pytest.mark.clause("MOD-HELPERS-REGISTERED")
@settings(max_examples=3)
@given(data=st.data())
def test_helpers_registered(subject: Any, check: Check, data: st.DataObject) -> None:
    B.check_helpers_registered(subject, check, data)
