"""The exception root shared by every blockspec package.

It lives in ``spec`` because ``spec`` is the lowest layer: ``conformance``
imports it from here, and nothing here imports ``conformance``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class BlockspecError(Exception):
    """Root of every error blockspec raises on purpose.

    Callers who want to tell a usage problem from a bug catch this; the CLI
    turns it into a message and exit status 2.
    """


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong in a spec file: where it is, and what is wrong."""

    file: Path
    clause: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file.name]
        if self.clause is not None:
            where.append(f"clause {self.clause}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{': '.join(where)}: {self.message}"


class SpecError(BlockspecError):
    """The clause catalogue could not be loaded; ``problems`` lists every reason."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"the spec catalogue is invalid ({count} {noun}):\n{lines}")
