"""Known-failure manifests: a backend's expected departures from the spec, one TOML file per backend.

::

    [[known_failure]]
    clause = "DEV-NAME-EQUALITY"
    reason = "jax devices have no unindexed form"
    link = "https://github.com/google/jax/issues/NNNN"   # optional

A listed clause whose tests fail is ``xfail`` (without shrinking: a known
failure must be a fast verdict); a listed clause whose tests pass is
reported as an unexpected pass (status ``pass``, flagged, so the entry can be
removed). An entry naming no clause of the catalogue, or without a reason, is
a usage error naming the file, the entry and the field; so is a file that is
not a regular file, is over 8 MiB, or nests too deeply to parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conformance._errors import UsageError
from spec import Catalogue
from spec._reading import load_toml_bounded

_FIELDS = {"clause", "reason", "link"}


@dataclass(frozen=True)
class KnownFailure:
    clause: str
    reason: str
    link: str = ""

    def describe(self) -> str:
        return f"known failure: {self.reason}" + (f" ({self.link})" if self.link else "")


def load_manifest(path: Path, catalogue: Catalogue) -> dict[str, KnownFailure]:
    """The entries of ``path`` by clause id; every problem in the file is reported at once."""
    try:
        data = load_toml_bounded(path)
    except FileNotFoundError:
        raise UsageError(f"known-failure manifest {path} does not exist") from None
    except RecursionError:
        raise UsageError(
            f"known-failure manifest {path} cannot be read: it nests arrays or tables too deeply"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # TOMLDecodeError is a ValueError; so is a huge int
        raise UsageError(f"known-failure manifest {path} cannot be read: {exc}") from None
    problems: list[str] = []
    unknown_tables = sorted(set(data) - {"known_failure"})
    if unknown_tables:
        problems.append(f"unknown top-level key(s) {', '.join(unknown_tables)}; expected [[known_failure]] entries")
    entries = data.get("known_failure", [])
    if not isinstance(entries, list):
        problems.append("known_failure must be an array of tables ([[known_failure]])")
        entries = []
    found: dict[str, KnownFailure] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"entry {number}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a table")
            continue
        extra = sorted(set(entry) - _FIELDS)
        if extra:
            problems.append(f"{where}: unknown field(s) {', '.join(extra)}")
        clause, reason, link = entry.get("clause"), entry.get("reason"), entry.get("link", "")
        if not isinstance(clause, str) or not clause:
            problems.append(f"{where}: field 'clause' is missing; every entry must name a clause id")
            continue
        where = f"entry {number} ({clause})"
        if clause not in catalogue:
            problems.append(f"{where}: field 'clause' names no clause of the catalogue (`blockspec spec` lists them)")
        if not isinstance(reason, str) or not reason.strip():
            problems.append(f"{where}: field 'reason' is missing or empty; say why the backend departs")
        if not isinstance(link, str):
            problems.append(f"{where}: field 'link' must be a string")
        if clause in found:
            problems.append(f"{where}: clause listed twice")
        if isinstance(reason, str) and isinstance(link, str):
            found[clause] = KnownFailure(clause, reason.strip(), link)
    if problems:
        raise UsageError(f"known-failure manifest {path} is invalid:\n  " + "\n  ".join(problems))
    return found
