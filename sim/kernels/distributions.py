"""Non-uniform draws for the kernels, built only on `draws.uniform(rng)`.

The kernels draw normals, Poisson counts, beta habits and binomial offers. numba's
`rng.standard_normal()`, `rng.poisson()`, `rng.beta()` and `rng.binomial()` are numba's own port of
numpy's distributions: their results can change with numba's version, and they need a numpy
Generator. The draws here are the project's, so a run's numbers depend only on the uniform stream:
each function is a pure function of the uniforms it consumes (no cached second normal, no state of
its own), and it touches `rng` only through `uniform(rng)`, whatever `rng` is (a numpy Generator
or a uint64 stream row).

The algorithms are exact, not approximations (binomial inversion truncates at 10 standard deviations
above the mean, a tail below 1e-12). Under NUMBA_DISABLE_JIT=1 they run as Python on the same
uniforms; only the last bits of a float may differ there (numpy's log and exp against libm's).
"""

import math

import numpy as np

from sim.kernels import helper
from sim.kernels.draws import uniform


@helper
def standard_normal(rng):
    """N(0, 1) by the polar method of Marsaglia & Bray (1964), "A convenient method for generating
    normal variables", SIAM Review 6(3). Each accepted pair yields two normals; the second is
    dropped so that a draw depends on its own uniforms only (about 2.55 uniforms a draw)."""
    while True:
        x = 2.0 * uniform(rng) - 1.0
        y = 2.0 * uniform(rng) - 1.0
        radius2 = x * x + y * y
        if 0.0 < radius2 < 1.0:  # inside the unit disc, and not its centre, where log(0) / 0 has no value
            return x * np.sqrt(-2.0 * np.log(radius2) / radius2)


@helper
def poisson(rng, lam):
    """Poisson(lam) as an int64; 0 if lam <= 0 (or NaN).

    lam < 10: the multiplication method (inversion of the waiting times): count the uniforms whose
    running product stays above exp(-lam), lam + 1 uniforms on average.
    lam >= 10: PTRS, the transformed rejection with squeeze of Hörmann (1993), "The transformed
    rejection method for generating Poisson random variables", Insurance: Mathematics and
    Economics 12(1), with the constants of numpy's `random_poisson_ptrs`; about 2.3 uniforms a draw
    at any lam.
    """
    if not lam > 0.0:
        return np.int64(0)
    if lam < 10.0:
        threshold = np.exp(-lam)
        count = np.int64(0)
        product = uniform(rng)
        while product > threshold:
            count += 1
            product *= uniform(rng)
        return count
    sqrt_lam = np.sqrt(lam)
    log_lam = np.log(lam)
    b = 0.931 + 2.53 * sqrt_lam
    a = -0.059 + 0.02483 * b
    log_inv_alpha = np.log(1.1239 + 1.1328 / (b - 3.4))
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = uniform(rng) - 0.5
        v = uniform(rng)
        us = 0.5 - abs(u)
        # kept as a float until accepted: near u = -0.5 it is -inf, which has no int64
        k = np.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= v_r:  # the squeeze: inside the hat's bulk, accepted without a log
            return np.int64(k)
        if k < 0.0 or (us < 0.013 and v > us):
            continue
        if np.log(v) + log_inv_alpha - np.log(a / (us * us) + b) <= -lam + k * log_lam - math.lgamma(k + 1.0):
            return np.int64(k)


@helper
def standard_gamma(rng, shape):
    """Gamma(shape, 1); 0.0 if shape <= 0 (or NaN).

    Marsaglia & Tsang (2000), "A simple method for generating gamma variables", ACM TOMS 26(3):
    a cubed, shifted normal with a squeeze and a log test, for shape >= 1 (at least 95 % accepted).
    For shape < 1 their boost: Gamma(shape + 1) * U**(1/shape).
    """
    if not shape > 0.0:
        return 0.0
    boosted = shape < 1.0
    d = (shape + 1.0 if boosted else shape) - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    while True:
        x = standard_normal(rng)
        v = 1.0 + c * x
        if v <= 0.0:  # outside the transformation's range: (1 + c x)**3 must be positive
            continue
        v = v * v * v
        u = uniform(rng)
        x2 = x * x
        if u < 1.0 - 0.0331 * x2 * x2 or np.log(u) < 0.5 * x2 + d * (1.0 - v + np.log(v)):
            if boosted:
                return d * v * uniform(rng) ** (1.0 / shape)
            return d * v


