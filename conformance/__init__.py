"""blockspec's conformance checker: the Backend protocol, discovery, the runner and results.

Names load on first use, so that importing the pytest plugin (a submodule)
costs next to nothing in every pytest session of an environment.

>>> from conformance import run_suite
>>> result = run_suite("reference")  # doctest: +SKIP
>>> result.exit_code  # doctest: +SKIP
0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance._checks import Check, ClauseViolation
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
        REQUIRED_MEMBERS,
        Backend,
        Gradients,
        LoadRejected,
        LoadResult,
    )
    from conformance._results import SCHEMA_VERSION, STATUSES, ClauseResult, RunResult
    from conformance._runner import RunRequest, run_suite
    from spec import BlockspecError

_WHERE = {
    "BlockspecError": "spec",
    "Check": "conformance._checks",
    "ClauseViolation": "conformance._checks",
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
    "REQUIRED_MEMBERS": "conformance._protocol",
    "Backend": "conformance._protocol",
    "Gradients": "conformance._protocol",
    "LoadRejected": "conformance._protocol",
    "LoadResult": "conformance._protocol",
    "SCHEMA_VERSION": "conformance._results",
    "STATUSES": "conformance._results",
    "ClauseResult": "conformance._results",
    "RunResult": "conformance._results",
    "RunRequest": "conformance._runner",
    "run_suite": "conformance._runner",
}

__all__ = [
    "BUILTIN",
    "CAPABILITY_MEMBERS",
    "CHAPTER_BLOCKS",
    "CHAPTER_INITS",
    "ENTRY_POINT_GROUP",
    "INITIALIZERS",
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
    "ResultFileError",
    "RunRequest",
    "RunResult",
    "UnknownBackendError",
    "UsageError",
    "known_backends",
    "load_backend",
    "run_suite",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'conformance' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
