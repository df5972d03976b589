"""How one clause's hypothesis test runs: the first failure found fast, shrunk only when shrinking pays.

A clause test runs first without the shrink phase. A pass ends there. A failure is then:

- reported as found when the clause is already decided, i.e. a clause it depends on failed (it is
  ``blocked`` either way, and keeps its own first message);
- reported as found when every example shows it: the very first example failed, and so do the next
  :data:`PROBE` examples drawn (shrinking such a failure costs minutes and tells nothing new);
- else shrunk again from the start, for at most :data:`SHRINK_BUDGET_S` seconds (hypothesis reports the
  example shrunk so far when its shrinking budget runs out).

Both the run pipeline's suite (``conformance/module_suite/conftest.py``) and the in-process helper
(:func:`conformance.modules.evaluate`) run clause tests through :func:`run_clause_test`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: Examples drawn after a first-example failure to tell "every example fails" from "this one did".
PROBE = 3
#: The most seconds hypothesis spends shrinking a root failure.
SHRINK_BUDGET_S = 10.0


@contextmanager
def _shrink_budget(seconds: float) -> Iterator[None]:
    """Hypothesis's shrinking budget (``engine.MAX_SHRINKING_SECONDS``, its documented knob) at most ``seconds``."""
    from hypothesis.internal.conjecture import engine

    previous = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = max(1, int(min(previous, seconds)))  # type: ignore[misc]
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = previous  # type: ignore[misc]


def _given(body: Callable[..., None], options: Any, seed: int | None) -> Callable[[], None]:
    from hypothesis import given
    from hypothesis import seed as with_seed
    from hypothesis import strategies as st

    test: Callable[[], None] = given(data=st.data())(options(body))
    return with_seed(seed)(test) if seed is not None else test


def run_clause_test(
    inner: Callable[..., None],
    kwargs: dict[str, Any],
    options: Any,
    *,
    decided: bool = False,
    seed: int | None = None,
    budget_s: float = SHRINK_BUDGET_S,
) -> None:
    """Run ``inner(data=..., **kwargs)`` under hypothesis with ``options`` (a ``settings``), as described above.

    Raises what the test raised (a violation, a skip, a crash), with hypothesis's notes on the example.
    """
    from hypothesis import Phase, settings
    from hypothesis.errors import UnsatisfiedAssumption

    shrinks = Phase.shrink in options.phases and not decided
    quick = settings(options, phases=[p for p in options.phases if p is not Phase.shrink])
    calls = [0, 0]  # examples run, and the number of the first that failed (0: none yet)

    def counted(data: Any) -> None:
        calls[0] += 1
        try:
            inner(data=data, **kwargs)
        except UnsatisfiedAssumption:
            raise
        except Exception:
            calls[1] = calls[1] or calls[0]
            raise

    try:
        _given(counted, quick, seed)()
        return
    except Exception as exc:
        if not shrinks:
            raise
        first = exc
    if calls[1] == 1 and _every_example_fails(inner, kwargs, options, seed):
        raise first
    with _shrink_budget(budget_s):
        _given(lambda data: inner(data=data, **kwargs), options, seed)()
    raise first  # the shrinking run found nothing (a flaky failure): the first one stands


def _every_example_fails(inner: Callable[..., None], kwargs: dict[str, Any], options: Any, seed: int | None) -> bool:
    from hypothesis import Phase, settings
    from hypothesis.errors import UnsatisfiedAssumption

    outcomes: list[bool] = []

    def probe(data: Any) -> None:
        try:
            inner(data=data, **kwargs)
            outcomes.append(False)
        except UnsatisfiedAssumption:
            raise
        except Exception:
            outcomes.append(True)

    probing = settings(options, max_examples=PROBE + 1, phases=[Phase.generate], database=None)
    try:
        _given(probe, probing, seed)()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a skip inside a probe (hypothesis re-raises it): not every example fails
        return False
    return len(outcomes) >= 2 and all(outcomes)
