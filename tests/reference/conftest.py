"""Shared setup: a known number of simulated devices and a fixed seed for
every test. (Hypothesis settings are applied per test, see
``strategies.SETTINGS``, so this directory never changes the global profile
that other test suites in the same session use.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import reference
from reference import sim


@pytest.fixture(autouse=True)
def _known_state() -> Iterator[None]:
    """Two simulated devices (whatever $BLOCKSPEC_SIM_DEVICES says) and seed 0;
    restored afterwards so tests cannot leak state into each other."""
    sim.set_device_count(2)
    reference.manual_seed(0)
    yield
    sim.set_device_count(None)
