"""conformance.run.stash: where a run keeps its session in pytest's stash, and what to say when there is none."""

from __future__ import annotations

import json
import re

import pytest

from conformance._cli import _parser
from conformance._discovery import BUILTIN
from conformance.run.stash import NO_BACKEND
from tests.helpers import ADAPTERS_DIR, REPO_ROOT, pytester_output, run_python

#: A conftest that writes down what the run keeps under SESSION_KEY when the session ends.
CONFTEST = """
import json
from conformance.run.stash import SESSION_KEY

def pytest_sessionfinish(session):
    kept = session.config.stash.get(SESSION_KEY, None)
    seen = None if kept is None else [type(kept).__name__, kept.subject.name, kept.device]
    (session.config.rootpath / "stash.json").write_text(json.dumps(seen))
"""


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--blockspec-backend", "fake_adapters:MinimalBackend"), ["BlockspecSession", "minimal-fake", "cpu"]),
        ((), None),
    ],
    ids=["a run", "no run"],
)
def test_a_run_keeps_its_session_under_the_key_and_only_a_run_does(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, options: tuple[str, ...], expected: list[str] | None
) -> None:
    monkeypatch.syspath_prepend(str(ADAPTERS_DIR))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *options)
    path = pytester.path / "stash.json"
    seen = json.loads(path.read_text(encoding="utf-8")) if path.exists() else "no file"
    assert seen == expected, f"{options}: observed {seen!r} under SESSION_KEY; expected {expected!r}" + (
        pytester_output(result)
    )


def test_the_no_backend_message_names_an_option_and_a_command_that_work(pytester: pytest.Pytester) -> None:
    option = re.search(r"pass (--[\w-]+) NAME", NO_BACKEND)
    command = re.search(r"`blockspec (run --[\w-]+) NAME`", NO_BACKEND)
    examples = re.search(r"\(e\.g\. (\w+) or (\w+)\)", NO_BACKEND)
    assert option and command and examples, f"observed {NO_BACKEND!r}; expected an option, a command and examples"
    for name in examples.groups():
        assert name in BUILTIN, f"observed example backend {name!r}; expected one of {sorted(BUILTIN)}"
        config = pytester.parseconfig(option.group(1), name)
        taken = config.getoption("blockspec_backend")
        assert taken == name, f"observed `pytest {option.group(1)} {name}` naming {taken!r}; expected {name!r}"
        args = _parser().parse_args([*command.group(1).split(), name])
        assert args.backend == name, f"observed `blockspec {command.group(1)} {name}` naming {args.backend!r}"


@pytest.mark.slow  # a fresh interpreter: this process imported everything long ago
def test_importing_the_keys_loads_no_session_hypothesis_or_framework() -> None:
    code = (
        "import sys, json; import conformance.run.stash; "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.startswith(('conformance.', 'hypothesis', 'numpy', 'torch', 'jax')))))"
    )
    proc = run_python(["-c", code], REPO_ROOT)
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0\n{proc.stderr[-2000:]}"
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == ["conformance.run", "conformance.run.stash"], (
        f"observed {loaded} imported with the stash keys; expected conformance.run and its stash alone"
    )
