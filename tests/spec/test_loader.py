"""The clause catalogue loader: the shipped catalogue, and every kind of broken catalogue."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spec
from spec import CAPABILITIES, CLAUSES_DIR, SECTIONS, Level

TOP_SECTIONS = ("4.1", "4.2", "4.3", "4.4", "4.5")
#: The module contract's section (subject "module").
MODULE_SECTIONS = ("MC.1",)
#: Fields every clause must have, as the loader's docstring and DESIGN.md list them.
REQUIRED_FIELDS = ("id", "section", "level", "title", "statement", "rationale", "chapter")
LIST_FIELDS = ("requires", "depends_on")

Document = dict[str, Any]
#: A catalogue directory's content: a parsed document, raw text (written as is), or None (no such file).
Files = dict[str, "Document | str | None"]

SHIPPED: dict[str, Document] = {
    path.name: tomllib.loads(path.read_text(encoding="utf-8")) for path in sorted(CLAUSES_DIR.glob("*.toml"))
}


# --- writing a catalogue back --------------------------------------------------------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string with ensure_ascii=False is a valid TOML basic string.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"Expected a TOML scalar or list but got {value!r}")


def dump_toml(document: Document) -> str:
    """A document of top-level scalars and one ``[[clause]]`` array, one key per line."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in document.items() if key != "clause"]
    for table in document.get("clause", []):
        lines += ["", "[[clause]]"] + [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def write_catalogue(root: Path, files: Files) -> None:
    for name, content in files.items():
        if content is None:
            continue
        text = content if isinstance(content, str) else dump_toml(content)
        (root / name).write_text(text, encoding="utf-8")


# --- the shipped catalogue -----------------------------------------------------------------


def _raw_ids(subject: str) -> list[str]:
    return [
        entry["id"]
        for document in SHIPPED.values()
        if subject == spec.ALL or document.get("subject", spec.DEFAULT_SUBJECT) == subject
        for entry in document["clause"]
    ]


def test_shipped_catalogue_loads_with_unique_ids_in_every_section() -> None:
    catalogue = spec.load_catalogue(subject=spec.ALL)
    assert len(catalogue) > 40, f"observed {len(catalogue)} clauses; expected more than 40"
    raw_ids = _raw_ids(spec.ALL)
    duplicates = sorted({i for i in raw_ids if raw_ids.count(i) > 1})
    assert not duplicates, f"observed duplicate ids {duplicates}; expected every id once"
    assert sorted(catalogue) == sorted(raw_ids), "observed loaded ids differ from the ids in the TOML files"
    for section in TOP_SECTIONS + MODULE_SECTIONS:
        clauses = catalogue.in_section(section)
        assert clauses, f"observed no clause in section {section}; expected at least one"
        assert all(c.chapter_section == section for c in clauses), f"clauses of {section} cite other sections"


@pytest.mark.parametrize("subject", [*spec.SUBJECTS, spec.ALL])
def test_each_subject_gets_exactly_its_clauses(subject: str) -> None:
    """The default is the framework's chapter clauses alone, so `blockspec run` of a backend sees no module clause."""
    catalogue = spec.load_catalogue(subject=subject)
    assert list(catalogue) == [i for i in _raw_ids(spec.ALL) if i in set(_raw_ids(subject))], (
        f"observed {subject} clauses {sorted(catalogue)}; expected {sorted(_raw_ids(subject))} in file order"
    )
    assert subject == spec.ALL or all(c.subject == subject for c in catalogue.values()), f"{subject}: foreign clause"
    default = spec.load_catalogue()
    assert list(default) == list(spec.load_catalogue(subject="framework")), "observed a default other than framework"
    assert not any(c.id.startswith("MOD-") for c in default.values()), "observed a module clause by default"
    module = spec.load_catalogue(subject="module")
    assert len(module) >= 12 and all(c.section.startswith("MC.1") for c in module.values()), (
        f"observed module clauses {[(c.id, c.section) for c in module.values()]}; expected 12 or more in MC.1"
    )


@pytest.mark.parametrize("subject", ["frameworks", "", "ALL", "module "])
def test_unknown_subject_argument_is_refused(subject: str) -> None:
    with pytest.raises(ValueError, match=r"Expected subject to be one of") as info:
        spec.load_catalogue(subject=subject)
    assert repr(subject) in str(info.value), f"observed {info.value}; expected the argument named"


def test_shipped_catalogue_is_consistent() -> None:
    catalogue = spec.load_catalogue(subject=spec.ALL)
    for clause in catalogue.values():
        assert clause.section in SECTIONS, f"{clause.id}: observed section {clause.section}; expected a known one"
        assert set(clause.requires) <= set(CAPABILITIES), f"{clause.id}: observed requires {clause.requires}"
        for target in clause.depends_on:
            assert target in catalogue, f"{clause.id}: depends on {target}, which is not a clause"
            assert catalogue[target].subject == clause.subject, f"{clause.id} depends on {target} of another subject"
            if clause.level is Level.MUST:
                assert catalogue[target].level is Level.MUST, f"{clause.id} (MUST) depends on a weaker {target}"


def test_loader_reads_a_copied_catalogue_identically(tmp_path: Path) -> None:
    """The rewriting used by the corruption test below changes nothing by itself."""
    write_catalogue(tmp_path, dict(SHIPPED))
    copied = spec.load_catalogue(tmp_path, subject=spec.ALL)
    shipped = spec.load_catalogue(subject=spec.ALL)
    assert copied.clauses == shipped.clauses, "observed a different catalogue after rewriting; expected the same"
    assert all(c.source is not None and c.source.parent == tmp_path for c in copied.values()), "sources not in tmp"


def test_a_catalogue_loaded_again_is_not_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_catalogue(tmp_path, dict(SHIPPED))
    first = spec.load_catalogue(tmp_path, subject=spec.ALL)
    parsed: list[Path] = []
    real = spec._loader._load_file
    monkeypatch.setattr(spec._loader, "_load_file", lambda path, *a: parsed.append(path) or real(path, *a))
    again = spec.load_catalogue(tmp_path, subject=spec.ALL)
    assert not parsed, f"observed {[p.name for p in parsed]} parsed again; expected the catalogue read once"
    assert again.clauses == first.clauses, "observed another catalogue the second time; expected the same"
    module = spec.load_catalogue(tmp_path, subject="module")
    assert not parsed and {c.subject for c in module.values()} == {"module"}, (
        f"observed {[p.name for p in parsed]} parsed, subjects {sorted({c.subject for c in module.values()})}; "
        f"expected the module clauses alone, from the catalogue already read"
    )


def test_a_catalogue_file_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    """Same size, same modification time, other text: the loader sees the new text."""
    write_catalogue(tmp_path, dict(SHIPPED))
    path = sorted(tmp_path.glob("*.toml"))[0]
    before = spec.load_catalogue(tmp_path, subject=spec.ALL)
    clause = next(c for c in before.values() if c.source == path)
    text = path.read_text(encoding="utf-8")
    changed = "X" * len(clause.title)
    assert text.count(f'"{clause.title}"') == 1, f"observed the title {clause.title!r} not once in {path.name}"
    times = path.stat()
    path.write_text(text.replace(f'"{clause.title}"', f'"{changed}"'), encoding="utf-8")
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
    after = spec.load_catalogue(tmp_path, subject=spec.ALL)
    assert after[clause.id].title == changed, (
        f"observed {clause.id} titled {after[clause.id].title!r} after the rewrite; expected {changed!r}"
    )


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: p], ids=["missing-dir", "empty-dir"])
def test_directory_without_clause_files_is_refused(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    directory = make(tmp_path)
    with pytest.raises(spec.SpecError) as info:
        spec.load_catalogue(directory)
    assert str(directory.name) in str(info.value), f"observed {info.value}; expected the directory named"


@pytest.mark.parametrize(
    ("subject", "sections", "absent"),
    [
        ("framework", TOP_SECTIONS, MODULE_SECTIONS),
        ("module", MODULE_SECTIONS, TOP_SECTIONS),
        (spec.ALL, TOP_SECTIONS + MODULE_SECTIONS, ()),
    ],
)
def test_render_catalogue_has_every_clause_and_statement(
    subject: str, sections: tuple[str, ...], absent: tuple[str, ...]
) -> None:
    catalogue = spec.load_catalogue(subject=subject)
    text = spec.render_catalogue(catalogue)
    assert text.startswith("# "), f"observed first line {text.splitlines()[0]!r}; expected a Markdown title"
    for clause in catalogue.values():
        assert f"### {clause.id}" in text, f"observed no heading for {clause.id}"
        assert clause.statement in text, f"observed no statement of {clause.id}"
    for section in sections:
        assert f"## {section} {SECTIONS[section]}" in text, f"observed no heading for section {section}"
    for section in absent:
        assert f"## {section} " not in text, f"{subject}: observed a heading for the other subject's {section}"


def test_security_clauses_are_not_waivable_and_the_rest_are() -> None:
    """IO-NO-CODE-EXECUTION is a security property: no manifest can make its failure xfail."""
    catalogue = spec.load_catalogue(subject=spec.ALL)
    unwaivable = sorted(c.id for c in catalogue.values() if not c.waivable)
    assert unwaivable == ["IO-NO-CODE-EXECUTION"], f"observed not-waivable clauses {unwaivable}"
    text = spec.render_catalogue(catalogue)
    section = text[text.index("### IO-NO-CODE-EXECUTION") :].split("\n### ", 1)[0]
    assert "not waivable" in section.lower(), f"observed the clause rendered as\n{section}\nexpected 'not waivable'"
    assert text.lower().count("not waivable") == 2 * len(unwaivable), "observed 'not waivable' on another clause"


def test_spec_prints_every_capability_once_with_its_definition_and_the_clauses_it_gates() -> None:
    catalogue = spec.load_catalogue()
    text = spec.render_catalogue(catalogue)
    assert "## Capabilities" in text, "observed no Capabilities section in `blockspec spec`"
    table = text[text.index("## Capabilities") :]
    for name, meaning in CAPABILITIES.items():
        rows = [line for line in table.splitlines() if line.startswith(f"| `{name}` |")]
        assert len(rows) == 1, f"observed {len(rows)} rows for capability {name}; expected 1"
        assert meaning.replace("|", "\\|") in rows[0], f"observed row {rows[0]!r}; expected the definition of {name}"
        for clause in catalogue.values():
            gated = f"[{clause.id}](#{clause.id.lower()})" in rows[0]
            assert gated == (name in clause.requires), (
                f"observed {clause.id} {'listed' if gated else 'not listed'} under {name}; requires {clause.requires}"
            )


def test_protocol_members_belong_to_defined_capabilities() -> None:
    """One definition of every capability: the protocol names members only for capabilities of spec.CAPABILITIES."""
    from conformance._protocol import CAPABILITY_MEMBERS

    stray = sorted(set(CAPABILITY_MEMBERS) - set(CAPABILITIES))
    assert not stray, f"observed protocol capabilities {stray} that spec.CAPABILITIES does not define"


def test_device_name_capabilities_gate_exactly_what_they_name() -> None:
    """The MUST clauses on device names never hide behind PyTorch's SHOULD that 'cuda' != 'cuda:0'."""
    catalogue = spec.load_catalogue()
    gated = {
        cap: sorted(c.id for c in catalogue.values() if cap in c.requires) for cap in ("device-names", "device-objects")
    }
    assert gated == {
        "device-names": ["DEV-COUNT", "DEV-UNINDEXED-IS-ZERO"],
        "device-objects": ["DEV-NAME-EQUALITY"],
    }, f"observed {gated}"
    for cap in ("device-names", "device-objects"):
        levels = {catalogue[cid].level for cid in gated[cap]}
        assert len(levels) == 1, f"observed {cap} gating clauses of levels {sorted(levels)}; expected one level"


# --- one corruption at a time -----------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """A problem the loader must report: its file, clause (None: any), field and message fragments."""

    files: frozenset[str]
    clauses: frozenset[str | None] | None
    field: str | None
    fragments: tuple[str, ...] = ()

    def matches(self, problem: spec.SpecProblem) -> bool:
        return (
            problem.file.name in self.files
            and (self.clauses is None or problem.clause in self.clauses)
            and problem.field == self.field
            and all(f in problem.message for f in self.fragments)
        )


Corruption = Callable[[st.DataObject, Files, Path], Expected]


def _parsed(files: Files, name: str) -> Document:
    document = files[name]
    assert isinstance(document, dict)
    return document


def _pick_clause(data: st.DataObject, files: Files) -> tuple[str, int, dict[str, Any]]:
    name = data.draw(st.sampled_from(sorted(files)), label="file")
    entries = _parsed(files, name)["clause"]
    index = data.draw(st.integers(0, len(entries) - 1), label="clause index")
    return name, index, entries[index]


def _all_clauses(files: Files) -> list[tuple[str, dict[str, Any]]]:
    return [(name, entry) for name in sorted(files) for entry in _parsed(files, name)["clause"]]


def _one(name: str, clause: str | None, field: str | None, *fragments: str) -> Expected:
    return Expected(frozenset({name}), frozenset({clause}), field, fragments)


def remove_required_field(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    field = data.draw(st.sampled_from(REQUIRED_FIELDS), label="removed field")
    clause_id = entry["id"]
    del entry[field]
    if field == "id":
        return Expected(frozenset({name}), None, "id")
    return _one(name, clause_id, field)


def wrong_type(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    field = data.draw(st.sampled_from((*REQUIRED_FIELDS, *LIST_FIELDS, "notes")), label="field")
    if field in LIST_FIELDS:
        value: object = data.draw(st.sampled_from(["MUST-BE-A-LIST", 3, [1, 2], [True]]), label="value")
    else:
        value = data.draw(st.sampled_from([7, 1.5, True, ["a", "list"]]), label="value")
    clause_id = entry["id"]
    entry[field] = value
    if field == "id":
        return Expected(frozenset({name}), None, "id")
    return _one(name, clause_id, field)


def unknown_field(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    field = data.draw(st.sampled_from(["colour", "note", "require", "depends", "Level"]), label="unknown field")
    entry[field] = "x"
    return _one(name, entry["id"], field)


def unknown_level(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    level = data.draw(st.sampled_from(["must", "SHALL", "MUST NOT", "OPTIONAL", "Should"]), label="level")
    entry["level"] = level
    return _one(name, entry["id"], "level", level)


def unknown_section(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    section = data.draw(st.sampled_from(["4.6", "5.1", "4.1.9", "4", "4.1.1.1", "4.10"]), label="section")
    entry["section"] = section
    return _one(name, entry["id"], "section", section)


def foreign_section(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    own = _parsed(files, name)["section"]
    others = [s for s in SECTIONS if s != own and not s.startswith(own + ".")]
    section = data.draw(st.sampled_from(others), label="foreign section")
    entry["section"] = section
    return _one(name, entry["id"], "section", section)


def unknown_capability(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    capability = data.draw(st.sampled_from(["telepathy", "Apply", "gpu", "file_io"]), label="capability")
    entry["requires"] = [*entry.get("requires", []), capability]
    return _one(name, entry["id"], "requires", capability)


def duplicate_id(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    other = data.draw(st.sampled_from(sorted(files)), label="file of the copy")
    copy_ = {**copy.deepcopy(entry), "section": _parsed(files, other)["section"], "depends_on": []}
    _parsed(files, other)["clause"].append(copy_)
    # The loader reads files in name order: the later one holds the duplicate.
    return _one(max(name, other), entry["id"], "id", "duplicate")


def missing_dependency(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    target = data.draw(st.sampled_from(["NO-SUCH-CLAUSE", "SEQ-INDEXX", "TIE-GRAD-SUMS"]), label="missing target")
    entry["depends_on"] = [*entry.get("depends_on", []), target]
    return _one(name, entry["id"], "depends_on", target)


def self_dependency(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    entry["depends_on"] = [*entry.get("depends_on", []), entry["id"]]
    return _one(name, entry["id"], "depends_on", "itself")


def dependency_cycle(data: st.DataObject, files: Files, root: Path) -> Expected:
    every = _all_clauses(files)
    length = data.draw(st.integers(2, 6), label="cycle length")
    chosen = data.draw(
        st.lists(st.sampled_from(range(len(every))), min_size=length, max_size=length, unique=True), label="cycle"
    )
    # The chosen clauses lose their own dependencies, so the only cycle is the one made here.
    ring = [every[i] for i in chosen]
    for (_, entry), (_, target) in zip(ring, ring[1:] + ring[:1], strict=True):
        entry["depends_on"] = [target["id"]]
    ids = [entry["id"] for _, entry in ring]
    return Expected(frozenset(n for n, _ in ring), frozenset(ids), "depends_on", ("cycle", *ids))


def must_depends_on_should(data: st.DataObject, files: Files, root: Path) -> Expected:
    every = _all_clauses(files)
    musts = [(n, e) for n, e in every if e["level"] == "MUST"]
    shoulds = [e for _, e in every if e["level"] == "SHOULD"]
    name, entry = data.draw(st.sampled_from(musts), label="MUST clause")
    weaker = data.draw(st.sampled_from(shoulds), label="SHOULD clause")
    entry["depends_on"] = [*entry.get("depends_on", []), weaker["id"]]
    return _one(name, entry["id"], "depends_on", weaker["id"])


def malformed_id(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    bad = data.draw(st.sampled_from(["seq-index", "SEQ_INDEX", "SEQINDEX", "SEQ-", "1SEQ-X", "SEQ INDEX"]), label="id")
    entry["id"] = bad
    return _one(name, bad, "id", bad)


def invalid_toml(data: st.DataObject, files: Files, root: Path) -> Expected:
    name = data.draw(st.sampled_from(sorted(files)), label="file")
    lines = dump_toml(_parsed(files, name)).splitlines()
    at = data.draw(st.integers(0, len(lines)), label="line")
    junk = data.draw(st.sampled_from(["this is not toml", "[[clause]", 'id = "unterminated', "= 3"]), label="junk")
    files[name] = "\n".join([*lines[:at], junk, *lines[at:]]) + "\n"
    return _one(name, None, None, "TOML")


def missing_section_file(data: st.DataObject, files: Files, root: Path) -> Expected:
    name = data.draw(st.sampled_from(sorted(files)), label="removed file")
    section = _parsed(files, name)["section"]
    files[name] = None
    return _one(root.name, None, None, repr(section))


def unknown_top_level_key(data: st.DataObject, files: Files, root: Path) -> Expected:
    name = data.draw(st.sampled_from(sorted(files)), label="file")
    key = data.draw(st.sampled_from(["version", "clauses", "author"]), label="key")
    _parsed(files, name)[key] = "x"
    return _one(name, None, key)


def unknown_file_section(data: st.DataObject, files: Files, root: Path) -> Expected:
    name = data.draw(st.sampled_from(sorted(files)), label="file")
    section = data.draw(st.sampled_from(["4.6", "4.1.1", "5"]), label="file section")
    _parsed(files, name)["section"] = section
    return _one(name, None, "section", section)


def unknown_subject(data: st.DataObject, files: Files, root: Path) -> Expected:
    name = data.draw(st.sampled_from(sorted(files)), label="file")
    subject = data.draw(st.sampled_from(["modules", "Framework", "backend", ""]), label="subject")
    _parsed(files, name)["subject"] = subject
    return _one(name, None, "subject", repr(subject))


def cross_subject_dependency(data: st.DataObject, files: Files, root: Path) -> Expected:
    every = _all_clauses(files)
    module = [(n, e) for n, e in every if _parsed(files, n).get("subject") == "module"]
    framework = [(n, e) for n, e in every if "subject" not in _parsed(files, n)]
    direction = data.draw(st.booleans(), label="module clause depends on a framework one")
    dependents, targets = (module, framework) if direction else (framework, module)
    name, entry = data.draw(st.sampled_from(dependents), label="dependent")
    _, target = data.draw(st.sampled_from(targets), label="target")
    entry["depends_on"] = [*entry.get("depends_on", []), target["id"]]
    return _one(name, entry["id"], "depends_on", target["id"], "clause and this one a")


def waivable_not_a_boolean(data: st.DataObject, files: Files, root: Path) -> Expected:
    name, _, entry = _pick_clause(data, files)
    entry["waivable"] = data.draw(st.sampled_from(["no", 0, 1, "false", ["false"]]), label="waivable")
    return _one(name, entry["id"], "waivable", "true or false")


def should_made_not_waivable(data: st.DataObject, files: Files, root: Path) -> Expected:
    shoulds = [(n, e) for n, e in _all_clauses(files) if e["level"] != "MUST"]
    name, entry = data.draw(st.sampled_from(shoulds), label="SHOULD clause")
    entry["waivable"] = False
    return _one(name, entry["id"], "waivable", "only a MUST clause")


CORRUPTIONS: dict[str, Corruption] = {
    f.__name__: f
    for f in (
        remove_required_field,
        wrong_type,
        unknown_field,
        unknown_level,
        unknown_section,
        foreign_section,
        unknown_capability,
        duplicate_id,
        missing_dependency,
        self_dependency,
        dependency_cycle,
        must_depends_on_should,
        malformed_id,
        invalid_toml,
        missing_section_file,
        unknown_top_level_key,
        unknown_file_section,
        unknown_subject,
        cross_subject_dependency,
        waivable_not_a_boolean,
        should_made_not_waivable,
    )
}


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_every_corruption_is_reported_with_file_clause_and_field(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(CORRUPTIONS)), label="corruption")
    files: Files = dict(copy.deepcopy(SHIPPED))
    with tempfile.TemporaryDirectory(prefix="catalogue-") as tmp:
        root = Path(tmp)
        expected = CORRUPTIONS[kind](data, files, root)
        write_catalogue(root, files)
        with pytest.raises(spec.SpecError) as info:
            spec.load_catalogue(root)
    error = info.value
    found = [p for p in error.problems if expected.matches(p)]
    listing = "\n".join(f"  {p.file.name} | {p.clause} | {p.field} | {p.message}" for p in error.problems)
    assert found, f"{kind}: observed problems\n{listing}\nexpected one matching {expected}"
    problem = found[0]
    text = str(error)
    assert str(problem) in text, f"observed message {text!r}; expected it to contain {str(problem)!r}"
    assert problem.file.name in str(problem), f"observed {str(problem)!r}; expected file {problem.file.name}"
    if problem.clause is not None:
        assert problem.clause in str(problem), f"observed {str(problem)!r}; expected clause {problem.clause}"
    if problem.field is not None:
        assert repr(problem.field) in str(problem), f"observed {str(problem)!r}; expected field {problem.field!r}"


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_each_corruption_kind_is_refused(kind: str, tmp_path: Path) -> None:
    """Every kind once, whatever the hypothesis test above happened to draw."""

    @settings(max_examples=1, database=None, deadline=None)
    @given(data=st.data())
    def once(data: st.DataObject) -> None:
        files: Files = dict(copy.deepcopy(SHIPPED))
        root = Path(tempfile.mkdtemp(dir=tmp_path))
        expected = CORRUPTIONS[kind](data, files, root)
        write_catalogue(root, files)
        with pytest.raises(spec.SpecError) as info:
            spec.load_catalogue(root)
        assert any(expected.matches(p) for p in info.value.problems), f"{kind}: observed {info.value}"

    once()
