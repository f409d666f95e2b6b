"""``plastix train TASK``: sequence tasks go to the supervised trainer, grid tasks to the
tabular RL trainer of ``plastix.mdp``. Writes a run directory (see ``plastix.runs``)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from plastix.cli.args import TrainArgs, parse_options
from plastix.errors import PlastixError, check_positive_int, unknown_name
from plastix.runs import create_run_dir, default_run_name, save_params, write_metrics
from plastix.tasks import SEQUENCE_TASKS, TaskSpec, get_task

LOG_POINTS = 50  # default number of log points per run
SEGMENTS = 10  # jitted segments (progress-bar updates) per run
GRID_DEFAULT_ALGO = "q-learning"
DQN_ALGOS = ("dqn",)  # value-based deep RL (plastix.dqn); flags --double --dueling --per --n-step
METRIC_NAMES = ("losses/train_loss", "charts/eval_loss", "charts/eval_metric", "charts/baseline", "losses/skipped_updates")


def grid_tasks() -> tuple[str, ...]:
    try:
        import plastix.mdp as mdp
    except ImportError:
        return ()
    return tuple(getattr(mdp, "GRID_TASKS", ()))


def resolve_config(args: TrainArgs):
    """TrainArgs -> a validated SupervisedConfig (defaults of the task filled in)."""
    from plastix.train.supervised import SupervisedConfig, validate

    task = get_task(args.task)
    if args.algo not in (None, "supervised"):
        raise PlastixError(f"task {args.task!r} is a supervised sequence task: use --algo supervised, got {args.algo!r}.")
    check_positive_int("batch_size", args.batch_size)
    budget = task.default_budget if args.total_steps is None else args.total_steps
    check_positive_int("total_steps", budget)
    num_updates = budget // args.batch_size
    if num_updates < 1:
        raise PlastixError(f"total_steps ({budget}) must be at least batch_size ({args.batch_size}).")
    if args.log_every is None:
        per_log = max(1, num_updates // LOG_POINTS)
    else:
        check_positive_int("log_every", args.log_every)
        per_log = max(1, round(args.log_every / args.batch_size))
    per_log = min(per_log, num_updates)
    config = SupervisedConfig(
        task=task.name, core=args.core or "lstm", hidden=64 if args.hidden is None else args.hidden, grad=args.grad,
        trunc_window=args.trunc_window, trunc_stride=args.trunc_stride,
        seq_len=task.default_T if args.seq_len is None else args.seq_len,
        batch_size=args.batch_size, lr=task.default_lr if args.lr is None else args.lr,
        clip_norm=args.clip_norm, num_updates=(num_updates // per_log) * per_log,
        updates_per_log=per_log, dtype=args.dtype, p_teacher=args.teacher_forcing,
        core_options=parse_core_options(args),
    )
    validate(config)
    return config


def parse_core_options(args: TrainArgs) -> tuple[tuple[str, object], ...]:
    """``--modulation`` and ``--core-opt KEY=VALUE`` -> sorted (key, value) pairs (hashable, for
    the frozen config). The core itself validates option names and values."""
    options = parse_options(args.core_opt)
    if args.modulation is not None:
        options["modulation"] = args.modulation
    return tuple(sorted(options.items()))


def check_common(args: TrainArgs) -> list[int]:
    """Flags shared by every trainer; returns the seed list."""
    check_positive_int("seeds", args.seeds)
    if isinstance(args.seed, bool) or not isinstance(args.seed, int) or args.seed < 0:
        raise PlastixError(f"seed must be a non-negative integer, got {args.seed!r}.")
    if args.resume is not None:
        raise PlastixError("--resume is not supported by the supervised trainer yet; start a new run with --out.")
    if args.out is not None and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise PlastixError(f"run directory {args.out!r} already exists and is not empty; choose another --out.")
    return list(range(args.seed, args.seed + args.seeds))


def rl_tasks() -> tuple[str, ...]:
    from plastix.envs import ENVS

    return tuple(ENVS)


def run_train(args: TrainArgs) -> int:
    """Entry point of ``plastix train``. Returns the exit code."""
    if args.algo in DQN_ALGOS:
        return run_dqn(args)
    if args.task in grid_tasks():
        return run_grid(dataclasses.replace(args, algo=args.algo or GRID_DEFAULT_ALGO))
    if args.task in rl_tasks():
        return run_rl(args)
    if args.task not in SEQUENCE_TASKS:
        raise unknown_name("task", args.task, [*SEQUENCE_TASKS, *grid_tasks(), *rl_tasks()])
    args = dataclasses.replace(args, algo=args.algo or "supervised", core=args.core or "lstm",
                               hidden=64 if args.hidden is None else args.hidden)
    if args.dtype == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)
    seeds = check_common(args)
    config = resolve_config(args)
    from plastix.train.supervised import make_trainer

    trainer = make_trainer(config)  # builds and traces the model: errors before any file is written
    payload = {"args": dataclasses.asdict(args), "resolved": dataclasses.asdict(config)}
    run_dir = create_run_dir(args.out, default_run_name(config.task, config.core, args.algo), payload, seeds)
    states, metrics, walls = train_with_progress(trainer, seeds, quiet=args.quiet)
    write_metrics(run_dir, metric_rows(metrics, seeds, walls))
    save_params(run_dir, states.params)
    if not args.no_plot:
        plot_run(run_dir, get_task(config.task), config)
    print_summary(run_dir, get_task(config.task), config, metrics, seeds)
    return 0


def run_grid(args: TrainArgs) -> int:
    try:
        from plastix.mdp.train_cli import run_grid_training
    except ImportError as err:
        raise PlastixError(f"grid task {args.task!r} needs plastix.mdp.train_cli, which is not available ({err}).") from None
    return int(run_grid_training(args) or 0)


def run_dqn(args: TrainArgs) -> int:
    """``plastix train TASK --algo dqn``: the DQN family (``plastix.dqn.train_cli``)."""
    from plastix.dqn.train_cli import run_dqn_training

    return int(run_dqn_training(args) or 0)


def train_with_progress(trainer, seeds: list[int], quiet: bool = False, *, units_per_log: int | None = None,
                        status: tuple[str, str] = ("charts/eval_metric", "eval"), unit: str = "sequences",
                        runner=None):
    """Train every seed (vmapped) in ``SEGMENTS`` jitted segments, with a rich progress bar.

    ``units_per_log`` budget units per log point (default: sequences), ``status`` the metric
    shown (name, label), ``runner(trainer, seeds, segments, on_segment)`` the segmented driver
    (default ``plastix.train.supervised.run_segments``). Returns (final states (stacked over
    seeds), metrics {name: (S, num_logs)}, wall-clock seconds at each log point (num_logs,)).
    """
    from plastix.train.supervised import run_segments, seed_keys, split_logs

    config = trainer.setup.config
    segments = split_logs(config.num_logs, SEGMENTS)
    walls: list[float] = []
    start = time.perf_counter()
    per_log = config.updates_per_log * config.batch_size if units_per_log is None else units_per_log
    if runner is None:
        def runner(tr, sd, sg, cb):
            return run_segments(tr, seed_keys(sd), sg, cb)

    def record(done, part, bar=None, task_id=None):
        walls.extend([time.perf_counter() - start] * part["step"].shape[-1])
        if bar is not None:
            metric = float(np.nanmedian(part[status[0]][:, -1]))
            bar.update(task_id, completed=done * per_log, status=f"{status[1]} {metric:.4g}")

    if quiet:
        states, metrics = runner(trainer, seeds, segments, record)
        return states, metrics, np.asarray(walls)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit), TimeElapsedColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns) as bar:
        desc = f"{config.task} · {config.core} · {len(seeds)} seed(s)"
        task_id = bar.add_task(desc, total=config.num_logs * per_log, status="compiling…")
        states, metrics = runner(trainer, seeds, segments, lambda done, part: record(done, part, bar, task_id))
    return states, metrics, np.asarray(walls)


def metric_rows(metrics: dict, seeds: list[int], walls: np.ndarray, names=METRIC_NAMES) -> list[dict]:
    """Long format: one row per (log point, seed) with step, wall_time, seed and the metrics."""
    rows = []
    for i in range(metrics["step"].shape[-1]):
        for s, seed in enumerate(seeds):
            row = {"step": int(metrics["step"][s, i]), "wall_time": round(float(walls[i]), 3), "seed": seed}
            row.update({name: float(metrics[name][s, i]) for name in names})
            rows.append(row)
    return rows


def plot_run(run_dir: Path, task: TaskSpec, config) -> Path:
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics

    rows = read_metrics(run_dir)
    return plot_runs(
        [(config.core, rows)], ["charts/eval_metric", "losses/train_loss"], run_dir / "curves.png",
        baseline=task.baseline(config.seq_len), logy=[not task.higher_is_better, True],
        ylabels=[f"eval {task.metric}", "train loss (SeqModel)"],
        title=f"{task.name} (T={config.seq_len}), {config.core}, hidden {config.hidden}",
    )


def print_summary(run_dir: Path, task: TaskSpec, config, metrics: dict, seeds: list[int]) -> None:
    final = metrics["charts/eval_metric"][:, -1]
    skipped = metrics["losses/skipped_updates"][:, -1]
    print(f"{task.name}: final eval {task.metric} per seed "
          + ", ".join(f"{s}: {v:.4g}" for s, v in zip(seeds, final, strict=True))
          + f" (median {np.nanmedian(final):.4g}; baseline {task.baseline(config.seq_len):.4g})")
    if np.any(skipped > 0):
        print(f"skipped updates (non-finite gradient) per seed: {skipped.tolist()}")
    print(f"run directory: {run_dir}")
    bad = [seed for seed, value in zip(seeds, final, strict=True) if not np.isfinite(value)]
    if bad:
        raise PlastixError(
            f"the final eval {task.metric} is not finite for seed(s) {bad} (expected a finite number; "
            f"skipped non-finite updates per seed: {skipped.tolist()}). Metrics and parameters are kept in "
            f"{run_dir}; try a smaller --lr or --clip-norm."
        )


# ---------------------------------------------------------------- policy-gradient RL tasks
RL_METRIC_NAMES = ("charts/episodic_return", "losses/policy_loss", "losses/value_loss", "losses/entropy",
                   "losses/skipped_updates")


class RLDefaults(NamedTuple):
    hidden: int
    lr: float
    updates: int  # default budget = updates × episodes per update × episode length


# (task, preset) -> defaults; ("task", None) for any other preset. cue-reward default/paper:
# Backpropamine's released settings (hidden 200, Adam 1e-4); easy: measured in docs/rl-training.md.
RL_DEFAULTS = {
    ("cue-reward", None): RLDefaults(200, 1e-4, 200),
    ("cue-reward", "easy"): RLDefaults(50, 3e-3, 1500),
    ("meta-maze", None): RLDefaults(100, 1e-4, 200),
    ("bandit", None): RLDefaults(16, 3e-2, 100),
    ("bandit", "meta"): RLDefaults(48, 3e-3, 500),
}
RL_GAMMA = 0.9  # Backpropamine's --gr


def rl_defaults(task: str, preset: str) -> RLDefaults:
    return RL_DEFAULTS.get((task, preset), RL_DEFAULTS[(task, None)])


def resolve_rl_config(args: TrainArgs):
    """TrainArgs -> a validated RLConfig (the task's and preset's defaults filled in)."""
    from plastix.envs import make_env
    from plastix.rl.trainer import RLConfig, validate

    if args.seq_len is not None or args.teacher_forcing or args.grad != "bptt":
        raise PlastixError(f"--seq-len, --teacher-forcing and --grad are for sequence tasks; {args.task!r} is an "
                           "RL task (set its episode length with --env-opt episode_length=N).")
    settings = tuple(sorted(parse_options(args.env_opt, "environment settings").items()))
    _, env_params = make_env(args.task, args.preset, **dict(settings))
    defaults = rl_defaults(args.task, args.preset)
    episodes = 30 if args.episodes is None else args.episodes
    check_positive_int("episodes", episodes)
    per_update = episodes * int(env_params.episode_length)  # environment steps per update
    budget = defaults.updates * per_update if args.total_steps is None else args.total_steps
    check_positive_int("total_steps", budget)
    num_updates = budget // per_update
    if num_updates < 1:
        raise PlastixError(f"total_steps ({budget}) must be at least episodes × episode length ({per_update}).")
    per_log = max(1, num_updates // LOG_POINTS) if args.log_every is None else max(
        1, round(check_positive_int("log_every", args.log_every) / per_update))
    per_log = min(per_log, num_updates)
    config = RLConfig(
        task=args.task, preset=args.preset, env_settings=settings, core=args.core, core_options=parse_core_options(args),
        hidden=defaults.hidden if args.hidden is None else args.hidden, algo=args.algo, baseline=args.baseline,
        batch_size=episodes, gamma=RL_GAMMA if args.gamma is None else args.gamma, value_coef=args.value_coef,
        entropy_coef=args.entropy_coef, lr=defaults.lr if args.lr is None else args.lr, clip_norm=args.clip_norm,
        num_updates=(num_updates // per_log) * per_log, updates_per_log=per_log, dtype=args.dtype)
    validate(config)
    return config


def run_rl(args: TrainArgs) -> int:
    """``plastix train cue-reward|meta-maze|bandit``: a2c or reinforce (``plastix.rl.trainer``)."""
    from plastix.rl.trainer import ALGOS, make_trainer, train_seeds

    if args.algo is not None and args.algo not in ALGOS:
        raise unknown_name(f"algorithm for RL task {args.task!r}", args.algo, ALGOS)
    args = dataclasses.replace(args, algo=args.algo or "a2c", core=args.core or "neuromod-rnn")
    if args.resume is not None:
        raise PlastixError("--resume is not supported by the a2c/reinforce trainer yet; start a new run with --out.")
    if args.dtype == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)
    seeds = check_common(args)
    config = resolve_rl_config(args)
    trainer = make_trainer(config)  # errors before any file is written
    payload = {"args": dataclasses.asdict(args), "resolved": dataclasses.asdict(config)}
    run_dir = create_run_dir(args.out, default_run_name(config.task, config.core, config.algo), payload, seeds)
    per_log = config.updates_per_log * config.batch_size * trainer.setup.num_steps
    states, metrics, walls = train_with_progress(
        trainer, seeds, quiet=args.quiet, units_per_log=per_log, status=("charts/episodic_return", "return"),
        unit="env steps", runner=train_seeds)
    write_metrics(run_dir, metric_rows(metrics, seeds, walls, RL_METRIC_NAMES))
    save_params(run_dir, states.params)
    if not args.no_plot:
        plot_rl_run(run_dir, config)
    final = metrics["charts/episodic_return"][:, -1]
    print(f"{config.task} ({config.preset}), {config.core}, {config.algo}: final mean episode reward per seed "
          + ", ".join(f"{s}: {v:.4g}" for s, v in zip(seeds, final, strict=True)))
    skipped = metrics["losses/skipped_updates"][:, -1]
    if np.any(skipped > 0):
        print(f"skipped updates (non-finite gradient) per seed: {skipped.tolist()}")
    print(f"run directory: {run_dir}")
    return 0


def plot_rl_run(run_dir: Path, config) -> Path:
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics

    baseline = 0.0 if config.task == "cue-reward" else None  # chance: a random answer at Go
    return plot_runs(
        [(config.core, read_metrics(run_dir))], ["charts/episodic_return", "losses/entropy"], run_dir / "curves.png",
        baseline=baseline, ylabels=["mean episode reward", "policy entropy per step"],
        title=f"{config.task} ({config.preset}), {config.core}, {config.algo}, hidden {config.hidden}",
    )


__all__ = ["TrainArgs", "run_train"]
