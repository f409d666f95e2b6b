"""``plastix plot RUN_DIR...``: learning curves of several runs on one figure (median and
inter-quartile band over seeds); grid runs also get their policy plots from ``plastix.mdp``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import tyro

from plastix.errors import PlastixError
from plastix.runs import read_config, read_metrics


@dataclasses.dataclass(frozen=True)
class PlotArgs:
    """Plot learning curves of one or more run directories on one figure."""

    runs: Annotated[tuple[str, ...], tyro.conf.Positional]
    """Run directories (each with config.json and metrics.csv)."""
    out: str | None = None
    """Output PNG; default <first run>/compare.png (refuses to overwrite an existing file without --force)."""
    force: bool = False
    """Overwrite the figures this command writes if they exist (--out, trace.png, path.png, a grid run's pictures)."""
    metric: str | None = None
    """Metric column of metrics.csv to plot, e.g. charts/eval_loss, losses/train_loss; None =
    charts/eval_metric for sequence runs, charts/episodic_return for RL runs."""
    band: Literal["iqr", "ci"] = "iqr"
    """Band over seeds: iqr = median and 25–75th percentiles; ci = interquartile mean and its
    95% bootstrap confidence interval (seeds resampled; plastix.stats)."""
    trace: bool = False
    """Instead of learning curves: the Hebbian trace (heat maps, norm over time) and M(t) of one
    episode of each run's trained plastic agent, events marked; writes <run>/trace.png."""
    path: bool = False
    """Instead of learning curves (meta-maze runs): the agent's path over one episode on the
    grid (walls, reward cell, teleports); writes <run>/path.png."""
    seed_index: int = 0
    """With --trace/--path: which trained seed of the run (index into its seed list)."""
    episode_seed: int = 0
    """With --trace/--path: the PRNG seed of the pictured episode."""

    def run(self) -> int:
        return run_plot(self)


def run_label(run_dir: Path, config: dict) -> str:
    cfg = config.get("config", {})
    resolved, args = cfg.get("resolved", {}), cfg.get("args", {})
    if "core" in resolved:  # T for a sequence task; RL runs have no seq_len
        length = f" T={resolved['seq_len']}" if resolved.get("seq_len") is not None else ""
        return f"{resolved['core']}{length} ({run_dir.name})"
    if "algo" in args:
        return f"{args.get('task')} {args['algo']} ({run_dir.name})"
    return run_dir.name


def common_baseline(configs: list[dict]) -> float | None:
    """The baseline line if every run is the same task at the same T (else None): the one saved
    with the run (its ``task`` record: a run on data has its own), else the named task's."""
    def key(c: dict) -> tuple:
        cfg = c.get("config", {})
        record, resolved = cfg.get("task") or {}, cfg.get("resolved", {})
        return record.get("name", resolved.get("task")), resolved.get("seq_len"), record.get("baseline")

    keys = {key(c) for c in configs}
    if len(keys) != 1:
        return None
    task, T, saved = keys.pop()
    if saved is not None:
        return float(saved)
    from plastix.tasks import SEQUENCE_TASKS

    return SEQUENCE_TASKS[task].baseline(T) if task in SEQUENCE_TASKS and T else None


def default_metric(runs: list[tuple[str, list[dict]]], configs: list[dict] = ()) -> str:
    """The runs' common score metric (``plastix.algorithms``); else charts/eval_metric when every
    run has it (sequence runs), else charts/episodic_return."""
    from plastix.algorithms import algorithm_of_run

    scores = set()
    for config in configs:
        try:
            scores.add(algorithm_of_run(config)[0].score)
        except (PlastixError, KeyError, TypeError, ValueError):
            scores.add(None)
    if len(scores) == 1 and None not in scores and all(rows and next(iter(scores)) in rows[0] for _, rows in runs):
        return scores.pop()
    if all(rows and "charts/eval_metric" in rows[0] for _, rows in runs):
        return "charts/eval_metric"
    return "charts/episodic_return"


def run_plot(args: PlotArgs) -> int:
    if not args.runs:
        raise PlastixError("give at least one run directory.")
    if args.trace or args.path:
        return run_pictures(args)
    dirs = [Path(r) for r in args.runs]
    runs, configs = [], []
    for d in dirs:
        config, rows = read_config(d), read_metrics(d)
        configs.append(config)
        runs.append((run_label(d, config), rows))
    from plastix.cli.outputs import atomic_output, output_file

    out = output_file(args.out if args.out else dirs[0] / "compare.png", args.force, ".png")
    from plastix.plot import plot_runs

    metric = args.metric or default_metric(runs, configs)
    baseline = common_baseline(configs) if metric == "charts/eval_metric" else None
    with atomic_output(out) as tmp:
        plot_runs(runs, [metric], tmp, baseline=baseline, band=args.band)
    print(f"wrote {out}")
    for d, config in zip(dirs, configs, strict=True):
        cfg = config.get("config", {})
        if (cfg.get("algo") or cfg.get("args", {}).get("algo")) in ("q-learning", "sarsa"):
            for path in plot_grid(d, args.force):
                print(f"wrote {path}")
        if (cfg.get("algo") == "seq2seq" and cfg.get("resolved", {}).get("attention", "none") != "none"
                and (d / "params.npz").exists()):  # an encoder-decoder's attention weights (plastix.seq2seq.plots)
            from plastix.seq2seq.plots import ATTENTION_PNG, plot_attention

            if (d / ATTENTION_PNG).exists() and not args.force:
                print(f"kept {d / ATTENTION_PNG} (give --force to redraw)")
            else:
                print(f"wrote {plot_attention(d)}")
    return 0


GRID_PICTURES = ("policy.png", "curves.png")  # what plastix.mdp.plots.plot_grid_run draws into a grid run


def plot_grid(run_dir: Path, force: bool = False) -> list[Path]:
    """A grid run's own pictures, redrawn with ``force``; kept (and said so) when they exist."""
    from plastix.mdp.plots import plot_grid_run

    kept = [run_dir / name for name in GRID_PICTURES if (run_dir / name).exists()]
    if kept and not force:
        print(f"kept {', '.join(map(str, kept))} (give --force to redraw)")
        return []
    return list(plot_grid_run(run_dir))


def run_pictures(args: PlotArgs) -> int:
    """``--trace`` / ``--path``: one episode's pictures per run (``plastix.rl.plots``)."""
    from plastix.rl.plots import plot_run_pictures

    for d in args.runs:
        for path in plot_run_pictures(Path(d), args.trace, args.path, args.seed_index, args.episode_seed,
                                      force=args.force):
            print(f"wrote {path}")
    return 0
