"""Load and validate the clause catalogue from its TOML files.

Every problem found is collected, so one run of the loader tells an author
everything that is wrong, each problem naming file, clause and field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from spec._errors import SpecError, SpecProblem
from spec._model import CAPABILITIES, DEFAULT_SUBJECT, SECTIONS, SUBJECTS, Catalogue, Clause, Level
from spec._reading import MAX_TOML_BYTES, load_toml_bounded, read_text_bounded

#: The directory holding the catalogue shipped with blockspec.
CLAUSES_DIR = Path(__file__).parent / "clauses"

#: ``\Z``, not ``$``: Python's ``$`` also matches before a final newline.
_ID = re.compile(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)+\Z")
_REQUIRED_TEXT = ("id", "section", "level", "title", "statement", "rationale", "chapter")
_OPTIONAL_TEXT = ("notes",)
_LISTS = ("requires", "depends_on")
_FLAGS = ("waivable",)
_FILE_KEYS = {"section", "title", "subject", "clause"}
#: ``load_catalogue(subject=ALL)`` returns the clauses of every subject.
ALL = "all"


def load_catalogue(directory: Path | str | None = None, *, subject: str = DEFAULT_SUBJECT) -> Catalogue:
    """Read every ``*.toml`` file of ``directory`` (the shipped catalogue by default).

    ``subject`` picks the clauses returned: ``"framework"`` (the default: the
    chapter's clauses, what ``blockspec run`` checks), ``"module"`` (the module
    contract of ``blockspec check-module``) or ``"all"``. Every file is
    validated whatever the subject, so a broken file is never hidden.

    Raises :class:`spec.SpecError` listing every problem when anything is
    invalid: unknown fields, sections, levels, subjects or capabilities,
    duplicate ids, ``waivable`` that is not a boolean or is false on a clause
    that is not MUST, ``depends_on`` targets that do not exist or belong to
    another subject, or dependency cycles; :class:`ValueError` for an unknown
    ``subject`` argument.
    """
    if subject != ALL and subject not in SUBJECTS:
        raise ValueError(f"Expected subject to be one of {[*SUBJECTS, ALL]} but got subject={subject!r}")
    root = CLAUSES_DIR if directory is None else Path(directory)
    files = sorted(root.glob("*.toml"))
    if not files:
        raise SpecError([SpecProblem(root, None, None, "no *.toml clause files in this directory")])
    key = _contents(root, files)
    clauses = _LOADED.get(key) if key is not None else None
    if clauses is None:
        clauses = _load_all(root, files)
        if key is not None and _contents(root, files) == key:  # not rewritten while it was parsed
            _LOADED[key] = clauses
            while len(_LOADED) > _LOADED_MAX:
                del _LOADED[next(iter(_LOADED))]
    return Catalogue([c for c in clauses if subject == ALL or c.subject == subject])


#: Catalogues read in this process, by what their files held (:func:`_contents`): a run, a report or a test
#: that loads one again gets it without parsing. Clauses are frozen and a Catalogue is read-only: sharing is safe.
_LOADED: dict[tuple[str, tuple[tuple[str, str], ...]], list[Clause]] = {}
_LOADED_MAX = 4


def _contents(root: Path, files: list[Path]) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """``root`` as given (clauses keep their path) and each file's name and text; None when one cannot be read.

    The texts themselves, not times or sizes: a file rewritten within the clock's granularity still differs.
    A file that cannot be read (or is refused) is left to the loader, which reports it.
    """
    try:
        return str(root), tuple((path.name, read_text_bounded(path, MAX_TOML_BYTES)) for path in files)
    except (OSError, UnicodeDecodeError):
        return None


def _load_all(root: Path, files: list[Path]) -> list[Clause]:
    """Every clause of ``files``, validated; raises :class:`SpecError` listing every problem."""
    problems: list[SpecProblem] = []
    clauses: list[Clause] = []
    seen: dict[str, Path] = {}
    covered: dict[str, Path] = {}
    for path in files:
        for clause in _load_file(path, problems, covered):
            if clause.id in seen:
                problems.append(
                    SpecProblem(path, clause.id, "id", f"duplicate id, first defined in {seen[clause.id].name}")
                )
                continue
            seen[clause.id] = path
            clauses.append(clause)
    for section in (s for s in SECTIONS if s.count(".") == 1):
        if section not in covered:
            problems.append(SpecProblem(root, None, None, f"no file declares section {section!r}"))
    _check_dependencies(clauses, problems)
    if problems:
        raise SpecError(problems)
    return clauses


def _load_file(path: Path, problems: list[SpecProblem], covered: dict[str, Path]) -> list[Clause]:
    try:
        document = load_toml_bounded(path)
    except RecursionError:
        problems.append(SpecProblem(path, None, None, "cannot be read as TOML: it nests arrays or tables too deeply"))
        return []
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # TOMLDecodeError is a ValueError; so is a huge int
        problems.append(SpecProblem(path, None, None, f"cannot be read as TOML: {exc}"))
        return []
    for key in sorted(set(document) - _FILE_KEYS):
        problems.append(SpecProblem(path, None, key, f"unknown top-level key; expected one of {sorted(_FILE_KEYS)}"))
    file_subject = document.get("subject", DEFAULT_SUBJECT)
    if not isinstance(file_subject, str) or file_subject not in SUBJECTS:
        problems.append(
            SpecProblem(path, None, "subject", f"expected one of {list(SUBJECTS)} but got {file_subject!r}")
        )
        file_subject = DEFAULT_SUBJECT
    file_section = document.get("section")
    if not isinstance(file_section, str) or file_section.count(".") != 1 or file_section not in SECTIONS:
        top = sorted(s for s in SECTIONS if s.count(".") == 1)
        problems.append(SpecProblem(path, None, "section", f"expected one of {top} but got {file_section!r}"))
        file_section = None
    elif file_section in covered:
        problems.append(
            SpecProblem(
                path, None, "section", f"section {file_section} is already declared by {covered[file_section].name}"
            )
        )
    else:
        covered[file_section] = path
    entries = document.get("clause", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(SpecProblem(path, None, "clause", "expected an array of tables ([[clause]])"))
        return []
    clauses = []
    for position, entry in enumerate(entries, start=1):
        clause = _parse_clause(path, position, entry, file_section, file_subject, problems)
        if clause is not None:
            clauses.append(clause)
    return clauses


def _parse_clause(
    path: Path,
    position: int,
    entry: dict[str, Any],
    file_section: str | None,
    subject: str,
    problems: list[SpecProblem],
) -> Clause | None:
    raw_id = entry.get("id")
    name = raw_id if isinstance(raw_id, str) else f"#{position}"
    before = len(problems)

    def problem(field: str | None, message: str) -> None:
        problems.append(SpecProblem(path, name, field, message))

    known = set(_REQUIRED_TEXT) | set(_OPTIONAL_TEXT) | set(_LISTS) | set(_FLAGS)
    for key in sorted(set(entry) - known):
        problem(key, f"unknown field; expected one of {sorted(known)}")
    for key in _REQUIRED_TEXT:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            problem(key, f"expected a non-empty string but got {value!r}")
    for key in _OPTIONAL_TEXT:
        if key in entry and not isinstance(entry[key], str):
            problem(key, f"expected a string but got {entry[key]!r}")
    for key in _LISTS:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problem(key, f"expected a list of strings but got {value!r}")
    for key in _FLAGS:
        if key in entry and not isinstance(entry[key], bool):
            problem(key, f"expected true or false but got {entry[key]!r}")
    if isinstance(raw_id, str) and not _ID.match(raw_id):
        problem("id", f"expected UPPER-CASE words joined by '-' (e.g. TIE-GRAD-SUM) but got {raw_id!r}")
    section = entry.get("section")
    if isinstance(section, str):
        if section not in SECTIONS:
            problem("section", f"unknown section {section!r}; known: {', '.join(SECTIONS)}")
        elif file_section is not None and not (section == file_section or section.startswith(file_section + ".")):
            problem("section", f"section {section} does not belong in the file of section {file_section}")
    level = entry.get("level")
    if isinstance(level, str) and level not in Level.__members__:
        problem("level", f"expected one of {list(Level.__members__)} but got {level!r}")
    if entry.get("waivable") is False and isinstance(level, str) and level != Level.MUST.value:
        problem("waivable", f"only a MUST clause can be made not waivable; this one is {level}")
    for capability in entry.get("requires", []) if isinstance(entry.get("requires"), list) else []:
        if isinstance(capability, str) and capability not in CAPABILITIES:
            problem("requires", f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    if len(problems) > before:
        return None
    return Clause(
        id=entry["id"],
        section=entry["section"],
        level=Level(entry["level"]),
        title=entry["title"].strip(),
        statement=" ".join(entry["statement"].split()),
        rationale=" ".join(entry["rationale"].split()),
        chapter=entry["chapter"].strip(),
        requires=tuple(entry.get("requires", [])),
        depends_on=tuple(entry.get("depends_on", [])),
        notes=" ".join(entry.get("notes", "").split()),
        subject=subject,
        waivable=entry.get("waivable", True),
        source=path,
    )


def _check_dependencies(clauses: list[Clause], problems: list[SpecProblem]) -> None:
    by_id = {c.id: c for c in clauses}
    for clause in clauses:
        for target in clause.depends_on:
            where = clause.source or Path("?")
            if target == clause.id:
                problems.append(SpecProblem(where, clause.id, "depends_on", "a clause cannot depend on itself"))
            elif target not in by_id:
                problems.append(SpecProblem(where, clause.id, "depends_on", f"no clause has id {target!r}"))
            elif clause.level is Level.MUST and by_id[target].level is not Level.MUST:
                problems.append(
                    SpecProblem(
                        where,
                        clause.id,
                        "depends_on",
                        f"a MUST clause cannot depend on {target} ({by_id[target].level.value}): "
                        "its verdict would hang on a weaker requirement",
                    )
                )
            if target in by_id and by_id[target].subject != clause.subject:
                problems.append(
                    SpecProblem(
                        where,
                        clause.id,
                        "depends_on",
                        f"{target} is a {by_id[target].subject} clause and this one a {clause.subject} clause: "
                        "they are never checked in one run",
                    )
                )
    for cycle in _cycles(by_id):
        first = by_id[cycle[0]]
        problems.append(
            SpecProblem(first.source or Path("?"), first.id, "depends_on", "dependency cycle: " + " -> ".join(cycle))
        )


def _cycles(by_id: dict[str, Clause]) -> list[list[str]]:
    """Each dependency cycle once, as a path that ends where it starts."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for target in by_id[node].depends_on:
            if target not in by_id:
                continue
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[node] = 2

    for clause_id in by_id:
        if clause_id not in state:
            visit(clause_id, [])
    return found
