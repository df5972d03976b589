"""Finding backends: built-in names, the ``blockspec.backends`` entry points, ``module:attr``."""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from conformance._errors import BackendImportError, BackendProtocolError, UnknownBackendError
from conformance._interrupt import user_interrupted
from conformance._protocol import Backend, missing_members
from spec import CAPABILITIES, BlockspecError

ENTRY_POINT_GROUP = "blockspec.backends"

#: Adapters shipped with blockspec, by name.
BUILTIN: dict[str, str] = {
    "reference": "conformance.backends.reference:ReferenceBackend",
    "torch": "conformance.backends.torch:TorchBackend",
    "flax": "conformance.backends.flax:FlaxBackend",
    "keras": "conformance.backends.keras:KerasBackend",
    "tinygrad": "conformance.backends.tinygrad:TinygradBackend",
    "paddle": "conformance.backends.paddle:PaddleBackend",
}


@dataclass(frozen=True)
class BackendEntry:
    """Where a backend comes from: its name, ``module:attr`` target and kind of source."""

    name: str
    target: str
    source: str  # "built-in", "entry point" or "module:attr"


def known_backends() -> list[BackendEntry]:
    """Built-ins, then installed entry points (an entry point may not shadow a built-in)."""
    entries = [BackendEntry(name, target, "built-in") for name, target in BUILTIN.items()]
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in BUILTIN:
            entries.append(BackendEntry(point.name, point.value, "entry point"))
    return entries


def resolve(target: str) -> BackendEntry:
    """The entry for a backend name or a ``package.module:attr`` target."""
    for entry in known_backends():
        if entry.name == target:
            return entry
    if ":" in target:
        return BackendEntry(target, target, "module:attr")
    raise UnknownBackendError(target, [e.name for e in known_backends()])


def load_backend(target: str) -> Backend:
    """Import, instantiate and validate the backend named by ``target`` (a name or ``package.module:attr``).

    >>> backend = load_backend("torch")  # doctest: +SKIP
    >>> backend.name
    'torch'
    """
    entry = resolve(target)
    module_name, _, attribute = entry.target.partition(":")
    if not module_name or not attribute:
        raise BackendImportError(entry.name, entry.target, "expected the form package.module:attribute")
    try:
        module = importlib.import_module(module_name)
    except KeyboardInterrupt as exc:
        if user_interrupted():
            raise
        raise BackendImportError(entry.name, entry.target, "importing it raised KeyboardInterrupt") from exc
    except SystemExit as exc:  # `sys.exit(0)` in a module must not end blockspec as if all was well
        raise BackendImportError(entry.name, entry.target, f"importing it called sys.exit({exc.code!r})") from exc
    except Exception as exc:  # an adapter may fail to import in any way; report it, do not crash
        raise BackendImportError(entry.name, entry.target, f"{type(exc).__name__}: {exc}") from exc
    try:
        obj: Any = module
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise BackendImportError(entry.name, entry.target, f"{module_name} has no attribute {attribute!r}") from exc
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "capabilities")):
        try:
            obj = obj()
        except KeyboardInterrupt as exc:
            if user_interrupted():
                raise
            raise BackendImportError(entry.name, entry.target, "constructing it raised KeyboardInterrupt") from exc
        except SystemExit as exc:
            raise BackendImportError(
                entry.name, entry.target, f"constructing it called sys.exit({exc.code!r})"
            ) from exc
        except Exception as exc:
            raise BackendImportError(
                entry.name, entry.target, f"constructing it raised {type(exc).__name__}: {exc}"
            ) from exc
    validate(entry.name, obj)
    return obj  # type: ignore[no-any-return]


def validate(name: str, candidate: object) -> None:
    """Raise :class:`BackendProtocolError` naming every missing or malformed member."""
    problems = [f"missing {m}" for m in missing_members(candidate)]
    capabilities = getattr(candidate, "capabilities", None)
    if capabilities is not None:
        if not isinstance(capabilities, (set, frozenset)):
            problems.append(f"capabilities must be a frozenset of strings, got {type(capabilities).__name__}")
        else:
            unknown = sorted(str(c) for c in capabilities if c not in CAPABILITIES)
            if unknown:
                problems.append(f"unknown capabilities {unknown}; known: {sorted(CAPABILITIES)}")
    backend_name = getattr(candidate, "name", None)
    if backend_name is not None and (not isinstance(backend_name, str) or not backend_name):
        problems.append(f"name must be a non-empty string, got {backend_name!r}")
    if problems:
        raise BackendProtocolError(name, problems)


#: What a backend's probe prints before its answer (JSON), so that a backend printing at import is told apart.
PROBE_MARK = "blockspec-probe: "


def probe(name: str) -> dict[str, Any]:
    """What ``blockspec backends`` lists of one backend, loaded in this process; or why it would not load.

    ``{"version", "capabilities", "devices"}``, or ``{"error"}``. A version or device query that raises is
    said in its field: a listing survives a broken adapter.
    """
    try:
        backend = load_backend(name)
    except BlockspecError as exc:
        return {"error": str(exc)}
    try:
        version = str(backend.version())
    except Exception as exc:
        version = f"unknown ({type(exc).__name__})"
    try:
        devices = ", ".join([backend.host_device, *backend.accelerators()])
    except Exception as exc:
        devices = f"{backend.host_device} (accelerator query failed: {type(exc).__name__}: {exc})"
    return {"version": version, "capabilities": sorted(backend.capabilities), "devices": devices}


def _probe_main() -> None:  # the child of run.isolate._probe_in_child: ``python -c ...`` with the backend's name
    answer = probe(sys.argv[1])
    sys.stdout.write(f"\n{PROBE_MARK}{json.dumps(answer)}\n")
    sys.stdout.flush()
