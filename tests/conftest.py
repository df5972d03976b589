"""Shared fixtures of the checker's own tests: the CLI in a subprocess, fake adapters, real result files."""

from __future__ import annotations

import importlib.resources
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import jsonschema

pytest_plugins = ["pytester"]

#: The repository root (where ``tests.mutants`` is importable from).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Fake adapter modules (``fake_adapters``, ``exploding_adapter``, ``noapply_adapter``).
ADAPTERS_DIR = Path(__file__).resolve().parent / "fixtures" / "adapters"

#: A CLI call: ``(args, cwd=None, extra_path=())`` -> the finished process.
Cli = Callable[..., "subprocess.CompletedProcess[str]"]


def subprocess_env(extra_path: Sequence[Path] = ()) -> dict[str, str]:
    """The environment for a child Python: ours, minus pytest's own settings, plus ``extra_path``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    parts = [str(p) for p in extra_path]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    if parts:
        env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def run_python(
    args: Sequence[str], cwd: Path, extra_path: Sequence[Path] = (), timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``sys.executable *args`` in ``cwd``, output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=subprocess_env(extra_path),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_cli(
    args: Sequence[str], cwd: Path, extra_path: Sequence[Path] = (), timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``python -m conformance *args`` (the ``blockspec`` command) in ``cwd``."""
    return run_python(["-m", "conformance", *args], cwd, extra_path, timeout)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Run the ``blockspec`` command in a subprocess, in ``tmp_path`` unless ``cwd`` is given."""

    def call(
        args: Sequence[str], cwd: Path | None = None, extra_path: Sequence[Path] = ()
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(args, cwd or tmp_path, extra_path)

    return call


@pytest.fixture(scope="session")
def seq_index_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One real run of the torch backend on the single clause SEQ-INDEX, and its result file."""
    where = tmp_path_factory.mktemp("seq-index-run")
    proc = run_cli(
        ["run", "--backend", "torch", "--clause", "SEQ-INDEX", "--profile", "fast", "--json", "r.json"], where
    )
    assert proc.returncode == 0, f"exit status {proc.returncode}, expected 0\n{proc.stdout}\n{proc.stderr}"
    data: dict[str, Any] = json.loads((where / "r.json").read_text(encoding="utf-8"))
    return proc, data


@pytest.fixture(scope="session")
def result_validator() -> jsonschema.protocols.Validator:
    """A validator for ``conformance/result.schema.json`` (JSON Schema draft 2020-12), itself checked first."""
    import jsonschema  # a test dependency; imported here so that collecting other tests never needs it

    text = importlib.resources.files("conformance").joinpath("result.schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", f"observed {schema['$schema']}"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(schema)
    return validator


def schema_errors(validator: jsonschema.protocols.Validator, document: object) -> list[str]:
    """Every way ``document`` breaks the schema, as ``path: message`` lines."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
