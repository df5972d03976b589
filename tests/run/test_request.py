"""conformance.run.request: a run's whole input, refused before pytest starts, written as pytest's and a rerun's command.

Both ways out of a request are read back: its pytest command line by the plugin's options
(``RunRequest.from_pytest_options``) and the rerun line of a clause by the ``blockspec`` command.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import shlex
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import _cli
from conformance._errors import UsageError
from conformance.interop.subject import PAIR
from conformance.kit.profiles import MAX_EXAMPLES_CAP, PROFILES, SHAPE_MODES
from conformance.modules import MODULE
from conformance.modules._subject import DTYPES
from conformance.run import subjects
from conformance.run.request import DEFAULT_LOAD_TIMEOUT_S, MAX_WORKERS, RunRequest
from conformance.run.subjects import FRAMEWORK
from spec import load_catalogue

CATALOGUE = load_catalogue()
MODULE_CATALOGUE = load_catalogue(subject="module")
CLAUSES = list(CATALOGUE)
MODULE_CLAUSES = list(MODULE_CATALOGUE)
PARSER = _cli._parser()


@pytest.fixture(autouse=True)
def _catalogues_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each subject's catalogue read once for the whole module, not once per drawn example (50 ms a read)."""
    monkeypatch.setattr(subjects, "load_catalogue", functools.cache(load_catalogue))


#: Names a path or target may take on a command line that needs no quoting.
_PLAIN = st.text("abcxyz019_.", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
_PATHS = st.lists(_PLAIN, min_size=1, max_size=3).map(lambda parts: Path("/".join(parts)))
_DEVICES = st.sampled_from(["cpu", "CPU", "cuda:0", "cuda:1", "METAL"])


@st.composite
def framework_requests(draw: st.DrawFn) -> RunRequest:
    """A framework request with every field a run's child or a rerun must repeat, drawn."""
    return RunRequest(
        draw(st.sampled_from(["reference", "torch", "pkg.adapter:Backend", "my_pkg.sub:make_backend"]), label="target"),
        device=draw(st.none() | _DEVICES, label="device"),
        profile=draw(st.sampled_from(list(PROFILES)), label="profile"),
        seed=draw(st.none() | st.integers(0, 2**64 - 1), label="seed"),
        shrink=draw(st.booleans(), label="shrink"),
        shapes=draw(st.none() | st.sampled_from(SHAPE_MODES), label="shapes"),
        known_failures=draw(st.none() | _PATHS, label="known_failures"),
    )


@st.composite
def pytest_requests(draw: st.DrawFn) -> RunRequest:
    """A framework or module request with every field the pytest command line carries, drawn."""
    request = draw(framework_requests(), label="framework fields")
    fields: dict[str, Any] = {
        "clauses": tuple(draw(st.lists(st.sampled_from(CLAUSES), unique=True, max_size=3), label="clauses")),
        "json_path": draw(st.none() | _PATHS, label="json_path"),
        "timeout": draw(st.floats(1e-3, 1e6, allow_nan=False), label="timeout"),
        "max_examples": draw(st.none() | st.integers(1, MAX_EXAMPLES_CAP), label="max_examples"),
        "verbose": draw(st.booleans(), label="verbose"),
        "workers": draw(st.sampled_from([1, 3]), label="workers"),
    }
    if draw(st.booleans(), label="module"):
        shapes = st.lists(st.integers(1, 64), min_size=1, max_size=3).map(lambda s: ",".join(map(str, s)))
        fields |= {
            "target": "pkg.mod:Net",
            "subject": MODULE,
            "shapes": None,
            "known_failures": None,
            "input_shapes": tuple(draw(st.lists(shapes, max_size=2), label="input_shapes")),
            "dtype": draw(st.sampled_from(DTYPES), label="dtype"),
            "inputs": draw(st.none() | st.just("pkg.mod:inputs"), label="inputs"),
        }
    return dataclasses.replace(request, **fields)


# --- the pytest command line ------------------------------------------------------------------------------


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=pytest_requests())
def test_the_pytest_command_line_reads_back_as_the_same_request(pytester: pytest.Pytester, request: RunRequest) -> None:
    config = pytester.parseconfig(*request.pytest_arguments())
    back = RunRequest.from_pytest_options(config, request.subject)
    # What only the parent uses (the JUnit file, pytest's verbosity, -n) is not the child's to know.
    expected = dataclasses.replace(request, verbose=False, workers=1)
    assert back == expected, f"{request!r}: observed the child reading {back!r}; expected {expected!r}"


