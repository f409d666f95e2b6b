"""Statistics across seeds: interquartile mean, bootstrap confidence intervals, rank-sum tests,
final performance and time to threshold. Pure NumPy/SciPy; every random draw comes from an
explicit ``numpy.random.Generator`` (no global RNG).

Conventions. A *score* is one number per seed (a "run" in rliable's words), e.g. the final
performance of that seed. ``scores`` of shape (n,) hold one run's seeds; a score matrix of shape
(n_runs, n_tasks) holds seeds × tasks for rliable's stratified bootstrap.

Sources.
- Agarwal, Schwarzer, Castro, Courville, Bellemare (2021), "Deep reinforcement learning at the
  edge of the statistical precipice", NeurIPS, section 4 ("Recommendations and tools"): the
  interquartile mean (IQM) as an aggregate, stratified percentile-bootstrap confidence
  intervals, performance profiles of the run-score distribution, the probability of
  improvement. Computed here as their library rliable computes them, without depending on it.
- Efron & Tibshirani (1993), "An introduction to the bootstrap", ch. 13: percentile intervals.
- Mann & Whitney (1947), Ann. Math. Statist. 18:50–60: the U statistic (computed by
  ``scipy.stats.mannwhitneyu``).
- Miconi et al. (2019), "Backpropamine" (ICLR), report rank-sum p-values between trained
  network types; ``plastix compare`` does the same.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import scipy.stats

from plastix.errors import PlastixError

# ----------------------------------------------------------------------------- point statistics


def iqm(x: np.ndarray) -> np.ndarray:
    """Interquartile mean over the last axis, x (..., n) -> (...), as rliable computes it
    (Agarwal et al. 2021, "aggregate metrics"): ``scipy.stats.trim_mean(x, 0.25)``, which sorts the n values
    and drops g = floor(n/4) of them at each end::

        IQM = 1/(n − 2g) · Σ_{i=g+1}^{n−g} x_(i),   g = ⌊n/4⌋.

    For n divisible by 4 this is the mean of the middle n/2 values; otherwise more than half
    the values are kept (n = 5: the middle 3; n = 10: the middle 6; n <= 3: all of them).
    ``iqm_interpolated`` is the variant that weighs the boundary values fractionally.
    """
    x = np.asarray(x, float)
    if x.shape[-1] < 1:
        raise PlastixError(f"the interquartile mean needs at least one value, got {x.shape[-1]}.")
    return np.asarray(scipy.stats.trim_mean(x, 0.25, axis=-1), float)


def iqm_weights(n: int) -> np.ndarray:
    """Weights (n,) of the sorted sample in the interpolated interquartile mean.

    Each of the n sorted values x_(1) <= ... <= x_(n) owns the probability interval
    [(i-1)/n, i/n] of the empirical quantile function. The interpolated IQM is the mean of that
    quantile function over the middle half [1/4, 3/4]::

        IQM_interp = 2 ∫_{1/4}^{3/4} F_n^{-1}(u) du = Σ_i w_i x_(i),
        w_i = 2 · |[(i-1)/n, i/n] ∩ [1/4, 3/4]|,   Σ_i w_i = 1.

    For n divisible by 4 this equals ``iqm`` (the mean of the middle n/2 values). Otherwise the
    two boundary values get fractional weight, e.g. n=3: (1/6, 2/3, 1/6); n=5: (0, .3, .4, .3,
    0); n=1 and n=2: the plain mean; ``iqm`` (rliable's) keeps those boundary values whole.
    """
    if n < 1:
        raise PlastixError(f"the interquartile mean needs at least one value, got {n}.")
    i = np.arange(1, n + 1)
    overlap = np.minimum(i / n, 0.75) - np.maximum((i - 1) / n, 0.25)
    return 2.0 * np.clip(overlap, 0.0, None)


def iqm_interpolated(x: np.ndarray) -> np.ndarray:
    """Interpolated interquartile mean over the last axis: x (..., n) -> (...), the mean of the
    empirical quantile function over [1/4, 3/4] (see ``iqm_weights``)."""
    x = np.asarray(x, float)
    return np.sort(x, axis=-1) @ iqm_weights(x.shape[-1])


def mean(x: np.ndarray) -> np.ndarray:
    """Arithmetic mean over the last axis: x (..., n) -> (...)."""
    return np.mean(np.asarray(x, float), axis=-1)


def median(x: np.ndarray) -> np.ndarray:
    """Median over the last axis (average of the two middle values for even n)."""
    return np.median(np.asarray(x, float), axis=-1)


STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "iqm": iqm, "iqm-interpolated": iqm_interpolated, "mean": mean, "median": median}
# the two interquartile means by the name `plastix compare --iqm` takes
IQM_VARIANTS = {"trimmed": "iqm", "interpolated": "iqm-interpolated"}


def statistic_fn(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name not in STATISTICS:
        from plastix.errors import unknown_name

        raise unknown_name("statistic", name, STATISTICS)
    return STATISTICS[name]


# ----------------------------------------------------------------------------- bootstrap


class Interval(NamedTuple):
    """A point estimate with a percentile-bootstrap confidence interval [low, high]."""

    estimate: float
    low: float
    high: float


def _check_bootstrap(reps: int, confidence: float) -> None:
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise PlastixError(f"bootstrap repetitions must be a positive integer, got {reps!r}.")
    if not 0.0 < confidence < 1.0:
        raise PlastixError(f"confidence must be in (0, 1), got {confidence!r}.")


def resample_indices(rng: np.random.Generator, reps: int, shape: tuple[int, ...], n: int) -> np.ndarray:
    """Indices (reps, *shape) drawn uniformly from {0..n-1} with replacement.

    Drawn as floor(n · U) with U = rng.random((reps, *shape)): one float64 per index, so the
    stream equals ``reps`` successive calls rng.random(shape) (a plain loop reproduces it).
    """
    u = rng.random((reps, *shape))
    return np.minimum((u * n).astype(np.int64), n - 1)


def stratified_bootstrap(scores: np.ndarray, statistic: str = "iqm", reps: int = 2000,
                         rng: np.random.Generator | None = None) -> np.ndarray:
    """Bootstrap distribution (reps,) of ``statistic`` of a score matrix (n_runs, n_tasks).

    rliable's stratified bootstrap: in each repetition r and for each task t independently,
    draw n_runs run indices i_{r,t,1..n_runs} with replacement and form the resampled matrix
    S*_r[k, t] = S[i_{r,t,k}, t]; the statistic is taken over all n_runs·n_tasks entries of
    S*_r (for one task this is the ordinary bootstrap). Vectorised: one (reps, n_tasks,
    n_runs) index array.
    """
    scores = _check_scores(scores)
    rng = np.random.default_rng(0) if rng is None else rng
    _check_bootstrap(reps, 0.5)
    n_runs, n_tasks = scores.shape
    idx = resample_indices(rng, reps, (n_tasks, n_runs), n_runs)      # (reps, n_tasks, n_runs)
    resampled = scores[idx, np.arange(n_tasks)[None, :, None]]          # (reps, n_tasks, n_runs)
    return statistic_fn(statistic)(resampled.reshape(reps, n_tasks * n_runs))


def stratified_bootstrap_ci(scores: np.ndarray, statistic: str = "iqm", reps: int = 2000,
                            confidence: float = 0.95, rng: np.random.Generator | None = None) -> Interval:
    """Percentile-bootstrap interval of ``statistic`` over a score matrix (n_runs, n_tasks).

    estimate = statistic(all scores); [low, high] = the (1-c)/2 and (1+c)/2 quantiles (NumPy's
    linear interpolation) of the bootstrap distribution from ``stratified_bootstrap``.
    """
    _check_bootstrap(reps, confidence)
    scores = _check_scores(scores)
    dist = stratified_bootstrap(scores, statistic, reps, rng)
    alpha = 1.0 - confidence
    low, high = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
    return Interval(float(statistic_fn(statistic)(scores.reshape(-1))), float(low), float(high))


def bootstrap_ci(scores: np.ndarray, statistic: str = "iqm", reps: int = 2000, confidence: float = 0.95,
                 rng: np.random.Generator | None = None) -> Interval:
    """Percentile-bootstrap interval of ``statistic`` of one sample (n,) (one stratum)."""
    scores = np.asarray(scores, float)
    if scores.ndim != 1:
        raise PlastixError(f"bootstrap_ci expects scores of shape (n,), got {scores.shape}.")
    return stratified_bootstrap_ci(scores[:, None], statistic, reps, confidence, rng)


def curve_band(values: np.ndarray, statistic: str = "iqm", reps: int = 1000, confidence: float = 0.95,
               rng: np.random.Generator | None = None, chunk: int = 2_000_000) -> tuple[np.ndarray, ...]:
    """Per-step statistic and bootstrap band of learning curves ``values`` (seeds, steps).

    Whole seeds are resampled (one index set per repetition, shared by every step, so a band
    point is the interval of the statistic at that step). Returns center, low, high, each
    (steps,). Steps are processed in chunks so at most ``chunk`` numbers are held at once.
    """
    _check_bootstrap(reps, confidence)
    values = np.asarray(values, float)
    if values.ndim != 2 or values.shape[0] < 1:
        raise PlastixError(f"curve_band expects values of shape (seeds, steps), got {values.shape}.")
    fn, (seeds, steps) = statistic_fn(statistic), values.shape
    rng = np.random.default_rng(0) if rng is None else rng
    idx = resample_indices(rng, reps, (seeds,), seeds)                  # (reps, seeds)
    alpha, width = 1.0 - confidence, max(1, chunk // (reps * seeds))
    lows, highs = [], []
    for start in range(0, steps, width):
        part = values[:, start:start + width].T                         # (w, seeds)
        dist = fn(part[:, idx])                                         # (w, reps)
        lo, hi = np.quantile(dist, [alpha / 2, 1 - alpha / 2], axis=1)
        lows.append(lo)
        highs.append(hi)
    return fn(values.T), np.concatenate(lows), np.concatenate(highs)


def _check_scores(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, float)
    if scores.ndim != 2 or scores.size == 0:
        raise PlastixError("expected a score matrix (n_runs, n_tasks) with at least one entry, "
                           f"got shape {scores.shape}.")
    if not np.all(np.isfinite(scores)):
        raise PlastixError("scores must be finite numbers; got NaN or Inf.")
    return scores


# ----------------------------------------------------------------------------- rank-sum test


class RankSum(NamedTuple):
    """Two-sided Mann–Whitney U (Wilcoxon rank-sum) test of samples a (n_a,) and b (n_b,).

    u: U_a = #{(i, j): a_i > b_j} + ½ #{a_i = b_j};  p_value: two-sided;  method: 'exact' or
    'asymptotic';  prob_a_greater: U_a / (n_a n_b), the probability that a random a exceeds a
    random b (ties count ½), rliable's "probability of improvement" for one task."""

    u: float
    p_value: float
    method: str
    prob_a_greater: float


def rank_sum_method(a: np.ndarray, b: np.ndarray) -> str:
    """SciPy's choice for ``method='auto'``: 'exact' when the smaller sample has at most 8
    values and no value is tied, else 'asymptotic' (the normal approximation with tie and
    continuity corrections)."""
    pooled = np.concatenate([a, b])
    tied = np.unique(pooled).size < pooled.size
    return "exact" if min(a.size, b.size) <= 8 and not tied else "asymptotic"


def rank_sum_test(a: np.ndarray, b: np.ndarray, method: str = "auto") -> RankSum:
    """Two-sided Mann–Whitney U test (H0: a and b come from the same distribution), by
    ``scipy.stats.mannwhitneyu``.

    With pooled midranks R, U_a = Σ_{i∈a} R_i − n_a(n_a+1)/2. 'exact' takes the p-value from the
    null distribution of U over all C(n_a+n_b, n_a) orderings; 'asymptotic' from the normal
    approximation with tie-corrected variance and continuity correction; 'auto' picks as
    ``rank_sum_method`` does (SciPy's rule), and ``method`` of the result names the one used.
    """
    a, b = np.asarray(a, float).reshape(-1), np.asarray(b, float).reshape(-1)
    if a.size < 1 or b.size < 1:
        raise PlastixError(f"the rank-sum test needs at least one value per sample, got {a.size} and {b.size}.")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise PlastixError("the rank-sum test needs finite values; got NaN or Inf.")
    if method not in ("auto", "exact", "asymptotic"):
        raise PlastixError(f"method must be 'auto', 'exact' or 'asymptotic', got {method!r}.")
    if method == "auto":
        method = rank_sum_method(a, b)
    result = scipy.stats.mannwhitneyu(a, b, alternative="two-sided", method=method)
    u_a, p = float(result.statistic), float(result.pvalue)
    if not math.isfinite(p):  # every value tied: no evidence either way
        p = 1.0
    return RankSum(u_a, min(1.0, p), method, u_a / (a.size * b.size))


# ----------------------------------------------------------------------------- probability of improvement


def prob_greater(a: np.ndarray, b: np.ndarray, chunk: int = 4_000_000) -> np.ndarray:
    """P(X > Y) + ½ P(X = Y) for X drawn from a (..., n_a) and Y from b (..., n_b), over the
    last axes, leading axes broadcast: the Mann–Whitney U_a / (n_a n_b) (Agarwal et al. 2021,
    "probability of improvement", for one task). Worked in chunks of the leading axes, at most ``chunk`` pairs each."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    lead = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    a = np.broadcast_to(a, (*lead, a.shape[-1])).reshape(-1, a.shape[-1])
    b = np.broadcast_to(b, (*lead, b.shape[-1])).reshape(-1, b.shape[-1])
    step = max(1, chunk // (a.shape[1] * b.shape[1]))
    out = np.empty(a.shape[0])
    for s in range(0, a.shape[0], step):
        x, y = a[s:s + step, :, None], b[s:s + step, None, :]
        out[s:s + step] = ((x > y) + 0.5 * (x == y)).mean(axis=(1, 2))
    return out.reshape(lead)


def probability_of_improvement(a: np.ndarray, b: np.ndarray, reps: int = 2000, confidence: float = 0.95,
                               rng: np.random.Generator | None = None, higher_is_better: bool = True) -> Interval:
    """P(A improves on B) with a percentile-bootstrap interval, as rliable computes it
    (Agarwal et al. 2021, "probability of improvement"): the estimate is P(X > Y) + ½ P(X = Y) for a seed X of a
    (n_a,) and a seed Y of b (n_b,) (``prob_greater``; with ``higher_is_better=False``,
    P(X < Y) + ½ P(X = Y)); in each of ``reps`` repetitions a and b are resampled
    independently with replacement (first a's indices, then b's, from ``rng``), and [low, high]
    are the (1−c)/2 and (1+c)/2 quantiles of the repetitions' values."""
    _check_bootstrap(reps, confidence)
    a, b = (_check_scores(np.asarray(v, float).reshape(-1, 1))[:, 0] for v in (a, b))
    if not higher_is_better:
        a, b = -a, -b
    rng = np.random.default_rng(0) if rng is None else rng
    idx_a = resample_indices(rng, reps, (a.size,), a.size)           # (reps, n_a)
    idx_b = resample_indices(rng, reps, (b.size,), b.size)           # (reps, n_b)
    dist = prob_greater(a[idx_a], b[idx_b])                           # (reps,)
    alpha = 1.0 - confidence
    low, high = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
    return Interval(float(prob_greater(a, b)), float(low), float(high))


# ----------------------------------------------------------------------------- performance profiles


class Profile(NamedTuple):
    """A performance profile: thresholds taus (k,), the fraction (k,) of scores beyond each,
    and its percentile-bootstrap band low (k,), high (k,)."""

    taus: np.ndarray
    fraction: np.ndarray
    low: np.ndarray
    high: np.ndarray


def tau_grid(samples: Sequence[np.ndarray], points: int = 51) -> np.ndarray:
    """``points`` evenly spaced thresholds (points,) from the smallest to the largest value of
    all ``samples`` together, so that the profiles of several runs share one grid."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise PlastixError(f"a threshold grid needs an integer number of points >= 2, got {points!r}.")
    pooled = np.concatenate([np.asarray(s, float).reshape(-1) for s in samples])
    if pooled.size == 0 or not np.all(np.isfinite(pooled)):
        raise PlastixError("a threshold grid needs finite scores, at least one.")
    return np.linspace(pooled.min(), pooled.max(), points)


def performance_profile(scores: np.ndarray, taus: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """The run-score distribution of Agarwal et al. (2021, "performance profiles"): for each τ of taus (k,), the
    fraction of all entries of ``scores`` (any shape: runs, or runs × tasks) with score > τ
    (with ``higher_is_better=False``: score < τ, the fraction better than τ). Returns (k,)."""
    x = np.asarray(scores, float).reshape(-1)
    taus = np.asarray(taus, float).reshape(-1)
    beyond = x[None, :] > taus[:, None] if higher_is_better else x[None, :] < taus[:, None]
    return beyond.mean(axis=1)


def performance_profile_band(scores: np.ndarray, taus: np.ndarray, reps: int = 2000, confidence: float = 0.95,
                             rng: np.random.Generator | None = None, higher_is_better: bool = True) -> Profile:
    """``performance_profile`` with a percentile-bootstrap band, as rliable draws it: scores
    (n,) or a score matrix (n_runs, n_tasks) is resampled as in ``stratified_bootstrap`` (runs
    within each task), the profile is taken of each of ``reps`` resamples, and the band is the
    (1−c)/2 and (1+c)/2 quantiles of the resampled profiles at each τ."""
    _check_bootstrap(reps, confidence)
    scores = np.asarray(scores, float)
    scores = _check_scores(scores[:, None] if scores.ndim == 1 else scores)
    taus = np.asarray(taus, float).reshape(-1)
    rng = np.random.default_rng(0) if rng is None else rng
    n_runs, n_tasks = scores.shape
    idx = resample_indices(rng, reps, (n_tasks, n_runs), n_runs)        # (reps, n_tasks, n_runs)
    resampled = scores[idx, np.arange(n_tasks)[None, :, None]].reshape(reps, -1)
    sign = 1.0 if higher_is_better else -1.0
    step = max(1, 4_000_000 // (taus.size * resampled.shape[1]))     # repetitions per chunk
    beyond = np.concatenate([(sign * part[:, None, :] > sign * taus[None, :, None]).mean(axis=2)
                             for part in np.split(resampled, range(step, reps, step))])   # (reps, k)
    alpha = 1.0 - confidence
    low, high = np.quantile(beyond, [alpha / 2, 1 - alpha / 2], axis=0)
    return Profile(taus, performance_profile(scores, taus, higher_is_better), low, high)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (m,): with p sorted ascending p_(1..m),
    p~_(k) = max_{j<=k} min(1, (m − j + 1) p_(j)) (Holm 1979, Scand. J. Statist. 6:65–70)."""
    p = np.asarray(p_values, float)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.maximum.accumulate(scaled)
    return out


# ----------------------------------------------------------------------------- curves per seed


class SeedCurves(NamedTuple):
    """One metric of one run: seeds (s,), steps (k,), values (s, k) (NaN where not logged)."""

    seeds: np.ndarray
    steps: np.ndarray
    values: np.ndarray


def seed_curves(rows: Sequence[dict[str, float]], metric: str) -> SeedCurves:
    """Pivot long-format metric rows (dicts with step, seed, <metric>) to a (seeds, steps) array."""
    if not rows or metric not in rows[0]:
        have = sorted(k for k in (rows[0] if rows else {}) if k not in ("step", "seed", "wall_time"))
        raise PlastixError(f"metric {metric!r} is not in the run's metrics; it has: {', '.join(have) or 'nothing'}.")
    table: dict[float, dict[float, float]] = defaultdict(dict)
    for row in rows:
        table[row["seed"]][row["step"]] = row[metric]
    seeds = np.array(sorted(table))
    steps = np.array(sorted({step for per_seed in table.values() for step in per_seed}))
    values = np.array([[table[s].get(t, np.nan) for t in steps] for s in seeds], float)
    return SeedCurves(seeds, steps, values)


def last_points(num_points: int, last: float) -> int:
    """k = max(1, ceil(last · num_points)): how many final log points make the final performance."""
    if not 0.0 < last <= 1.0:
        raise PlastixError(f"the final fraction must be in (0, 1], got {last!r}.")
    return max(1, math.ceil(last * num_points - 1e-9))


def final_performance(values: np.ndarray, last: float = 0.1) -> np.ndarray:
    """Final performance per seed: values (seeds, points) -> (seeds,), the mean over the last
    k = ``last_points(points, last)`` log points of each seed, ignoring non-finite entries
    (NaN if a seed has none)."""
    values = np.asarray(values, float)
    if values.ndim != 2 or values.shape[1] < 1:
        raise PlastixError(f"expected values of shape (seeds, points) with points >= 1, got {values.shape}.")
    window = values[:, -last_points(values.shape[1], last):]
    finite = np.isfinite(window)
    total = np.where(finite, window, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def time_to_threshold(steps: np.ndarray, values: np.ndarray, threshold: float,
                      higher_is_better: bool = True) -> np.ndarray:
    """First step (seeds,) at which each seed's curve reaches ``threshold``: the smallest
    steps[j] with values[s, j] >= threshold (<= if lower is better); NaN if never reached.
    steps (points,) ascending, values (seeds, points)."""
    values = np.asarray(values, float)
    steps = np.asarray(steps, float)
    if values.ndim != 2 or steps.shape != values.shape[1:]:
        raise PlastixError(f"expected steps (k,) and values (seeds, k), got {steps.shape} and {values.shape}.")
    reached = values >= threshold if higher_is_better else values <= threshold  # NaN compares False
    first = np.argmax(reached, axis=1)
    return np.where(reached.any(axis=1), steps[first], np.nan)
