"""Run the conformance suite in this process through pytest and return the verdicts.

Faster to start than an isolated run, with no protection: a backend that
crashes or hangs ends the run. The request is validated once, here, and the
:class:`~conformance.run.request.Prepared` result is handed to the session.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import pytest

from conformance._errors import UsageError
from conformance.run.request import Prepared, RunRequest
from conformance.run.result import RunResult
from conformance.run.stash import SESSION_KEY


class _Carrier:
    """A throwaway plugin: hands the prepared request to ``conformance.plugin`` and keeps the config."""

    def __init__(self, prepared: Prepared) -> None:
        self.blockspec_prepared = prepared  # the attribute conformance.plugin looks for
        self.config: pytest.Config | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config


def run_suite(
    target: str | RunRequest | Prepared,
    *,
    pytest_args: Sequence[str] = (),
    plugins: Sequence[object] = (),
    quiet: bool = False,
    **options: Any,
) -> RunResult:
    """Check a backend in this process and return a verdict per clause.

    ``target`` is a :class:`RunRequest`, or a backend name with the
    request's other fields as keywords, or a request already prepared (its
    subject loaded: ``conformance.modules.check_module``); ``plugins`` are
    more pytest plugins for the run (the kill matrix's access trace);
    ``quiet`` prints nothing. Bad input raises :class:`conformance.UsageError`
    before any test runs.

    >>> result = run_suite("reference", clauses=("SEQ-INDEX",))  # doctest: +SKIP
    >>> result.exit_code
    0
    """
    if isinstance(target, Prepared):
        prepared = target
    else:
        prepared = (target if isinstance(target, RunRequest) else RunRequest(target, **options)).prepare()
    request = prepared.request
    carrier = _Carrier(prepared)
    args = [*request.pytest_arguments(terminal=not quiet), *pytest_args]
    if request.junit_path is not None:
        args.append(f"--junitxml={request.junit_path}")
    _forget_suite_modules(request.suite)
    code = pytest.main(args, plugins=[carrier, *plugins])
    session = None if carrier.config is None else carrier.config.stash.get(SESSION_KEY, None)
    result: RunResult | None = getattr(session, "result", None)
    if result is None:
        raise UsageError(f"the conformance suite did not run (pytest exit status {int(code)}); rerun with --verbose")
    return result


def _forget_suite_modules(suite: str) -> None:
    """Drop the suite's test modules this process imported before, so this run imports them afresh.

    ``@given`` takes its settings (health checks included) when a test module
    is imported; a module imported earlier, under another hypothesis profile
    (a checker's own tests inspecting the suite, say), would carry that
    profile's settings into this run.
    """
    for name in [n for n in sys.modules if n.startswith(f"{suite}.test_")]:
        del sys.modules[name]
