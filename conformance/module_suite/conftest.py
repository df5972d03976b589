"""Fixtures of the module-contract suite: the module subject and a clause-bound check.

The run pipeline puts the subject on its session; ``pytest --pyargs
conformance.module_suite`` then runs every clause on it.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.run.fixtures import check  # noqa: F401  (the shared clause-bound check fixture)


@pytest.fixture(scope="session")
def subject(request: pytest.FixtureRequest) -> Any:
    """The module subject under test (a :class:`conformance.modules.ModuleSubject`)."""
    from conformance.run.session import active_session

    return active_session(request.config).subject  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a clause test through ``conformance.modules._runner``: a failure found fast, shrunk only when it pays.

    A clause one of whose dependencies (direct or not) already failed in this run is decided without
    shrinking: it is ``blocked`` either way and keeps its own first message.
    """
    test = pyfuncitem.obj
    inner = getattr(getattr(test, "hypothesis", None), "inner_test", None)
    options = getattr(test, "_hypothesis_internal_use_settings", None)
    if inner is None or options is None:
        return None
    from conformance.modules._runner import run_clause_test

    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    run_clause_test(inner, kwargs, options, decided=_dependency_failed(pyfuncitem))
    return True


def _dependency_failed(item: pytest.Item) -> bool:
    from conformance.run.session import active_session
    from conformance.run.status import Outcome

    marker = item.get_closest_marker("clause")
    session = active_session(item.config)
    if marker is None:
        return False
    catalogue = session.catalogue
    failed = {c for c, o in session.ledger.outcomes.values() if o.outcome in (Outcome.FAILED, Outcome.ERROR)}
    pending, seen = [str(marker.args[0])], set()
    while pending:
        clause = pending.pop()
        for dependency in catalogue[clause].depends_on if clause in catalogue else ():
            if dependency in failed:
                return True
            if dependency not in seen:
                seen.add(dependency)
                pending.append(dependency)
    return False
