"""conformance._errors: each error says what was wrong and what to do; the command turns any of them into exit 2."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import _cli
from conformance._errors import (
    BackendImportError,
    BackendProtocolError,
    ResultFileError,
    UnknownBackendError,
    UsageError,
)
from spec import BlockspecError

#: One instance of each error the checker raises on purpose, by case name.
ERRORS: dict[str, BlockspecError] = {
    "usage": UsageError("--exclude leaves no clause to check"),
    "unknown backend": UnknownBackendError("nosuch", ["reference", "torch"]),
    "import": BackendImportError("mine", "pkg.mod:Adapter", "ImportError: no module named pkg"),
    "protocol": BackendProtocolError("mine", ["missing build", "missing forward"]),
    "result file": ResultFileError("cannot write out/index.html: Permission denied"),
}


@pytest.fixture
def sigint_kept() -> Iterator[None]:
    """``main`` installs its SIGINT handler for good; put back the one pytest had."""
    previous = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, previous)


def test_every_error_is_a_usage_error_under_the_one_root() -> None:
    for case, error in ERRORS.items():
        assert isinstance(error, UsageError) and isinstance(error, BlockspecError), (
            f"{case}: observed {type(error).__mro__}; expected UsageError and BlockspecError in it"
        )


@settings(max_examples=50, deadline=None)
@given(
    name=st.text(min_size=1, max_size=12, alphabet=st.characters(codec="utf-8")).map(str),
    known=st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=5, unique=True),
)
def test_an_unknown_backend_names_itself_and_every_known_one(name: str, known: list[str]) -> None:
    error = UnknownBackendError(name, tuple(known))  # any sequence: the error keeps its own list
    message = str(error)
    expected = f"unknown backend {name!r}; known backends: {', '.join(known)}; "
    assert message.startswith(expected), f"name={name!r}, known={known}: observed {message!r}; expected {expected!r}..."
    assert message.endswith("or give an adapter as package.module:attribute"), (
        f"name={name!r}: observed {message!r}; expected it to end saying how to give an adapter"
    )
    assert (error.name, error.known) == (name, known), (
        f"observed name={error.name!r}, known={error.known!r}; expected {name!r}, {known!r} as a list"
    )


def test_an_unknown_backend_with_none_known_says_none() -> None:
    message = str(UnknownBackendError("torch", []))
    assert "known backends: (none);" in message, f"observed {message!r}; expected 'known backends: (none);' in it"


def test_an_import_error_names_the_backend_its_target_and_why() -> None:
    error = ERRORS["import"]
    assert isinstance(error, BackendImportError)
    expected = "backend 'mine' (pkg.mod:Adapter) cannot be loaded: ImportError: no module named pkg"
    assert str(error) == expected, f"observed {str(error)!r}; expected {expected!r}"
    observed = (error.name, error.target, error.reason)
    assert observed == ("mine", "pkg.mod:Adapter", "ImportError: no module named pkg"), (
        f"observed attributes {observed}; expected the name, target and reason given"
    )


def test_a_protocol_error_lists_every_problem_and_says_where_the_protocol_is() -> None:
    problems = ("missing build", "capabilities must be a set")
    error = BackendProtocolError("mine", problems)
    expected = (
        "backend 'mine' does not implement the Backend protocol: missing build; capabilities must be a set "
        "(see conformance.Backend and the README's 'Write your own backend')"
    )
    assert str(error) == expected, f"observed {str(error)!r}; expected {expected!r}"
    assert (error.name, error.problems) == ("mine", list(problems)), (
        f"observed name={error.name!r}, problems={error.problems!r}; expected 'mine', {list(problems)}"
    )


def test_a_result_file_error_is_its_message() -> None:
    error = ERRORS["result file"]
    assert str(error) == "cannot write out/index.html: Permission denied", f"observed {str(error)!r}"


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_the_command_turns_each_error_into_exit_2_and_one_line(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sigint_kept: None
) -> None:
    error = ERRORS[case]

    def command(args: object) -> int:
        raise error

    monkeypatch.setattr(_cli, "_command", command)
    code = _cli.main(["spec"])
    out, err = capsys.readouterr()
    assert code == 2, f"{case}: observed exit status {code}; expected 2"
    assert err == f"blockspec: error: {error}\n", f"{case}: observed stderr {err!r}; expected the message on one line"
    assert out == "", f"{case}: observed stdout {out!r}; expected nothing"


def test_the_command_shows_control_characters_of_an_error_and_never_obeys_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sigint_kept: None
) -> None:
    def command(args: object) -> int:  # a backend's own text quoted in the reason: here an ANSI escape
        raise BackendImportError("mine", "m:A", "RuntimeError: \x1b[2J\x1b[31mred")

    monkeypatch.setattr(_cli, "_command", command)
    code = _cli.main(["spec"])
    err = capsys.readouterr().err
    assert code == 2 and "\x1b" not in err, f"observed exit {code}, stderr {err!r}; expected 2 and no raw ESC"
    assert "RuntimeError: \u241b[2J\u241b[31mred" in err, f"observed {err!r}; expected ESC shown as its picture"


def test_an_exception_that_is_no_blockspec_error_is_not_taken_for_bad_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sigint_kept: None
) -> None:
    def command(args: object) -> int:  # a bug in the checker must show its traceback, not pose as exit 2
        raise RuntimeError("a bug")

    monkeypatch.setattr(_cli, "_command", command)
    with pytest.raises(RuntimeError, match="a bug"):
        _cli.main(["spec"])
    err = capsys.readouterr().err
    assert "blockspec: error:" not in err, f"observed {err!r}; expected no usage message for a bug"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["interop", "--pair", "torch"], "blockspec: error: a pair is written WRITER->READER (e.g. torch->flax); got"),
        (["report", "{missing}"], "blockspec: error: {missing}: no such file"),
    ],
    ids=["usage error: a malformed pair", "result file error: a missing file"],
)
def test_errors_raised_where_they_are_used_end_as_exit_2_without_a_traceback(
    argv: list[str],
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sigint_kept: None,
) -> None:
    missing = str(tmp_path / "missing.json")
    argv = [a.format(missing=missing) for a in argv]
    code = _cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"{argv}: observed exit status {code}; expected 2 ({err[-300:]!r})"
    assert err.startswith(expected.format(missing=missing)), f"{argv}: observed {err!r}; expected {expected!r}..."
    assert "Traceback" not in err and err.count("\n") == 1, f"{argv}: observed {err!r}; expected one line"
