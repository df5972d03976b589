"""Traceability: every clause is checked (or visibly pending), every check cites a clause."""

from __future__ import annotations

import re

import pytest

from spec import ALL, CAPABILITIES, Level, load_catalogue
from tests.helpers import REPO_ROOT, SUITES, cited, clauses_with_tests, conformance_tests

#: Every clause of every subject: the chapter suite checks the framework ones, the module suite the module ones.
CATALOGUE = load_catalogue(subject=ALL)
#: Sections whose clauses may still be pending: none, every clause has a test.
MAY_BE_PENDING: tuple[str, ...] = ()


@pytest.mark.parametrize("subject", list(SUITES))
def test_every_conformance_test_cites_exactly_one_existing_clause_of_its_subject(subject: str) -> None:
    problems = []
    for name, function in conformance_tests(subject):
        ids = cited(function)
        if len(ids) != 1:
            problems.append(f"{name} cites {ids} (expected exactly one clause id)")
        elif ids[0] not in CATALOGUE:
            problems.append(f"{name} cites {ids[0]!r}, which is not in the catalogue")
        elif CATALOGUE[ids[0]].subject != subject:
            problems.append(f"{name} cites {ids[0]}, a {CATALOGUE[ids[0]].subject} clause, from the {subject} suite")
    assert not problems, "\n".join(problems)


def test_every_module_clause_has_exactly_one_test() -> None:
    cited_ids = [c for _, function in conformance_tests("module") for c in cited(function)]
    module_ids = [c.id for c in CATALOGUE.values() if c.subject == "module"]
    assert sorted(cited_ids) == sorted(module_ids), (
        f"observed module-suite citations {sorted(cited_ids)}; expected each of {sorted(module_ids)} once"
    )


def test_the_suite_is_not_empty() -> None:
    names = [name for name, _ in conformance_tests()]
    assert len(names) >= 40, f"expected at least 40 conformance tests, found {len(names)}: {names}"


def test_pending_clauses_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    """Every clause has a test or is pending; the pending ones are printed, and only allowed sections may have them."""
    pending = [c for c in CATALOGUE.values() if c.id not in clauses_with_tests(ALL)]
    with capsys.disabled():
        print(f"\n{len(pending)} pending clause(s) (no conformance test yet):")
        for clause in pending:
            print(f"  pending {clause.id} ({clause.section} {clause.level.value}) {clause.title}")
    outside = [c.id for c in pending if c.chapter_section not in MAY_BE_PENDING]
    assert not outside, (
        f"clauses of sections {sorted({CATALOGUE[c].section for c in outside})} without a test: {outside}"
    )
    covered_sections = {CATALOGUE[c].chapter_section for c in clauses_with_tests(ALL)}
    assert {"4.1", "4.2", "MC.1"} <= covered_sections, f"sections with tests: {sorted(covered_sections)}"


# --- the README and the guide say what the catalogue holds -------------------------------------------------


def _readme() -> str:
    return (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_clause_counts_agree_with_the_catalogue() -> None:
    """README's counts are what `blockspec spec` loads: per subject, per level and per chapter section."""
    readme = _readme()
    counts = {
        subject: (
            len(c),
            sum(x.level is Level.MUST for x in c.values()),
            sum(x.level is Level.SHOULD for x in c.values()),
        )
        for subject in ("framework", "module")
        for c in [load_catalogue(subject=subject)]
    }
    framework, module = counts["framework"], counts["module"]
    said = f"{framework[0]} chapter clauses ({framework[1]} MUST,\n{framework[2]} SHOULD)"
    assert said in readme, f"observed no {said!r} in README.md; the catalogue has {framework}"
    said = f"{module[0]} module-contract clauses ({module[1]} MUST,\n{module[2]} SHOULD)"
    assert said in readme, f"observed no {said!r} in README.md; the catalogue has {module}"
    assert f"**module contract**, {module[0]}\nclauses" in readme, (
        f"observed another module-contract count than {module[0]}"
    )
    catalogue = load_catalogue()
    for section in ("4.1", "4.2", "4.3", "4.4", "4.5"):
        n = len(catalogue.in_section(section))
        row = re.search(rf"^\| {re.escape(section)} [^|]+ \| (\d+) \|", readme, re.M)
        assert row is not None and int(row.group(1)) == n, (
            f"observed README's row for {section}: {row.group(0) if row else None!r}; the catalogue has {n} clauses"
        )


@pytest.mark.parametrize("document", ["README.md", "docs/writing-a-backend.md"])
def test_capability_lists_name_exactly_the_defined_capabilities(document: str) -> None:
    """One definition of every capability (spec.CAPABILITIES); the docs list each by name, and no other."""
    text = (REPO_ROOT / document).read_text(encoding="utf-8")
    if document == "README.md":
        text = text[text.index("### Declaring capabilities") :].split("\n### ", 1)[0]
        listed = set(re.findall(r"`([a-z]+(?:-[a-z]+)*)`", text.split("Declare one only")[0]))
    else:
        text = text[text.index("## Capabilities: one definition each") :].split("\n## ", 1)[0]
        listed = set(re.findall(r"^\| `([a-z-]+)` \|", text, re.M))
    listed &= set(CAPABILITIES) | {name for name in listed if "-" in name}  # a hyphenated word is a capability
    assert listed == set(CAPABILITIES), (
        f"{document}: observed capabilities {sorted(listed ^ set(CAPABILITIES))} listed or missing "
        f"against spec.CAPABILITIES"
    )
