"""conformance.strategies: the public face of conformance.kit.strategies, the same objects, ``__all__`` complete."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import conformance.strategies as public
from conformance.kit import strategies as kit
from tests.helpers import REPO_ROOT, run_python, sample

#: The modules written with ``from conformance import strategies as hh`` (the suites, the kit's tests).
USERS = sorted(
    path
    for folder in ("conformance", "tests")
    for path in (REPO_ROOT / folder).rglob("*.py")
    if "from conformance import strategies as hh" in path.read_text(encoding="utf-8")
)


def test_every_name_in_all_exists_and_is_the_kits_own_object() -> None:
    missing = [name for name in public.__all__ if not hasattr(public, name)]
    assert not missing, f"observed names in __all__ the module lacks: {missing}; expected none"
    other = [name for name in public.__all__ if getattr(public, name) is not getattr(kit, name, None)]
    assert not other, f"observed names that are not conformance.kit.strategies' objects: {other}; expected none"
    twice = sorted({name for name in public.__all__ if public.__all__.count(name) > 1})
    assert not twice, f"observed names listed twice in __all__: {twice}; expected each once"


def _bound_names(path: Path) -> set[str]:
    """The public names the module's own text binds at its top level (imports, assignments, definitions)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return {name for name in names if not name.startswith("_") and name != "annotations"}


def test_all_is_every_public_name_the_module_binds() -> None:
    bound = _bound_names(Path(public.__file__))
    unlisted, absent = sorted(bound - set(public.__all__)), sorted(set(public.__all__) - bound)
    assert not unlisted and not absent, (
        f"observed public names outside __all__ {unlisted} and __all__ names not bound {absent}; expected neither"
    )


def _hh_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "hh"
    }


def test_every_name_the_suites_use_through_the_public_module_is_in_all() -> None:
    assert len(USERS) >= 5, f"observed {len(USERS)} modules importing conformance.strategies as hh; expected the suites"
    missing = {path.relative_to(REPO_ROOT).as_posix(): sorted(_hh_names(path) - set(public.__all__)) for path in USERS}
    missing = {path: names for path, names in missing.items() if names}
    assert not missing, f"observed hh.<name> uses outside conformance.strategies.__all__: {missing}; expected none"


def test_the_documented_example_draws_a_net() -> None:
    drawn = sample(public.nets(("float32",), ties="siblings"), 3)
    kinds = {type(net).__name__ for net in drawn}
    assert kinds == {"Net"} and all(net.dtype == "float32" for net in drawn), (
        f"observed draws {drawn}; expected float32 Nets from the module docstring's example"
    )


def test_every_public_callable_says_what_it_draws() -> None:
    undocumented = sorted(
        name for name in public.__all__ if callable(getattr(public, name)) and not getattr(public, name).__doc__
    )
    assert not undocumented, f"observed public callables without a docstring: {undocumented}; expected none"


@pytest.mark.slow  # a fresh interpreter: this one has imported frameworks already
def test_importing_the_public_module_imports_no_framework(tmp_path: Path) -> None:
    frameworks = ("torch", "jax", "flax", "keras", "tinygrad", "paddle", "tensorflow")
    code = f"import sys, conformance.strategies; print(sorted(m for m in {frameworks!r} if m in sys.modules))"
    proc = run_python(["-c", code], tmp_path, extra_path=[REPO_ROOT])
    assert proc.returncode == 0, f"observed exit {proc.returncode}; expected 0 ({proc.stderr[-500:]})"
    assert proc.stdout.strip() == "[]", (
        f"observed frameworks imported: {proc.stdout.strip()}; expected [] ({sys.version})"
    )
