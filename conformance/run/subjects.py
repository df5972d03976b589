"""What a run checks, and everything the pipeline asks of it: a :class:`Subject`.

The pipeline (request, session, verdicts, the isolated parent) is the same for
every kind of subject; what differs is asked of the request's subject:

- its clauses (:meth:`Subject.catalogue`) and its conformance tests (``suite``, a package);
- the pytest option that names the target (``option``) and any options of its own (:meth:`Subject.arguments`);
- how to load it, with its known failures and device (:meth:`Subject.load`);
- the command that reruns one clause (:meth:`Subject.command`).

:data:`FRAMEWORK` (a framework through its adapter) lives here. A user's module
(``conformance.modules``' ``MODULE``) and a pair of frameworks
(``conformance.interop``' ``PAIR``) live with their own code, above this
package: the run pipeline never imports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from conformance._discovery import load_backend
from conformance._errors import UsageError
from conformance._manifest import KnownFailure, load_manifest
from conformance._protocol import Backend
from spec import Catalogue, load_catalogue

if TYPE_CHECKING:
    from conformance.run.request import RunRequest


class Checked(Protocol):
    """What the pipeline reads of any subject it checks (a backend, a module, a pair of frameworks)."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> frozenset[str]: ...

    def version(self) -> str: ...

    def environment(self) -> dict[str, str]: ...


class Subject:
    """One kind of thing a run checks. Subclasses set the class attributes and :meth:`load`."""

    #: The word for this kind of subject (``framework``, ``module``, ``interop``): the catalogue's subject.
    kind: ClassVar[str]
    #: The package of conformance tests that checks it.
    suite: ClassVar[str]
    #: The pytest option (``conformance.plugin``) that names the target.
    option: ClassVar[str]
    #: Whether the suite draws sizes of its own (a module's input shapes are the user's: no palette).
    draws_sizes: ClassVar[bool] = True

    def catalogue(self) -> Catalogue:
        """The clauses this kind of subject is checked against."""
        return load_catalogue(subject=self.kind)

    def validate(self, request: RunRequest) -> None:
        """Refuse what this kind of subject cannot run, before anything is loaded (nothing, by default)."""

    def load(self, request: RunRequest, catalogue: Catalogue) -> tuple[Any, dict[str, KnownFailure], str]:
        """The subject ``request`` names, its known failures, and the device the run checks."""
        raise NotImplementedError

    def command(self, request: RunRequest) -> str:
        """The command line that names this subject, up to ``--profile`` (a rerun's start)."""
        raise NotImplementedError

    def rerun_notes(self, request: RunRequest) -> list[str]:
        """What a reader of the rerun command must do first for it to work (nothing, by default)."""
        return []

    def arguments(self, request: RunRequest) -> list[str]:
        """pytest options of this kind of subject, beyond those every run has."""
        return []

    def __repr__(self) -> str:
        return f"<{self.kind} subject>"


class Framework(Subject):
    """A framework, through its adapter (a :class:`~conformance._protocol.Backend`): ``blockspec run``."""

    kind = "framework"
    suite = "conformance.suite"
    option = "--blockspec-backend"

    def load(self, request: RunRequest, catalogue: Catalogue) -> tuple[Any, dict[str, KnownFailure], str]:
        backend = load_backend(request.target)
        device = request.device or backend.host_device
        check_device(backend, device)
        return backend, known_failures(backend, catalogue, request.known_failures), device

    def command(self, request: RunRequest) -> str:
        device = f" --device {request.device}" if request.device else ""
        return f"blockspec run --backend {request.target}{device}"


#: The subject of ``blockspec run``: the default of every request.
FRAMEWORK = Framework()


def check_device(backend: Backend, device: str) -> None:
    """A usage error for a device the backend does not offer, listing those it does.

    The host needs no query: a backend whose ``accelerators()`` raises still
    runs there, and the device clauses that call it are ``error``.
    """
    if device == backend.host_device:
        return
    try:
        accelerators = list(backend.accelerators())
    except Exception as exc:  # a broken adapter must be named, not crash the run
        raise UsageError(
            f"backend {backend.name!r} could not list its devices: accelerators() raised {type(exc).__name__}: {exc}"
        ) from exc
    valid = [backend.host_device, *accelerators]
    if device not in valid:
        hint = f" (the suite names a device with its index: {device}:0)" if f"{device}:0" in valid else ""
        raise UsageError(
            f"device {device!r} is not available to backend {backend.name!r}; available: {', '.join(valid)}{hint}"
        )


def known_failures(backend: Backend, catalogue: Catalogue, path: Path | None) -> dict[str, KnownFailure]:
    """The manifest given on the command line, else the one the adapter ships (``known_failures``), else none."""
    if path is None:
        shipped = getattr(backend, "known_failures", None)
        path = Path(shipped) if shipped else None
    return {} if path is None else load_manifest(path, catalogue)
