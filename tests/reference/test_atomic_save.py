"""A process killed in the middle of ``save`` leaves the previous file
intact: saves go to a temporary file that is renamed over the target only
once it is complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import reference

CHILD = textwrap.dedent(
    """
    import sys
    from collections import OrderedDict
    import reference

    path = sys.argv[1]
    # About 64 MB per save: long enough to be killed in the middle of one.
    state = OrderedDict((f"layer{i}.weight", reference.zeros(2048, 1024)) for i in range(8))
    step = 0
    while True:
        step += 1
        with reference.no_grad():
            for t in state.values():
                t.fill_(float(step))
        print(f"begin {step}", flush=True)
        reference.save(state, path)
        print(f"saved {step}", flush=True)
    """
)


def read_line(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line or time.monotonic() > deadline:
        stderr = process.stderr.read() if process.stderr else ""
        raise AssertionError(f"the saving process stopped or stalled; stderr: {stderr[-2000:]}")
    return line.strip()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("delay", [0.0, 0.005, 0.01, 0.02, 0.04])
def test_sigkill_during_save_keeps_the_previous_file(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "state.safetensors"
    root = str(Path(reference.__file__).resolve().parents[1])  # the checkout holding `reference`
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 60
    try:
        last_saved = 0
        while True:  # wait for one complete save, then for the next to begin
            line = read_line(process, deadline)
            if line.startswith("saved"):
                last_saved = int(line.split()[1])
            elif line.startswith("begin") and last_saved >= 1:
                begun = int(line.split()[1])
                break
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        # The child kept saving while we slept: the last save it began is the newest the file may hold.
        assert process.stdout is not None
        for line in process.stdout.read().split("\n"):
            if line.startswith("begin"):
                begun = int(line.split()[1])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    state = reference.load(path)  # must not raise: the old or the new file, whole
    assert list(state) == [f"layer{i}.weight" for i in range(8)], f"keys {list(state)}"
    values = {float(t.numpy()[0, 0]) for t in state.values()}
    assert len(values) == 1, f"tensors from different saves mixed in one file: {sorted(values)}"
    value = values.pop()
    assert value.is_integer() and last_saved <= value <= begun, (
        f"file holds step {value}; expected a whole step from {last_saved} (last seen saved) to {begun} (last begun)"
    )
    for name, t in state.items():
        assert bool(np.all(t.numpy() == value)), f"{name} is not uniformly {value}: the file is torn"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != path.name]
    assert all(name.endswith(".tmp") for name in leftovers), f"unexpected files {leftovers}"
    assert reference.load(path) is not None
