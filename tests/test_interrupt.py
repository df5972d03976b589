"""conformance._interrupt: Ctrl-C exits 130, SIGTERM and SIGHUP 128 + N with cleanup run, the handlers put back.

Each test sends the signal to this process with ``os.kill`` inside the block. A recording handler stands in
for SIGTERM's and SIGHUP's defaults meanwhile, so a block that failed to take the signal over shows up as an
assertion, never as the end of the pytest process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest

from conformance import _cli, _interrupt
from conformance._interrupt import Terminated, install, signals_as_exit, user_interrupted

CATCHABLE = (signal.SIGTERM, signal.SIGHUP)
#: Long enough that only the signal's handler ends the wait (the exception it raises cuts the wait short).
WAIT_S = 5.0


class Recorder:
    """A signal handler that notes each signal it gets and does nothing else."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """SIGTERM and SIGHUP go to a recorder for the test; SIGINT's handler and the Ctrl-C note are put back after."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, *CATCHABLE)}
    handler = Recorder()
    for s in CATCHABLE:
        signal.signal(s, handler)
    yield handler
    for s, previous in saved.items():
        signal.signal(s, previous)
    _interrupt._received.clear()  # a real SIGINT noted here must not make later tests see a user's Ctrl-C


def _send(signum: int) -> None:
    """``signum`` to this process; waits until its handler has run (a raising handler cuts the wait short)."""
    os.kill(os.getpid(), signum)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:  # short naps: the handler runs between two, whichever thread got the signal
        time.sleep(0.01)


@pytest.mark.parametrize("signum", CATCHABLE, ids=lambda s: signal.Signals(s).name)
def test_a_signal_in_the_block_raises_terminated_with_128_plus_its_number_and_cleanup_runs(
    signum: int, recorder: Recorder
) -> None:
    name = signal.Signals(signum).name
    cleaned: list[str] = []
    started = time.monotonic()
    with pytest.raises(Terminated) as caught, signals_as_exit():
        try:
            _send(signum)
        finally:
            cleaned.append("finally")
    assert time.monotonic() - started < WAIT_S, f"{name}: observed the block waiting on; expected it ended at once"
    assert isinstance(caught.value, SystemExit), f"{name}: observed {type(caught.value).__mro__}; expected SystemExit"
    observed = (caught.value.code, caught.value.name)
    assert observed == (128 + signum, name), (
        f"{name}: observed (code, name) {observed}; expected {(128 + signum, name)}"
    )
    assert cleaned == ["finally"], f"{name}: observed cleanup {cleaned}; expected the block's finally run"
    assert recorder.received == [], f"{name}: observed the previous handler called {recorder.received}; expected none"


def _leave_normally() -> None:
    pass


def _leave_on_signal() -> None:
    _send(signal.SIGTERM)


def _leave_on_error() -> None:
    raise LookupError("a test's own error")


@pytest.mark.parametrize(
    "leave", [_leave_normally, _leave_on_signal, _leave_on_error], ids=["normally", "SIGTERM", "error"]
)
def test_the_previous_handlers_are_back_however_the_block_is_left(
    leave: Callable[[], None], recorder: Recorder
) -> None:
    raising = pytest.raises((Terminated, LookupError)) if leave is not _leave_normally else contextlib.nullcontext()
    with raising, signals_as_exit():
        inside = {s: signal.getsignal(s) for s in CATCHABLE}
        leave()
    assert all(h is not recorder for h in inside.values()), f"observed {inside} inside; expected the block's handler"
    after = {signal.Signals(s).name: signal.getsignal(s) for s in CATCHABLE}
    assert all(h is recorder for h in after.values()), f"observed handlers {after} after; expected the recorder back"
    os.kill(os.getpid(), signal.SIGHUP)  # after the block, a signal goes where it went before
    time.sleep(0.05)
    assert recorder.received == [signal.SIGHUP], f"observed {recorder.received}; expected [SIGHUP] for the recorder"


def test_an_inner_block_gives_the_outer_block_its_handler_back(recorder: Recorder) -> None:
    with pytest.raises(Terminated) as caught, signals_as_exit():
        outer = signal.getsignal(signal.SIGTERM)
        with signals_as_exit():  # a run's own block inside the command's (isolate.py inside _cli.py)
            pass
        back = signal.getsignal(signal.SIGTERM)
        assert back is outer, f"observed {back!r} after the inner block; expected the outer block's {outer!r}"
        _send(signal.SIGTERM)
    assert caught.value.code == 128 + signal.SIGTERM, f"observed exit {caught.value.code}; expected 143"
    assert recorder.received == [], f"observed {recorder.received} at the recorder; expected the outer block's exit"


def _in_a_thread(body: Callable[[], Any]) -> Any:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(_outcome(body)))
    thread.start()
    thread.join(10)
    return result[0]


def _outcome(body: Callable[[], Any]) -> Any:
    try:
        return body()
    except Exception as exc:  # reported as the outcome: the assertion names it
        return exc


def test_outside_the_main_thread_the_block_changes_nothing(recorder: Recorder) -> None:
    def body() -> dict[int, Any]:
        with signals_as_exit():
            return {s: signal.getsignal(s) for s in CATCHABLE}

    inside = _in_a_thread(body)
    assert inside == dict.fromkeys(CATCHABLE, recorder), f"observed {inside!r}; expected the handlers left alone"


def test_install_notes_a_real_sigint_and_raises_keyboardinterrupt(recorder: Recorder) -> None:
    install()
    assert not user_interrupted(), "observed a user interrupt before any SIGINT; expected none"
    with pytest.raises(KeyboardInterrupt):
        _send(signal.SIGINT)
    assert user_interrupted(), "observed a real SIGINT not noted; expected user_interrupted() True"


def test_a_keyboardinterrupt_that_code_raises_is_no_user_interrupt(recorder: Recorder) -> None:
    install()
    with pytest.raises(KeyboardInterrupt):
        raise KeyboardInterrupt  # as a backend may, at import or in a test
    assert not user_interrupted(), "observed a raised KeyboardInterrupt taken for Ctrl-C; expected it not noted"


def test_install_outside_the_main_thread_changes_nothing(recorder: Recorder) -> None:
    before = signal.getsignal(signal.SIGINT)
    outcome = _in_a_thread(install)
    after = signal.getsignal(signal.SIGINT)
    assert outcome is None and after is before, (
        f"observed outcome {outcome!r}, SIGINT handler {after!r}; expected None, {before!r}"
    )


def test_ctrl_c_during_a_command_exits_130(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_cli, "_command", lambda args: _send(signal.SIGINT))
    code = _cli.main(["spec"])
    err = capsys.readouterr().err
    assert (code, err) == (130, "blockspec: interrupted\n"), f"observed {code}, {err!r}; expected 130 and one line"
    assert user_interrupted(), "observed the command's Ctrl-C not noted; expected user_interrupted() True"


@pytest.mark.parametrize("signum", CATCHABLE, ids=lambda s: signal.Signals(s).name)
def test_sigterm_or_sighup_during_a_command_exits_128_plus_n_and_the_handler_is_put_back(
    signum: int, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cli, "_command", lambda args: _send(signum))
    with pytest.raises(SystemExit) as caught:
        _cli.main(["spec"])
    name = signal.Signals(signum).name
    assert caught.value.code == 128 + signum, f"{name}: observed exit {caught.value.code}; expected {128 + signum}"
    assert signal.getsignal(signum) is recorder, f"{name}: observed {signal.getsignal(signum)!r}; expected it put back"
    assert not user_interrupted(), f"{name}: observed it taken for Ctrl-C; expected user_interrupted() False"
