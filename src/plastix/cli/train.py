"""``plastix train TASK``: sequence tasks go to the supervised trainer, grid tasks to the
tabular RL trainer of ``plastix.mdp``. Writes a run directory (see ``plastix.runs``)."""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from plastix.cli.args import TrainArgs, parse_options
from plastix.errors import PlastixError, check_finite_float, check_positive_int, unknown_name
from plastix.runs import (RunControl, SegmentSaver, default_run_name, log_line, open_run, plan_segments,
                          save_params, tee_log, write_metrics)
from plastix.runs import metric_rows as _metric_rows
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
    args = dataclasses.replace(args, batch_size=or_default(args.batch_size, 32))
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
        batch_size=args.batch_size, lr=task.default_lr if args.lr is None else args.lr, lr_end=args.lr_end,
        clip_norm=clip_norm(args.clip_norm, 1.0), num_updates=(num_updates // per_log) * per_log,
        updates_per_log=per_log, dtype=args.dtype, p_teacher=args.teacher_forcing,
        core_options=parse_core_options(args),
    )
    validate(config)
    return config


def clip_norm(flag: float | None, default: float) -> float | None:
    """``--clip-norm``: None = the task's default, 0 = no clipping, else the norm."""
    if flag is None:
        return default
    return None if flag == 0 else flag


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
    if args.resume is None and args.out is not None and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise PlastixError(f"run directory {args.out!r} already exists and is not empty; choose another --out "
                           "(or continue it with --resume).")
    return list(range(args.seed, args.seed + args.seeds))


# flags that may differ on --resume (they do not change the training): the rest must be absent or equal
RESUME_FREE = ("resume", "quiet", "no_plot", "keep_checkpoints", "max_skipped", "tensorboard")
DQN_ONLY = ("double", "dueling", "per", "n_step", "buffer_size", "target_every", "learning_starts", "train_every",
            "epsilon_start", "epsilon_end", "exploration_fraction", "per_alpha", "per_beta", "loss", "optimizer",
            "burn_in")


def resume_args(args: TrainArgs) -> TrainArgs:
    """``--resume RUN_DIR``: the arguments saved in the run's config.json (the source of truth),
    with the flags of ``RESUME_FREE`` taken from the command line when given. Any other flag
    must be absent (its default) or equal to the saved one; PlastixError names those that differ."""
    from plastix.runs import read_config

    path = Path(args.resume)
    if not path.is_dir():
        raise PlastixError(f"--resume {args.resume!r}: no such run directory.")
    saved_dict = read_config(path).get("config", {}).get("args")
    if not isinstance(saved_dict, dict):
        raise PlastixError(f"{str(path)!r} has no saved arguments in its config.json; it cannot be resumed.")
    fields = {f.name: f for f in dataclasses.fields(TrainArgs)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in saved_dict.items() if k in fields}
    saved = TrainArgs(**values)
    default = TrainArgs(task=saved.task)
    differ = [f"--{name.replace('_', '-')} {getattr(args, name)!r} (run has {getattr(saved, name)!r})"
              for name in fields if name not in RESUME_FREE and getattr(args, name) != getattr(default, name)
              and getattr(args, name) != getattr(saved, name)]
    if differ:
        raise PlastixError(f"--resume {str(path)!r} continues the run with its saved config; these flags differ from "
                           f"it: {'; '.join(differ)}. Drop them (or start a new run with --out).")
    free = {name: getattr(args, name) if getattr(args, name) != getattr(default, name) else getattr(saved, name)
            for name in RESUME_FREE if name != "resume"}
    return dataclasses.replace(saved, **free, resume=str(path))


def _check_range(name: str, value, low: float, high: float, low_open: bool = False) -> None:
    if value is None:
        return
    check_finite_float(name, value)
    if value < low or value > high or (low_open and value == low):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise PlastixError(f"--{name.replace('_', '-')} must lie in {interval}, got {value!r}.")


