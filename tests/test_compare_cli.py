"""`plastix compare` and `plastix plot --band` in-process through the real dispatcher.

Run directories are written with plastix.runs (create_run_dir + write_metrics, the trainers'
writers) holding known numbers, plus one tiny real `plastix train` run; every reported number
is recomputed here from metrics.csv with the csv module and SciPy."""

import csv
import json

import numpy as np
import pytest
import scipy.stats

import plastix.cli as cli
from plastix.plot import curve_stats
from plastix.runs import create_run_dir, read_metrics, write_metrics
from plastix.stats import bootstrap_ci

PNG = b"\x89PNG\r\n\x1a\n"


def make_run(path, task, values, steps=None, seeds=None, metric=None):
    """A run directory whose metric[seed, j] = values[seed][j] at steps[j] (long format)."""
    values = np.asarray(values, float)
    steps = list(range(10, 10 * values.shape[1] + 1, 10)) if steps is None else steps
    seeds = list(range(values.shape[0])) if seeds is None else seeds
    metric = metric or ("charts/eval_metric" if task == "adding" else "charts/episodic_return")
    create_run_dir(str(path), "x", {"args": {"task": task}, "resolved": {"task": task}}, seeds)
    rows = [{"step": step, "wall_time": 0.1 * j, "seed": seed, metric: float(values[i, j]), "losses/x_loss": 1.0}
            for j, step in enumerate(steps) for i, seed in enumerate(seeds)]
    write_metrics(path, rows)
    return path


