"""conformance/_preloaded.py: the kill matrix's fork server forks each run with what it loaded frozen."""

from __future__ import annotations

import os

import pytest

from conformance import _killmatrix as K


def _exit_zero_if_frozen() -> None:  # a child of the fork server
    import gc

    os._exit(0 if gc.get_freeze_count() > 0 else 1)


@pytest.mark.slow  # starts a fork server (torch, pytest, hypothesis: seconds)
def test_the_fork_server_forks_each_run_with_what_it_loaded_frozen() -> None:
    """The server's heap is out of the collector's walks (``conformance._preloaded``): a run's collections skip it."""
    context = K._forkserver()
    if context is None:
        pytest.skip("no fork server on this platform")
    child = context.Process(target=_exit_zero_if_frozen, daemon=True)
    child.start()
    child.join(120)
    assert child.exitcode == 0, (
        f"observed a forked run with exit {child.exitcode} (1: gc.get_freeze_count() == 0); expected the server's "
        f"objects frozen before it forks"
    )
