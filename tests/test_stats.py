"""plastix.stats against independent computations: the definitions written as plain loops
(rliable's interquartile mean, the probability of improvement, the run-score distribution),
SciPy (trim_mean, mannwhitneyu), values worked out by hand, brute-force enumeration, a published
example, plain Python loops with the same random stream, and bootstrap coverage on a known
distribution."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats

from plastix import stats
from plastix.errors import PlastixError


def iqm_by_replication(x):
    """Independent interpolated IQM for any n: repeating every value 4 times leaves the
    empirical quantile function unchanged and makes 4n divisible by 4, so the middle half is
    whole values."""
    return scipy.stats.trim_mean(np.repeat(np.asarray(x, float), 4), 0.25)


def iqm_rliable_loop(x):
    """rliable's IQM (``scipy.stats.trim_mean(x, 0.25)`` on the pooled scores, Agarwal et al.
    2021) written out: sort, drop g = floor(n/4) values at each end, average the rest."""
    values = sorted(float(v) for v in x)
    g = int(math.floor(0.25 * len(values)))
    kept = values[g:len(values) - g]
    return sum(kept) / len(kept)


# ----------------------------------------------------------------------------- IQM


def test_iqm_hand_cases_small_n():
    # n = 5: g = floor(5/4) = 1, sorted 1, 2, 4, 5, 100 -> mean(2, 4, 5) = 11/3
    assert stats.iqm([5.0, 1.0, 4.0, 100.0, 2.0]) == pytest.approx(11 / 3, rel=1e-15)
    # n = 10: g = 2, sorted -2, -1, -0.5, -0.3, -0.2, -0.1, 0, 0.6, 0.9, 3 -> mean of the middle 6
    # = (-0.5 - 0.3 - 0.2 - 0.1 + 0 + 0.6) / 6 = -0.5 / 6 = -0.08333...
    x10 = [0.9, -0.3, 3.0, -2.0, 0.0, -0.1, 0.6, -1.0, -0.2, -0.5]
    assert stats.iqm(x10) == pytest.approx(-0.5 / 6, rel=1e-14)
    # n = 13: g = 3, values k² for k = 0..12 -> mean of 9, 16, 25, 36, 49, 64, 81 = 280 / 7 = 40
    assert stats.iqm(np.arange(13.0)[::-1] ** 2) == pytest.approx(40.0, rel=1e-15)
    # n <= 3: g = 0, the plain mean
    assert stats.iqm([7.0]) == 7.0 and stats.iqm([1.0, 4.0]) == 2.5 and stats.iqm([30.0, 0.0, 6.0]) == 12.0


def test_trimmed_and_interpolated_iqm_differ_at_n_10_as_worked_out_by_hand():
    """n = 10 seeds: rliable's IQM keeps the 6 middle values whole; the interpolated IQM gives
    the 3rd and 8th sorted values weight 0.1 and the 4th to 7th weight 0.2 (their probability
    intervals [(i−1)/10, i/10] meet [1/4, 3/4] in 0.05 and 0.1)."""
    x10 = [0.9, -0.3, 3.0, -2.0, 0.0, -0.1, 0.6, -1.0, -0.2, -0.5]
    trimmed = -0.5 / 6                                                    # -0.0833
    interpolated = 0.1 * -0.5 + 0.2 * (-0.3 - 0.2 - 0.1 + 0.0) + 0.1 * 0.6  # -0.11
    assert stats.iqm(x10) == pytest.approx(trimmed, rel=1e-14)
    assert stats.iqm_interpolated(x10) == pytest.approx(interpolated, rel=1e-14)
    assert stats.statistic_fn("iqm-interpolated")(x10) == pytest.approx(-0.11, rel=1e-14)
    assert abs(trimmed - interpolated) > 0.02


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 40])
def test_iqm_equals_rliables_definition_and_scipy_trim_mean(n):
    x = np.random.default_rng(n).standard_cauchy(n)
    assert stats.iqm(x) == pytest.approx(iqm_rliable_loop(x), rel=1e-12, abs=1e-12)
    assert stats.iqm(x) == pytest.approx(scipy.stats.trim_mean(x, 0.25), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("n", [4, 8, 12, 40])
def test_the_two_iqms_agree_when_n_is_divisible_by_4(n):
    x = np.random.default_rng(n).standard_cauchy(n)
    assert stats.iqm_interpolated(x) == pytest.approx(stats.iqm(x), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 9, 10, 11, 13])
def test_interpolated_iqm_equals_the_replicated_sample(n):
    x = np.random.default_rng(100 + n).normal(size=n) ** 3
    assert stats.iqm_interpolated(x) == pytest.approx(iqm_by_replication(x), rel=1e-12, abs=1e-12)


def test_interpolated_iqm_hand_cases():
    # n=3: intervals [0,1/3],[1/3,2/3],[2/3,1] meet [1/4,3/4] in 1/12, 1/3, 1/12 -> weights 1/6, 2/3, 1/6
    assert stats.iqm_interpolated([30.0, 0.0, 6.0]) == pytest.approx(0 / 6 + 2 * 6 / 3 + 30 / 6)
    # n=5: overlaps 0, .15, .2, .15, 0 -> weights 0, .3, .4, .3, 0
    assert stats.iqm_interpolated([5.0, 1.0, 4.0, 100.0, 2.0]) == pytest.approx(0.3 * 2 + 0.4 * 4 + 0.3 * 5)
    assert stats.iqm_interpolated([7.0]) == 7.0 and stats.iqm_interpolated([1.0, 4.0]) == 2.5
    np.testing.assert_allclose(stats.iqm_weights(6), [0, 1 / 6, 1 / 3, 1 / 3, 1 / 6, 0], atol=1e-15)


def test_iqm_mean_median_work_over_leading_axes():
    x = np.random.default_rng(0).normal(size=(3, 4, 7))
    for name in ("iqm", "mean", "median"):
        fn = stats.statistic_fn(name)
        ref = {"iqm": iqm_rliable_loop, "mean": np.mean, "median": np.median}[name]
        expected = np.array([[ref(row) for row in block] for block in x])
        np.testing.assert_allclose(fn(x), expected, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- bootstrap


def loop_bootstrap_ci(scores, statistic, reps, confidence, seed):
    """Brute force: one repetition at a time, one task at a time, same draws (rng.random)."""
    rng = np.random.default_rng(seed)
    n_runs, n_tasks = scores.shape
    ref = {"iqm": iqm_rliable_loop, "iqm-interpolated": iqm_by_replication, "mean": lambda v: sum(v) / len(v),
           "median": np.median}[statistic]
    dist = []
    for _ in range(reps):
        sample = []
        for t in range(n_tasks):
            for u in rng.random(n_runs):
                sample.append(scores[min(int(math.floor(u * n_runs)), n_runs - 1), t])
        dist.append(ref(sample))
    alpha = 1 - confidence
    return ref(list(scores.reshape(-1))), np.quantile(dist, alpha / 2), np.quantile(dist, 1 - alpha / 2)


@pytest.mark.parametrize("statistic", ["iqm", "iqm-interpolated", "mean", "median"])
@pytest.mark.parametrize("shape", [(7, 1), (5, 3)])
def test_stratified_bootstrap_equals_a_brute_force_loop_with_the_same_rng(statistic, shape):
    scores = np.random.default_rng(3).gamma(2.0, size=shape)
    got = stats.stratified_bootstrap_ci(scores, statistic, reps=300, confidence=0.9, rng=np.random.default_rng(11))
    np.testing.assert_allclose(got, loop_bootstrap_ci(scores, statistic, 300, 0.9, 11), rtol=1e-12)
    if shape[1] == 1:
        one = stats.bootstrap_ci(scores[:, 0], statistic, reps=300, confidence=0.9, rng=np.random.default_rng(11))
        assert one == got


def test_stratified_bootstrap_keeps_each_task_column_within_its_task():
    # task 0 scores are all 0, task 1 all 10: every resample holds exactly n_runs of each, so
    # the mean is 5 in every repetition (an unstratified bootstrap would vary).
    scores = np.stack([np.zeros(4), np.full(4, 10.0)], axis=1)
    dist = stats.stratified_bootstrap(scores, "mean", reps=200, rng=np.random.default_rng(0))
    np.testing.assert_allclose(dist, 5.0)


@pytest.mark.parametrize("statistic", ["mean", "iqm"])
def test_bootstrap_interval_covers_the_true_value_about_95_percent_of_the_time(statistic):
    # N(1, 2²): the mean and the population IQM (symmetric distribution) are both 1.
    rng = np.random.default_rng(2024)
    hits = 0
    trials = 300
    for _ in range(trials):
        ci = stats.bootstrap_ci(rng.normal(1.0, 2.0, size=30), statistic, reps=500, rng=rng)
        hits += ci.low <= 1.0 <= ci.high
    # percentile intervals at n=30 cover ~93–95%; binomial sd over 300 trials is ~1.3 points
    assert 0.87 <= hits / trials <= 0.99


def test_curve_band_equals_a_per_step_loop_and_does_not_depend_on_chunking():
    values = np.random.default_rng(5).normal(size=(6, 9))  # (seeds, steps)
    center, low, high = stats.curve_band(values, "iqm", reps=200, confidence=0.95, rng=np.random.default_rng(1))
    rng = np.random.default_rng(1)
    idx = [np.minimum(np.floor(rng.random(6) * 6).astype(int), 5) for _ in range(200)]
    for j in range(9):
        dist = [iqm_rliable_loop(values[i, j]) for i in idx]
        assert center[j] == pytest.approx(iqm_rliable_loop(values[:, j]), rel=1e-12)
        assert (low[j], high[j]) == pytest.approx(tuple(np.quantile(dist, [0.025, 0.975])), rel=1e-12)
    small = stats.curve_band(values, "iqm", reps=200, rng=np.random.default_rng(1), chunk=1)
    np.testing.assert_allclose(np.stack(small), np.stack([center, low, high]), rtol=1e-12, atol=1e-14)


def test_bootstrap_rejects_bad_input():
    with pytest.raises(PlastixError, match="positive integer"):
        stats.bootstrap_ci([1.0, 2.0], reps=0)
    with pytest.raises(PlastixError, match=r"confidence must be in \(0, 1\)"):
        stats.bootstrap_ci([1.0, 2.0], confidence=1.5)
    with pytest.raises(PlastixError, match="finite"):
        stats.bootstrap_ci([1.0, np.nan])
    with pytest.raises(PlastixError, match="Did you mean 'iqm'"):
        stats.bootstrap_ci([1.0, 2.0], statistic="iqn")
    with pytest.raises(PlastixError, match="at least one value"):
        stats.iqm_weights(0)
    with pytest.raises(PlastixError, match="at least one value"):
        stats.iqm(np.zeros(0))


# ----------------------------------------------------------------------------- rank-sum test


def test_rank_sum_published_example():
    # Shier (2004), "Statistics: 2.3 The Mann-Whitney U Test" (quoted in SciPy's docs): ages at
    # diagnosis, males vs females: U_M = 17, U_F = 3, exact two-sided p = 0.11.
    males, females = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    res = stats.rank_sum_test(males, females)
    assert res.u == 17 and res.method == "exact" and res.p_value == pytest.approx(1 / 9)
    assert stats.rank_sum_test(females, males).u == 3
    assert stats.rank_sum_test(males, females, "asymptotic").p_value == pytest.approx(0.11134688653314041, rel=1e-9)


@pytest.mark.parametrize("case", range(40))
def test_rank_sum_equals_scipy(case):
    rng = np.random.default_rng(case)
    n_a, n_b = (int(v) for v in rng.integers(1, 14, size=2))
    a, b = rng.normal(size=n_a), rng.normal(0.7, size=n_b)
    if case % 2:  # ties within and across samples
        a, b = np.round(a), np.round(b)
    for method in ("auto", "exact", "asymptotic"):
        got, ref = stats.rank_sum_test(a, b, method), scipy.stats.mannwhitneyu(a, b, method=method)
        assert got.u == pytest.approx(ref.statistic, abs=1e-12)
        assert got.p_value == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-14)
    wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    assert stats.rank_sum_test(a, b).prob_a_greater == pytest.approx(wins / (n_a * n_b))


def exact_p_by_enumeration(a, b):
    """Two-sided exact p of the U test without ties, by listing every set of ranks the a's can
    take (all equally likely under H0): 2 P(U >= max(U_a, U_b)), at most 1."""
    n_a, n = len(a), len(a) + len(b)
    ranks = scipy.stats.rankdata(np.concatenate([a, b]))
    u_a = ranks[:n_a].sum() - n_a * (n_a + 1) / 2
    u = max(u_a, n_a * len(b) - u_a)
    null = [sum(r) - n_a * (n_a + 1) / 2 for r in itertools.combinations(range(1, n + 1), n_a)]
    return u_a, min(1.0, 2 * np.mean(np.array(null) >= u - 1e-9))


@pytest.mark.parametrize("n_a, n_b", [(1, 1), (2, 3), (4, 4), (5, 3), (3, 7)])
def test_exact_rank_sum_equals_enumeration(n_a, n_b):
    rng = np.random.default_rng(10 * n_a + n_b)
    a, b = rng.normal(size=n_a), rng.normal(0.5, size=n_b)
    u_a, p = exact_p_by_enumeration(a, b)
    got = stats.rank_sum_test(a, b)
    assert got.method == "exact" and got.u == pytest.approx(u_a) and got.p_value == pytest.approx(p, rel=1e-12)


def test_auto_picks_scipys_method():
    # exact: the smaller sample has at most 8 values and nothing is tied; else asymptotic
    rng = np.random.default_rng(0)
    assert stats.rank_sum_test(rng.normal(size=8), rng.normal(size=20)).method == "exact"
    assert stats.rank_sum_test(rng.normal(size=9), rng.normal(size=9)).method == "asymptotic"
    assert stats.rank_sum_test([1.0, 2.0, 2.0], [3.0, 4.0]).method == "asymptotic"


def test_rank_sum_all_tied_gives_p_1_and_bad_input_is_refused():
    assert stats.rank_sum_test([2.0, 2.0], [2.0, 2.0, 2.0]).p_value == 1.0
    with pytest.raises(PlastixError, match="at least one value"):
        stats.rank_sum_test([], [1.0])
    with pytest.raises(PlastixError, match="finite"):
        stats.rank_sum_test([np.inf], [1.0])


def test_holm_hand_example_and_loop():
    # sorted .005, .01, .03, .04 -> 4·.005=.02, 3·.01=.03, 2·.03=.06, max(.06, 1·.04)=.06
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    p = np.random.default_rng(0).random(9) ** 3
    order, m, running, ref = sorted(range(9), key=lambda i: p[i]), 9, 0.0, np.zeros(9)
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        ref[i] = running
    np.testing.assert_allclose(stats.holm(p), ref)


# ----------------------------------------------------------------------------- probability of improvement


def prob_greater_loop(a, b):
    """P(X > Y) + ½ P(X = Y) over every pair (x, y) of a × b (Agarwal et al. 2021, "probability of improvement")."""
    return sum((x > y) + 0.5 * (x == y) for x in a for y in b) / (len(a) * len(b))


def test_prob_greater_hand_case_and_loop():
    # a = (1, 3, 5), b = (2, 3): pairs won by a: 3>2, 5>2, 5>3 -> 3; tied: 3=3 -> ½; of 6 pairs
    assert stats.prob_greater([1.0, 3.0, 5.0], [2.0, 3.0]) == pytest.approx(3.5 / 6)
    rng = np.random.default_rng(4)
    a, b = np.round(rng.normal(size=(5, 7)), 1), np.round(rng.normal(size=(5, 4)), 1)  # ties
    expected = [prob_greater_loop(x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(stats.prob_greater(a, b, chunk=30), expected, rtol=1e-12)


def test_probability_of_improvement_equals_a_bootstrap_loop_with_the_same_rng():
    rng = np.random.default_rng(8)
    a, b = rng.normal(0.3, size=6), rng.normal(size=9)
    got = stats.probability_of_improvement(a, b, reps=300, confidence=0.9, rng=np.random.default_rng(2))
    draws = np.random.default_rng(2)
    ia = [np.minimum(np.floor(draws.random(6) * 6).astype(int), 5) for _ in range(300)]   # all of a's first,
    ib = [np.minimum(np.floor(draws.random(9) * 9).astype(int), 8) for _ in range(300)]   # then b's
    dist = [prob_greater_loop(a[i], b[j]) for i, j in zip(ia, ib, strict=True)]
    assert got.estimate == pytest.approx(prob_greater_loop(a, b), rel=1e-12)
    assert (got.low, got.high) == pytest.approx(tuple(np.quantile(dist, [0.05, 0.95])), rel=1e-12)
    lower = stats.probability_of_improvement(a, b, reps=300, confidence=0.9, rng=np.random.default_rng(2),
                                             higher_is_better=False)
    assert lower.estimate == pytest.approx(1 - got.estimate) and lower.low == pytest.approx(1 - got.high)


def test_probability_of_improvement_of_separated_samples_is_1():
    ci = stats.probability_of_improvement([5.0, 6.0, 7.0], [1.0, 2.0], reps=100)
    assert tuple(ci) == (1.0, 1.0, 1.0)
    assert stats.rank_sum_test([5.0, 6.0, 7.0], [1.0, 2.0]).prob_a_greater == 1.0


# ----------------------------------------------------------------------------- performance profiles


def test_performance_profile_hand_case_and_direction():
    scores = [1.0, 2.0, 2.0, 4.0]
    # > τ: τ = 0 -> 4/4, τ = 2 -> only 4 -> 1/4, τ = 4 -> 0;  < τ (lower is better): 0, 1/4, 3/4
    np.testing.assert_allclose(stats.performance_profile(scores, [0.0, 2.0, 4.0]), [1.0, 0.25, 0.0])
    np.testing.assert_allclose(stats.performance_profile(scores, [0.0, 2.0, 4.0], higher_is_better=False),
                               [0.0, 0.25, 0.75])
    np.testing.assert_allclose(stats.tau_grid([[3.0, 1.0], [2.0, 5.0]], 5), [1.0, 2.0, 3.0, 4.0, 5.0])


@pytest.mark.parametrize("shape", [(7,), (5, 3)])
def test_performance_profile_band_equals_a_stratified_bootstrap_loop(shape):
    """rliable's run-score distribution with its stratified percentile-bootstrap band."""
    scores = np.random.default_rng(6).gamma(2.0, size=shape)
    taus = np.linspace(0.0, 6.0, 13)
    got = stats.performance_profile_band(scores, taus, reps=250, confidence=0.9, rng=np.random.default_rng(3))
    matrix = scores.reshape(shape[0], -1)
    n_runs, n_tasks = matrix.shape
    rng, dist = np.random.default_rng(3), []
    for _ in range(250):
        sample = []
        for t in range(n_tasks):
            for u in rng.random(n_runs):
                sample.append(matrix[min(int(math.floor(u * n_runs)), n_runs - 1), t])
        dist.append([sum(v > tau for v in sample) / len(sample) for tau in taus])
    expected = [sum(v > tau for v in matrix.reshape(-1)) / matrix.size for tau in taus]
    np.testing.assert_allclose(got.fraction, expected, rtol=1e-12)
    np.testing.assert_allclose(got.low, np.quantile(dist, 0.05, axis=0), rtol=1e-12)
    np.testing.assert_allclose(got.high, np.quantile(dist, 0.95, axis=0), rtol=1e-12)
    assert np.all(got.low <= got.fraction + 1e-12) and np.all(got.fraction <= got.high + 1e-12)


