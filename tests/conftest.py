"""Shared fixtures of the checker's own tests: the CLI in a subprocess, fake adapters, real result files."""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import jsonschema

from conformance._killmatrix import BASELINE_DIR_ENV
from conformance.run.isolate import THREADS_ENV, threads_per_process
from tests.helpers import Cli, run_cli

pytest_plugins = ["pytester"]

_BASELINE_DIR = pytest.StashKey[str]()

#: Tests, by node id prefix, that run a framework's whole suite (or several runs of it) or wait out a
#: hang timeout, and why: marked ``slow`` here so that the quick loop (``python -m pytest -m "not slow"
#: -n 2``) leaves them out. A module may mark its own tests ``@pytest.mark.slow`` instead.
SLOW: dict[str, str] = {
    "tests/run/test_isolate.py::test_a_misbehaving_clause_leaves_a_complete_report": "whole-suite runs, 20 s hangs",
    "tests/run/test_isolate.py::test_a_terminated_run_takes_its_child_with_it": "waits for a hanging child",
    "tests/run/test_isolate.py::test_isolated_and_in_process_runs_build_the_same_result": "two whole-suite runs",
    "tests/run/test_isolate_hostile_backends.py::test_a_backend_whose_import_hangs_is_refused_within_the_load_timeout": "a 5 s hang",
    "tests/run/test_isolate_hostile_backends.py::test_a_backend_slower_to_import_than_the_test_timeout_still_loads": "an 8 s import",
    "tests/run/test_isolate_hostile_backends.py::test_nothing_outlives_a_hang_kill": "a 5 s hang",
    "tests/run/test_isolate_hostile_backends.py::test_ending_blockspec_ends_its_children": "waits for a hanging child",
    "tests/run/test_isolate_hostile_backends.py::test_a_failure_whose_shrinking_outlasts_the_timeout": "a 12 s timeout at the ci profile",
    "tests/test_cli_check_module.py::test_a_forward_that_hangs_is_an_error": "a 10 s hang",
    "tests/test_tutorial.py::test_tiny_backend_runs_and_honours_its_capabilities": "a whole-suite run",
    "tests/modules/test_module_contract.py::test_a_correct_module_fails_no_must_clause": "the whole module contract",
    "tests/modules/test_module_contract.py::test_a_broken_module_fails_exactly_its_clauses": "the whole module contract",
    # Whole modules whose every test starts the command in a child process (Python, pytest and a framework:
    # 2 s and up each); together they were most of the quick loop's time (280 of 490 worker-seconds).
    "tests/run/test_isolate_hostile_run.py": "hostile adapters and modules, each through the command, with -n 1 and -n 2",
    "tests/run/test_isolate_hostile_backends.py": "hostile backends, each through the command",
    "tests/test_cli.py": "the command in a child process",
    "tests/test_cli_check_module.py": "check-module in a child process",
    "tests/report/test_dashboard_browser.py": "a headless browser",
    # Single tests of 3 s and more (measured in the quick loop, idle, 2026-12-06).
    "tests/modules/test_module_contract.py::test_check_module_is_reproducible_with_a_seed": "two checks, shrunk",
    "tests/modules/test_module_contract.py::test_torch_nn_built_ins_pass_the": "torch.compile on eight layers",
    "tests/modules/test_module_contract.py::test_the_chapter_code_as_written": "three whole module checks",
    "tests/modules/test_module_contract.py::test_check_module_raises_one_assertion": "two module checks",
    "tests/modules/test_engine.py::test_a_failing_check_carries_its_report": "a whole module check",
    "tests/kit/test_reach.py::test_a_row_names_only_draws_its_tests_make": "traces every test's draws",
    "tests/kit/test_reach.py::test_new_dimensions_reach_their_record": "draws every new dimension",
    "tests/report/test_markdown.py::test_any_limit_holds_and_what_is_left_out_is_counted": "hypothesis over whole reports",
    "tests/run/test_verdicts.py::test_mutant_": "a mutant's run through the command",
    "tests/reference/test_atomic_save.py::test_sigkill_during_save_keeps_the_previous_file": "kills saving children",
    "tests/kit/test_strategies_reach.py::test_container_children": "draws until every count is met",
    "tests/kit/test_strategies_reach.py::test_saved_containers": "draws until every count is met",
    "tests/run/test_cache.py::test_a_named_compile_cache_is_kept_for_the_next_run": "two runs through the command",
    "tests/kit/test_strategies_palette.py::test_a_palette_bounds_the_shapes_a_run_compiles": "a run through the command",
    "tests/test_plugin.py": "each test runs a conformance suite in pytester",
    "tests/test_manifest.py::test_without_the_manifest_the_same_failure": "a suite run, shrunk",
    "tests/test_manifest.py::test_listed_failures_are_xfail": "a suite run",
    "tests/test_manifest.py::test_a_manifest_cannot_waive_a_security_clause": "a suite run",
    "tests/kit/test_strategies_reach.py::test_empty_containers_are_common_enough": "draws until every count is met",
    "tests/kit/test_strategies_reach.py::test_tensor_elements": "draws until every count is met",
    "tests/kit/test_strategies_reach.py::test_container_keys_draw_tuples_and_int_keys": "draws until every count is met",
    "tests/report/test_loader.py::test_real_result_file_loads": "a run through the command",
    "tests/run/test_junit.py": "a suite run",
    "tests/test_protocol_handles.py::test_views_": "suite runs on handle-breaking adapters",
    # Each worker that runs one of these imports the framework first: seconds each for JAX, Keras, tinygrad
    # and Paddle (the quick loop went from 52 s to 65 s with them).
    "tests/backends/flax/": "imports JAX and Flax",
    "tests/backends/keras/": "imports Keras",
    "tests/backends/paddle/": "imports Paddle",
    "tests/backends/tinygrad/": "imports tinygrad and compiles its kernels",
}


