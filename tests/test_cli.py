"""The ``blockspec`` command (``python -m conformance``), run as a user runs it: in a subprocess."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance._protocol import CAPABILITY_MEMBERS, REQUIRED_MEMBERS
from spec import load_catalogue
from tests.helpers import ADAPTERS_DIR, REPO_ROOT, Cli, run_cli, run_python, schema_errors, subprocess_env, survivors

if TYPE_CHECKING:
    import jsonschema

FRAMEWORKS = ("torch", "jax", "flax")


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


def _usage_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The one-line error of a refused command; fails unless it exited 2 with a ``blockspec: error:`` line."""
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "Traceback" not in proc.stderr, f"observed a traceback; expected a one-line error{_explain(proc)}"
    assert "blockspec: error:" in proc.stderr, f"observed no 'blockspec: error:' line{_explain(proc)}"
    return proc.stderr


# --- help and imports -------------------------------------------------------------------------------

HELP_THEN_LIST_MODULES = """
import sys
from conformance._cli import main
for argv in (["--help"], ["run", "--help"], ["spec", "--help"], ["backends", "--help"]):
    try:
        main(argv)
    except SystemExit as exc:
        if exc.code != 0:
            raise SystemExit(f"{argv}: exit status {exc.code}")
    else:
        raise SystemExit(f"{argv}: did not exit")
print("LOADED", sorted(m for m in FRAMEWORKS if m in sys.modules))
"""

IMPORT_PLUGIN_THEN_LIST_MODULES = """
import sys
import conformance.plugin
print("LOADED", sorted(m for m in FRAMEWORKS if m in sys.modules))
"""


@pytest.mark.parametrize(
    "script", [HELP_THEN_LIST_MODULES, IMPORT_PLUGIN_THEN_LIST_MODULES], ids=["help", "plugin-import"]
)
def test_help_and_plugin_import_load_no_framework(script: str, tmp_path: Path) -> None:
    code = f"FRAMEWORKS = {FRAMEWORKS!r}\n" + textwrap.dedent(script)
    proc = run_python(["-c", code], tmp_path)
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    assert "LOADED []" in proc.stdout, f"observed {proc.stdout.strip()!r}; expected no framework imported"


def test_plugin_import_loads_neither_numpy_nor_hypothesis(tmp_path: Path) -> None:
    """The plugin loads in every pytest session of an environment: it must stay light (plugin.py's docstring)."""
    code = "import sys, conformance.plugin; print('LOADED', sorted(m for m in ('numpy', 'hypothesis') if m in sys.modules))"
    proc = run_python(["-c", code], tmp_path)
    assert "LOADED []" in proc.stdout, f"observed {proc.stdout.strip()!r}; expected neither imported{_explain(proc)}"


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]], ids=["top", "run"])
def test_help_exits_zero(argv: list[str], cli: Cli) -> None:
    proc = cli(argv)
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    for word in ["run", "spec", "backends"] if argv == ["--help"] else ["--backend", "--device", "--json", "--clause"]:
        assert word in proc.stdout, f"observed help without {word!r}{_explain(proc)}"


def test_no_command_is_a_usage_error(cli: Cli) -> None:
    proc = cli([])
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"


# --- bad backends ---------------------------------------------------------------------------------------


def test_unknown_backend_lists_the_known_ones(cli: Cli) -> None:
    stderr = _usage_error(cli(["run", "--backend", "no-such-backend"]))
    for name in ("no-such-backend", "torch", "reference"):
        assert name in stderr, f"observed {stderr.strip()!r}; expected it to name {name!r}"


@pytest.mark.parametrize(
    ("target", "named"),
    [
        ("no_such_module_xyz:Backend", "no_such_module_xyz"),
        ("conformance.arch:NoSuchAdapter", "NoSuchAdapter"),
        ("conformance.arch:", "package.module:attribute"),
        (":NoModule", "package.module:attribute"),
    ],
    ids=["missing-module", "missing-attribute", "empty-attribute", "empty-module"],
)
def test_module_attr_backend_that_does_not_exist(target: str, named: str, cli: Cli) -> None:
    stderr = _usage_error(cli(["run", "--backend", target]))
    assert named in stderr, f"observed {stderr.strip()!r}; expected it to name {named!r}"


