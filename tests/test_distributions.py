"""The kernels' own non-uniform draws (sim.kernels.distributions).

Each distribution is checked on 20,000 draws from fixed seeds: continuous ones by a Kolmogorov-Smirnov
test, discrete ones by a chi-square goodness of fit and their mean and variance within 4 standard
errors. The same checks reject a slightly wrong parameter, which shows they would catch a wrong
algorithm. The draws are pure functions of the uniform stream: the same seed gives the same numbers,
interleaving two generators changes nothing, a uint64 stream copying a generator's state gives that
generator's numbers, and NUMBA_DISABLE_JIT=1 gives the same numbers from a generator whose only
usable method is `random()`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError
from scipy import stats

from sim.kernels.distributions import beta, binomial, poisson, poisson_by_inversion, standard_gamma, standard_normal
from sim.kernels.draws import uniform

TESTS = Path(__file__).resolve().parent
SAMPLES = 20_000
ALPHA = 1e-4  # about the chance of a draw outside 4 standard errors, the other checks' level
MIN_EXPECTED = 5.0  # the chi-square approximation needs about 5 expected draws a cell


# the distributions are `helper`s, without a CPython wrapper: the tests reach them through these


@njit
def sample_normal(rng, size):
    out = np.empty(size)
    for i in range(size):
        out[i] = standard_normal(rng)
    return out


@njit
def sample_gamma(rng, shape, size):
    out = np.empty(size)
    for i in range(size):
        out[i] = standard_gamma(rng, shape)
    return out


@njit
def sample_beta(rng, a, b, size):
    out = np.empty(size)
    for i in range(size):
        out[i] = beta(rng, a, b)
    return out


@njit
def sample_poisson(rng, lam, size):
    out = np.empty(size, np.int64)
    for i in range(size):
        out[i] = poisson(rng, lam)
    return out


@njit
def sample_binomial(rng, trials, p, size):
    out = np.empty(size, np.int64)
    for i in range(size):
        out[i] = binomial(rng, trials, p)
    return out


@njit
def draw_each(rng):
    """One draw of every distribution and branch, in a fixed order."""
    return np.array([standard_normal(rng), standard_gamma(rng, 0.4), standard_gamma(rng, 3.0), beta(rng, 0.5, 0.7),
                     beta(rng, 2.0, 5.0), beta(rng, 0.8, 3.0), poisson(rng, 3.0), poisson(rng, 40.0),
                     binomial(rng, 20, 0.3), binomial(rng, 20, 0.8)])


INTEGER_COLUMNS = [6, 7, 8, 9]  # draw_each's counts


def draw_rows(rng, rows: int) -> np.ndarray:
    return np.array([draw_each(rng) for _ in range(rows)])


def assert_continuous_fits(sample: np.ndarray, distribution) -> None:
    """Kolmogorov-Smirnov against the distribution's cdf."""
    assert stats.kstest(sample, distribution.cdf).pvalue > ALPHA


def assert_discrete_fits(sample: np.ndarray, distribution) -> None:
    """The mean and the variance within 4 standard errors, and a chi-square goodness of fit over the
    values, the cells merged (the tails pooled) until each expects at least MIN_EXPECTED draws."""
    size = len(sample)
    if distribution.var() == 0.0:  # one value only
        assert np.all(sample == distribution.mean())
        return
    mean, variance, kurtosis = (float(moment) for moment in distribution.stats(moments="mvk"))
    assert abs(sample.mean() - mean) < 4.0 * np.sqrt(variance / size)
    # var(sample variance) = (mu4 - sigma**4) / n, and mu4 = (excess kurtosis + 3) sigma**4
    assert abs(sample.var(ddof=1) - variance) < 4.0 * variance * np.sqrt((kurtosis + 2.0) / size)

    low, high = int(distribution.ppf(1e-12)), int(distribution.isf(1e-12)) + 1
    values = np.arange(low, high + 1)
    expected = size * distribution.pmf(values)
    expected[0] = size * distribution.cdf(low)  # the tails pooled into the end cells
    expected[-1] = size * distribution.sf(high - 1)
    observed = np.bincount(np.clip(sample, low, high) - low, minlength=len(values)).astype(float)
    merged_expected, merged_observed = [0.0], [0.0]
    for e, o in zip(expected, observed, strict=True):
        if merged_expected[-1] >= MIN_EXPECTED:
            merged_expected.append(0.0)
            merged_observed.append(0.0)
        merged_expected[-1] += e
        merged_observed[-1] += o
    if merged_expected[-1] < MIN_EXPECTED and len(merged_expected) > 1:  # the last cell joins its neighbour
        last_expected, last_observed = merged_expected.pop(), merged_observed.pop()
        merged_expected[-1] += last_expected
        merged_observed[-1] += last_observed
    merged_expected = np.array(merged_expected) * size / sum(merged_expected)  # sums exactly to size
    assert stats.chisquare(merged_observed, merged_expected).pvalue > ALPHA


