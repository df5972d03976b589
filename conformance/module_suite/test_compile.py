"""MC.1.3 Purity (compilation): torch.compile(module) computes what the module computes (compiled once per run)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules import _compile as P


@pytest.mark.clause("MOD-COMPILE-PARITY")
@settings(max_examples=min(settings().max_examples, P.EXAMPLES))  # the profile's, capped
@given(data=st.data())
def test_compile_parity(subject: Any, check: Check, data: st.DataObject) -> None:
    P.check_compile_parity(subject, check, data)
