"""How a module is made and switched (MC.1.5 factory kwargs, MC.1.3 modes): structural, a few module seeds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules import _construction as C


@pytest.mark.clause("MOD-FACTORY-KWARGS")
@settings(max_examples=3)
@given(data=st.data())
def test_factory_kwargs(subject: Any, check: Check, data: st.DataObject) -> None:
    C.check_factory_kwargs(subject, check, data)


@pytest.mark.clause("MOD-MODES-REACH")
@settings(max_examples=3)
@given(data=st.data())
def test_modes_reach(subject: Any, check: Check, data: st.DataObject) -> None:
    C.check_modes_reach(subject, check, data)


@pytest.mark.clause("MOD-META-INIT")
@settings(max_examples=3)
@given(data=st.data())
def test_meta_init(subject: Any, check: Check, data: st.DataObject) -> None:
    C.check_meta_init(subject, check, data)
