"""Read result files back: validate them against ``result.schema.json`` and give a typed view.

The validation interprets the shipped JSON Schema itself with a small
validator for the keywords that schema uses, so reports need no
``jsonschema`` at run time (the tests check both agree). A keyword the
validator does not know is a bug here, reported as such, never ignored. A
``pattern`` ending in ``$`` means the end of the text, as in JSON Schema's
ECMA-262 regular expressions (Python's ``$`` also matches before a final
newline, which would let ``"SEQ-INDEX\\n"`` pass as a clause id).

Result files are read as hostile input: only a regular file of at most
:data:`MAX_RESULT_BYTES` is read (a FIFO, ``/dev/zero`` or a symlink loop is
refused with a message), JSON must be strict (no ``NaN``/``Infinity``),
nesting too deep for Python's parser is a message, not a ``RecursionError``,
and a lone surrogate (``"\\ud800"``, which no UTF-8 output can hold) is
replaced by U+FFFD and said so in :attr:`Run.notes`.

>>> from conformance.report import load_results
>>> runs = load_results(["results/torch-cpu.json"])  # doctest: +SKIP
>>> runs[0].label  # doctest: +SKIP
'torch 2.13.0 · cpu'
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance._errors import ResultFileError
from conformance._interop import split_pair
from conformance._text import replace_surrogates
from conformance.run.result import SCHEMA_VERSION
from conformance.run.status import STATUSES
from spec._reading import MAX_RESULT_BYTES, RefusedFile, read_text_bounded

#: Statuses that count towards a pass rate: the clause applied and was checked.
APPLICABLE = frozenset({"pass", "fail", "error", "blocked", "xfail"})

_IGNORED = frozenset({"$schema", "title", "description"})
_KNOWN = frozenset(
    {"$ref", "$defs", "type", "required", "properties", "additionalProperties", "const", "enum"}
    | {"minLength", "pattern", "minimum", "items", "oneOf"}
)


class InvalidResultFile(ResultFileError):
    """A file given as a result file is missing, unreadable or does not follow the schema."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


_REPRODUCE = re.compile(r"@reproduce_failure\([^()]*\)")


@dataclass(frozen=True)
class Failure:
    """The failing test of a clause: its message, shrunk example and how to rerun it."""

    message: str
    example: tuple[str, ...]
    reproduce: str
    rerun: str
    test: str = ""

    @property
    def blob(self) -> str:
        """Hypothesis' ``@reproduce_failure(...)`` decorator alone, without its "add this to your test" advice.

        Secondary detail: a backend author reruns a clause with :attr:`rerun`;
        the blob serves someone editing the suite's own test.
        """
        found = _REPRODUCE.search(self.reproduce)
        return found.group(0) if found else self.reproduce.strip()


@dataclass(frozen=True)
class ClauseVerdict:
    """One clause's status in one run."""

    id: str
    section: str
    level: str
    title: str
    statement: str
    status: str
    reason: str = ""
    failure: Failure | None = None
    tests: tuple[tuple[str, str], ...] = ()  # (node id, outcome)
    unexpected_pass: bool = False  # listed in the backend's known-failure manifest, yet passed
    stale_entry: bool = False  # listed in the backend's known-failure manifest, yet not applicable


