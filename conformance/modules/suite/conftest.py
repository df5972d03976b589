"""Fixtures of the module-contract suite: the module subject and a clause-bound check.

The run pipeline puts the subject on its session; ``pytest --pyargs
conformance.modules.suite`` then runs every clause on it.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.kit.checks import Check


@pytest.fixture(scope="session")
def subject(request: pytest.FixtureRequest) -> Any:
    """The module subject under test (a :class:`conformance.modules.ModuleSubject`)."""
    from conformance.run.session import active_session

    return active_session(request.config).subject  # type: ignore[attr-defined]


@pytest.fixture
def check(request: pytest.FixtureRequest, subject: Any) -> Check:
    """Assertions bound to the clause the test cites, the module target and its device."""
    marker = request.node.get_closest_marker("clause")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{request.node.nodeid} has no @pytest.mark.clause(ID) marker")
    return Check(str(marker.args[0]), subject.target, subject.device)