def test_the_pytest_command_line_loads_only_the_suites_plugins_and_sets_its_terminal() -> None:
    request = RunRequest("reference")
    cases = {
        "default": (request.pytest_arguments(), ["-q", "--tb=no"], ["no:terminal"]),
        "no terminal": (request.pytest_arguments(terminal=False), ["-p", "no:terminal"], ["-q", "-v"]),
        "verbose": (dataclasses.replace(request, verbose=True).pytest_arguments(), ["-v", "--tb=short"], ["-q"]),
        "seeded": (dataclasses.replace(request, seed=7).pytest_arguments(), ["--hypothesis-seed=7"], []),
        "workers": (dataclasses.replace(request, workers=3).pytest_arguments(), ["xdist.plugin", "-n", "3"], []),
    }
    for case, (arguments, present, absent) in cases.items():
        runs = [arguments[i : i + len(present)] for i in range(len(arguments))]
        assert present in runs, f"{case}: observed {arguments}; expected {present} in a row"
        unwanted = [a for a in absent if a in arguments]
        assert not unwanted, f"{case}: observed {unwanted} in {arguments}; expected none of {absent}"
        loaded = [arguments[i + 1] for i, a in enumerate(arguments) if a == "-p"]
        wanted = {"no:blockspec", "conformance.plugin", "no:hypothesispytest", "_hypothesis_pytestplugin"}
        assert "--disable-plugin-autoload" in arguments and wanted <= set(loaded), (
            f"{case}: observed plugins {loaded}; expected autoload off and {sorted(wanted)} loaded by module"
        )
    assert "-n" not in request.pytest_arguments(), f"observed -n in a one-process run: {request.pytest_arguments()}"


# --- the rerun command ------------------------------------------------------------------------------------


def _command_request(line: str, monkeypatch: pytest.MonkeyPatch) -> RunRequest:
    """The request the ``blockspec`` command line ``line`` runs, caught before anything runs."""
    caught: list[RunRequest] = []
    monkeypatch.setattr(_cli, "_run_request", lambda request, **_: caught.append(request) or 0)
    args = PARSER.parse_args(shlex.split(line)[1:])
    assert args.command == "run", f"observed {line!r} parsed as {args.command!r}; expected `blockspec run`"
    _cli._command(args)
    return caught[0]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=framework_requests(), clause=st.sampled_from(CLAUSES))
def test_a_framework_rerun_line_runs_the_same_request_on_its_clause(
    request: RunRequest, clause: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = request.rerun_template().format(clause=clause)
    back = _command_request(line, monkeypatch)
    expected = dataclasses.replace(request, clauses=(clause,))
    assert back == expected, f"{line!r}: observed the command running {back!r}; expected {expected!r}"


_TARGET = st.text("abc019_.:/ ()'{},", min_size=1, max_size=12).filter(lambda s: not s.startswith("-"))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target=_TARGET,
    inputs=st.none() | _TARGET,
    shapes=st.lists(st.lists(st.integers(1, 99), min_size=1, max_size=3).map(tuple), max_size=2),
    dtype=st.sampled_from(DTYPES),
    device=_DEVICES,
    profile=st.sampled_from(list(PROFILES)),
    seed=st.none() | st.integers(0, 2**64 - 1),
    max_examples=st.none() | st.integers(1, MAX_EXAMPLES_CAP),
    shrink=st.booleans(),
    clause=st.sampled_from(MODULE_CLAUSES),
)
def test_a_module_rerun_line_runs_the_same_request_on_its_clause(
    target: str,
    inputs: str | None,
    shapes: list[tuple[int, ...]],
    dtype: str,
    device: str,
    profile: str,
    seed: int | None,
    max_examples: int | None,
    shrink: bool,
    clause: str,
) -> None:
    request = RunRequest(
        target,
        subject=MODULE,
        input_shapes=tuple(",".join(map(str, s)) for s in shapes),
        inputs=inputs,
        dtype=dtype,
        device=device,
        profile=profile,
        seed=seed,
        max_examples=max_examples,
        shrink=shrink,
    )
    line = request.rerun_template().format(clause=clause)
    back = _cli.module_request(PARSER.parse_args(shlex.split(line)[1:]))
    expected = dataclasses.replace(request, clauses=(clause,))
    assert back == expected, f"{line!r}: observed the command running {back!r}; expected {expected!r}"


def test_a_rerun_line_keeps_what_the_run_saw_and_only_that() -> None:
    plain = RunRequest("reference").rerun_template()
    assert plain == "blockspec run --backend reference --profile ci --clause {clause}", f"observed {plain!r}"
    full = RunRequest("reference", profile="fast", seed=0, shrink=False, shapes="palette").rerun_template()
    for option in ("--profile fast", "--seed 0", "--no-shrink", "--shapes palette"):
        assert option in full, f"observed {full!r}; expected {option!r} in it (seed 0 is a seed too)"
    parent_only = RunRequest("reference", json_path=Path("r.json"), workers=2, timeout=5.0, verbose=True)
    assert parent_only.rerun_template() == plain, (
        f"observed {parent_only.rerun_template()!r}; expected {plain!r}: outputs, -n, --timeout do not change a verdict"
    )


