"""MC.1.2 Gradients: the module-contract clauses of this group, over drawn inputs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules import _gradients as G


@pytest.mark.clause("MOD-GRAD-REACHES")
@given(data=st.data())
def test_grad_reaches(subject: Any, check: Check, data: st.DataObject) -> None:
    G.check_grad_reaches(subject, check, data)


@pytest.mark.clause("MOD-GRAD-CORRECT")
@settings(max_examples=min(settings().max_examples, G.EXAMPLES))  # the profile's (read at import), capped
@given(data=st.data())
def test_grad_correct(subject: Any, check: Check, data: st.DataObject) -> None:
    G.check_grad_correct(subject, check, data)


@pytest.mark.clause("MOD-GRADGRAD")
@settings(max_examples=min(settings().max_examples, G.GRADGRAD_EXAMPLES))  # the profile's, capped
@given(data=st.data())
def test_gradgrad(subject: Any, check: Check, data: st.DataObject) -> None:
    G.check_gradgrad(subject, check, data)