def validate_args(args: TrainArgs) -> None:
    """Reject impossible values and combinations of ``plastix train`` flags before anything is
    built or compiled (each trainer's ``validate`` then checks its resolved config)."""
    for name in ("hidden", "seq_len", "total_steps", "log_every", "episodes", "trunc_window", "trunc_stride", "batch_size",
                 "buffer_size", "target_every", "train_every", "checkpoint_every"):
        if getattr(args, name) is not None:
            check_positive_int(name, getattr(args, name))
    for name in ("seeds", "keep_checkpoints", "n_step"):
        check_positive_int(name, getattr(args, name))
    for name in ("seed", "max_skipped", "burn_in", "learning_starts"):
        value = getattr(args, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise PlastixError(f"--{name.replace('_', '-')} must be a non-negative integer, got {value!r}.")
    if args.lr is not None and not (check_finite_float("lr", args.lr) > 0):
        raise PlastixError(f"--lr must be a positive number, got {args.lr!r}.")
    if args.clip_norm is not None and not (check_finite_float("clip_norm", args.clip_norm) >= 0):
        raise PlastixError(f"--clip-norm must be a positive number (or 0: no clipping), got {args.clip_norm!r}.")
    for name in ("gamma", "teacher_forcing", "epsilon", "epsilon_start", "epsilon_end", "per_beta"):
        _check_range(name, getattr(args, name), 0.0, 1.0)
    _check_range("exploration_fraction", args.exploration_fraction, 0.0, 1.0, low_open=True)
    _check_range("lr_end", args.lr_end, 0.0, float("inf"))
    for name in ("value_coef", "entropy_coef", "per_alpha"):
        _check_range(name, getattr(args, name), 0.0, float("inf"))
    if args.dtype not in ("float32", "float64"):
        raise unknown_name("dtype", args.dtype, ("float32", "float64"))
    if args.algo not in DQN_ALGOS:
        default = TrainArgs(task=args.task)
        extra = [f"--{n.replace('_', '-')}" for n in DQN_ONLY if getattr(args, n) != getattr(default, n)]
        if extra:
            raise PlastixError(f"{', '.join(extra)} only apply to --algo dqn (got --algo {args.algo!r}).")


def check_discrete_actions(algo: str, task: str, env) -> None:
    """a2c, reinforce and dqn choose among ``env.num_actions`` discrete actions: an
    environment without a positive integer ``num_actions`` (a continuous action space) is refused."""
    n = getattr(env, "num_actions", None)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 or getattr(env, "continuous", False):
        raise PlastixError(f"--algo {algo} needs a discrete action space, but task {task!r} has continuous actions "
                           f"(num_actions {n!r}).")


def rl_tasks() -> tuple[str, ...]:
    from plastix.envs import ENVS

    return tuple(ENVS)


def run_train(args: TrainArgs) -> int:
    """Entry point of ``plastix train``. Returns the exit code."""
    if args.resume is not None:
        args = resume_args(args)
    validate_args(args)
    if args.algo in DQN_ALGOS:
        return run_dqn(args)
    if args.task in grid_tasks():
        return run_grid(dataclasses.replace(args, algo=args.algo or GRID_DEFAULT_ALGO))
    if args.task.startswith("gymnasium:"):
        return run_host(args)
    if args.task in rl_tasks() or args.task.startswith("gymnax:"):
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
    control = open_run(args, default_run_name(config.task, config.core, args.algo), payload, seeds)
    run_dir = control.run_dir
    states, metrics, walls = train_with_progress(trainer, seeds, quiet=args.quiet, control=control,
                                                 metric_names=METRIC_NAMES)
    with tee_log(run_dir):
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
                        runner=None, control: RunControl | None = None, metric_names=None):
    """Train every seed (vmapped) in jitted segments, with a rich progress bar.

    ``units_per_log`` budget units per log point (default: sequences), ``status`` the metric
    shown (name, label), ``runner(trainer, seeds, segments, on_segment)`` the segmented driver
    (default ``plastix.train.supervised.run_segments``; any runner that calls ``run_segments``
    with ``seed_keys(seeds)`` gets checkpoints and resume). With ``control`` (``open_run``) a
    checkpoint, ``metrics.csv`` (columns ``metric_names``) and TensorBoard events are written
    after every segment, ``control.max_skipped`` is enforced, and ``control.resume`` continues
    from the newest checkpoint. Returns (final states (stacked over seeds), metrics
    {name: (S, num_logs)}, wall-clock seconds at each log point (num_logs,)).
    """
    from plastix.train.supervised import SegmentHooks, run_segments, seed_keys, segment_hooks

    config = trainer.setup.config
    plan = plan_segments(config.num_logs, control.checkpoint_every if control else None, SEGMENTS)
    prior = restore_run(trainer, seeds, control, plan) if control is not None and control.resume else None
    walls: list[float] = [] if prior is None else [float(w) for w in prior.walls]
    start = time.perf_counter() - (walls[-1] if walls else 0.0)
    per_log = config.updates_per_log * config.batch_size if units_per_log is None else units_per_log
    if runner is None:
        def runner(tr, sd, sg, cb):
            return run_segments(tr, seed_keys(sd), sg, cb)

    def record(done, part, bar=None, task_id=None):
        walls.extend([time.perf_counter() - start] * part["step"].shape[-1])
        if bar is not None:
            metric = float(np.nanmedian(part[status[0]][:, -1]))
            bar.update(task_id, completed=done * per_log, status=f"{status[1]} {metric:.4g}")

    saver = None
    if control is not None:
        saver = SegmentSaver(control, metric_names, walls, prior)
    hooks = SegmentHooks(None if prior is None else (prior.state, prior.done), saver)
    remaining = plan if prior is None else plan[prior.segment:]
    try:
        with segment_hooks(hooks):
            states, metrics = drive(runner, trainer, seeds, remaining, record, quiet, config, unit, per_log,
                                    0 if prior is None else prior.done)
    except PlastixError as err:
        if control is not None:
            log_line(control.run_dir, f"error: {err}")
        raise
    finally:
        if saver is not None:
            saver.close()
    if prior is not None:
        metrics = {k: np.concatenate([prior.metrics[k], metrics[k]], axis=-1) if metrics else prior.metrics[k]
                   for k in prior.metrics}
    return states, metrics, np.asarray(walls)