@helper
def beta(rng, a, b):
    """Beta(a, b), for a, b > 0.

    a <= 1 and b <= 1: Jöhnk (1964), "Erzeugung von betaverteilten und gammaverteilten
    Zufallszahlen", Metrika 8: U**(1/a) / (U**(1/a) + V**(1/b)), accepted when the sum is at most 1
    (at least half the time); in logs when both powers underflow, as numpy does.
    Otherwise X / (X + Y) for X ~ Gamma(a), Y ~ Gamma(b) (`standard_gamma`).
    """
    if a <= 1.0 and b <= 1.0:
        while True:
            u = uniform(rng)
            v = uniform(rng)
            x = u ** (1.0 / a)
            y = v ** (1.0 / b)
            total = x + y
            if total <= 1.0 and u + v > 0.0:
                if total > 0.0:
                    return x / total
                log_x = np.log(u) / a
                log_y = np.log(v) / b
                largest = max(log_x, log_y)  # scaled so that the larger term is exp(0) = 1
                log_x -= largest
                log_y -= largest
                return np.exp(log_x - np.log(np.exp(log_x) + np.exp(log_y)))
    x = standard_gamma(rng, a)
    y = standard_gamma(rng, b)
    return x / (x + y)


@helper
def binomial(rng, n, p):
    """Binomial(n, p) as an int64: 0 if n <= 0 or p <= 0 (or NaN), n if p >= 1.

    Inversion, BINV of Kachitvichyanukul & Schmeiser (1988), "Binomial random variate generation",
    Communications of the ACM 31(2): walk the probabilities up from P(0) = q**n until one uniform is
    spent, on min(p, 1 - p) (the count of the rarer outcome, mirrored for p > 0.5). Its cost grows
    with n * min(p, 1 - p): about that many steps, one uniform. Meant for n up to a few hundred:
    beyond about n = 1000, q**n could underflow to 0 (no result then, an endless loop).
    A walk past mean + 10 standard deviations restarts with a new uniform, which bounds the walk
    against rounding and drops a tail below 1e-12 (2e-13 at most for n <= 1000).
    """
    if n <= 0 or not p > 0.0:
        return np.int64(0)
    if p >= 1.0:
        return np.int64(n)
    mirrored = p > 0.5
    rare = 1.0 - p if mirrored else p
    common = 1.0 - rare
    mean = n * rare
    bound = min(float(n), mean + 10.0 * np.sqrt(mean * common + 1.0))
    ratio = rare / common
    first = np.exp(n * np.log(common))
    count = np.int64(0)
    probability = first
    u = uniform(rng)
    while u > probability:
        count += 1
        if count > bound:
            count = np.int64(0)
            probability = first
            u = uniform(rng)
        else:
            u -= probability
            probability *= (n - count + 1) * ratio / count
    return n - count if mirrored else count


@helper
def poisson_by_inversion(rng, lam):
    """Poisson(lam) from exactly one uniform, by sequential search of the cumulative distribution (inversion):
    two runs whose means differ a little draw nearly the same count and stay in step after it (common random
    numbers). The probabilities are stepped in log space, p(k) = exp(-lam + k log lam - log k!), so that a
    large mean (exp(-lam) is 0 from about 745) still finds its count; the cost grows with lam: for the few
    visitors of a meeting, not for large means."""
    if not lam > 0.0:
        return np.int64(0)
    u = uniform(rng)
    log_lam = np.log(lam)
    k = 0
    log_probability = -lam
    probability = np.exp(log_probability)
    cumulative = probability
    while u > cumulative and (k < lam or probability > 0.0):
        k += 1
        log_probability += log_lam - np.log(k)
        probability = np.exp(log_probability)
        cumulative += probability
    return np.int64(k)
