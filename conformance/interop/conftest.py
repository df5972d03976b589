"""Fixtures of the interop suite: the pair under check and a clause-bound check."""

from __future__ import annotations

import pytest

from conformance.interop import Pair
from conformance.kit.checks import Check
from conformance.run.session import active_session, clause_of


@pytest.fixture(scope="session")
def pair(request: pytest.FixtureRequest) -> Pair:
    """The ordered pair under check (``--blockspec-pair A->B``)."""
    subject = active_session(request.config).subject
    assert isinstance(subject, Pair), f"observed subject {subject!r}; expected a Pair (run with --blockspec-pair)"
    return subject


@pytest.fixture
def check(request: pytest.FixtureRequest, pair: Pair) -> Check:
    """Assertions bound to the clause the test cites, naming the pair as the backend."""
    clause = clause_of(request.node)
    if clause is None:
        raise pytest.UsageError(f"{request.node.nodeid} has no @pytest.mark.clause(ID) marker")
    return Check(clause, pair.name, pair.host_device)