def test_profile_bad_input_is_refused():
    with pytest.raises(PlastixError, match="points >= 2"):
        stats.tau_grid([[1.0, 2.0]], 1)
    with pytest.raises(PlastixError, match="finite"):
        stats.tau_grid([[1.0, np.nan]], 5)
    with pytest.raises(PlastixError, match="finite"):
        stats.performance_profile_band([1.0, np.inf], [0.0, 1.0])


# ----------------------------------------------------------------------------- curves per seed


def test_final_performance_is_the_mean_of_the_last_fraction_of_log_points():
    values = np.arange(40.0).reshape(2, 20)
    np.testing.assert_allclose(stats.final_performance(values, 0.1), [(18 + 19) / 2, (38 + 39) / 2])
    np.testing.assert_allclose(stats.final_performance(values, 1.0), [9.5, 29.5])
    assert stats.last_points(7, 0.1) == 1 and stats.last_points(20, 0.25) == 5 and stats.last_points(3, 0.01) == 1
    with_nan = np.array([[1.0, 2.0, np.nan, 4.0], [np.nan, np.nan, np.nan, np.nan]])
    out = stats.final_performance(with_nan, 0.75)  # last 3 points, non-finite ignored
    assert out[0] == pytest.approx(3.0) and np.isnan(out[1])
    with pytest.raises(PlastixError, match=r"\(0, 1\]"):
        stats.final_performance(values, 0.0)


