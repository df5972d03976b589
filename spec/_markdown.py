"""Render the catalogue as Markdown (``blockspec spec``)."""

from __future__ import annotations

from spec._model import CAPABILITIES, SECTIONS, Catalogue, Clause


def render_catalogue(catalogue: Catalogue) -> str:
    """The whole catalogue as one Markdown document: the clauses grouped by chapter section, then the capabilities."""
    counts = {level: 0 for level in ("MUST", "SHOULD", "MAY")}
    for clause in catalogue.values():
        counts[clause.level.value] += 1
    lines = [
        "# blockspec clause catalogue",
        "",
        f"{len(catalogue)} clauses: " + ", ".join(f"{n} {level}" for level, n in counts.items()) + ".",
        "",
    ]
    for section in (s for s in SECTIONS if s.count(".") == 1):
        clauses = catalogue.in_section(section)
        if not clauses:
            continue  # a catalogue of one subject leaves the other's sections out
        lines += [f"## {section} {SECTIONS[section]}", ""]
        lines += ["| id | section | level | title |", "| --- | --- | --- | --- |"]
        lines += [f"| [{c.id}](#{c.id.lower()}) | {c.section} | {c.level.value} | {_cell(c.title)} |" for c in clauses]
        lines.append("")
        for clause in clauses:
            lines += _clause(clause)
    lines += _capabilities(catalogue)
    return "\n".join(lines).rstrip() + "\n"


def _capabilities(catalogue: Catalogue) -> list[str]:
    """Every capability a backend may declare, its one definition, and the clauses it gates."""
    lines = [
        "## Capabilities",
        "",
        "A backend declares the capabilities its framework can express; a clause requiring one it does "
        "not declare is `not-applicable`, never passed.",
        "",
        "| capability | meaning | gates |",
        "| --- | --- | --- |",
    ]
    for name, meaning in CAPABILITIES.items():
        gated = [c for c in catalogue.values() if name in c.requires]
        cells = (
            ", ".join(f"[{c.id}](#{c.id.lower()}) ({c.level.value})" for c in gated)
            or "none: it changes what the tests expect or draw"
        )
        lines.append(f"| `{name}` | {_cell(meaning)} | {cells} |")
    lines.append("")
    return lines


def _clause(clause: Clause) -> list[str]:
    lines = [
        f"### {clause.id}",
        "",
        f"**{clause.level.value}** · {clause.section} {SECTIONS[clause.section]} · {clause.title}"
        + ("" if clause.waivable else " · **not waivable**"),
        "",
        clause.statement,
        "",
        f"*Why:* {clause.rationale}",
        "",
    ]
    if clause.requires:
        lines += ["*Requires:* " + ", ".join(f"`{r}`" for r in clause.requires), ""]
    if clause.depends_on:
        lines += ["*Depends on:* " + ", ".join(f"[{d}](#{d.lower()})" for d in clause.depends_on), ""]
    if not clause.waivable:
        lines += ["*Not waivable:* a known-failure manifest cannot make its failure `xfail`.", ""]
    if clause.notes:
        lines += [f"*Notes:* {clause.notes}", ""]
    lines += ["> " + line if line else ">" for line in clause.chapter.splitlines()]
    lines.append("")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
