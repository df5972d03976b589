"""Fixtures of the conformance suite: the backend under test, its device, and a clause-bound check."""

from __future__ import annotations

import pytest

from conformance._protocol import Backend
from conformance.kit.outcomes import skip
from conformance.run.fixtures import check  # noqa: F401  (the shared clause-bound check fixture)
from conformance.run.session import active_session


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> Backend:
    """The backend under test (``--blockspec-backend``)."""
    return active_session(request.config).backend


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> str:
    """The device the suite places modules and tensors on (``--blockspec-device``)."""
    return active_session(request.config).device


@pytest.fixture(scope="session")
def host(backend: Backend) -> str:
    """The host (CPU) device, as the backend names it (``cpu``, tinygrad's ``CPU``)."""
    return backend.host_device


@pytest.fixture
def accelerator(request: pytest.FixtureRequest, backend: Backend, device: str, host: str) -> str:
    """An accelerator to check device clauses on: the run's device if it is one, else the first present."""
    if device != host:
        return device
    present = backend.accelerators()
    if not present:
        skip(f"no accelerator present for {backend.name} on this machine")
    return present[0]


@pytest.fixture
def two_accelerators(request: pytest.FixtureRequest, backend: Backend, accelerator: str) -> tuple[str, str]:
    """Two distinct accelerators, the run's first."""
    others = [d for d in backend.accelerators() if d != accelerator]
    if not others:
        skip(f"a second accelerator is needed; {backend.name} has {len(others) + 1}")
    return accelerator, others[0]