def drive(runner, trainer, seeds, segments, record, quiet, config, unit, per_log, done0):
    """Run ``runner`` under a rich progress bar (or quietly): (states, metrics of the segments)."""
    if quiet:
        return runner(trainer, seeds, segments, record)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit), TimeElapsedColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns) as bar:
        desc = f"{config.task} · {config.core} · {len(seeds)} seed(s)"
        task_id = bar.add_task(desc, total=config.num_logs * per_log, completed=done0 * per_log,
                               status="compiling…" if done0 == 0 else "resuming…")
        return runner(trainer, seeds, segments, lambda done, part: record(done, part, bar, task_id))


def restore_run(trainer, seeds: list[int], control: RunControl, plan: list[int]):
    """The newest checkpoint of ``control.run_dir``, checked against ``trainer``'s state."""
    import jax

    from plastix import checkpoint
    from plastix.train.supervised import seed_keys

    template = jax.eval_shape(jax.vmap(trainer.init), seed_keys(seeds))
    prior = checkpoint.restore(control.run_dir, template, control.config_digest)
    if prior.segment > len(plan) or sum(plan[:prior.segment]) != prior.done:
        raise PlastixError(f"checkpoint {str(prior.path)!r} ends at log point {prior.done}, which is not a segment "
                           f"boundary of this run's plan {plan} (was --checkpoint-every changed?).")
    return prior


def metric_rows(metrics: dict, seeds: list[int], walls: np.ndarray, names=METRIC_NAMES) -> list[dict]:
    """Long format: one row per (log point, seed) with step, wall_time, seed and the metrics."""
    return _metric_rows(metrics, seeds, walls, names)


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
                   "losses/skipped_updates",
                   # plasticity diagnostics (plastix.rl.diagnostics; NaN for non-plastic cores)
                   "diagnostics/eta", "diagnostics/mean_abs_M", "diagnostics/hebb_at_clip", "diagnostics/max_abs_E")


