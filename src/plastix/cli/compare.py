"""``plastix compare RUN_DIR... [--metric NAME] [--last FRAC] [--json]``: statistics across seeds.

For each run directory, the *final performance* of every seed is the mean of ``--metric`` over
its last k = max(1, ceil(FRAC · log points)) log points. Per run: n seeds, median, interquartile
mean (IQM, rliable's trimmed mean by default, ``--iqm interpolated`` for the interpolated one)
with a percentile-bootstrap confidence interval, mean ± standard deviation (ddof 1) with its
bootstrap interval, the performance profile (the fraction of seeds beyond each threshold τ of a
grid shared by all runs, with a bootstrap band; Agarwal et al. 2021), optionally the
time to ``--threshold``. Between every pair of runs: the two-sided Mann–Whitney U (rank-sum)
test of their final performances, with Holm-adjusted p-values, as Backpropamine (Miconi et al.
2019) reports rank-sum p-values between network types, and the probability of improvement
P(a seed of A beats a seed of B) with its bootstrap interval (Agarwal et al. 2021).
``--profile FILE`` draws the profiles. Definitions: ``plastix.stats`` and docs/statistics.md.

Every run's bootstrap uses a fresh ``numpy.random.default_rng(--seed)``, so a run's interval does
not depend on which other runs are compared.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tyro

from plastix.errors import PlastixError, check_positive_int
from plastix.stats import IQM_VARIANTS  # --iqm -> the plastix.stats statistic

RL_METRIC, SEQ_METRIC = "charts/episodic_return", "charts/eval_metric"


@dataclasses.dataclass(frozen=True)
class CompareArgs:
    """Compare runs: final performance per seed, IQM with bootstrap CIs, performance profiles,
    probability of improvement, rank-sum tests."""

    runs: Annotated[tuple[str, ...], tyro.conf.Positional]
    """Run directories (each with config.json and metrics.csv)."""
    metric: str | None = None
    """Metric column of metrics.csv; None = charts/eval_metric for sequence tasks,
    charts/episodic_return for RL tasks (read from each run's config)."""
    last: float = 0.1
    """Final performance = per seed, the mean over the last ceil(LAST · log points) log points (at least one)."""
    reps: int = 2000
    """Bootstrap repetitions for the confidence intervals."""
    confidence: float = 0.95
    """Confidence level of the bootstrap intervals."""
    seed: int = 0
    """Seed of the bootstrap resampling (numpy Generator)."""
    threshold: float | None = None
    """Also report, per seed, the first step at which the metric reaches this value."""
    higher_is_better: bool = False
    """Higher values of the metric are better (default: read from the task / metric name)."""
    lower: bool = False
    """Lower values of the metric are better (default: read from the task / metric name)."""
    iqm: Literal["trimmed", "interpolated"] = "trimmed"
    """Interquartile mean: trimmed = scipy.stats.trim_mean(x, 0.25), as rliable (drops ⌊n/4⌋
    seeds at each end); interpolated = the mean of the empirical quantile function over [¼, ¾]
    (boundary seeds weighted fractionally). They agree when the number of seeds is divisible by 4."""
    taus: int = 51
    """Points of the threshold grid of the performance profiles (from the lowest to the highest
    final performance of all runs)."""
    profile: str | None = None
    """Also draw the performance profiles with their bootstrap bands to this PNG (refuses to overwrite an
    existing file without --force)."""
    force: bool = False
    """Overwrite the --profile file if it exists."""
    json: bool = False
    """Print one JSON object on stdout instead of tables."""

    def run(self) -> int:
        result = compare_runs(self)
        if self.profile is not None:
            from plastix.plot import plot_profiles

            profiles = [(run["label"], run["profile"]) for run in result["runs"]]
            sign = ">" if result["higher_is_better"] else "<"
            from plastix.cli.outputs import atomic_output

            with atomic_output(Path(self.profile)) as tmp:
                plot_profiles(result["profile_tau"], profiles, tmp,
                              xlabel=f"τ (final {result['metric']})", ylabel=f"fraction of seeds with score {sign} τ",
                              title=f"performance profiles, {100 * result['confidence']:g}% bootstrap bands")
            result["profile_file"] = self.profile
        if self.json:
            print(json.dumps(result))
        else:
            print_tables(result)
            if self.profile is not None:
                print(f"wrote {self.profile}")
        return 0


def run_task(config: dict) -> str | None:
    cfg = config.get("config", {})
    return cfg.get("resolved", {}).get("task") or cfg.get("args", {}).get("task")


def run_algorithm(config: dict):
    """(registry entry, config instance) of a run's config.json, or None for an unknown run."""
    from plastix.algorithms import algorithm_of_run

    try:
        return algorithm_of_run(config)
    except (PlastixError, KeyError, TypeError, ValueError):
        return None


def default_metric(config: dict) -> str:
    """The score metric of the run's algorithm (``plastix.algorithms``): charts/eval_metric for
    supervised runs, charts/episodic_return for the others."""
    found = run_algorithm(config)
    if found is not None:
        return found[0].score
    from plastix.tasks import SEQUENCE_TASKS

    return SEQ_METRIC if run_task(config) in SEQUENCE_TASKS else RL_METRIC


def metric_direction(metric: str, configs: list[dict], args: CompareArgs) -> tuple[bool, str]:
    """(higher_is_better, where that came from): the flags, the task's metric, or the name."""
    if args.higher_is_better and args.lower:
        raise PlastixError("give at most one of --higher-is-better and --lower.")
    if args.higher_is_better or args.lower:
        return args.higher_is_better, "flag"
    entries = [run_algorithm(c) for c in configs]
    saved = {(c.get("config", {}).get("task") or {}).get("higher_is_better") for c in configs}
    if None not in saved and len(saved) == 1 and all(e is not None and e[0].score == metric for e in entries):
        return saved.pop(), "task"  # saved with each run: the task it trained on (data= included)
    if all(e is not None and e[0].score == metric for e in entries):
        found = {entry.higher_is_better(config) for entry, config in entries}
        if len(found) == 1:
            return found.pop(), "task"
    if metric == SEQ_METRIC:
        from plastix.tasks import SEQUENCE_TASKS

        found = {SEQUENCE_TASKS[t].higher_is_better for t in map(run_task, configs) if t in SEQUENCE_TASKS}
        if len(found) == 1:
            return found.pop(), "task"
    if metric == RL_METRIC or metric.startswith("charts/episodic"):
        return True, "metric name"
    if "loss" in metric or "perplexity" in metric or "bits_per" in metric:  # the last two: plastix.lm
        return False, "metric name"
    raise PlastixError(f"cannot tell whether higher or lower {metric!r} is better for these runs; "
                       "pass --higher-is-better or --lower.")


def check_args(args: CompareArgs) -> None:
    if not args.runs:
        raise PlastixError("give at least one run directory.")
    check_positive_int("reps", args.reps)
    if not 0.0 < args.last <= 1.0:
        raise PlastixError(f"--last must be a fraction in (0, 1], got {args.last!r}.")
    if not 0.0 < args.confidence < 1.0:
        raise PlastixError(f"--confidence must be in (0, 1), got {args.confidence!r}.")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise PlastixError(f"--threshold must be a finite number, got {args.threshold!r}.")
    if args.iqm not in IQM_VARIANTS:
        raise PlastixError(f"--iqm must be one of {', '.join(IQM_VARIANTS)}, got {args.iqm!r}.")
    if isinstance(args.taus, bool) or not isinstance(args.taus, int) or not 2 <= args.taus <= MAX_TAUS:
        raise PlastixError(f"--taus must be an integer in [2, {MAX_TAUS:,}] (points of the threshold grid), "
                           f"got {args.taus!r}.")
    if args.profile is not None:
        from plastix.cli.outputs import output_file

        output_file(args.profile, args.force, ".png", flag="--profile")


MAX_TAUS = 100_000  # points of a profile's threshold grid: far beyond any figure's resolution


def compare_runs(args: CompareArgs) -> dict[str, Any]:
    """The comparison as one JSON-ready dict: settings, ``runs`` (one summary each), ``pairs``."""
    from plastix.runs import read_config, read_metrics

    check_args(args)
    dirs = [Path(r) for r in args.runs]
    configs = [read_config(d) for d in dirs]
    rows = [read_metrics(d) for d in dirs]
    metric = args.metric
    if metric is None:
        metrics = {default_metric(c) for c in configs}
        if len(metrics) > 1:
            raise PlastixError(f"these runs have different default metrics ({', '.join(sorted(metrics))}); "
                               "choose one with --metric.")
        metric = metrics.pop()
    for d, r in zip(dirs, rows, strict=True):
        if not r or metric not in r[0]:
            have = sorted(k for k in (r[0] if r else {}) if k not in ("step", "seed", "wall_time"))
            raise PlastixError(f"metric {metric!r} is not in {str(d / 'metrics.csv')!r}; it has: "
                               f"{', '.join(have) or 'no metrics'}.")
    higher, source = metric_direction(metric, configs, args)
    runs = [summarize_run(str(d), d.name, r, metric, args, higher)
            for d, r in zip(dirs, rows, strict=True)]
    taus = add_profiles(runs, args, higher)
    return {"metric": metric, "higher_is_better": higher, "direction_from": source, "last": args.last,
            "confidence": args.confidence, "reps": args.reps, "seed": args.seed, "threshold": args.threshold,
            "iqm_method": args.iqm, "profile_tau": taus, "profile_file": None,
            "runs": runs, "pairs": compare_pairs(runs, higher, args)}


def add_profiles(runs: list[dict], args: CompareArgs, higher: bool) -> list[float]:
    """Each run's performance profile over one τ grid shared by all runs (``stats.tau_grid``):
    ``run["profile"]`` = {fraction, low, high} (the band null for a single seed). Returns the grid."""
    from plastix import stats

    taus = stats.tau_grid([run["final"] for run in runs], args.taus)
    for run in runs:
        band = stats.performance_profile_band(np.array(run["final"]), taus, args.reps, args.confidence,
                                              np.random.default_rng(args.seed), higher)
        many = run["n_seeds"] > 1
        run["profile"] = {"fraction": band.fraction.tolist(), "low": band.low.tolist() if many else None,
                          "high": band.high.tolist() if many else None}
    return taus.tolist()


def summarize_run(path: str, label: str, rows: list[dict], metric: str, args: CompareArgs, higher: bool) -> dict:
    """Final performance per seed and its statistics (median, IQM + CI, mean ± std + CI)."""
    from plastix import stats

    curves = stats.seed_curves(rows, metric)
    final = stats.final_performance(curves.values, args.last)
    bad = curves.seeds[~np.isfinite(final)]
    k = stats.last_points(len(curves.steps), args.last)
    if bad.size:
        raise PlastixError(f"run {path!r}: seed(s) {[int(s) for s in bad]} have no finite {metric} in the last "
                           f"{k} log point(s); their final performance is undefined.")
    n, iqm_name = final.size, IQM_VARIANTS[args.iqm]
    out = {"run": path, "label": label, "n_seeds": n, "seeds": [int(s) for s in curves.seeds],
           "last_points": k, "final_step": float(curves.steps[-1]), "final": final.tolist(),
           "median": float(np.median(final)), "iqm": float(stats.statistic_fn(iqm_name)(final)),
           "mean": float(final.mean()), "std": float(final.std(ddof=1)) if n > 1 else None, "iqm_ci": None,
           "mean_ci": None, "note": None}
    if n > 1:
        for field, name in (("iqm", iqm_name), ("mean", "mean")):
            ci = stats.bootstrap_ci(final, name, args.reps, args.confidence, np.random.default_rng(args.seed))
            out[f"{field}_ci"] = [ci.low, ci.high]
    else:
        out["note"] = "1 seed: no confidence interval or rank-sum test (train with --seeds >= 2)"
    if args.threshold is not None:
        out["time_to_threshold"] = threshold_summary(curves, args.threshold, higher)
    return out


def threshold_summary(curves, threshold: float, higher: bool) -> dict:
    """Per seed, the first step reaching ``threshold`` (None = never); the median over seeds with
    'never' counted as +inf (None if at least half never reach it)."""
    from plastix import stats

    t = stats.time_to_threshold(curves.steps, curves.values, threshold, higher)
    med = float(np.median(np.where(np.isnan(t), np.inf, t)))
    return {"per_seed": [None if np.isnan(v) else float(v) for v in t],
            "reached": int(np.sum(~np.isnan(t))), "median": med if math.isfinite(med) else None}


def compare_pairs(runs: list[dict], higher: bool = True, args: CompareArgs | None = None) -> list[dict]:
    """Rank-sum test for each pair of runs (i < j); Holm-adjusted over the pairs tested.
    ``better`` is the run whose seeds tend to win (P(A > B) above or below ½, by direction).
    The probability of improvement ``prob_a_better`` = P(A > B), or P(A < B) when lower is
    better, gets a bootstrap interval (``stats.probability_of_improvement``, A's and B's seeds
    resampled independently from a fresh ``default_rng(--seed)`` per pair), as does P(A > B)."""
    from plastix import stats

    args = CompareArgs(runs=()) if args is None else args
    pairs = []
    for a, b in itertools.combinations(runs, 2):
        pair = {"a": a["run"], "b": b["run"], "u": None, "p_value": None, "p_holm": None, "method": None,
                "prob_a_greater": None, "prob_a_greater_ci": None, "prob_a_better": None,
                "prob_a_better_ci": None, "better": None, "note": None}
        if a["n_seeds"] < 2 or b["n_seeds"] < 2:
            pair["note"] = "needs at least 2 seeds in each run"
        else:
            x, y = np.array(a["final"]), np.array(b["final"])
            test = stats.rank_sum_test(x, y)
            pair.update(u=test.u, p_value=test.p_value, method=test.method, prob_a_greater=test.prob_a_greater)
            for field, up in (("prob_a_greater", True), ("prob_a_better", higher)):
                ci = stats.probability_of_improvement(x, y, args.reps, args.confidence,
                                                      np.random.default_rng(args.seed), up)
                pair[f"{field}_ci"] = [ci.low, ci.high]
                if field == "prob_a_better":
                    pair[field] = ci.estimate
            if test.prob_a_greater != 0.5:
                pair["better"] = a["run"] if (test.prob_a_greater > 0.5) == higher else b["run"]
        pairs.append(pair)
    tested = [p for p in pairs if p["p_value"] is not None]
    for pair, adj in zip(tested, stats.holm([p["p_value"] for p in tested]) if tested else [], strict=True):
        pair["p_holm"] = float(adj)
    return pairs


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _interval(estimate: float | None, ci: list | None, fmt=_fmt) -> str:
    return fmt(estimate) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else " [—]")