@dataclass(frozen=True)
class Run:
    """One result file: which backend, version and device it checked, and a verdict per clause."""

    source: Path
    backend: str
    version: str
    device: str
    verdicts: Mapping[str, ClauseVerdict]
    adapter: str = ""
    profile: str = ""
    started: datetime | None = None
    started_text: str = ""
    duration_s: float | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    tool: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what the loader changed to show the file (replaced surrogates)
    pair: tuple[str, str] | None = None  # (writer, reader) for a result of an interop file, else None

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes two runs the same column: backend, device and version."""
        return (self.backend, self.device, self.version)

    @property
    def label(self) -> str:
        return f"{self.backend} {self.version} · {self.device}"

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for verdict in self.verdicts.values():
            counts[verdict.status] += 1
        return counts

    def level_counts(self) -> dict[str, dict[str, int]]:
        """``{level: {status: n}}`` for every level present, statuses in schema order."""
        out: dict[str, dict[str, int]] = {}
        for verdict in self.verdicts.values():
            out.setdefault(verdict.level, dict.fromkeys(STATUSES, 0))[verdict.status] += 1
        return {level: out[level] for level in ("MUST", "SHOULD", "MAY") if level in out}

    def pass_rate(self, level: str) -> tuple[int, int]:
        """(passed, applicable) clauses of ``level``; not-applicable, skipped and pending do not count."""
        applicable = [v for v in self.verdicts.values() if v.level == level and v.status in APPLICABLE]
        return sum(v.status == "pass" for v in applicable), len(applicable)


# --- the schema, interpreted ----------------------------------------------------------------------------


@functools.cache
def result_schema() -> dict[str, Any]:
    """The shipped ``conformance/result.schema.json``."""
    text = importlib.resources.files("conformance").joinpath("result.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_problems(
    document: object, schema: Mapping[str, Any] | None = None, *, schema_part: str | None = None
) -> list[str]:
    """Every way ``document`` breaks the result schema, as ``path: problem`` lines (empty when valid).

    ``schema_part`` names a definition to check against instead of the top level (``"interop"``: the
    interop file, ``#/$defs/interop``); references in it still resolve against the whole schema.
    """
    root = result_schema() if schema is None else schema
    problems: list[str] = []
    _check(document, root if schema_part is None else root["$defs"][schema_part], root, "", problems)
    return problems


_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


def _same(a: object, b: object) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _check(value: object, schema: Mapping[str, Any], root: Mapping[str, Any], where: str, out: list[str]) -> None:
    unknown = set(schema) - _KNOWN - _IGNORED
    if unknown:
        raise AssertionError(f"result.schema.json uses keywords {sorted(unknown)} the report loader does not check")
    at = where or "(top level)"
    if "$ref" in schema:
        ref = schema["$ref"]
        target: Any = root
        for part in ref.removeprefix("#").split("/")[1:]:  # "#" is the root itself
            target = target[part]
        _check(value, target, root, where, out)
    if "type" in schema and not _TYPES[schema["type"]](value):
        out.append(f"{at}: expected {schema['type']} but got {_shown(value)}")
        return
    if "const" in schema and not _same(value, schema["const"]):
        out.append(f"{at}: expected {json.dumps(schema['const'])} but got {_shown(value)}")
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        out.append(f"{at}: expected one of {', '.join(map(json.dumps, schema['enum']))} but got {_shown(value)}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            out.append(f"{at}: expected at least {schema['minLength']} character(s) but got {_shown(value)}")
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            out.append(f"{at}: expected text matching {schema['pattern']} but got {_shown(value)}")
    if "minimum" in schema and _TYPES["number"](value) and value < schema["minimum"]:  # type: ignore[operator]
        out.append(f"{at}: expected at least {schema['minimum']} but got {_shown(value)}")
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not _sub_problems(value, s, root, where)]
        if len(matching) != 1:
            out.append(f"{at}: expected exactly one of {len(schema['oneOf'])} forms to match, {len(matching)} did")
            if not matching:  # say why the closest (the non-null) form failed
                out.extend(_sub_problems(value, schema["oneOf"][-1], root, where)[:3])
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                out.append(f"{at}: missing required field {name!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            path = f"{where}/{name}" if where else str(name)
            if name in properties:
                _check(item, properties[name], root, path, out)
            elif extra is False:
                out.append(f"{at}: unexpected field {name!r}")
            elif isinstance(extra, dict):
                _check(item, extra, root, path, out)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _check(item, schema["items"], root, f"{where}/{index}" if where else str(index), out)


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` with ECMA-262's meaning of a final ``$``: the end of the text, never before a newline."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _sub_problems(value: object, schema: Mapping[str, Any], root: Mapping[str, Any], where: str) -> list[str]:
    found: list[str] = []
    _check(value, schema, root, where, found)
    return found


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


# --- loading ----------------------------------------------------------------------------------------------


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The files named: a directory stands for every ``*.json`` file in it, sorted by name."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise InvalidResultFile(path, "is a directory with no *.json result files in it")
            out.extend(found)
        else:
            out.append(path)
    return out


def load_results(paths: Iterable[str | Path]) -> list[Run]:
    """Load and validate every result file (directories expand to their ``*.json``).

    The same file named twice is read once. The first bad file raises
    :class:`InvalidResultFile`, whose message names the file and the problem.
    """
    runs: list[Run] = []
    seen: set[Path] = set()
    for path in expand_paths(paths):
        resolved = Path(os.path.realpath(path))  # never raises, even on a symlink loop
        if resolved in seen:
            continue
        seen.add(resolved)
        runs.extend(load_runs(path))
    if not runs:
        raise ResultFileError("no result files given; pass one or more files written by `blockspec run --json`")
    return runs


def load_result(path: Path) -> Run:
    """Read one result file; :class:`InvalidResultFile` says what is wrong with a bad one (an interop file too)."""
    runs = load_runs(path)
    if len(runs) != 1 or runs[0].pair is not None:
        raise InvalidResultFile(
            path, f"is an interop file holding {len(runs)} pairs' results; expected the result file of one run"
        )
    return runs[0]


def load_runs(path: Path) -> list[Run]:
    """The runs one file holds: a result file's one, or an interop file's one per pair (see :func:`load_interop`)."""
    text = _read(path)
    data = strict_json(path, text)
    notes: tuple[str, ...] = ()
    try:
        if _SURROGATE_ESCAPE.search(text):
            data, replaced = replace_surrogates(data)
            if replaced:
                notes = (
                    f"{path}: {replaced} lone surrogate(s) (text no UTF-8 output can hold, e.g. from a file name "
                    "that is not UTF-8) shown as U+FFFD \N{REPLACEMENT CHARACTER}",
                )
        if replace_surrogates(str(path))[1]:
            notes += (f"{path}: the file name is not UTF-8; it is shown with U+FFFD \N{REPLACEMENT CHARACTER}",)
        if isinstance(data, dict) and "kind" in data:
            return load_interop(path, data, notes)
        return [_checked(path, data, notes)]
    except RecursionError:
        raise InvalidResultFile(path, "nests objects or arrays too deeply to be a result file") from None


def _read(path: Path) -> str:
    try:
        return read_text_bounded(path, MAX_RESULT_BYTES)
    except FileNotFoundError:
        raise InvalidResultFile(path, "no such file") from None
    except IsADirectoryError:
        raise InvalidResultFile(path, "is a directory, expected a result file") from None
    except RefusedFile as exc:
        raise InvalidResultFile(
            path, f"{exc.problem}; expected a result file written by `blockspec run --json`"
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidResultFile(path, f"is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise InvalidResultFile(path, f"cannot be read: {exc.strerror or exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def strict_json(path: Path, text: str) -> Any:
    """``text`` parsed as strict JSON; :class:`InvalidResultFile` says where and why it is not."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidResultFile(
            path, f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidResultFile(path, "is not usable JSON: it nests arrays or objects too deeply to parse") from None
    except ValueError as exc:  # NaN/Infinity, or an integer of more digits than Python converts
        raise InvalidResultFile(path, f"is not usable JSON: {str(exc).split(';')[0]}") from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _checked(path: Path, data: Any, notes: tuple[str, ...]) -> Run:
    if not isinstance(data, dict) or "clauses" not in data or "backend" not in data:
        raise InvalidResultFile(
            path,
            "is not a blockspec result file (expected an object with backend and clauses, as `blockspec run --json` writes)",
        )
    _check_schema(path, data, "blockspec run --json")
    return _run(path, data, notes)


def _check_schema(path: Path, data: dict[str, Any], writer: str, part: str | None = None) -> None:
    """Refuse ``data`` unless it has this blockspec's schema version and follows the schema (``part`` of it)."""
    version = data.get("schema_version")
    if not _same(version, SCHEMA_VERSION):
        raise InvalidResultFile(
            path,
            f"has schema_version {json.dumps(version)}, but this blockspec reads schema_version {SCHEMA_VERSION} "
            f"(rerun `{writer}` with this version, or report with the blockspec that wrote it)",
        )
    problems = schema_problems(data, schema_part=part)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        where = "result.schema.json" + ("" if part is None else f"#/$defs/{part}")
        raise InvalidResultFile(path, f"does not follow {where}: " + "; ".join(problems[:5]) + more)


def load_interop(path: Path, data: dict[str, Any], notes: tuple[str, ...] = ()) -> list[Run]:
    """The runs of an interop file (``blockspec interop --json``): one per pair, each checked as a result file.

    The envelope follows ``#/$defs/interop`` of the schema; each of its ``results`` the schema's top level,
    and names as its backend one of the envelope's ``pairs``, once. An interrupted command's file
    (``incomplete``) gives the pairs that ran and a note saying which did not.
    """
    if data.get("kind") != "interop":
        raise InvalidResultFile(
            path, f'has kind {_shown(data.get("kind"))}; the only kind of result file is "interop" (blockspec interop)'
        )
    _check_schema(path, data, "blockspec interop --json", part="interop")
    pairs: list[str] = data["pairs"]
    runs: list[Run] = []
    for index, result in enumerate(data["results"]):
        run = _run(path, result, notes if index == 0 else ())
        name = run.backend
        if name not in pairs:
            raise InvalidResultFile(path, f"results/{index}: backend {_shown(name)} is not one of the file's pairs")
        if any(r.backend == name for r in runs):
            raise InvalidResultFile(path, f"results/{index}: pair {_shown(name)} has a result twice")
        runs.append(replace(run, pair=split_pair(name)))
    if not runs:
        why = data.get("incomplete", "")
        raise InvalidResultFile(
            path, "is an interop file with no pair's result" + (f" (the command stopped: {why})" if why else "")
        )
    unrun = [p for p in pairs if p not in {r.backend for r in runs}]
    if "incomplete" in data or unrun:
        shown = ", ".join(unrun[:10]) + (f" and {len(unrun) - 10} more" if len(unrun) > 10 else "")
        note = f"{path}: incomplete ({data.get('incomplete', 'no reason given')}); pair(s) not run: {shown or 'none'}"
        runs[0] = replace(runs[0], notes=(*runs[0].notes, note))
    return runs


def _run(path: Path, data: dict[str, Any], notes: tuple[str, ...] = ()) -> Run:
    verdicts: dict[str, ClauseVerdict] = {}
    for clause in data["clauses"]:
        if clause["id"] in verdicts:
            raise InvalidResultFile(path, f"clause {clause['id']} appears twice")
        failure = clause.get("failure")
        verdicts[clause["id"]] = ClauseVerdict(
            id=clause["id"],
            section=clause["section"],
            level=clause["level"],
            title=clause.get("title", ""),
            statement=clause.get("statement", ""),
            status=clause["status"],
            reason=clause.get("reason", ""),
            failure=None
            if failure is None
            else Failure(
                failure["message"],
                tuple(failure["example"]),
                failure["reproduce"],
                failure["rerun"],
                failure.get("test", ""),
            ),
            tests=tuple((t["nodeid"], t["outcome"]) for t in clause.get("tests", [])),
            unexpected_pass=bool((clause.get("known_failure") or {}).get("unexpected_pass", False)),
            stale_entry=bool((clause.get("known_failure") or {}).get("stale", False)),
        )
    started_text = data.get("started", "")
    return Run(
        source=path,
        backend=data["backend"]["name"],
        version=data["backend"]["version"],
        adapter=data["backend"].get("adapter", ""),
        device=data["device"],
        verdicts=verdicts,
        profile=data.get("profile", ""),
        started=_parse_started(path, started_text) if started_text else None,
        started_text=started_text,
        duration_s=data.get("duration_s"),
        environment=dict(data.get("environment", {})),
        tool=dict(data.get("tool", {})),
        notes=notes,
    )


def _parse_started(path: Path, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidResultFile(path, f"started: expected an ISO 8601 time but got {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
