"""The fixture every suite shares: ``check``, assertions bound to the test's clause, the subject and the device.

Each suite's conftest imports it (``from conformance.run.fixtures import check``), so a framework test,
a module-contract test and an interop test all build their :class:`~conformance.kit.checks.Check` the same way.
"""

from __future__ import annotations

import pytest

from conformance.kit.checks import Check
from conformance.run.session import active_session, clause_of


@pytest.fixture
def check(request: pytest.FixtureRequest) -> Check:
    """Assertions bound to the clause the test cites, the subject under check (by name) and the run's device."""
    clause = clause_of(request.node)
    if clause is None:
        raise pytest.UsageError(f"{request.node.nodeid} has no @pytest.mark.clause(ID) marker")
    session = active_session(request.config)
    return Check(clause, session.subject.name, session.device)