def _fraction(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def print_tables(result: dict) -> None:
    """The tables (``plastix.cli.tables``: readable at 80 columns, names never split): one row
    per run, the performance profiles at three thresholds, then the rank-sum tests and the
    probabilities of improvement, one row per pair."""
    from plastix.cli.tables import console, print_table, print_wrapped

    out = console()
    better = "higher" if result["higher_is_better"] else "lower"
    level = f"{100 * result['confidence']:g}%"
    iqm = "IQM" if result["iqm_method"] == "trimmed" else "IQM (interpolated)"
    columns = ["run", "n", "median", f"{iqm} [{level} CI]", "mean ± std"]
    columns += ["time to threshold"] if result["threshold"] is not None else []
    rows = []
    for run in result["runs"]:
        row = [run["label"], str(run["n_seeds"]), _fmt(run["median"]), _interval(run["iqm"], run["iqm_ci"]),
               f"{_fmt(run['mean'])} ± {_fmt(run['std'])}"]
        if result["threshold"] is not None:
            t = run["time_to_threshold"]
            row.append(f"{_fmt(t['median'])} ({t['reached']}/{run['n_seeds']} reach {result['threshold']:g})")
        rows.append(row)
    print_table(f"final {result['metric']} (mean of the last {100 * result['last']:g}% of log points per seed; "
                f"{better} is better; {level} bootstrap CIs, {result['reps']} reps)", columns, rows, out,
                no_wrap=("run",))
    for run in result["runs"]:
        if run["note"]:
            print_wrapped(f"{run['label']}: {run['note']}", out)
    print_profiles(result, out)
    if result["pairs"]:
        print_pairs(result, out)


def profile_columns(result: dict) -> list[int]:
    """Indices of the τ grid at a quarter, half and three quarters of its range."""
    k = len(result["profile_tau"])
    return sorted({round(q * (k - 1)) for q in (0.25, 0.5, 0.75)})


def print_profiles(result: dict, out) -> None:
    from plastix.cli.tables import print_table

    sign = ">" if result["higher_is_better"] else "<"
    cols = profile_columns(result)
    taus = result["profile_tau"]
    rows = [[run["label"], *(_interval(run["profile"]["fraction"][j],
                                       None if run["profile"]["low"] is None
                                       else [run["profile"]["low"][j], run["profile"]["high"][j]], _fraction)
                             for j in cols)] for run in result["runs"]]
    level = f"{100 * result['confidence']:g}%"
    print_table(f"performance profiles: fraction of seeds with final {sign} τ ({level} bootstrap CIs)",
                ["run", *(f"τ = {taus[j]:.4g}" for j in cols)], rows, out, no_wrap=("run",))


def print_pairs(result: dict, out) -> None:
    from plastix.cli.tables import print_table

    labels = {run["run"]: run["label"] for run in result["runs"]}
    level = f"{100 * result['confidence']:g}%"
    rows = [[labels[p["a"]], labels[p["b"]], _fmt(p["u"]), _fmt(p["p_value"]), _fmt(p["p_holm"]),
             p["method"] or (p["note"] or "")] for p in result["pairs"]]
    print_table("two-sided Mann–Whitney U (rank-sum) tests of the final performances",
                ["A", "B", "U(A)", "p", "p (Holm)", "method"], rows, out, no_wrap=("A", "B"))
    higher = result["higher_is_better"]
    rows = [[labels[p["a"]], labels[p["b"]], _interval(p["prob_a_greater"], p["prob_a_greater_ci"], _fraction),
             *([] if higher else [_interval(p["prob_a_better"], p["prob_a_better_ci"], _fraction)]),
             labels.get(p["better"], "—")] for p in result["pairs"]]
    columns = ["A", "B", f"P(A > B) [{level} CI]", *([] if higher else [f"P(A < B) [{level} CI]"]), "better"]
    print_table("probability of improvement (ties count ½)", columns, rows, out,
                no_wrap=("A", "B", "better"))