def test_a_rerun_line_quotes_a_known_failures_path_with_a_space(monkeypatch: pytest.MonkeyPatch) -> None:
    request = RunRequest("reference", known_failures=Path("my known/failures.toml"))
    line = request.rerun_template().format(clause="SEQ-INDEX")
    try:
        back: RunRequest | str = _command_request(line, monkeypatch)
    except SystemExit as exc:
        back = f"refused by the command (exit {exc.code})"
    expected = dataclasses.replace(request, clauses=("SEQ-INDEX",))
    assert back == expected, f"{line!r}: observed {back!r}; expected {expected!r}"


def test_a_rerun_line_keeps_braces_of_a_known_failures_path() -> None:
    template = RunRequest("reference", known_failures=Path("known{x}.toml")).rerun_template()
    try:
        words = shlex.split(template.format(clause="SEQ-INDEX"))
    except (KeyError, IndexError, ValueError) as exc:
        words = [f"format raised {type(exc).__name__}: {exc}"]
    path = words[words.index("--known-failures") + 1] if "--known-failures" in words else None
    assert path == "known{x}.toml", f"observed {words}; expected --known-failures known{{x}}.toml"


def test_a_framework_rerun_line_with_fewer_examples_is_a_command_blockspec_run_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = RunRequest("reference", max_examples=5)
    line = request.rerun_template().format(clause="SEQ-INDEX")
    try:
        back: RunRequest | str = _command_request(line, monkeypatch)
    except SystemExit as exc:
        back = f"refused by the command (exit {exc.code})"
    expected = dataclasses.replace(request, clauses=("SEQ-INDEX",))
    assert back == expected, f"{line!r}: observed {back!r}; expected {expected!r}"


def test_an_interop_rerun_line_is_one_command_in_a_shell() -> None:
    line = RunRequest("torch->reference", subject=PAIR).rerun_template().format(clause="INTEROP-TENSOR-BYTES")
    operators = [t for t in shlex.shlex(line, posix=True, punctuation_chars=True) if t in {">", "<", "|", "&", ";"}]
    assert not operators, f"observed shell operators {operators} in {line!r}; expected the pair quoted"


# --- validation -------------------------------------------------------------------------------------------


def _refusals(tmp_path: Path) -> dict[str, tuple[dict[str, Any], str]]:
    (tmp_path / "file").write_text("", encoding="utf-8")
    return {
        "unknown clause": ({"clauses": ("SEQ-INDEX", "NO-SUCH")}, "unknown clause id(s) 'NO-SUCH'"),
        "unknown profile": ({"profile": "quick"}, "unknown profile 'quick'"),
        "zero timeout": ({"timeout": 0.0}, "--timeout must be a positive number"),
        "nan timeout": ({"timeout": math.nan}, "--timeout must be a positive number"),
        "infinite timeout": ({"timeout": math.inf}, "--timeout must be a positive number"),
        "negative load timeout": ({"load_timeout": -1.0}, "--load-timeout must be a positive number"),
        "infinite load timeout": ({"load_timeout": math.inf}, "--load-timeout must be a positive number"),
        "unknown shapes": ({"shapes": "some"}, "unknown --shapes 'some'"),
        "no workers": ({"workers": 0}, f"-n must be between 1 and {MAX_WORKERS}"),
        "too many workers": ({"workers": MAX_WORKERS + 1}, f"-n must be between 1 and {MAX_WORKERS}"),
        "no examples": ({"max_examples": 0}, f"--max-examples must be between 1 and {MAX_EXAMPLES_CAP}"),
        "too many examples": ({"max_examples": MAX_EXAMPLES_CAP + 1}, "--max-examples must be between"),
        "negative seed": ({"seed": -1}, "--seed must be between 0 and 2**64 - 1"),
        "seed past 64 bits": ({"seed": 2**64}, "--seed must be between 0 and 2**64 - 1"),
        "json into a directory": ({"json_path": tmp_path}, "it is a directory"),
        "two outputs, one file": (
            {"json_path": tmp_path / "r.xml", "junit_path": tmp_path / "r.xml"},
            "--json and --junitxml both name",
        ),
        "cache on /proc": ({"compile_cache": Path("/proc/blockspec")}, "kernel file system"),
        "cache that is a file": ({"compile_cache": tmp_path / "file"}, "exists and is not a directory"),
        "cache under a file": ({"compile_cache": tmp_path / "file" / "sub"}, "cannot make the directory"),
        "blank cache path": ({"compile_cache": Path("  ")}, "needs a directory"),
    }