def compare_json(capsys, *argv):
    assert cli.main(["compare", *map(str, argv), "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # the whole of stdout is one JSON object


def final_from_csv(run_dir, metric, k):
    """Per seed, the mean of the last k logged values, straight from metrics.csv."""
    per_seed = {}
    with open(run_dir / "metrics.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            per_seed.setdefault(int(float(row["seed"])), []).append((float(row["step"]), float(row[metric])))
    return np.array([np.mean([v for _, v in sorted(pts)[-k:]]) for _, pts in sorted(per_seed.items())])


@pytest.fixture(scope="module")
def two_rl_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    rng = np.random.default_rng(0)
    good = np.cumsum(rng.normal(1.0, 0.5, size=(8, 20)), axis=1)
    bad = np.cumsum(rng.normal(0.5, 0.5, size=(6, 20)), axis=1)
    return make_run(root / "good", "cue-reward", good), make_run(root / "bad", "cue-reward", bad)


def test_compare_json_numbers_equal_independent_computations(two_rl_runs, capsys):
    good, bad = two_rl_runs
    result = compare_json(capsys, good, bad, "--reps", "500", "--seed", "3")
    assert result["metric"] == "charts/episodic_return" and result["higher_is_better"] is True
    finals = [final_from_csv(d, "charts/episodic_return", 2) for d in (good, bad)]  # 10% of 20 log points
    for run, final in zip(result["runs"], finals, strict=True):
        assert run["n_seeds"] == final.size and run["last_points"] == 2
        np.testing.assert_allclose(run["final"], final, rtol=1e-12)
        assert run["median"] == pytest.approx(np.median(final))
        assert run["mean"] == pytest.approx(final.mean()) and run["std"] == pytest.approx(final.std(ddof=1))
        ci = bootstrap_ci(final, "iqm", reps=500, rng=np.random.default_rng(3))
        assert run["iqm_ci"] == pytest.approx([ci.low, ci.high]) and ci.low <= run["iqm"] <= ci.high
    assert result["runs"][0]["iqm"] == pytest.approx(scipy.stats.trim_mean(finals[0], 0.25))  # n = 8
    (pair,) = result["pairs"]
    ref = scipy.stats.mannwhitneyu(finals[0], finals[1])
    assert pair["u"] == pytest.approx(ref.statistic) and pair["p_value"] == pytest.approx(ref.pvalue)
    assert pair["prob_a_greater"] == pytest.approx(ref.statistic / (8 * 6))
    assert pair["p_holm"] == pytest.approx(ref.pvalue) and pair["better"] == str(good)
    assert pair["p_value"] < 0.01  # cumulative means 1.0 vs 0.5 per log point: clearly apart


def test_last_fraction_and_threshold(two_rl_runs, capsys):
    good, _ = two_rl_runs
    result = compare_json(capsys, good, "--last", "0.5", "--threshold", "5")
    (run,) = result["runs"]
    assert run["last_points"] == 10 and result["pairs"] == []
    np.testing.assert_allclose(run["final"], final_from_csv(good, "charts/episodic_return", 10), rtol=1e-12)
    rows = read_metrics(good)
    for seed, first in enumerate(run["time_to_threshold"]["per_seed"]):
        hits = sorted(r["step"] for r in rows if r["seed"] == seed and r["charts/episodic_return"] >= 5)
        assert first == (hits[0] if hits else None)
    assert run["time_to_threshold"]["reached"] == sum(v is not None for v in run["time_to_threshold"]["per_seed"])


def test_supervised_runs_default_to_eval_metric_with_lower_is_better(tmp_path, capsys):
    low = make_run(tmp_path / "low", "adding", [[0.5, 0.2], [0.4, 0.1], [0.6, 0.3]])
    high = make_run(tmp_path / "high", "adding", [[0.9, 0.8], [0.7, 0.6], [0.8, 0.9]])
    result = compare_json(capsys, high, low)
    assert result["metric"] == "charts/eval_metric" and result["higher_is_better"] is False
    assert result["direction_from"] == "task" and result["pairs"][0]["better"] == str(low)
    # exact test, 3 vs 3, complete separation: p = 2 / C(6, 3) = 0.1
    assert result["pairs"][0]["p_value"] == pytest.approx(0.1) and result["pairs"][0]["method"] == "exact"
    flipped = compare_json(capsys, high, low, "--higher-is-better")
    assert flipped["pairs"][0]["better"] == str(high) and flipped["direction_from"] == "flag"


def test_single_seed_run_is_reported_without_ci_or_test(tmp_path, capsys):
    one = make_run(tmp_path / "one", "cue-reward", [[1.0, 2.0, 3.0]])
    two = make_run(tmp_path / "two", "cue-reward", [[1.0, 2.0, 3.0], [2.0, 3.0, 5.0]])
    result = compare_json(capsys, one, two)
    assert result["runs"][0]["iqm"] == 3.0 and result["runs"][0]["iqm_ci"] is None
    assert result["runs"][0]["std"] is None and "1 seed" in result["runs"][0]["note"]
    assert result["pairs"][0]["p_value"] is None and "at least 2 seeds" in result["pairs"][0]["note"]
    assert cli.main(["compare", str(one), str(two)]) == 0  # the tables print too
    out = capsys.readouterr().out
    assert "1 seed: no confidence interval" in out and "rank-sum" in out


def test_table_output_names_runs_and_p_values(two_rl_runs, capsys):
    good, bad = two_rl_runs
    assert cli.main(["compare", str(good), str(bad), "--reps", "200"]) == 0
    out = capsys.readouterr().out
    p = scipy.stats.mannwhitneyu(final_from_csv(good, "charts/episodic_return", 2),
                                 final_from_csv(bad, "charts/episodic_return", 2)).pvalue
    assert "good" in out and "bad" in out and "IQM" in out and f"{p:.4g}" in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--metric", "charts/nope"], "losses/x_loss"),
        (["--last", "0"], "--last must be a fraction"),
        (["--reps", "0"], "reps must be a positive integer"),
        (["--higher-is-better", "--lower"], "at most one"),
        (["--metric", "wall_time"], "pass --higher-is-better or --lower"),
    ],
)
def test_bad_input_exits_2_with_a_message(two_rl_runs, capsys, extra, message):
    assert cli.main(["compare", str(two_rl_runs[0]), *extra]) == 2
    assert message in capsys.readouterr().err


def test_missing_run_mixed_defaults_and_nan_seed_are_refused(two_rl_runs, tmp_path, capsys):
    assert cli.main(["compare", str(tmp_path / "nowhere")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    sup = make_run(tmp_path / "sup", "adding", [[1.0], [2.0]])
    assert cli.main(["compare", str(sup), str(two_rl_runs[0])]) == 2
    assert "--metric" in capsys.readouterr().err
    nan = make_run(tmp_path / "nan", "cue-reward", [[1.0, 2.0], [1.0, np.nan]], seeds=[4, 7])
    assert cli.main(["compare", str(nan)]) == 2
    assert "seed(s) [7]" in capsys.readouterr().err


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "adding-run"
    argv = ["train", "adding", "--core", "elman", "--hidden", "4", "--seq-len", "5", "--batch-size", "4",
            "--total-steps", "48", "--log-every", "16", "--seeds", "3", "--quiet", "--no-plot", "--out", str(out)]
    assert cli.main(argv) == 0
    return out


@pytest.mark.slow
def test_compare_and_ci_plot_of_a_real_training_run(real_run, two_rl_runs, tmp_path, capsys):
    result = compare_json(capsys, real_run, real_run)
    final = final_from_csv(real_run, "charts/eval_metric", 1)  # 3 log points: the last one
    np.testing.assert_allclose(result["runs"][0]["final"], final, rtol=1e-12)
    assert result["pairs"][0]["p_value"] == pytest.approx(1.0)  # a run against itself
    out = tmp_path / "ci.png"
    assert cli.main(["plot", str(real_run), str(two_rl_runs[0]), "--metric", "charts/eval_metric",
                     "--band", "ci", "--out", str(out)]) == 2  # the RL run has no eval_metric
    assert cli.main(["plot", str(real_run), "--band", "ci", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG
    assert cli.main(["plot", str(real_run), "--band", "sd", "--out", str(tmp_path / "z.png")]) == 2


def test_curve_stats_bands(two_rl_runs):
    rows = read_metrics(two_rl_runs[0])
    iqr = curve_stats(rows, "charts/episodic_return")  # the default is unchanged: median, quartiles
    ci = curve_stats(rows, "charts/episodic_return", band="ci", reps=300, rng=np.random.default_rng(0))
    for j, step in enumerate(iqr.steps):
        vals = np.array([r["charts/episodic_return"] for r in rows if r["step"] == step])
        assert (iqr.low[j], iqr.center[j], iqr.high[j]) == pytest.approx(tuple(np.percentile(vals, [25, 50, 75])))
        assert ci.center[j] == pytest.approx(scipy.stats.trim_mean(vals, 0.25))  # 8 seeds
        assert ci.low[j] <= ci.center[j] <= ci.high[j] and ci.low[j] < ci.high[j]


# ----------------------------------------------------------------------------- profiles, improvement, IQM variants


def bootstrap_draws(rng, reps, n):
    """Index sets of a percentile bootstrap, one repetition at a time: floor(n · U)."""
    return [np.minimum(np.floor(rng.random(n) * n).astype(int), n - 1) for _ in range(reps)]


def test_profiles_and_probability_of_improvement_equal_loops(two_rl_runs, capsys):
    good, bad = two_rl_runs
    result = compare_json(capsys, good, bad, "--reps", "300", "--seed", "5", "--taus", "11")
    finals = [final_from_csv(d, "charts/episodic_return", 2) for d in (good, bad)]
    pooled = np.concatenate(finals)
    taus = [pooled.min() + k * (pooled.max() - pooled.min()) / 10 for k in range(11)]
    np.testing.assert_allclose(result["profile_tau"], taus, rtol=1e-12)
    for run, final in zip(result["runs"], finals, strict=True):
        # Agarwal et al. (2021), the run-score distribution: the fraction of seeds scoring above τ, and its bootstrap band
        fraction = [np.mean([v > t for v in final]) for t in taus]
        draws = bootstrap_draws(np.random.default_rng(5), 300, final.size)
        dist = [[np.mean([v > t for v in final[i]]) for t in taus] for i in draws]
        np.testing.assert_allclose(run["profile"]["fraction"], fraction, rtol=1e-12)
        np.testing.assert_allclose(run["profile"]["low"], np.quantile(dist, 0.025, axis=0), rtol=1e-12)
        np.testing.assert_allclose(run["profile"]["high"], np.quantile(dist, 0.975, axis=0), rtol=1e-12)
    (pair,) = result["pairs"]
    a, b = finals
    rng = np.random.default_rng(5)
    ia, ib = bootstrap_draws(rng, 300, a.size), bootstrap_draws(rng, 300, b.size)  # all of A's draws first
    wins = [np.mean([(x > y) + 0.5 * (x == y) for x in a[i] for y in b[j]]) for i, j in zip(ia, ib, strict=True)]
    assert pair["prob_a_better"] == pytest.approx(np.mean([x > y for x in a for y in b]))
    np.testing.assert_allclose(pair["prob_a_better_ci"], np.quantile(wins, [0.025, 0.975]), rtol=1e-12)
    assert pair["prob_a_greater_ci"] == pair["prob_a_better_ci"]  # higher is better: the same event


def test_lower_is_better_flips_profile_and_improvement(tmp_path, capsys):
    low = make_run(tmp_path / "low", "adding", [[0.5, 0.2], [0.4, 0.1], [0.6, 0.3], [0.5, 0.35]])
    high = make_run(tmp_path / "high", "adding", [[0.9, 0.8], [0.7, 0.25], [0.8, 0.9]])
    result = compare_json(capsys, high, low, "--taus", "3", "--reps", "200")
    assert result["higher_is_better"] is False and result["profile_tau"] == pytest.approx([0.1, 0.5, 0.9])
    # fraction of seeds below τ: low's finals 0.2, 0.1, 0.3, 0.35; high's 0.8, 0.25, 0.9
    assert result["runs"][1]["profile"]["fraction"] == pytest.approx([0.0, 1.0, 1.0])
    assert result["runs"][0]["profile"]["fraction"] == pytest.approx([0.0, 1 / 3, 2 / 3])
    (pair,) = result["pairs"]
    # P(high < low): 0.25 is below 0.3 and 0.35 -> 2 of 12 pairs
    assert pair["prob_a_better"] == pytest.approx(2 / 12) and pair["prob_a_greater"] == pytest.approx(10 / 12)
    assert pair["prob_a_better_ci"][0] <= 2 / 12 <= pair["prob_a_better_ci"][1]


def test_iqm_variants(two_rl_runs, capsys):
    _, bad = two_rl_runs  # 6 seeds: the two interquartile means differ
    final = final_from_csv(bad, "charts/episodic_return", 2)
    trimmed = compare_json(capsys, bad, "--reps", "200")
    interp = compare_json(capsys, bad, "--reps", "200", "--iqm", "interpolated")
    assert trimmed["iqm_method"] == "trimmed" and interp["iqm_method"] == "interpolated"
    # rliable: drop floor(6/4) = 1 seed at each end, average the middle 4
    assert trimmed["runs"][0]["iqm"] == pytest.approx(np.mean(np.sort(final)[1:5]))
    # interpolated: weights 0, 1/6, 1/3, 1/3, 1/6, 0 on the sorted seeds
    assert interp["runs"][0]["iqm"] == pytest.approx(np.sort(final) @ np.array([0, 1, 2, 2, 1, 0]) / 6)
    ci = bootstrap_ci(final, "iqm-interpolated", reps=200, rng=np.random.default_rng(0))
    assert interp["runs"][0]["iqm_ci"] == pytest.approx([ci.low, ci.high])


def test_profile_figure_and_bad_grid(two_rl_runs, tmp_path, capsys):
    good, bad = two_rl_runs
    out = tmp_path / "profiles.png"
    result = compare_json(capsys, good, bad, "--reps", "100", "--profile", out)
    assert out.read_bytes()[:8] == PNG and result["profile_file"] == str(out)
    assert cli.main(["compare", str(good), "--profile", str(out)]) == 2  # never overwritten
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["compare", str(good), "--taus", "1"]) == 2
    assert "--taus must be an integer in [2, 100,000]" in capsys.readouterr().err


def test_tables_fit_80_columns_and_keep_names_whole(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # stdout is captured, not a terminal: 80 columns
    rng = np.random.default_rng(1)
    names = ["neuromod-rnn-retroactive-eta", "elman-hidden-44", "plastic-rnn"]
    runs = [make_run(tmp_path / name, "cue-reward", np.cumsum(rng.normal(m, 0.5, size=(5, 10)), axis=1))
            for name, m in zip(names, (1.0, 0.5, 0.7), strict=True)]
    assert cli.main(["compare", *map(str, runs), "--reps", "100", "--threshold", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in names:  # every run label printed whole on some line, in every table
        assert sum(name in line for line in lines) >= 3 + 2, name
    assert "performance profiles" in out and "probability of improvement" in out and "P(A > B)" in out


def test_iqr_band_leaves_a_gap_without_a_warning_where_no_seed_has_a_value():
    """A log point where every seed's value is NaN (no episode ended yet; no update before
    learning starts) is NaN in the curve, silently; the other points are NumPy's quartiles."""
    import warnings

    rows = [{"step": 1.0, "m": np.nan}, {"step": 1.0, "m": np.nan},
            {"step": 2.0, "m": 1.0}, {"step": 2.0, "m": 3.0}, {"step": 2.0, "m": np.nan}, {"step": 2.0, "m": 8.0}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = curve_stats(rows, "m", band="iqr")
    assert np.isnan(curve.center[0]) and np.isnan(curve.low[0]) and np.isnan(curve.high[0])
    np.testing.assert_allclose([curve.low[1], curve.center[1], curve.high[1]], np.percentile([1.0, 3.0, 8.0], [25, 50, 75]))
