"""Seeded randomness: one default :class:`Generator` and explicit ones.

Every random op (``rand``, ``randn``, the ``nn.init`` functions, the default
initialisation of ``Linear``) draws from an explicit ``generator=`` argument
or from the default generator, which :func:`manual_seed` resets. Values are
drawn on the host and then copied to the target device, so a seed gives the
same numbers on every device.

>>> import reference
>>> _ = reference.manual_seed(0)
>>> a = reference.rand(3)
>>> _ = reference.manual_seed(0)
>>> bool((reference.rand(3) == a).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Generator", "default_generator", "manual_seed", "resolve"]


class Generator:
    """A reproducible stream of random numbers (NumPy's PCG64 underneath).

    >>> g = Generator().manual_seed(1)
    >>> g.initial_seed()
    1
    """

    __slots__ = ("_rng", "_seed")

    def __init__(self, seed: int | None = None) -> None:
        self._seed = 0
        self._rng = np.random.Generator(np.random.PCG64(0))
        if seed is not None:
            self.manual_seed(seed)

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from ``seed`` (any non-negative int); returns self."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"Expected a non-negative int seed but got seed={seed!r}")
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        """A snapshot that :meth:`set_state` restores."""
        state = dict(self._rng.bit_generator.state)
        return {"seed": self._seed, "bit_generator": state}

    def set_state(self, state: dict[str, Any]) -> None:
        self._seed = int(state["seed"])
        self._rng.bit_generator.state = state["bit_generator"]

    # The draws below return fresh host arrays of exactly ``dtype``.

    def uniform(self, shape: tuple[int, ...], low: float, high: float, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
        """U[low, high): draws U[0, 1) in float64 then scales, so the same
        seed gives the same values (up to rounding) in every float dtype."""
        base = self._rng.random(shape, dtype=np.float64)
        if low != 0.0 or high != 1.0:
            base = low + (high - low) * base
        out = base.astype(dtype, copy=False)
        if dtype.kind == "f" and high > low:
            # Rounding to a narrower float can land exactly on ``high``;
            # keep the interval half open as documented.
            np.minimum(out, np.nextafter(np.asarray(high, dtype), np.asarray(low, dtype)), out=out)
        return out

    def normal(self, shape: tuple[int, ...], mean: float, std: float, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
        base = self._rng.standard_normal(shape, dtype=np.float64)
        if std != 1.0 or mean != 0.0:
            base = mean + std * base
        return base.astype(dtype, copy=False)


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Reseed the default generator (used whenever no ``generator=`` is given)."""
    return default_generator.manual_seed(seed)


def resolve(generator: Generator | None) -> Generator:
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"Expected a reference.Generator but got generator={generator!r}")
    return generator