def test_adapter_missing_protocol_members_names_them_all(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ADAPTERS_DIR))
    from fake_adapters import INCOMPLETE_HAS

    stderr = _usage_error(cli(["run", "--backend", "fake_adapters:Incomplete"], extra_path=[ADAPTERS_DIR]))
    expected = [m for m in REQUIRED_MEMBERS if m not in INCOMPLETE_HAS]
    expected += [f"{m} (for file-io)" for m in CAPABILITY_MEMBERS["file-io"]]
    problems = re.findall(r"missing ([a-z_]+(?: \(for [a-z-]+\))?)", stderr)
    assert sorted(problems) == sorted(expected), f"observed missing {problems}; expected {expected}"
    assert "telepathy" in stderr, f"observed {stderr.strip()!r}; expected the unknown capability named"


@pytest.mark.parametrize("mode", [[], ["--in-process"]], ids=["isolated", "in-process"])
def test_run_needs_no_entry_point(mode: list[str], tmp_path: Path) -> None:
    """A checkout run with PYTHONPATH=. (not installed, as on the GPU machine) has no pytest11 entry points.

    PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 takes them away here: the run must load its plugins itself.
    """
    env = {**subprocess_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    args = ["run", "--backend", "reference", "--clause", "SEQ-INDEX", "--seed", "7", "--json", "r.json", *mode]
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    clauses = {c["id"]: c["status"] for c in json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["clauses"]}
    assert clauses["SEQ-INDEX"] == "pass", f"observed SEQ-INDEX {clauses['SEQ-INDEX']!r}; expected pass{_explain(proc)}"


def test_reference_version_is_the_package_version() -> None:
    """The reference reports blockspec's version without package metadata (it may run uninstalled)."""
    import tomllib

    from conformance.backends.reference import ReferenceBackend

    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert ReferenceBackend().version() == declared, (
        f"observed reference version {ReferenceBackend().version()!r}; expected pyproject's {declared!r}"
    )


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    """`blockspec spec | head -1`: the reader leaves early; no traceback, SIGPIPE's status (141)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", "spec"],
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes: its first write finds no reader
    stderr = proc.stderr.read()
    status = proc.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, f"observed on stderr:\n{stderr}"
    assert status == 141, f"observed exit status {status}; expected 141 (SIGPIPE){stderr}"


# --- bad options -------------------------------------------------------------------------------------------


def test_unknown_clause_is_refused(cli: Cli) -> None:
    stderr = _usage_error(cli(["run", "--backend", "torch", "--clause", "SEQ-INDEX", "--clause", "NO-SUCH-CLAUSE"]))
    assert "NO-SUCH-CLAUSE" in stderr, f"observed {stderr.strip()!r}; expected the unknown id named"


def test_unavailable_device_lists_available_ones_and_keeps_the_old_result(cli: Cli, tmp_path: Path) -> None:
    old = tmp_path / "r.json"
    old.write_text('{"old": true}\n', encoding="utf-8")
    before = old.stat().st_mtime_ns
    stderr = _usage_error(cli(["run", "--backend", "torch", "--device", "cuda:7", "--json", "r.json"]))
    assert "cuda:7" in stderr, f"observed {stderr.strip()!r}; expected the device named"
    available = stderr.split("available", 1)[-1]
    assert "cpu" in available, f"observed {stderr.strip()!r}; expected the available devices (cpu) listed"
    assert old.read_text(encoding="utf-8") == '{"old": true}\n', "observed the old result file changed"
    assert old.stat().st_mtime_ns == before, "observed the old result file rewritten; expected it untouched"


def test_unindexed_device_is_refused_with_the_indexed_name(cli: Cli) -> None:
    stderr = _usage_error(cli(["run", "--backend", "reference", "--device", "sim", "--clause", "SEQ-INDEX"]))
    hint = stderr.split("available", 1)[-1]
    assert "sim:0)" in hint, f"observed {stderr.strip()!r}; expected a hint naming sim:0"


def test_json_into_missing_directory_is_refused_and_creates_nothing(cli: Cli, tmp_path: Path) -> None:
    stderr = _usage_error(cli(["run", "--backend", "torch", "--clause", "SEQ-INDEX", "--json", "nodir/r.json"]))
    assert "nodir" in stderr, f"observed {stderr.strip()!r}; expected the missing directory named"
    assert list(tmp_path.iterdir()) == [], f"observed {list(tmp_path.iterdir())}; expected nothing created"


@pytest.mark.parametrize(
    "bad",
    [
        ["--backend", "no-such-backend"],
        ["--backend", "torch", "--clause", "NO-SUCH-CLAUSE"],
        ["--backend", "conformance.arch:NoSuchAdapter"],
    ],
    ids=["backend", "clause", "adapter"],
)
def test_refused_run_leaves_an_existing_result_file_alone(bad: list[str], cli: Cli, tmp_path: Path) -> None:
    old = tmp_path / "r.json"
    old.write_text('{"old": true}\n', encoding="utf-8")
    before = old.stat().st_mtime_ns
    _usage_error(cli(["run", *bad, "--json", "r.json"]))
    assert old.read_text(encoding="utf-8") == '{"old": true}\n', "observed the old result file changed"
    assert old.stat().st_mtime_ns == before, "observed the old result file rewritten; expected it untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"], "observed stray files next to the result"


# --- spec and backends --------------------------------------------------------------------------------------


def test_spec_prints_every_clause(cli: Cli) -> None:
    proc = cli(["spec"])
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    assert proc.stdout.startswith("# "), f"observed {proc.stdout[:80]!r}; expected a Markdown title first"
    missing = [cid for cid in load_catalogue() if f"### {cid}" not in proc.stdout]
    assert not missing, f"observed no section for {missing}; expected every clause"


def test_spec_output_file(cli: Cli, tmp_path: Path) -> None:
    printed = cli(["spec"]).stdout
    proc = cli(["spec", "-o", "catalogue.md"])
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    written = (tmp_path / "catalogue.md").read_text(encoding="utf-8")
    assert written == printed, "observed a file different from what `blockspec spec` prints"


def test_spec_output_into_missing_directory_is_refused(cli: Cli, tmp_path: Path) -> None:
    stderr = _usage_error(cli(["spec", "-o", "missingdir/x.md"]))
    assert "missingdir" in stderr, f"observed {stderr.strip()!r}; expected the missing directory named"
    assert list(tmp_path.iterdir()) == [], f"observed {list(tmp_path.iterdir())}; expected nothing created"


def test_spec_output_onto_a_directory_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    stderr = _usage_error(cli(["spec", "-o", "adir"]))
    assert "adir" in stderr, f"observed {stderr.strip()!r}; expected the path named"


def _fake_distribution(root: Path, entry_points: dict[str, str], group: str = "blockspec.backends") -> Path:
    """A tiny installed distribution declaring entry points of ``group`` (backends by default), under ``root``."""
    info = root / "site" / "blockspec_cli_fakes-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: blockspec-cli-fakes\nVersion: 1.0\n", encoding="utf-8")
    lines = [f"[{group}]"] + [f"{name} = {target}" for name, target in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "site"


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """``blockspec backends`` with the built-ins and two entry points, one whose device query fails.

    One listing serves the tests below: it imports every installed framework (about 17 s on 2 cores).
    """
    root = tmp_path_factory.mktemp("backends")
    site = _fake_distribution(
        root, {"broken-ep": "fake_adapters:BrokenAccelerators", "minimal-ep": "fake_adapters:MinimalBackend"}
    )
    return run_cli(["backends"], root, [site, ADAPTERS_DIR])


def test_backends_lists_torch_with_version_and_capabilities(listing: subprocess.CompletedProcess[str]) -> None:
    from conformance.backends.torch import TorchBackend

    proc = listing
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    lines = proc.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.split()[:1] == ["torch"]), None)
    assert start is not None, f"observed no line for torch{_explain(proc)}"
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if line[:1].strip():  # the next backend's line
            break
        block.append(line)
    text = "\n".join(block)
    version = importlib.metadata.version("torch")
    assert version in lines[start], f"observed {lines[start]!r}; expected torch's version {version}"
    missing = [c for c in TorchBackend.capabilities if c not in text]
    assert not missing, f"observed torch's entry {text!r}; expected capabilities {missing} listed too"


def test_backends_lists_entry_point_backends(listing: subprocess.CompletedProcess[str]) -> None:
    proc = listing
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("minimal-ep")), "")
    assert "entry point" in line and "0.0-fake" in line, (
        f"observed {line!r}; expected source and version{_explain(proc)}"
    )


def test_backends_survives_an_adapter_whose_device_query_fails(listing: subprocess.CompletedProcess[str]) -> None:
    proc = listing
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    names = [ln.split()[0] for ln in proc.stdout.splitlines() if ln[:1].strip()]
    assert {"torch", "broken-ep", "minimal-ep"} <= set(names), f"observed backends {names}; expected all listed"
    broken = next(ln for ln in proc.stdout.splitlines() if ln.startswith("broken-ep"))
    assert "RuntimeError" in broken, f"observed {broken!r}; expected the failure named on the broken backend's line"


@pytest.mark.parametrize("users_value", [None, ""], ids=["unset", "set empty by the user"])
def test_a_run_and_its_test_processes_load_no_hypothesis_plugin_unless_the_user_asks(
    users_value: str | None, tmp_path: Path
) -> None:
    """An installed hypothesis plugin has no part in a verdict: no process of a run loads it, unless the user
    set HYPOTHESIS_NO_PLUGINS themselves (empty: hypothesis loads its plugins)."""
    site = _fake_distribution(tmp_path, {"noting": "hypothesis_plugin:note_loaded"}, group="hypothesis")
    loaded = tmp_path / "loaded"
    loaded.mkdir()
    env = {**subprocess_env([site, ADAPTERS_DIR]), "BLOCKSPEC_TEST_PLUGIN_DIR": str(loaded)}
    env.pop("HYPOTHESIS_NO_PLUGINS", None)
    if users_value is not None:
        env["HYPOTHESIS_NO_PLUGINS"] = users_value
    command = [sys.executable, "-m", "conformance", "run", "--backend", "reference", "--clause", "SEQ-INDEX"]
    proc = subprocess.run(
        [*command, "--profile", "fast", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    processes = len(list(loaded.iterdir()))
    if users_value is None:
        assert processes == 0, f"observed the hypothesis plugin loaded by {processes} process(es) of a run; expected 0"
    else:
        assert processes >= 1, (
            f"observed the plugin loaded by {processes} processes with HYPOTHESIS_NO_PLUGINS set empty by the user; "
            "expected every process that imports hypothesis to load it, as hypothesis does"
        )


#: A conftest.py that would change every verdict it joins: it notes the process that imports it, and
#: deselects every test (a run that checks nothing exits 2).
_INTRUSIVE_CONFTEST = """
import os, pathlib
folder = pathlib.Path(__file__).parent.name
pathlib.Path(os.environ["BLOCKSPEC_TEST_CONFTEST_DIR"], f"{folder}-conftest-{os.getpid()}").touch()

def pytest_collection_modifyitems(config, items):
    config.hook.pytest_deselected(items=list(items))
    items.clear()
"""


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--backend", "reference", "--clause", "SEQ-INDEX"],
        ["run", "--backend", "reference", "--clause", "SEQ-INDEX", "--in-process"],
        ["check-module", "torch.nn:Identity", "--input-shape", "2,3", "--clause", "MOD-ANY-BATCH"],
        ["interop", "--pair", "reference->reference", "--clause", "INTEROP-KEYS"],
    ],
    ids=["run", "run --in-process", "check-module", "interop"],
)
def test_a_run_imports_no_conftest_of_the_directory_it_is_started_in(command: list[str], tmp_path: Path) -> None:
    """A project's conftest.py and tests/conftest.py have no part in a verdict: pytest would import those of
    the directory it starts in into the suite's process, where one hook or fixture changes what is checked."""
    if command[0] == "check-module":
        pytest.importorskip("torch")
    (tmp_path / "tests").mkdir()
    for conftest in (tmp_path / "conftest.py", tmp_path / "tests" / "conftest.py"):
        conftest.write_text(_INTRUSIVE_CONFTEST, encoding="utf-8")
    noted = tmp_path / "noted"
    noted.mkdir()
    env = {**subprocess_env(), "BLOCKSPEC_TEST_CONFTEST_DIR": str(noted)}
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", *command, "--profile", "fast", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    imported = sorted(p.name for p in noted.iterdir())
    assert imported == [], f"observed conftest.py imported by a run ({imported}); expected none{_explain(proc)}"
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"


def test_backends_lists_a_backend_that_hangs_exits_dies_or_forks_as_it_loads_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """Each loads in a process of its own: the listing names what happened to each and goes on."""
    site = _fake_distribution(
        tmp_path,
        {
            "hangs": "hang_on_import:Backend",
            "exits": "exit3_on_import:Backend",
            "dies": "dies_on_import:Backend",
            "forks": "forks_on_import:Backend",
        },
    )
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {**subprocess_env([site, ADAPTERS_DIR]), "BLOCKSPEC_TEST_PID_DIR": str(pids)}
    command = [sys.executable, "-m", "conformance", "backends", "hangs", "exits", "dies", "forks", "reference"]
    proc = subprocess.run(
        [*command, "--load-timeout", "5"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, f"observed exit {proc.returncode}{_explain(proc)}"
    lines = {ln.split()[0]: ln for ln in proc.stdout.splitlines() if ln[:1].strip()}
    expected = {
        "hangs": "not importable: hung: no answer within 5 s while loading the backend",
        "exits": "not importable: backend 'exits' (exit3_on_import:Backend) cannot be loaded: importing it called sys.exit(3)",
        "dies": "not importable: crashed: the backend's process exited with status 7 while loading the backend",
        "forks": "0.1.0",
        "reference": "0.1.0",
    }
    wrong = {name: lines.get(name) for name, said in expected.items() if said not in (lines.get(name) or "")}
    assert not wrong, f"observed {wrong}; expected each line to say {expected}{_explain(proc)}"
    left = survivors(pids)
    assert not left, f"observed {left}, started by a backend as it loaded, alive after the listing; expected none"


def test_backends_refuses_an_unknown_name_with_the_known_ones(cli: Cli) -> None:
    proc = cli(["backends", "no-such-backend"])
    assert proc.returncode == 2 and "unknown backend 'no-such-backend'" in proc.stderr and "torch" in proc.stderr, (
        f"observed exit {proc.returncode}{_explain(proc)}; expected 2 naming the backend and the known ones"
    )
    assert "Traceback" not in proc.stderr, f"observed a traceback{_explain(proc)}"


# --- a real run ------------------------------------------------------------------------------------------------


def test_run_single_clause_reports_every_clause(
    seq_index_run: tuple[subprocess.CompletedProcess[str], Any], result_validator: jsonschema.protocols.Validator
) -> None:
    proc, data = seq_index_run
    errors = schema_errors(result_validator, data)
    assert not errors, f"observed schema errors {errors[:5]}; expected the result file to validate"
    catalogue = load_catalogue()
    ids = [c["id"] for c in data["clauses"]]
    assert ids == list(catalogue), f"observed clauses {ids}; expected the catalogue's, in order"
    by_id = {c["id"]: c for c in data["clauses"]}
    assert by_id["SEQ-INDEX"]["status"] == "pass", f"observed {by_id['SEQ-INDEX']}; expected status pass"
    wrong = [
        (cid, c["status"], c["reason"])
        for cid, c in by_id.items()
        if cid != "SEQ-INDEX" and (c["status"] != "skipped" or "not selected" not in c["reason"])
    ]
    assert not wrong, f"observed {wrong[:5]}; expected every other clause skipped as not selected"
    assert "r.json" in proc.stdout, f"observed stdout {proc.stdout[-300:]!r}; expected the result file named"
    assert json.dumps(data["exit_code"]) == "0", f"observed exit_code {data['exit_code']}; expected 0"


def test_kill_matrix_outside_a_checkout_says_it_needs_one(tmp_path: Path) -> None:
    """The mutants ship with a checkout, not the package: the installed command says so, plainly, exit 2."""
    proc = run_cli(["kill-matrix"], tmp_path)
    assert proc.returncode == 2, f"observed exit {proc.returncode}; expected 2 (usage){proc.stderr[-500:]}"
    assert "checkout" in proc.stderr and "Traceback" not in proc.stderr, (
        f"observed stderr {proc.stderr[-500:]!r}; expected a plain message that kill-matrix needs a checkout"
    )
