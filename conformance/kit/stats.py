"""Distribution tests with stated, distribution-free false-alarm probabilities.

Each test returns a verdict whose false-alarm probability under the null
hypothesis is at most the ``alpha`` it is given, by an inequality that holds
for every sample size (no asymptotics):

- DKW (Massart 1990): ``P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2)``;
- Hoeffding: ``P(|p_hat - p| >= t) <= 2 exp(-2 n t^2)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _erf(x: np.ndarray) -> np.ndarray:
    """``math.erf`` of each element (NumPy has no erf): exact to the last bit, twice as fast as ``np.vectorize``."""
    x = np.asarray(x, dtype=np.float64)
    return np.fromiter(map(math.erf, x.ravel().tolist()), dtype=np.float64, count=x.size).reshape(x.shape)


def normal_cdf(mean: float, std: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: 0.5 * (1.0 + _erf((x - mean) / (std * math.sqrt(2.0))))


def neighbours(x: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """The next ``dtype`` values below and above each of ``x`` (float64 holding ``dtype`` values), as float64.

    bfloat16, which NumPy lacks, steps through the upper half of a float32's bits.
    """
    if dtype == "bfloat16":
        up = _bfloat16_up
        return -up(-x), up(x)
    held = x.astype(dtype)
    below = np.nextafter(held, np.array(-np.inf, dtype=dtype)).astype(np.float64)
    return below, np.nextafter(held, np.array(np.inf, dtype=dtype)).astype(np.float64)


def _bfloat16_up(x: np.ndarray) -> np.ndarray:
    """The next bfloat16 above each of ``x`` (bfloat16 values held in float64)."""
    bits = (x.astype(np.float32) + np.float32(0.0)).view(np.uint32).astype(np.int64)  # -0.0 counts as +0.0
    positive = (bits >> 31) == 0
    stepped = np.where(positive, bits + 0x10000, bits - 0x10000)
    return stepped.astype(np.uint32).view(np.float32).astype(np.float64)


def round_to(value: float, dtype: str) -> float:
    """``value`` rounded to the nearest ``dtype`` value (bfloat16 through float32, as PyTorch converts)."""
    if dtype != "bfloat16":
        return float(np.array(value).astype(dtype))
    bits = int(np.array(value, dtype=np.float32).view(np.uint32))
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return float(np.array(bits, dtype=np.uint32).view(np.float32))


@dataclass(frozen=True)
class RoundedNormal:
    """N(mean, std^2) rounded to the nearest value of ``dtype``; std 0 is the point mass at ``mean`` rounded.

    Its CDF jumps at each ``dtype`` value x: P(X <= x) is the normal's CDF at
    the midpoint from x to the next value up, P(X < x) at the midpoint to the
    next value down (standardized before adding the half step, so that a
    float64 subnormal step does not round away).
    """

    mean: float
    std: float
    dtype: str

    def _cdf(self, x: np.ndarray, neighbour: np.ndarray, strict: bool) -> np.ndarray:
        if self.std == 0:
            point = round_to(self.mean, self.dtype)
            return (x > point if strict else x >= point).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            z = (x - self.mean) / self.std + ((neighbour - x) / self.std) / 2
        return np.asarray(0.5 * (1.0 + _erf(z / math.sqrt(2.0))), dtype=np.float64)

    def at(self, x: np.ndarray) -> np.ndarray:
        """P(X <= x) for ``dtype`` values x."""
        return self._cdf(x, neighbours(x, self.dtype)[1], strict=False)

    def below(self, x: np.ndarray) -> np.ndarray:
        """P(X < x) for ``dtype`` values x."""
        return self._cdf(x, neighbours(x, self.dtype)[0], strict=True)


def uniform_cdf(a: float, b: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.clip((x - a) / (b - a), 0.0, 1.0)


@dataclass(frozen=True)
class Decision:
    passed: bool
    statistic: float
    threshold: float
    n: int

    def __str__(self) -> str:
        return f"statistic {self.statistic:.4g} vs threshold {self.threshold:.4g} (n={self.n})"


def dkw_epsilon(n: int, alpha: float) -> float:
    """The DKW threshold at which a true CDF is rejected with probability at most ``alpha``."""
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def dkw_test(samples: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray] | RoundedNormal, alpha: float) -> Decision:
    """Kolmogorov distance between the empirical CDF of ``samples`` and ``cdf``, against DKW.

    A :class:`RoundedNormal` has jumps: the distance just below each
    sample uses its CDF there (DKW holds for every distribution).
    """
    x = np.sort(samples.astype(np.float64).ravel())
    n = x.size
    at, below = (cdf.at, cdf.below) if isinstance(cdf, RoundedNormal) else (cdf, cdf)
    upper = np.arange(1, n + 1) / n - at(x)
    lower = below(x) - np.arange(0, n) / n
    statistic = float(max(upper.max(), lower.max()))
    threshold = dkw_epsilon(n, alpha)
    return Decision(statistic <= threshold, statistic, threshold, n)


def hoeffding_test(successes: int, n: int, p: float, alpha: float) -> Decision:
    """Whether a frequency ``successes / n`` is consistent with probability ``p``."""
    t = math.sqrt(math.log(2.0 / alpha) / (2.0 * n))
    statistic = abs(successes / n - p)
    return Decision(statistic < t, statistic, t, n)
