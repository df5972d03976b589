"""The shape palette for frameworks that compile per shape (the run's compile cache: tests/run/test_cache.py).

A backend with ``compiles_per_shape`` gets its widths, batch sizes and tensor
dimensions from a few sizes per run (``conformance.kit.strategies.Palette``),
so it compiles few shapes; every other backend keeps the full draw, unchanged.
The reach of palette mode is held by ``tests/kit/test_strategies_reach.py`` (both modes) and by
the region mutants run with ``--shapes palette`` in ``tests/test_killmatrix.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import strategies as st

from conformance import arch as A
from conformance import strategies as hh
from conformance.run.inprocess import run_suite
from conformance.run.request import RunRequest
from tests.helpers import ADAPTERS_DIR, sample

COMPILING = "compiling_adapter:CompilingReference"


@pytest.fixture
def palette() -> Iterator[hh.Palette]:
    chosen = hh.palette_for(0)
    hh.use_palette(chosen)
    yield chosen
    hh.use_palette(None)


@pytest.fixture
def adapters_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ADAPTERS_DIR))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 2**64 - 1])
def test_every_palette_holds_the_boundaries(seed: int) -> None:
    values = hh.palette_for(seed).values
    for fixed in (0, 1, hh.COMMON_TOP):
        assert fixed in values, f"observed palette {values} (seed {seed}); expected it to hold {fixed}"
    assert any(2 <= v <= 4 for v in values), f"observed palette {values}; expected a small size in [2, 4]"
    assert any(v % 2 and 5 <= v <= 11 for v in values), f"observed palette {values}; expected an odd size in [5, 11]"
    assert any(250 <= v <= 256 for v in values), f"observed palette {values}; expected a large size in [250, 256]"
    assert len(values) <= 6, f"observed {len(values)} sizes in the palette {values}; expected at most 6"
    assert list(values) == sorted(set(values)), f"observed palette {values}; expected distinct sizes, smallest first"


#: (range, the ends it draws under a palette, why); None stands for the palette's large size.
_RANGES = [
    ((1, 12), (1, 12), "both ends: common sizes"),
    ((0, 4), (0, 4), "both ends: common sizes"),
    ((1, 8), (1, 8), "both ends: common sizes"),
    ((3, 3), (3, 3), "both ends: common sizes"),
    ((257, 272), (257, 272), "both ends: no palette value inside"),
    ((1, 64), (1, 12), "the low end; the common top stands for 64"),
    ((13, 256), (None, None), "the large size alone"),
    ((101, 300), (None, None), "the large size alone"),
    ((64, 1024), (None, None), "the large size alone"),
]


@pytest.mark.parametrize(("bounds", "ends", "why"), _RANGES)
def test_a_range_keeps_its_common_ends_under_a_palette(
    bounds: tuple[int, int], ends: tuple[int | None, int | None], why: str
) -> None:
    chosen = hh.palette_for(7)
    expected = tuple(chosen.values[-1] if end is None else end for end in ends)
    low, high = bounds
    within = chosen.within(low, high)
    assert (within[0], within[-1]) == expected, (
        f"observed {within} for [{low}, {high}]; expected ends {expected} ({why})"
    )
    assert all(low <= v <= high for v in within), f"observed {within}; expected every size in [{low}, {high}]"


def test_sizes_follow_the_palette_set_after_the_strategy_was_built(palette: hh.Palette) -> None:
    strategy = hh.widths(12, 256)  # built before a run would set the palette: at a suite's import
    drawn = set(sample(strategy, 300))
    allowed = set(palette.within(1, 12)) | set(palette.within(13, 256))
    assert drawn <= allowed, f"observed widths {sorted(drawn - allowed)} outside the palette {palette.values}"
    large = palette.values[-1]
    assert {1, 12, large} <= drawn, f"observed widths {sorted(drawn)}; expected 1, 12 and {large} among them"


def test_without_a_palette_every_size_of_the_range_is_drawn() -> None:
    assert hh.active_palette() is None, "observed a palette left set by an earlier test; expected none"
    drawn = set(sample(hh.sizes(1, 40), 500))
    assert drawn == set(range(1, 41)), f"observed sizes {sorted(drawn)} drawn freely; expected every one of 1..40"


def _shapes(nets: list[tuple[hh.Net, object]]) -> set[tuple[int, ...]]:
    found: set[tuple[int, ...]] = set()
    for net, x in nets:
        found.add(getattr(x, "shape", ()))
        found |= {(n.out_features, n.in_features) for _, n in A.walk(net.arch) if isinstance(n, A.Linear)}
    return found


def test_a_palette_bounds_the_shapes_a_run_compiles() -> None:
    strategy = hh.mlps(("float32",)).flatmap(lambda net: st.tuples(st.just(net), hh.inputs(net)))
    full = _shapes(sample(strategy, 500))
    hh.use_palette(hh.palette_for(0))
    try:
        paletted = _shapes(sample(strategy, 500))
    finally:
        hh.use_palette(None)
    assert len(paletted) * 3 < len(full), (
        f"observed {len(paletted)} distinct shapes under the palette and {len(full)} drawn freely; "
        "expected the palette to bound them to less than a third"
    )


def _environment(**options: object) -> dict[str, str]:
    result = run_suite(options.pop("target", "reference"), clauses=("BLOCK-FORWARD-SHAPE",), profile="fast", **options)
    assert result.exit_code == 0, f"observed exit {result.exit_code}; expected a passing run"
    return result.environment


@pytest.mark.usefixtures("adapters_on_path")
def test_a_compiling_backend_gets_a_palette_by_default_and_full_on_request() -> None:
    assert _environment(target=COMPILING)["blockspec_shapes"].startswith("palette (seed 0): 0, 1, ")
    assert _environment(target=COMPILING, seed=5)["blockspec_shapes"].startswith("palette (seed 5): ")
    assert _environment(target=COMPILING, shapes="full")["blockspec_shapes"].startswith("full")
    assert _environment()["blockspec_shapes"].startswith("full"), "observed the reference drawn from a palette"
    assert _environment(shapes="palette")["blockspec_shapes"].startswith("palette"), "observed --shapes ignored"
    assert hh.active_palette() is None, "observed the run's palette left set after it ended; expected none"


def test_a_rerun_repeats_the_shapes_asked_for() -> None:
    rerun = RunRequest("reference", shapes="full", seed=3).rerun_template()
    assert "--shapes full" in rerun and "--seed 3" in rerun, f"observed rerun {rerun!r}; expected --shapes and --seed"
    assert "--shapes" not in RunRequest("reference").rerun_template(), "observed --shapes in a rerun never asked for"


@pytest.mark.parametrize(
    ("module", "cls", "compiles"),
    [
        ("conformance.backends.reference", "ReferenceBackend", False),
        ("conformance.backends.torch", "TorchBackend", False),
        ("conformance.backends.flax", "FlaxBackend", True),
        ("conformance.backends.tinygrad", "TinygradBackend", True),
    ],
)
def test_the_built_in_backends_say_whether_they_compile_per_shape(module: str, cls: str, compiles: bool) -> None:
    adapter = getattr(pytest.importorskip(module), cls)
    observed = bool(getattr(adapter, "compiles_per_shape", False))
    assert observed is compiles, f"observed {cls}.compiles_per_shape {observed}; expected {compiles}"


#: (backend package, variable it sets at import when unset, the value it sets)
_IMPORT_SETTINGS = [
    ("flax", "XLA_FLAGS", "--xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0"),
    ("tinygrad", "PARALLEL", "0"),
]


@pytest.mark.slow  # imports JAX and tinygrad, twice each
@pytest.mark.parametrize(("framework", "variable", "value"), _IMPORT_SETTINGS)
def test_a_compiling_backend_sets_its_compile_settings_only_when_unset(
    framework: str, variable: str, value: str
) -> None:
    pytest.importorskip(framework)
    show = f"import os, conformance.backends.{framework}; print(os.environ.get({variable!r}))"
    outputs = []
    for given in (None, "7"):
        env = {k: v for k, v in os.environ.items() if k != variable}
        if given is not None:
            env[variable] = given
        done = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"observed exit {done.returncode}: {done.stderr[-600:]}"
        outputs.append(done.stdout.strip().splitlines()[-1])
    assert outputs[0].startswith(value), f"observed {variable}={outputs[0]!r} after the import; expected {value!r}..."
    assert outputs[1] == "7", f"observed the user's {variable}=7 replaced by {outputs[1]!r}; expected it kept"


def test_an_in_process_run_does_not_inherit_settings_of_an_earlier_import() -> None:
    """A suite module imported before, under another profile, is imported afresh by the run."""
    import importlib

    from hypothesis import settings

    before = settings.get_current_profile_name()
    settings.load_profile("default")  # hypothesis's own: the function-scoped-fixture health check is on
    try:
        importlib.import_module("conformance.suite.test_layers_and_blocks")
    finally:
        settings.load_profile(before)
    result = run_suite("reference", clauses=("BLOCK-FORWARD-SHAPE",), profile="fast")
    verdicts = {c.id: c.status for c in result.clauses if c.id == "BLOCK-FORWARD-SHAPE"}
    assert result.exit_code == 0, f"observed exit {result.exit_code} and {verdicts}; expected a pass"
