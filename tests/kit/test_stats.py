"""Distribution tests with stated false-alarm bounds: DKW and Hoeffding. Fixed seeds only."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.kit import stats

ALPHA = 1e-13  # what the suite allows per example (conformance._profiles.ALPHA_PER_EXAMPLE)
N = 40_000


@pytest.mark.parametrize(("n", "alpha"), [(1, 0.5), (100, 0.05), (N, ALPHA), (10**6, 1e-9)])
def test_dkw_epsilon_matches_the_formula(n: int, alpha: float) -> None:
    eps = stats.dkw_epsilon(n, alpha)
    expected = math.sqrt(math.log(2 / alpha) / (2 * n))
    assert math.isclose(eps, expected, rel_tol=1e-12), f"observed {eps}; expected {expected}"
    bound = 2 * math.exp(-2 * n * eps**2)
    assert math.isclose(bound, alpha, rel_tol=1e-9), f"observed bound 2exp(-2n eps^2) = {bound}; expected {alpha}"


def test_dkw_accepts_the_right_distribution() -> None:
    samples = np.random.default_rng(20240601).standard_normal(N)
    verdict = stats.dkw_test(samples, stats.normal_cdf(0.0, 1.0), ALPHA)
    assert verdict.passed, f"observed a rejection of N(0,1) samples: {verdict}"
    assert verdict.n == N, f"observed n={verdict.n}; expected {N}"


def test_dkw_rejects_a_wider_distribution() -> None:
    samples = np.random.default_rng(20240601).normal(0.0, 1.3, N)
    verdict = stats.dkw_test(samples, stats.normal_cdf(0.0, 1.0), ALPHA)
    assert not verdict.passed, f"observed N(0, 1.3^2) samples accepted as N(0,1): {verdict}"
    assert verdict.statistic > 0.05, f"observed statistic {verdict.statistic}; expected about 0.06"


@pytest.mark.parametrize(("a", "b"), [(0.0, 1.0), (-3.0, 2.0)])
def test_dkw_on_uniform_samples(a: float, b: float) -> None:
    rng = np.random.default_rng(7)
    right = stats.dkw_test(rng.uniform(a, b, N), stats.uniform_cdf(a, b), ALPHA)
    shifted = stats.dkw_test(rng.uniform(a, b, N), stats.uniform_cdf(a + 0.1 * (b - a), b), ALPHA)
    assert right.passed, f"observed U({a},{b}) samples rejected: {right}"
    assert not shifted.passed, f"observed U({a},{b}) samples accepted against a shifted CDF: {shifted}"


@given(data=st.data())
def test_dkw_statistic_is_the_kolmogorov_distance(data: st.DataObject) -> None:
    values = data.draw(
        st.lists(st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0]) | st.floats(-4, 4), min_size=1, max_size=30),
        label="samples",
    )
    samples = np.array(values)
    cdf = stats.normal_cdf(0.0, 1.0)
    verdict = stats.dkw_test(samples, cdf, 0.05)
    # sup_t |F_n(t) - F(t)| for a continuous F is reached at a sample, from the left or the right.
    points = np.unique(samples)
    f = cdf(points)
    right = np.array([np.sum(samples <= t) for t in points]) / samples.size
    left = np.array([np.sum(samples < t) for t in points]) / samples.size
    expected = float(max(np.max(np.abs(right - f)), np.max(np.abs(left - f))))
    assert math.isclose(verdict.statistic, expected, rel_tol=1e-12, abs_tol=1e-15), (
        f"observed statistic {verdict.statistic}; expected the Kolmogorov distance {expected}"
    )


def _false_alarm_limit(alpha: float, repetitions: int) -> float:
    """alpha * repetitions plus 4 binomial standard deviations: a bound met by any seed unless the test is wrong.

    DKW is nearly tight at moderate alpha (the Kolmogorov tail is 2 exp(-2 x^2) to first order), so the
    count itself may sit right at alpha * repetitions.
    """
    return alpha * repetitions + 4 * math.sqrt(repetitions * alpha * (1 - alpha))


def test_dkw_false_alarms_stay_below_alpha() -> None:
    rng = np.random.default_rng(11)
    cdf = stats.normal_cdf(0.0, 1.0)
    alpha, repetitions = 0.05, 1000
    rejections = sum(not stats.dkw_test(rng.standard_normal(100), cdf, alpha).passed for _ in range(repetitions))
    limit = _false_alarm_limit(alpha, repetitions)
    assert rejections <= limit, f"observed {rejections} rejections of {repetitions}; expected at most {limit:.0f}"


#: (dtype, mean, std): coarse normals, whose rounding to the dtype decides the distribution, and std 0.
ROUNDED = [
    ("float16", -3.0, 2.0**-8),
    ("float16", 1000.0, 0.5),
    ("bfloat16", -3.0, 0.01),
    ("bfloat16", 0.5, 2.0**-9),
    ("float32", 0.0, 2.0**-146),
    ("float64", 0.0, 2.0**-1072),
    ("float64", 0.1, 0.0),
    ("bfloat16", 0.1, 0.0),
]


def _rounded_samples(rng: np.random.Generator, dtype: str, mean: float, std: float, n: int = N) -> np.ndarray:
    """N(mean, std^2) samples rounded to the nearest ``dtype`` value, as float64 (bfloat16 through float32)."""
    exact = rng.standard_normal(n) * std + mean
    if dtype == "bfloat16":
        return np.array([stats.round_to(v, "bfloat16") for v in exact.astype(np.float32)])
    return exact.astype(dtype).astype(np.float64)


@pytest.mark.parametrize(("dtype", "mean", "std"), ROUNDED)
def test_rounded_normal_accepts_rounded_samples_and_rejects_truncated_ones(dtype: str, mean: float, std: float) -> None:
    rng = np.random.default_rng(5)
    samples = _rounded_samples(rng, dtype, mean, std)
    expected = stats.RoundedNormal(mean, std, dtype)
    verdict = stats.dkw_test(samples, expected, ALPHA)
    assert verdict.passed, f"observed rounded N({mean}, {std}^2) {dtype} samples rejected: {verdict}"
    below, above = stats.neighbours(samples, dtype)
    shifted = np.where(samples > 0, below, above)  # each sample one step toward zero
    wrong = stats.dkw_test(shifted, expected, ALPHA)
    assert not wrong.passed, f"observed {dtype} samples moved one step toward zero accepted: {wrong}"


def test_the_continuous_normal_rejects_coarse_rounded_samples() -> None:
    """Why the suite compares half precision with the rounded normal: the continuous one is a false alarm."""
    samples = _rounded_samples(np.random.default_rng(5), "bfloat16", -3.0, 0.01)
    verdict = stats.dkw_test(samples, stats.normal_cdf(-3.0, 0.01), ALPHA)
    assert not verdict.passed, f"observed coarse bfloat16 samples accepted by the continuous normal: {verdict}"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_neighbours_are_the_adjacent_values_of_the_dtype(dtype: str) -> None:
    values = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 3.0, 2.0**-14])
    below, above = stats.neighbours(values, dtype)
    for v, lo, hi in zip(values, below, above, strict=True):
        assert lo < v < hi, f"observed neighbours {lo!r}, {hi!r} of {v!r} in {dtype}; expected one below, one above"
        for n in (lo, hi):
            assert stats.round_to(n, dtype) == n, f"observed neighbour {n!r} of {v!r}, not a {dtype} value"
            if dtype != "float64":  # float64 itself has nothing in between to round from
                assert stats.round_to((v + n) / 2 + (n - v) / 4, dtype) == n, (
                    f"observed a {dtype} value between {v!r} and its neighbour {n!r}; expected none"
                )


def test_rounded_normal_false_alarms_stay_below_alpha() -> None:
    """The jump correction keeps DKW's bound for a discrete distribution (here bfloat16's N(-3, 0.01))."""
    rng = np.random.default_rng(13)
    expected = stats.RoundedNormal(-3.0, 0.01, "bfloat16")
    alpha, repetitions = 0.05, 400
    rejections = sum(
        not stats.dkw_test(_rounded_samples(rng, "bfloat16", -3.0, 0.01, 100), expected, alpha).passed
        for _ in range(repetitions)
    )
    limit = _false_alarm_limit(alpha, repetitions)
    assert rejections <= limit, f"observed {rejections} rejections of {repetitions}; expected at most {limit:.0f}"


def test_hoeffding_accepts_the_right_probability() -> None:
    successes = int(np.sum(np.random.default_rng(3).random(N) < 0.3))
    verdict = stats.hoeffding_test(successes, N, 0.3, ALPHA)
    assert verdict.passed, f"observed a rejection of p=0.3 on p=0.3 data: {verdict}"


@pytest.mark.parametrize("wrong", [0.27, 0.33, 0.5])
def test_hoeffding_rejects_a_wrong_probability(wrong: float) -> None:
    successes = int(np.sum(np.random.default_rng(3).random(N) < 0.3))
    verdict = stats.hoeffding_test(successes, N, wrong, ALPHA)
    assert not verdict.passed, f"observed p={wrong} accepted on p=0.3 data: {verdict}"


def test_hoeffding_threshold_matches_the_formula() -> None:
    verdict = stats.hoeffding_test(500, 1000, 0.5, 0.01)
    expected = math.sqrt(math.log(2 / 0.01) / (2 * 1000))
    assert math.isclose(verdict.threshold, expected, rel_tol=1e-12), f"observed {verdict.threshold}; {expected}"
    assert verdict.statistic == 0.0 and verdict.passed, f"observed {verdict}; expected statistic 0, passed"


def test_hoeffding_false_alarms_stay_below_alpha() -> None:
    rng = np.random.default_rng(13)
    alpha, repetitions = 0.05, 1000
    trials = rng.binomial(100, 0.5, repetitions)
    rejections = sum(not stats.hoeffding_test(int(s), 100, 0.5, alpha).passed for s in trials)
    limit = _false_alarm_limit(alpha, repetitions)
    assert rejections <= limit, f"observed {rejections} rejections of {repetitions}; expected at most {limit:.0f}"


def test_verdict_text_names_statistic_threshold_and_n() -> None:
    text = str(stats.Decision(False, 0.25, 0.125, 40))
    for part in ("0.25", "0.125", "n=40"):
        assert part in text, f"observed {text!r}; expected {part!r} in it"
