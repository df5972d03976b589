"""blockspec's conformance checker: the Backend protocol, discovery, the runner and results.

Names load on first use, so that importing the pytest plugin (a submodule)
costs next to nothing in every pytest session of an environment.

>>> from conformance import run_suite
>>> result = run_suite("reference")  # doctest: +SKIP
>>> result.exit_code  # doctest: +SKIP
0

Where things are (three layers, each a package or a few modules):

- **the plug** — ``_protocol.py`` (the ``Backend`` protocol), ``arch.py`` (the
  architecture trees adapters build), ``_discovery.py`` (finding a backend),
  ``_manifest.py`` (known failures), ``backends/<name>/`` (the adapters);
- **the suites and their kit** — ``suite/test_<section>.py`` (one module per
  chapter section; each test cites its clause with ``@pytest.mark.clause``),
  ``module_suite/`` (the module contract, made from ``modules/``' contract table,
  on the subject ``modules/`` loads; ``check_module`` runs it through the same pipeline),
  ``kit/`` (strategies, oracle, statistics, clause-bound checks, profiles);
- **the run** — ``run/``: ``subjects.py`` (what a run checks: the pipeline asks the
  request's subject for its clauses, suite, loading and rerun command) → ``request.py`` (what to run, validated once) →
  ``session.py`` (in pytest: gating, outcomes as events) → ``journal.py``
  (the isolated child writes the events) → ``isolate.py`` (the parent: child
  processes, timeouts, restarts) or ``inprocess.py`` → ``verdicts.py`` (the
  one result builder: events in, a verdict per clause out) → ``result.py``
  (the result file); ``summary.py``, ``progress.py``, ``junit.py``;
  ``plugin.py`` is the thin ``pytest11`` face that nothing imports;
- **reports** — ``report/`` reads result files only (Markdown, dashboard).

From a clause id to its verdict: the statement is in ``spec/clauses/*.toml``
(``blockspec spec``); its tests are found with ``grep -rn '"ID"'
conformance/suite``; its mutants with ``blockspec kill-matrix --clause ID``
(``tests/mutants/``); its verdict is computed by
``run/verdicts.py:build_result`` from the outcomes ``run/session.py`` records.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance._discovery import BUILTIN, ENTRY_POINT_GROUP, known_backends, load_backend
    from conformance._errors import (
        BackendImportError,
        BackendProtocolError,
        ResultFileError,
        UnknownBackendError,
        UsageError,
    )
    from conformance._protocol import (
        CAPABILITY_MEMBERS,
        CHAPTER_BLOCKS,
        CHAPTER_INITS,
        INITIALIZERS,
        LAYOUTS,
        REQUIRED_MEMBERS,
        Backend,
        Gradients,
        LoadRejected,
        LoadResult,
        checkpoint_suffix,
        compile_cache_directory,
        weight_layouts,
    )
    from conformance.kit.checks import Check, ClauseViolation
    from conformance.run.inprocess import run_suite
    from conformance.run.request import RunRequest
    from conformance.run.result import SCHEMA_VERSION, ClauseResult, RunResult
    from conformance.run.status import STATUSES, Outcome, Status
    from spec import BlockspecError

_WHERE = {
    "BlockspecError": "spec",
    "Check": "conformance.kit.checks",
    "ClauseViolation": "conformance.kit.checks",
    "BUILTIN": "conformance._discovery",
    "ENTRY_POINT_GROUP": "conformance._discovery",
    "known_backends": "conformance._discovery",
    "load_backend": "conformance._discovery",
    "BackendImportError": "conformance._errors",
    "BackendProtocolError": "conformance._errors",
    "ResultFileError": "conformance._errors",
    "UnknownBackendError": "conformance._errors",
    "UsageError": "conformance._errors",
    "CAPABILITY_MEMBERS": "conformance._protocol",
    "CHAPTER_BLOCKS": "conformance._protocol",
    "CHAPTER_INITS": "conformance._protocol",
    "INITIALIZERS": "conformance._protocol",
    "LAYOUTS": "conformance._protocol",
    "REQUIRED_MEMBERS": "conformance._protocol",
    "Backend": "conformance._protocol",
    "Gradients": "conformance._protocol",
    "LoadRejected": "conformance._protocol",
    "LoadResult": "conformance._protocol",
    "checkpoint_suffix": "conformance._protocol",
    "compile_cache_directory": "conformance._protocol",
    "weight_layouts": "conformance._protocol",
    "SCHEMA_VERSION": "conformance.run.result",
    "STATUSES": "conformance.run.status",
    "Outcome": "conformance.run.status",
    "Status": "conformance.run.status",
    "ClauseResult": "conformance.run.result",
    "RunResult": "conformance.run.result",
    "RunRequest": "conformance.run.request",
    "run_suite": "conformance.run.inprocess",
}

__all__ = [
    "BUILTIN",
    "CAPABILITY_MEMBERS",
    "CHAPTER_BLOCKS",
    "CHAPTER_INITS",
    "ENTRY_POINT_GROUP",
    "INITIALIZERS",
    "LAYOUTS",
    "REQUIRED_MEMBERS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Backend",
    "BackendImportError",
    "BackendProtocolError",
    "BlockspecError",
    "Check",
    "ClauseResult",
    "ClauseViolation",
    "Gradients",
    "LoadRejected",
    "LoadResult",
    "Outcome",
    "ResultFileError",
    "RunRequest",
    "RunResult",
    "Status",
    "UnknownBackendError",
    "UsageError",
    "checkpoint_suffix",
    "compile_cache_directory",
    "known_backends",
    "load_backend",
    "run_suite",
    "weight_layouts",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'conformance' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