def test_time_to_threshold_equals_a_loop():
    rng = np.random.default_rng(7)
    steps = np.arange(1, 13) * 100.0
    values = np.cumsum(rng.normal(0.1, 1.0, size=(5, 12)), axis=1)
    for higher, thr in ((True, 1.5), (False, -1.0)):
        got = stats.time_to_threshold(steps, values, thr, higher)
        for s in range(5):
            hit = [steps[j] for j in range(12) if (values[s, j] >= thr if higher else values[s, j] <= thr)]
            assert (np.isnan(got[s]) and not hit) or got[s] == hit[0]
    assert np.isnan(stats.time_to_threshold(steps, values, 1e9)).all()


def test_seed_curves_pivots_long_rows_and_names_missing_metrics():
    rows = [{"step": 10.0, "seed": 1.0, "m": 1.0}, {"step": 10.0, "seed": 0.0, "m": 2.0},
            {"step": 20.0, "seed": 0.0, "m": 3.0}]
    curves = stats.seed_curves(rows, "m")
    np.testing.assert_array_equal(curves.seeds, [0, 1])
    np.testing.assert_array_equal(curves.steps, [10, 20])
    np.testing.assert_array_equal(curves.values, [[2.0, 3.0], [1.0, np.nan]])
    with pytest.raises(PlastixError, match="it has: m"):
        stats.seed_curves(rows, "charts/nope")
