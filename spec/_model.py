"""The vocabulary of the spec: levels, sections, capabilities, clauses."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


class Level(enum.StrEnum):
    """How binding a clause is (RFC 2119 words)."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


#: Every section of the chapter a clause may cite, with its title.
SECTIONS: Mapping[str, str] = {
    "4.1": "Layers and blocks",
    "4.1.1": "A custom block",
    "4.1.2": "The sequential block",
    "4.2": "Parameter management",
    "4.2.1": "Parameter access",
    "4.2.2": "Parameter initialization",
    "4.2.3": "Tied parameters",
    "4.3": "Custom layers",
    "4.3.1": "Layers without parameters",
    "4.3.2": "Layers with parameters",
    "4.4": "File I/O",
    "4.4.1": "Loading and saving tensors",
    "4.4.2": "Loading and saving model parameters",
    "4.5": "GPUs",
    "4.5.1": "Computing devices",
    "4.5.2": "Tensors and GPUs",
    "4.5.3": "Neural networks and GPUs",
    # 4.4 across frameworks: a state dict written by one framework, read by another (blockspec interop).
    "XF.1": "4.4 across frameworks",
    "XF.1.1": "Keys and layouts",
    "XF.1.2": "Dtypes and bits",
    "XF.1.3": "Tied weights",
    "XF.1.4": "Forward equality",
    # The module contract: what any user-written module owes, generalized from the chapter.
    "MC.1": "The module contract",
    "MC.1.1": "Registration",
    "MC.1.2": "Gradients",
    "MC.1.3": "Purity and determinism",
    "MC.1.4": "State and copies",
    "MC.1.5": "Placement and precision",
    "MC.1.6": "Input layout and batch",
}

#: What a clause is checked on: a framework through its Backend adapter (the chapter's
#: clauses, ``blockspec run``), or a user's own module through a factory (``blockspec check-module``).
SUBJECTS: Mapping[str, str] = {
    "framework": "a deep-learning framework, through a Backend adapter (blockspec run)",
    "module": "a user's own PyTorch module, through a zero-argument factory (blockspec check-module)",
    "interop": "an ordered pair of frameworks, A's safetensors file read by B (blockspec interop)",
}

#: The subject of a clause file that does not name one.
DEFAULT_SUBJECT = "framework"

#: What a backend may declare it can express: the one definition of every capability (``blockspec spec``
#: prints it, with the clauses each one gates). A clause that requires a capability the backend lacks
#: is reported ``not-applicable``, never passed. A capability names one concept, so that no MUST
#: clause hides behind a SHOULD only one framework's spelling satisfies: ``device-names`` gates the
#: MUST clauses on TYPE:INDEX names, ``device-objects`` PyTorch's ``device('cuda') != device('cuda:0')``.
CAPABILITIES: Mapping[str, str] = {
    "mutable-parameters": (
        "parameters are objects whose value can be changed in place while the "
        "object (and every module holding it) stays the same"
    ),
    "grad-attribute": (
        "a parameter carries its gradient as an attribute (PyTorch's .grad) that "
        "is empty before any backward pass and accumulates across passes"
    ),
    "apply": "a module can visit itself and every submodule with a function (Module.apply)",
    "custom-sequential": (
        "a user-written container can register children under string keys in order (the chapter's MySequential)"
    ),
    "buffers": "a module can register non-parameter tensors (buffers) that follow it",
    "module-repr": "printing a module shows its nested structure",
    "lazy-init": "layers can infer their input width on the first call (LazyLinear)",
    "file-io": (
        "loose tensors, and lists and dicts nesting them, can be saved to and loaded from files (the chapter's "
        "save(x), save([x, y]), save({'x': x, 'y': y}))"
    ),
    "module-checkpoint": (
        "a module's state can be saved to a file and loaded into a module of the same architecture built by "
        "code, through the framework's own checkpoint path (PyTorch's torch.save(net.state_dict()) and "
        "load_state_dict(torch.load(...)), Keras' save_weights/load_weights with .weights.h5)"
    ),
    "container-keys": (
        "a saved container keeps tuples as tuples and int dict keys as ints (PyTorch's torch.save does); "
        "without it, saving either is refused with an error"
    ),
    "accelerator": (
        "the framework can place tensors and modules on accelerator devices "
        "(whether one is present is decided at run time: absent means skipped)"
    ),
    "multi-device": "the framework can address several accelerators by index",
    "device-count-control": (
        "the number of accelerators can be set for testing (simulated devices), so device "
        "clauses are checked for every count"
    ),
    "dtype-conversion": (
        "a module can be converted in place to another float dtype (PyTorch's module.to(dtype), .double())"
    ),
    "device-names": (
        "accelerators are named by strings TYPE:INDEX, index 0 to count-1, with TYPE the adapter's "
        "accelerator_type (PyTorch's 'cuda:0', 'cuda:1'), and the type alone (TYPE, PyTorch's 'cuda') is "
        "also a device name"
    ),
    "device-objects": (
        "device names make device objects that compare with == (PyTorch's torch.device), so whether "
        "'cuda' equals 'cuda:0' is a question the framework answers"
    ),
    "param-ties": (
        "one parameter tensor can be assigned to layers of different types (PyTorch's b.weight = a.weight "
        "between a Linear and a MyLinear), each layer computing with that same stored array"
    ),
}


@dataclass(frozen=True)
class Clause:
    """One normative statement of the spec.

    ``requires`` names capabilities (see :data:`CAPABILITIES`); ``depends_on``
    names clauses whose failure makes this one ``blocked`` rather than failed;
    ``subject`` says what the clause is checked on (see :data:`SUBJECTS`);
    ``waivable`` is False for a clause no known-failure manifest can turn into
    ``xfail`` (a security property such as IO-NO-CODE-EXECUTION): its failure
    stays ``fail`` whatever the backend's manifest says.
    """

    id: str
    section: str
    level: Level
    title: str
    statement: str
    rationale: str
    chapter: str
    requires: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    notes: str = ""
    subject: str = DEFAULT_SUBJECT
    waivable: bool = True
    source: Path | None = field(default=None, compare=False)

    @property
    def chapter_section(self) -> str:
        """The top-level section (``4.2`` for ``4.2.3``)."""
        return ".".join(self.section.split(".")[:2])


class Catalogue(Mapping[str, Clause]):
    """Every clause, in file order, looked up by id.

    >>> from spec import load_catalogue
    >>> catalogue = load_catalogue()
    >>> catalogue["TIE-GRAD-SUM"].level
    <Level.MUST: 'MUST'>
    """

    def __init__(self, clauses: list[Clause]) -> None:
        self._clauses = {clause.id: clause for clause in clauses}

    def __getitem__(self, clause_id: str) -> Clause:
        return self._clauses[clause_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._clauses)

    def __len__(self) -> int:
        return len(self._clauses)

    @property
    def clauses(self) -> tuple[Clause, ...]:
        return tuple(self._clauses.values())

    def in_section(self, section: str) -> tuple[Clause, ...]:
        """Clauses of ``section`` and its subsections, in catalogue order."""
        prefix = section + "."
        return tuple(c for c in self._clauses.values() if c.section == section or c.section.startswith(prefix))

    def dependents(self, clause_id: str) -> tuple[Clause, ...]:
        """Clauses that list ``clause_id`` in ``depends_on`` (directly)."""
        return tuple(c for c in self._clauses.values() if clause_id in c.depends_on)