# ------------------------------------------------------------------ distributions


def test_standard_normal() -> None:
    assert_continuous_fits(sample_normal(np.random.default_rng(1), SAMPLES), stats.norm())


@pytest.mark.parametrize("shape", [0.3, 1.0, 2.5, 9.0])
def test_standard_gamma(shape: float) -> None:
    assert_continuous_fits(sample_gamma(np.random.default_rng(2), shape, SAMPLES), stats.gamma(shape))


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.5), (0.3, 0.9), (2.0, 5.0), (0.8, 3.0), (6.0, 2.0)])
def test_beta(a: float, b: float) -> None:
    assert_continuous_fits(sample_beta(np.random.default_rng(3), a, b, SAMPLES), stats.beta(a, b))


@pytest.mark.parametrize("lam", [0.5, 6.0, 10.0, 64.0, 400.0])
def test_poisson(lam: float) -> None:
    assert_discrete_fits(sample_poisson(np.random.default_rng(4), lam, SAMPLES), stats.poisson(lam))


@pytest.mark.parametrize(("trials", "p"), [(5, 0.3), (40, 0.05), (50, 0.7), (0, 0.3), (10, 1.0)])
def test_binomial(trials: int, p: float) -> None:
    assert_discrete_fits(sample_binomial(np.random.default_rng(5), trials, p, SAMPLES), stats.binom(trials, p))


def test_degenerate_parameters() -> None:
    """No draw where the result is certain (or the parameter meaningless): the stream stays put."""
    rng = np.random.default_rng(6)
    assert sample_poisson(rng, 0.0, 3).tolist() == [0, 0, 0]
    assert sample_poisson(rng, -2.0, 3).tolist() == [0, 0, 0]
    assert sample_poisson(rng, np.nan, 3).tolist() == [0, 0, 0]
    assert sample_gamma(rng, 0.0, 3).tolist() == [0.0, 0.0, 0.0]
    assert sample_binomial(rng, 0, 0.5, 3).tolist() == [0, 0, 0]
    assert sample_binomial(rng, -4, 0.5, 3).tolist() == [0, 0, 0]
    assert sample_binomial(rng, 12, 0.0, 3).tolist() == [0, 0, 0]
    assert sample_binomial(rng, 12, 1.0, 3).tolist() == [12, 12, 12]
    assert rng.random() == np.random.default_rng(6).random()


@pytest.mark.parametrize(
    ("sample", "wrong"),
    [
        (lambda rng: sample_normal(rng, SAMPLES), stats.norm(loc=0.06)),
        (lambda rng: sample_gamma(rng, 0.5, SAMPLES), stats.gamma(0.53)),
        (lambda rng: sample_beta(rng, 2.0, 5.0, SAMPLES), stats.beta(2.0, 5.4)),
        (lambda rng: sample_poisson(rng, 64.0, SAMPLES), stats.poisson(64.6)),
        (lambda rng: sample_binomial(rng, 50, 0.7, SAMPLES), stats.binom(50, 0.69)),
    ],
    ids=["normal", "gamma", "beta", "poisson", "binomial"],
)
def test_the_checks_reject_a_slightly_wrong_parameter(sample, wrong) -> None:
    """The power of the checks above: the same test fails against a parameter a few percent off."""
    draws = sample(np.random.default_rng(7))
    check = assert_discrete_fits if draws.dtype == np.int64 else assert_continuous_fits
    with pytest.raises(AssertionError):
        check(draws, wrong)