class RLDefaults(NamedTuple):
    hidden: int
    lr: float
    updates: int  # default budget = updates × episodes per update × episode length
    clip: float = 2.0  # global gradient-norm clip (Backpropamine: 2.0 cue-reward, 4.0 maze)
    gamma: float = 0.9  # Backpropamine's --gr
    value_coef: float = 0.1  # Backpropamine's --blossv
    entropy_coef: float = 0.03  # Backpropamine's --bent
    core: str = "neuromod-rnn"
    episodes: int = 30  # B, Backpropamine's --bs


# (task, preset) -> defaults; (task, None) for any other preset, ("*", None) for outside
# environments (gymnax:<id>). cue-reward default/paper and meta-maze: Backpropamine's released
# settings; the others measured (docs/rl-training.md, docs/environments.md).
RL_DEFAULTS = {
    ("cue-reward", None): RLDefaults(200, 1e-4, 200),
    ("cue-reward", "easy"): RLDefaults(50, 3e-3, 1500),
    ("cue-reward", "quick"): RLDefaults(64, 1e-3, 300),  # the main job: 5.3 of a possible ~6 after 50 updates
    ("meta-maze", None): RLDefaults(100, 1e-4, 200, clip=4.0),
    ("bandit", None): RLDefaults(16, 3e-2, 100),
    ("bandit", "meta"): RLDefaults(48, 3e-3, 500),
    ("cartpole", None): RLDefaults(32, 1e-2, 300, clip=1.0, gamma=0.99, value_coef=0.5, entropy_coef=0.0,
                                   core="mlp", episodes=32),
    ("*", None): RLDefaults(64, 3e-3, 300, clip=1.0, gamma=0.99, value_coef=0.5, entropy_coef=0.01, core="gru",
                            episodes=16),
}
RL_GAMMA = 0.9  # Backpropamine's --gr


def rl_defaults(task: str, preset: str) -> RLDefaults:
    """The defaults of (task, preset): the preset's, else the task's, else those of outside envs."""
    return RL_DEFAULTS.get((task, preset), RL_DEFAULTS.get((task, None), RL_DEFAULTS[("*", None)]))


def or_default(value, default):
    return default if value is None else value


def resolve_rl_config(args: TrainArgs):
    """TrainArgs -> a validated RLConfig (the task's and preset's defaults filled in)."""
    from plastix.envs import make_env
    from plastix.rl.trainer import RLConfig, validate

    if args.seq_len is not None or args.teacher_forcing or args.grad != "bptt":
        raise PlastixError(f"--seq-len, --teacher-forcing and --grad are for sequence tasks; {args.task!r} is an "
                           "RL task (set its episode length with --env-opt episode_length=N).")
    settings = tuple(sorted(parse_options(args.env_opt, "environment settings").items()))
    env, env_params = make_env(args.task, args.preset, **dict(settings))
    check_discrete_actions(args.algo, args.task, env)
    defaults = rl_defaults(args.task, args.preset)
    episodes = or_default(args.episodes, defaults.episodes)
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
        batch_size=episodes, gamma=or_default(args.gamma, defaults.gamma),
        value_coef=or_default(args.value_coef, defaults.value_coef),
        entropy_coef=or_default(args.entropy_coef, defaults.entropy_coef), lr=or_default(args.lr, defaults.lr),
        lr_end=args.lr_end, clip_norm=clip_norm(args.clip_norm, defaults.clip),
        num_updates=(num_updates // per_log) * per_log, updates_per_log=per_log, dtype=args.dtype)
    validate(config)
    return config


def run_rl(args: TrainArgs) -> int:
    """``plastix train cue-reward|meta-maze|bandit``: a2c or reinforce (``plastix.rl.trainer``)."""
    from plastix.rl.trainer import ALGOS, make_trainer, train_seeds

    if args.algo is not None and args.algo not in ALGOS:
        raise unknown_name(f"algorithm for RL task {args.task!r}", args.algo, ALGOS)
    args = dataclasses.replace(args, algo=args.algo or "a2c",
                               core=args.core or rl_defaults(args.task, args.preset).core)
    if args.dtype == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)
    seeds = check_common(args)
    config = resolve_rl_config(args)
    trainer = make_trainer(config)  # errors before any file is written
    payload = {"args": dataclasses.asdict(args), "resolved": dataclasses.asdict(config)}
    control = open_run(args, default_run_name(config.task, config.core, config.algo), payload, seeds)
    run_dir = control.run_dir
    per_log = config.updates_per_log * config.batch_size * trainer.setup.num_steps
    states, metrics, walls = train_with_progress(
        trainer, seeds, quiet=args.quiet, units_per_log=per_log, status=("charts/episodic_return", "return"),
        unit="env steps", runner=train_seeds, control=control, metric_names=RL_METRIC_NAMES)
    with tee_log(run_dir):
        finish_rl(run_dir, args, config, states, metrics, walls, seeds)
    return 0


