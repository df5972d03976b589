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

_erf = np.vectorize(math.erf, otypes=[np.float64])


def normal_cdf(mean: float, std: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: 0.5 * (1.0 + _erf((x - mean) / (std * math.sqrt(2.0))))


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


def dkw_test(samples: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray], alpha: float) -> Decision:
    """Kolmogorov distance between the empirical CDF of ``samples`` and ``cdf``, against DKW."""
    x = np.sort(samples.astype(np.float64).ravel())
    n = x.size
    f = cdf(x)
    upper = np.arange(1, n + 1) / n - f
    lower = f - np.arange(0, n) / n
    statistic = float(max(upper.max(), lower.max()))
    threshold = dkw_epsilon(n, alpha)
    return Decision(statistic <= threshold, statistic, threshold, n)


def hoeffding_test(successes: int, n: int, p: float, alpha: float) -> Decision:
    """Whether a frequency ``successes / n`` is consistent with probability ``p``."""
    t = math.sqrt(math.log(2.0 / alpha) / (2.0 * n))
    statistic = abs(successes / n - p)
    return Decision(statistic < t, statistic, t, n)