# ------------------------------------------------------------------ pure functions of the stream


def test_same_seed_same_numbers() -> None:
    first, again, other = (draw_rows(np.random.default_rng(seed), 200) for seed in (8, 8, 9))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_draws_keep_no_state_of_their_own() -> None:
    """Interleaving two generators' draws gives each generator's own sequence: nothing (a cached
    second normal, say) carries over from one call to the next."""
    alone_a, alone_b = draw_rows(np.random.default_rng(10), 100), draw_rows(np.random.default_rng(11), 100)
    rng_a, rng_b = np.random.default_rng(10), np.random.default_rng(11)
    interleaved = [(draw_each(rng_a), draw_each(rng_b)) for _ in range(100)]
    assert np.array_equal(np.array([a for a, _ in interleaved]), alone_a)
    assert np.array_equal(np.array([b for _, b in interleaved]), alone_b)


@njit
def first_uniform(rng):
    return uniform(rng)


def stream_of(seed: int) -> np.ndarray:
    """The uint64 words (state, increment: native 128-bit integers) of default_rng(seed)'s PCG64."""
    state = np.random.default_rng(seed).bit_generator.state["state"]
    raw = state["state"].to_bytes(16, sys.byteorder) + state["inc"].to_bytes(16, sys.byteorder)
    return np.frombuffer(raw, dtype=np.uint64).copy()


def test_a_stream_draws_the_generators_numbers() -> None:
    """The draws take a uint64 stream as `rng` as well, and give the numbers of the generator it copies."""
    try:
        first_uniform(stream_of(13))
    except (TypingError, AttributeError):
        pytest.skip("sim.kernels.draws.uniform does not take streams")
    assert np.array_equal(draw_rows(stream_of(13), 200), draw_rows(np.random.default_rng(13), 200))


PLAIN_PYTHON = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_distributions import draw_rows

class OnlyRandom(np.random.Generator):
    '''A generator that allows `random()` only, the one method `uniform` calls without the JIT.'''
    def __getattribute__(self, name):
        if name != "random" and not name.startswith("__"):  # isinstance() may read __class__
            raise AssertionError(f"the draws called rng.{{name}}")
        return super().__getattribute__(name)

print(json.dumps(draw_rows(OnlyRandom(np.random.PCG64({seed})), {rows}).tolist()))
"""


def test_plain_python_draws_the_same_numbers() -> None:
    """NUMBA_DISABLE_JIT=1 runs the draws as Python on the same uniforms, through `rng.random()` alone.

    The counts are identical. Floats are compared to 1e-12 relative: numpy's log, exp and pow in
    plain Python may round the last bit differently from the libm calls numba compiles.
    """
    seed, rows = 12, 300
    script = PLAIN_PYTHON.format(tests=str(TESTS), seed=seed, rows=rows)
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    plain = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    python_rows = np.array(json.loads(plain.stdout))
    jitted_rows = draw_rows(np.random.default_rng(seed), rows)
    assert np.array_equal(python_rows[:, INTEGER_COLUMNS], jitted_rows[:, INTEGER_COLUMNS])
    np.testing.assert_allclose(python_rows, jitted_rows, rtol=1e-12, atol=0.0)


@njit
def sample_poisson_by_inversion(rng, lam, size):
    out = np.empty(size, np.int64)
    for i in range(size):
        out[i] = poisson_by_inversion(rng, lam)
    return out


@pytest.mark.parametrize("lam", [0.5, 3.0, 6.0, 30.0, 1000.0])
def test_poisson_by_inversion_fits_and_takes_one_uniform(lam: float) -> None:
    assert_discrete_fits(sample_poisson_by_inversion(np.random.default_rng(21), lam, SAMPLES), stats.poisson(lam))
    rng, twin = np.random.default_rng(5), np.random.default_rng(5)
    sample_poisson_by_inversion(rng, lam, 100)
    twin.random(100)  # one uniform a draw: the stream is where 100 uniforms leave it
    assert rng.random() == twin.random()
    assert sample_poisson_by_inversion(np.random.default_rng(1), 0.0, 3).tolist() == [0, 0, 0]
