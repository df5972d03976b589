"""The subject of an interop run: an ordered pair of backends, ``A->B`` (the INTEROP-* clauses).

Backend A writes a safetensors file, backend B reads it. The pair is named
``A->B`` (each side a backend name or ``package.module:attr``); ``blockspec
interop`` (:mod:`conformance.interop`) runs one per ordered pair, through the
same pipeline as any run. This module sits below both that package and
:mod:`conformance.run`, which loads the pair as it loads a backend. Keys and
weight layouts are mapped by what each backend declares (``interop_names``,
``weight_layouts``; see :mod:`conformance._protocol`), never by a converter
written for the pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from conformance._discovery import load_backend
from conformance._errors import UsageError
from conformance._manifest import KnownFailure, load_manifest
from conformance._protocol import INTEROP_MEMBERS, Backend
from spec import Catalogue

#: How a pair is written: ``torch->flax``.
SEPARATOR = "->"


def split_pair(target: str) -> tuple[str, str]:
    """``"torch->flax"`` -> ``("torch", "flax")``; a usage error for anything else."""
    parts = target.split(SEPARATOR)
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise UsageError(f"a pair is written WRITER{SEPARATOR}READER (e.g. torch{SEPARATOR}flax); got {target[:80]!r}")
    return parts[0].strip(), parts[1].strip()


def offers_interop(backend: object) -> list[str]:
    """The interop members ``backend`` lacks (empty: it can write and read safetensors)."""
    return [m for m in INTEROP_MEMBERS if not callable(getattr(backend, m, None))]


@dataclass
class Pair:
    """The subject of an interop run: ``writer`` saves, ``reader`` loads."""

    writer: Backend
    reader: Backend
    name: str = ""
    capabilities: frozenset[str] = field(default_factory=frozenset)
    host_device: str = "cpu"

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.writer.name}{SEPARATOR}{self.reader.name}"
        self.compiles_per_shape = any(getattr(b, "compiles_per_shape", False) for b in (self.writer, self.reader))

    def known(self, catalogue: Catalogue, path: Path | None) -> dict[str, KnownFailure]:
        """The manifest given on the command line, else the side at fault's: what the writer ships for its
        files (``interop_writer_failures``) and the reader for its reads (``interop_reader_failures``)."""
        if path is not None:
            return load_manifest(path, catalogue)
        known: dict[str, KnownFailure] = {}
        for backend, attribute in ((self.reader, "interop_reader_failures"), (self.writer, "interop_writer_failures")):
            shipped = getattr(backend, attribute, None)
            if shipped:
                known.update(load_manifest(Path(shipped), catalogue))
        return known

    def version(self) -> str:
        return f"{_version(self.writer)}{SEPARATOR}{_version(self.reader)}"

    def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for side, backend in (("writer", self.writer), ("reader", self.reader)):
            try:
                env.update({f"{side}_{k}": str(v) for k, v in backend.environment().items()})
            except Exception as exc:  # an environment query never ends a run
                env[f"{side}_environment"] = f"{type(exc).__name__}: {exc}"
        return env


def _version(backend: Backend) -> str:
    try:
        return str(backend.version())
    except Exception:  # a version query never ends a run
        return "unknown"


def load_pair(target: str) -> Pair:
    """The pair ``target`` names, each side loaded as ``blockspec run --backend`` loads one."""
    writer, reader = split_pair(target)
    return Pair(load_backend(writer), load_backend(reader), name=f"{writer}{SEPARATOR}{reader}")
