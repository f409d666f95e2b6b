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
