"""The layout keeps its layers: no import circle in ``conformance/``, the pytest plugin a leaf, light imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "conformance"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under ``if TYPE_CHECKING:`` (never run, so no edge of an import circle)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            lines.update(n.lineno for child in node.body for n in ast.walk(child) if hasattr(n, "lineno"))
    return lines


def _imports() -> dict[str, set[str]]:
    """Each conformance module -> the modules it imports when run (anywhere in the file, lazily too)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_only(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from package import submodule` depends on the submodule, not on the package's other modules.
                submodules = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
                targets = submodules or [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            # A module's own parent packages are imported by Python before it: no edge of the code's making.
            found.update(t for t in targets if t in modules and t != name and not name.startswith(f"{t}."))
        graph[name] = found - {"conformance"}  # the lazy public namespace imports nothing at import time
    return graph


def test_no_import_circle_in_conformance() -> None:
    graph = _imports()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            assert cycle is None, f"observed the import circle {' -> '.join(cycle)}; expected none"


def test_no_package_imports_one_that_imports_it_back() -> None:
    """Layers point down: a package (``conformance.X``) never imports one that imports it back, lazily or not."""

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    edges: dict[str, set[str]] = {}
    for module, targets in _imports().items():
        edges.setdefault(package(module), set()).update(package(t) for t in targets if package(t) != package(module))
    circles = {tuple(sorted((a, b))) for a, out in edges.items() for b in out if a in edges.get(b, set())}
    assert sorted(circles) == [], (
        f"observed packages importing each other {sorted(circles)}; expected none (layers point down)"
    )


def test_the_pytest_plugin_is_a_leaf() -> None:
    importers = sorted(m for m, targets in _imports().items() if "conformance.plugin" in targets)
    assert importers == [], f"observed {importers} importing conformance.plugin; expected no module (a leaf)"


def test_run_and_kit_are_packages_of_one_concept_per_module() -> None:
    for package, expected in {
        "run": {"request", "session", "journal", "isolate", "inprocess", "verdicts", "result", "status", "summary"},
        "kit": {"strategies", "oracle", "stats", "checks", "profiles"},
    }.items():
        present = {p.stem for p in (PACKAGE / package).glob("*.py")}
        assert expected <= present, (
            f"observed conformance/{package}/ with {sorted(present)}; missing {expected - present}"
        )


def test_the_cli_plugin_and_module_checker_load_with_no_framework_installed() -> None:
    """Frameworks are imported inside ``conformance/backends/`` or lazily, never when the CLI or plugin loads."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "for name in ('torch', 'jax', 'flax', 'keras', 'tinygrad', 'paddle'):\n"
        "    sys.modules[name] = None  # an import of it raises ImportError, as when it is not installed\n"
        "import conformance._cli, conformance.plugin, conformance.modules\n"
        "import conformance.modules._inspect, conformance.modules._gradients, conformance.modules._state\n"
        "import conformance.modules._types, conformance.modules._inputs\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert done.returncode == 0, f"observed an import failing with no framework installed: {done.stderr[-800:]}"


#: Test files that check a whole rather than one module, and why (every other file names its module).
WHOLE = {
    "tests/test_layout.py": "the repository's layout",
    "tests/test_traceability.py": "the catalogue against every suite",
    "tests/test_tutorial.py": "the tutorial backend in docs/tutorial",
    "tests/suite/test_literals.py": "the literals of every test module of the chapter suite",
}
#: Folders of tests named for what they check, not for a module: the module contract's meta-tests
#: (correct, broken and real modules) and the reference framework's own tests.
BY_CONCEPT = {"tests/modules", "tests/reference"}


def test_each_test_file_sits_where_the_module_it_tests_sits() -> None:
    """tests/ is a map: tests/run/test_verdicts.py tests conformance/run/verdicts.py, tests/spec/ the spec package."""
    misplaced = []
    for path in sorted((REPO_ROOT / "tests").rglob("test_*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        folder = path.parent.relative_to(REPO_ROOT).as_posix()
        if relative in WHOLE or folder in BY_CONCEPT or "/fixtures/" in relative:
            continue
        inner = path.parent.relative_to(REPO_ROOT / "tests")
        source = REPO_ROOT / "spec" if inner.parts[:1] == ("spec",) else PACKAGE / inner
        modules = {p.stem.strip("_") for p in source.glob("*.py")} - {"", "init"}
        name = path.stem.removeprefix("test_")
        if not any(name == m or name.startswith(f"{m}_") for m in modules):
            misplaced.append(f"{relative} (no module {name.split('_')[0]}... in {source.relative_to(REPO_ROOT)})")
    assert not misplaced, f"observed test files that name no module beside them: {misplaced}; expected none"


#: Modules of conformance/ whose tests are not (yet) at the mirrored path, each with where they are.
#: A module that gets its mirrored test file must leave this table (the test below says so).
ELSEWHERE: dict[str, str] = {}


def test_each_module_has_its_tests_at_the_mirrored_path_or_says_where() -> None:
    """The map read the other way: conformance/run/verdicts.py is tested in tests/run/test_verdicts.py.

    The suites themselves (conformance/suite, module_suite, interop/test_interop.py) are shown able to fail by
    the kill matrix; conformance/modules/ is tested by concept in tests/modules/ (correct, broken, real modules).
    """
    unmapped, stale = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if path.name in ("__init__.py", "conftest.py") or path.name.startswith("test_"):
            continue
        if relative.parts[0] in ("suite", "module_suite", "modules"):
            continue
        # _cli.py is tested in test_cli.py, __main__.py in test_main.py
        folder, name = REPO_ROOT / "tests" / relative.parent, relative.stem.strip("_")
        mirrored = [*folder.glob(f"test_{name}.py"), *folder.glob(f"test_{name}_*.py")]
        key = relative.as_posix()
        if mirrored and key in ELSEWHERE:
            stale.append(f"{key} (now tested in {mirrored[0].relative_to(REPO_ROOT)})")
        elif not mirrored and key not in ELSEWHERE:
            unmapped.append(f"{key} (expected {(folder / f'test_{name}.py').relative_to(REPO_ROOT)})")
    assert not unmapped, f"observed modules with no test file at the mirrored path and none named: {unmapped}"
    assert not stale, f"observed ELSEWHERE entries for modules that have their mirrored test file: {stale}"
    named = {m for m in re.findall(r"tests/[\w/]+\.py", " ".join(ELSEWHERE.values()))}
    missing = sorted(m for m in named if not (REPO_ROOT / m).exists())
    assert not missing, f"observed ELSEWHERE naming test files that do not exist: {missing}"