def run_host(args: TrainArgs) -> int:
    """``plastix train gymnasium:<id>``: a2c/reinforce with the rollout on the host, one seed
    after the other (``plastix.rl.host_loop``; Gymnasium environments cannot run inside jit)."""
    from plastix.rl.host_loop import train_host
    from plastix.rl.trainer import ALGOS

    if args.algo is not None and args.algo not in ALGOS:
        raise unknown_name(f"algorithm for the host-loop task {args.task!r}", args.algo, ALGOS)
    if args.resume is not None or args.tensorboard:
        raise PlastixError("--resume and --tensorboard are not available for gymnasium:<id> tasks (a host loop).")
    args = dataclasses.replace(args, algo=args.algo or "a2c", core=args.core or rl_defaults(args.task, args.preset).core)
    seeds = check_common(args)
    config = resolve_rl_config(args)
    payload = {"args": dataclasses.asdict(args), "resolved": dataclasses.asdict(config)}
    control = open_run(args, default_name=default_run_name(config.task.replace(":", "-"), config.core, config.algo),
                       payload=payload, seeds=seeds)
    start, per_log = time.perf_counter(), config.updates_per_log

    def progress(seed, update, metrics):
        if not args.quiet and (update + 1) % per_log == 0:
            print(f"seed {seed} update {update + 1}/{config.num_updates}: return "
                  f"{metrics['charts/episodic_return']:.4g} ({time.perf_counter() - start:.0f} s)", flush=True)

    runs = train_host(config, config.task, seeds, on_update=progress)
    metrics = {name: np.stack([np.asarray(r.metrics[name]).reshape(config.num_logs, per_log) for r in runs])
               for name in ("charts/episodic_return", "losses/policy_loss", "losses/value_loss", "losses/entropy")}
    metrics = {name: np.nanmean(v, axis=-1) for name, v in metrics.items()}
    T = trainer_steps(config)
    metrics["step"] = np.tile(np.arange(1, config.num_logs + 1) * per_log * config.batch_size * T, (len(seeds), 1))
    metrics["losses/skipped_updates"] = np.stack([np.asarray(r.state.opt_state.total_notfinite).repeat(config.num_logs)
                                                  for r in runs])
    walls = np.full(config.num_logs, time.perf_counter() - start)
    import jax

    params = jax.tree.map(lambda *xs: np.stack(xs), *[r.state.params for r in runs])
    states = SimpleNamespace(params=params)
    with tee_log(control.run_dir):
        finish_rl(control.run_dir, args, config, states, metrics, walls, seeds)
    return 0


def trainer_steps(config) -> int:
    """T, the steps per episode window of ``config``'s environment."""
    from plastix.envs import make_env

    return int(make_env(config.task, config.preset, **dict(config.env_settings))[1].episode_length)


def finish_rl(run_dir: Path, args: TrainArgs, config, states, metrics: dict, walls, seeds: list[int]) -> None:
    """Final files and summary of a policy-gradient run."""
    write_metrics(run_dir, metric_rows(metrics, seeds, walls, [n for n in RL_METRIC_NAMES if n in metrics]))
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
