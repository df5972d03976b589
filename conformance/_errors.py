"""Errors of the checker. All derive from :class:`spec.BlockspecError`."""

from __future__ import annotations

from collections.abc import Sequence

from spec import BlockspecError


class UsageError(BlockspecError):
    """A command or option was given something it cannot use (exit status 2)."""


class UnknownBackendError(UsageError):
    """No backend is known by this name; ``known`` lists the names that are."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name, self.known = name, list(known)
        super().__init__(
            f"unknown backend {name!r}; known backends: {', '.join(self.known) or '(none)'}; "
            "or give an adapter as package.module:attribute"
        )


class BackendImportError(UsageError):
    """A backend's adapter (or its framework) could not be imported."""

    def __init__(self, name: str, target: str, reason: str) -> None:
        self.name, self.target, self.reason = name, target, reason
        super().__init__(f"backend {name!r} ({target}) cannot be loaded: {reason}")


class BackendProtocolError(UsageError):
    """An adapter lacks protocol members or declares something unknown."""

    def __init__(self, name: str, problems: Sequence[str]) -> None:
        self.name, self.problems = name, list(problems)
        super().__init__(
            f"backend {name!r} does not implement the Backend protocol: "
            + "; ".join(self.problems)
            + " (see conformance.Backend and the README's 'Write your own backend')"
        )


class ResultFileError(UsageError):
    """A result file cannot be written or read."""