def test_every_refusal_is_a_usage_error_that_says_what_was_wrong(tmp_path: Path) -> None:
    for case, (fields, says) in _refusals(tmp_path).items():
        with pytest.raises(UsageError) as info:
            RunRequest("no_such_package:Backend", **fields).validate()  # never imported: refused before loading
        assert says in str(info.value), f"{case}: observed {str(info.value)!r}; expected {says!r} in it"


def test_the_edges_of_every_range_are_accepted(tmp_path: Path) -> None:
    edges = {
        "one worker": {"workers": 1},
        "most workers": {"workers": MAX_WORKERS},
        "one example": {"max_examples": 1},
        "most examples": {"max_examples": MAX_EXAMPLES_CAP},
        "seed 0": {"seed": 0},
        "largest seed": {"seed": 2**64 - 1},
        "tiny timeouts": {"timeout": 1e-9, "load_timeout": 1e-9},
        "both outputs to /dev/null": {"json_path": Path("/dev/null"), "junit_path": Path("/dev/null")},
        "new cache directory": {"compile_cache": tmp_path / "new" / "cache"},
        "every clause": {"clauses": tuple(CLAUSES)},
    }
    for case, fields in edges.items():
        try:
            catalogue = RunRequest("no_such_package:Backend", **fields).validate()
        except UsageError as exc:
            pytest.fail(f"{case}: observed {fields} refused ({exc}); expected it accepted")
        assert list(catalogue) == CLAUSES, (
            f"{case}: observed catalogue {list(catalogue)[:3]}...; expected the framework's"
        )


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(-3, 40), max_size=4),
    separator=st.sampled_from([",", "x", ", ", " x "]),
    as_text=st.booleans(),
)
def test_a_module_request_takes_positive_shapes_only_and_writes_them_with_commas(
    sizes: list[int], separator: str, as_text: bool
) -> None:
    shape: str | tuple[int, ...] = separator.join(map(str, sizes)) if as_text else tuple(sizes)
    request = RunRequest("no_such_package:make", subject=MODULE, input_shapes=(shape,))
    good = bool(sizes) and min(sizes) > 0
    try:
        request.validate(MODULE_CATALOGUE)
    except UsageError as exc:
        assert not good, f"shape {shape!r}: observed it refused ({exc}); expected it accepted"
        return
    assert good, f"shape {shape!r}: observed it accepted; expected a refusal (empty, zero or negative)"
    arguments = request.pytest_arguments()
    written = arguments[arguments.index("--blockspec-input-shape") + 1]
    assert written == ",".join(map(str, sizes)), f"shape {shape!r}: observed {written!r} passed to pytest"


def test_a_module_request_refuses_sizes_that_are_not_integers() -> None:
    for shape in ("4,six", "4.0,6", "", (4, True), (4, 6.0)):
        request = RunRequest("no_such_package:make", subject=MODULE, input_shapes=(shape,))
        with pytest.raises(UsageError) as info:
            request.validate()
        assert "every size must be an integer" in str(info.value), f"shape {shape!r}: observed {info.value}"


def test_the_load_limit_is_the_one_given_else_the_larger_of_the_default_and_the_timeout() -> None:
    cases = {
        "default": (RunRequest("reference"), max(DEFAULT_LOAD_TIMEOUT_S, 300.0)),
        "short test timeout": (RunRequest("reference", timeout=5.0), DEFAULT_LOAD_TIMEOUT_S),
        "long test timeout": (RunRequest("reference", timeout=900.0), 900.0),
        "given": (RunRequest("reference", timeout=900.0, load_timeout=7.0), 7.0),
    }
    for case, (request, expected) in cases.items():
        assert request.load_limit == expected, f"{case}: observed {request.load_limit}; expected {expected}"


def test_a_prepared_request_selects_its_clauses_or_none_for_all() -> None:
    pytest.importorskip("numpy")  # the reference backend
    every = RunRequest("reference").prepare()
    some = RunRequest("reference", clauses=("SEQ-ORDER", "SEQ-INDEX")).prepare()
    assert every.selected is None, f"observed {every.selected}; expected None (every clause)"
    assert some.selected == {"SEQ-INDEX", "SEQ-ORDER"}, f"observed {some.selected}; expected the two clauses"
    assert some.device == some.backend.host_device, f"observed device {some.device!r}; expected the host device"
    assert some.subject is some.backend and some.request.subject is FRAMEWORK, f"observed {some!r}"
