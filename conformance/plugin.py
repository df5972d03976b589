"""The blockspec pytest plugin (registered through the ``pytest11`` entry point).

A leaf: nothing in blockspec imports it. Light on purpose: importing it
loads no framework, no NumPy and no hypothesis. It adds the
``--blockspec-*`` options and the ``clause`` marker; only when a run is asked
for (``--blockspec-backend``, or ``blockspec run`` handing it a prepared
request) does it start a :class:`conformance.run.session.BlockspecSession`::

    pytest --pyargs conformance.suite --blockspec-backend torch --blockspec-json r.json
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.kit.profiles import PROFILES, SHAPE_MODES
from conformance.run.stash import NO_BACKEND, SESSION_KEY


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("blockspec", "blockspec conformance checking")
    group.addoption("--blockspec-backend", metavar="NAME", help="backend to check: a name or package.module:attr")
    group.addoption(
        "--blockspec-device", metavar="DEV", help="device to run the suite on (default: the backend's host device)"
    )
    group.addoption("--blockspec-json", metavar="PATH", help="write the per-clause result file here")
    group.addoption(
        "--blockspec-clause", metavar="ID", action="append", default=[], help="check only this clause (repeatable)"
    )
    group.addoption(
        "--blockspec-profile", choices=tuple(PROFILES), default="ci", help="hypothesis profile (default: ci)"
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
    group.addoption("--blockspec-module", metavar="TARGET", help="check a module factory (package.module:attr)")
    group.addoption("--blockspec-pair", metavar="A->B", help="check checkpoint interop from backend A to backend B")
    group.addoption(
        "--blockspec-input-shape",
        metavar="SHAPE",
        action="append",
        default=[],
        help="an input shape of the module, batch first, e.g. 4,6 (repeatable: one per argument)",
    )
    group.addoption("--blockspec-dtype", metavar="DTYPE", default="float32", help="the module's dtype")
    group.addoption("--blockspec-inputs", metavar="TARGET", help="module:attr of a strategy or function of inputs")
    group.addoption(
        "--blockspec-max-examples",
        metavar="N",
        type=int,
        help="at most N examples per test (default: the profile's; a test that draws fewer keeps its number)",
    )
    group.addoption(
        "--blockspec-timeout",
        metavar="SECONDS",
        type=float,
        default=300.0,
        help="the per-test time limit the run enforces; shrinking a failure stops in time to report it (default: 300)",
    )
    group.addoption(
        "--blockspec-shapes",
        choices=SHAPE_MODES,
        help="draw sizes from a small per-run palette, or freely (default: palette for a backend that "
        "compiles per shape, full otherwise)",
    )
    group.addoption(
        "--blockspec-no-shrink",
        action="store_true",
        help="report the first failing example without shrinking it (fast verdicts)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clause(id): the spec clause a conformance test checks")
    # `blockspec run --in-process` validated its request already and hands it over on a plugin object.
    carried = next((p for p in config.pluginmanager.get_plugins() if hasattr(p, "blockspec_prepared")), None)
    wanted = ("blockspec_backend", "blockspec_module", "blockspec_pair")
    if carried is None and not any(config.getoption(option) for option in wanted):
        return
    from conformance.run.journal import Journal
    from conformance.run.request import RunRequest
    from conformance.run.session import BlockspecSession
    from spec import BlockspecError

    journal = config.getoption("blockspec_journal")
    try:
        prepared = (
            carried.blockspec_prepared
            if carried is not None
            else RunRequest.from_pytest_options(config, _subject(config)).prepare()
        )
    except BlockspecError as exc:
        if journal:
            Journal.refuse(Path(journal), str(exc))
        raise pytest.UsageError(str(exc)) from exc
    # Under pytest-xdist each worker keeps a journal of its own beside the controller's.
    worker = str(getattr(config, "workerinput", {}).get("workerid", ""))
    controller = not worker and getattr(config.option, "dist", "no") != "no"
    session = BlockspecSession(prepared, worker=worker, controller=controller)
    if journal:
        session.sinks.append(Journal(Path(f"{journal}.{worker}" if worker else journal)))
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "blockspec-session")


def _subject(config: pytest.Config) -> Any:
    """The kind of subject the command line names: a module, a pair of frameworks, else a framework."""
    if config.getoption("blockspec_module"):
        from conformance.modules import MODULE

        return MODULE
    if config.getoption("blockspec_pair"):
        from conformance.interop.subject import PAIR

        return PAIR
    from conformance.run.subjects import FRAMEWORK

    return FRAMEWORK


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a backend, a suite that needs one is one usage error, not an error per test."""
    if SESSION_KEY in config.stash:
        return
    if any("backend" in getattr(item, "fixturenames", ()) for item in items):
        raise pytest.UsageError(NO_BACKEND)


@pytest.fixture
def module_contract(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``conformance.modules.check_module``, with the hypothesis profile taken from ``--blockspec-profile``.

    For users' own suites (``pip install blockspec[torch]``; the plugin is registered by entry point)::

        def test_my_net(module_contract):
            module_contract(MyNet, input_shape=(4, 6))

    Keywords are those of ``check_module`` (``clauses=``, ``dtype=``, ``seed=``...); a failure raises one
    AssertionError naming every failing clause, the attribute at fault and the fix.
    """
    from conformance.modules import check_module

    profile = request.config.getoption("blockspec_profile")

    def check(factory: Any, input_shape: Any = None, **options: Any) -> Any:
        options.setdefault("profile", profile)
        return check_module(factory, input_shape, **options)

    return check
