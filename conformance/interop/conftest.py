"""Fixtures of the interop suite: the pair under check and a clause-bound check."""

from __future__ import annotations

import pytest

from conformance.interop import Pair
from conformance.run.fixtures import check  # noqa: F401  (the shared clause-bound check fixture)
from conformance.run.session import active_session


@pytest.fixture(scope="session")
def pair(request: pytest.FixtureRequest) -> Pair:
    """The ordered pair under check (``--blockspec-pair A->B``)."""
    subject = active_session(request.config).subject
    assert isinstance(subject, Pair), f"observed subject {subject!r}; expected a Pair (run with --blockspec-pair)"
    return subject
