"""The blockspec pytest plugin (registered through the ``pytest11`` entry point).

Light on purpose: importing it loads no framework, no NumPy and no
hypothesis. It adds the ``--blockspec-*`` options and the ``clause`` marker;
only when ``--blockspec-backend`` is given does it load the backend and
collect a verdict per clause::

    pytest --pyargs conformance.suite --blockspec-backend torch --blockspec-json r.json
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conformance._session import BlockspecSession

PROFILE_CHOICES = ("fast", "ci", "thorough")
SESSION_KEY = pytest.StashKey["BlockspecSession"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("blockspec", "blockspec conformance checking")
    group.addoption("--blockspec-backend", metavar="NAME", help="backend to check: a name or package.module:attr")
    group.addoption(
        "--blockspec-device", metavar="DEV", default="cpu", help="device to run the suite on (default: cpu)"
    )
    group.addoption("--blockspec-json", metavar="PATH", help="write the per-clause result file here")
    group.addoption(
        "--blockspec-clause", metavar="ID", action="append", default=[], help="check only this clause (repeatable)"
    )
    group.addoption(
        "--blockspec-profile", choices=PROFILE_CHOICES, default="ci", help="hypothesis profile (default: ci)"
    )
    group.addoption(
        "--blockspec-seed",
        metavar="N",
        type=int,
        help="draw examples at random from this seed instead of the profile's fixed sequence (soak runs; "
        "pass --hypothesis-seed N too)",
    )
    group.addoption(
        "--blockspec-known-failures",
        metavar="PATH",
        help="TOML manifest of the backend's known failures: listed clauses that fail are xfail",
    )
    group.addoption(
        "--blockspec-journal",
        metavar="PATH",
        help="append the run's events as JSON lines here (used by `blockspec run` to survive crashes and hangs)",
    )
    group.addoption(
        "--blockspec-no-shrink",
        action="store_true",
        help="report the first failing example without shrinking it (fast verdicts)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clause(id): the spec clause a conformance test checks")
    if not config.getoption("blockspec_backend"):
        return
    from conformance._session import BlockspecSession
    from spec import BlockspecError

    try:
        session = BlockspecSession.from_config(config)
    except BlockspecError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "blockspec-session")
    journal = config.getoption("blockspec_journal")
    if journal:
        from pathlib import Path

        from conformance._isolate import Journal

        config.pluginmanager.register(Journal(Path(journal), config), "blockspec-journal")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a backend, a suite that needs one is one usage error, not an error per test."""
    if SESSION_KEY in config.stash:
        return
    if any("backend" in getattr(item, "fixturenames", ()) for item in items):
        raise pytest.UsageError(_NO_BACKEND)


_NO_BACKEND = (
    "the blockspec conformance suite needs a backend: pass --blockspec-backend NAME "
    "(e.g. torch or reference), or run `blockspec run --backend NAME`"
)


def active_session(config: pytest.Config) -> BlockspecSession:
    """The running blockspec session, or a clear error when none is configured."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        raise pytest.UsageError(_NO_BACKEND)
    return session