def pytest_configure(config: pytest.Config) -> None:
    """Under ``-n N``, each worker's OpenMP thread count, unless the environment already sets one; and one
    directory for the kill matrix's base runs, shared by every xdist worker (they inherit the environment)
    and made by the process that starts them; removed when that process ends.

    The thread count is the one ``blockspec run -n N`` gives its test processes
    (:func:`conformance.run.isolate.threads_per_process`): without it, each of two workers on two cores
    runs torch on two threads, and so does each run a test starts.
    """
    workers = getattr(config.option, "numprocesses", None)
    if isinstance(workers, int) and workers > 1 and not hasattr(config, "workerinput"):
        os.environ.setdefault(THREADS_ENV, str(threads_per_process(workers)))
    if hasattr(config, "workerinput") or os.environ.get(BASELINE_DIR_ENV):
        return
    directory = tempfile.mkdtemp(prefix="blockspec-baselines-")
    os.environ[BASELINE_DIR_ENV] = directory
    config.stash[_BASELINE_DIR] = directory


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = config.stash.get(_BASELINE_DIR, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
        os.environ.pop(BASELINE_DIR_ENV, None)


@pytest.hookimpl(tryfirst=True)  # before -m and -k deselect: they must see the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`SLOW` slow; warn of an entry that matches no test of its collected module."""
    used: set[str] = set()
    for item in items:
        for prefix in SLOW:
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.slow)
                used.add(prefix)
    if any("::" in arg for arg in config.args):  # single tests named: the other tests of a module are not here
        return
    collected = {item.nodeid.partition("::")[0] for item in items}
    stale = [p for p in SLOW if p.partition("::")[0] in collected and p not in used]
    if stale:  # a renamed test: warned, not refused, so that a rename elsewhere never stops a run
        warnings.warn(
            f"observed tests/conftest.py SLOW entries matching no test of their module: {stale}", stacklevel=1
        )


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
