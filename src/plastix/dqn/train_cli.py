"""``plastix train TASK --algo dqn [--double] [--dueling] [--per] [--n-step K] --seeds S``.

Resolves ``TrainArgs`` into a ``DQNConfig`` (the task's defaults filled in, ``DQN_DEFAULTS``),
trains every seed vmapped in jitted segments with a progress bar (checkpoints and ``--resume``
through ``plastix.cli.train.train_with_progress``), and writes the run directory: config.json,
metrics.csv (``DQN_METRIC_NAMES``), params.npz (the online network θ of every seed) and
curves.png. ``plastix eval RUN_DIR`` evaluates it with ``plastix.dqn.evaluate_run``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

import numpy as np

from plastix.dqn.config import DQNConfig, validate
from plastix.errors import PlastixError, check_positive_int

DQN_METRIC_NAMES = ("charts/episodic_return", "charts/episodic_length", "charts/epsilon", "losses/td_loss",
                    "losses/q_values", "losses/skipped_updates")
LOG_POINTS = 50
RECURRENT_SEQ_LEN = 8  # learning positions per window for a recurrent core (when --seq-len is not given)


class DQNDefaults(NamedTuple):
    total_steps: int
    buffer_size: int
    target_every: int
    learning_starts: int
    train_every: int
    hidden: int
    lr: float
    lr_end: float | None = None  # linear decay of the step size to this (None: constant)
    exploration_fraction: float = 0.5
    batch_size: int = 64
    clip_norm: float = 10.0


# Per task; "*" for any other (CleanRL's dqn.py settings where they fit; MinAtar: Young & Tian 2019).
DQN_DEFAULTS = {
    # tests/test_dqn_trainer.py: seeds 1 and 2 reach 500 (ε = 0, 10 episodes) with these
    "cartpole": DQNDefaults(100_000, 100_000, 500, 1_000, 2, 128, 1e-3, lr_end=0.0, exploration_fraction=0.1),
    "*": DQNDefaults(100_000, 10_000, 500, 1_000, 2, 64, 1e-3),
}
MINATAR_DEFAULTS = DQNDefaults(500_000, 100_000, 1_000, 5_000, 1, 128, 2.5e-4)


def dqn_defaults(task: str) -> DQNDefaults:
    if task.endswith("-MinAtar"):
        return MINATAR_DEFAULTS
    return DQN_DEFAULTS.get(task, DQN_DEFAULTS["*"])


def pick(value, default):
    return default if value is None else value


def round_budget(total: int, train_every: int, log_every: int | None) -> tuple[int, int]:
    """(total_steps, steps_per_log): the log interval a multiple of train_every, the budget a
    multiple of it (rounded down, at least one log point)."""
    per_log = max(1, total // LOG_POINTS) if log_every is None else log_every
    per_log = max(train_every, (per_log // train_every) * train_every)
    if total < per_log:
        raise PlastixError(f"total_steps ({total}) must be at least one log interval ({per_log} env steps).")
    return (total // per_log) * per_log, per_log


def resolve_dqn_config(args) -> DQNConfig:
    """TrainArgs -> a validated DQNConfig."""
    from plastix.cli.args import parse_options
    from plastix.cli.train import clip_norm, parse_core_options

    if args.teacher_forcing or args.grad != "bptt":
        raise PlastixError("--teacher-forcing and --grad are for sequence tasks, not --algo dqn.")
    d = dqn_defaults(args.task)
    core = args.core or "mlp"
    train_every = pick(args.train_every, d.train_every)
    total, per_log = round_budget(check_positive_int("total_steps", pick(args.total_steps, d.total_steps)),
                                  train_every, args.log_every)
    target_every = pick(args.target_every, d.target_every)
    config = DQNConfig(
        task=args.task, preset=args.preset,
        env_settings=tuple(sorted(parse_options(args.env_opt, "environment settings").items())),
        core=core, core_options=parse_core_options(args), hidden=pick(args.hidden, d.hidden),
        double=args.double, dueling=args.dueling, per=args.per, n_step=args.n_step,
        buffer_size=pick(args.buffer_size, d.buffer_size), batch_size=pick(args.batch_size, d.batch_size),
        gamma=pick(args.gamma, 0.99), lr=pick(args.lr, d.lr), lr_end=pick(args.lr_end, d.lr_end),
        optimizer=args.optimizer, loss=args.loss, clip_norm=clip_norm(args.clip_norm, d.clip_norm),
        target_every=target_every, learning_starts=pick(args.learning_starts, d.learning_starts),
        train_every=train_every, epsilon_start=args.epsilon_start, epsilon_end=args.epsilon_end,
        exploration_fraction=pick(args.exploration_fraction, d.exploration_fraction), per_alpha=args.per_alpha, per_beta=args.per_beta,
        burn_in=args.burn_in, seq_len=pick(args.seq_len, 1 if core == "mlp" else RECURRENT_SEQ_LEN),
        total_steps=total, steps_per_log=per_log, dtype=args.dtype)
    validate(config)
    return config


def run_dqn_training(args) -> int:
    """Entry point of ``plastix train TASK --algo dqn``. Returns the exit code."""
    from plastix.cli.train import check_common, train_with_progress
    from plastix.dqn.trainer import make_trainer
    from plastix.runs import default_run_name, open_run, tee_log

    if args.dtype == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)
    seeds = check_common(args)
    config = resolve_dqn_config(args)
    trainer = make_trainer(config)  # builds the env and network: errors before any file is written
    payload = {"args": dataclasses.asdict(args), "resolved": dataclasses.asdict(config)}
    control = open_run(args, default_run_name(config.task.replace(":", "-"), config.core, "dqn"), payload, seeds)
    states, metrics, walls = train_with_progress(
        trainer, seeds, quiet=args.quiet, units_per_log=config.steps_per_log,
        status=("charts/episodic_return", "return"), unit="env steps", control=control,
        metric_names=DQN_METRIC_NAMES)
    with tee_log(control.run_dir):
        finish(control.run_dir, args, config, states, metrics, walls, seeds)
    return 0


def finish(run_dir: Path, args, config: DQNConfig, states, metrics: dict, walls, seeds: list[int]) -> None:
    """metrics.csv, params.npz (online θ), curves.png and a one-line summary per seed."""
    from plastix.runs import metric_rows, save_params, write_metrics

    write_metrics(run_dir, metric_rows(metrics, seeds, walls, DQN_METRIC_NAMES))
    save_params(run_dir, states.params)
    if not args.no_plot:
        plot_dqn_run(run_dir, config)
    final = np.asarray(metrics["charts/episodic_return"])[:, -1]
    print(f"{config.task}, {config.core}, dqn{flags_label(config)}: last mean episode return (training, ε-greedy) "
          "per seed " + ", ".join(f"{s}: {v:.4g}" for s, v in zip(seeds, final, strict=True)))
    print(f"run directory: {run_dir}  (greedy evaluation: plastix eval {run_dir})")


def flags_label(config: DQNConfig) -> str:
    flags = [name for name in ("double", "dueling", "per") if getattr(config, name)]
    if config.n_step > 1:
        flags.append(f"n-step {config.n_step}")
    return f" ({', '.join(flags)})" if flags else ""


def plot_dqn_run(run_dir: Path, config: DQNConfig) -> Path:
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics

    return plot_runs(
        [(config.core, read_metrics(run_dir))], ["charts/episodic_return", "losses/td_loss"], run_dir / "curves.png",
        ylabels=["episode return (ε-greedy)", f"TD loss ({config.loss})"],
        title=f"{config.task}, {config.core}, dqn{flags_label(config)}, hidden {config.hidden}")


# ---------------------------------------------------------------- plastix eval
def load_dqn_config(run_dir: Path) -> tuple[DQNConfig, list[int]]:
    """The resolved DQNConfig and seeds of a dqn run directory (PlastixError otherwise)."""
    from plastix.runs import read_config

    payload = read_config(run_dir)
    resolved = payload.get("config", {}).get("resolved")
    names = {f.name for f in dataclasses.fields(DQNConfig)}
    if not isinstance(resolved, dict) or set(resolved) != names:
        raise PlastixError(f"{str(run_dir)!r} is not a run of --algo dqn.")
    for key in ("env_settings", "core_options"):
        resolved[key] = tuple(tuple(pair) for pair in resolved[key])
    return DQNConfig(**resolved), list(payload["seeds"])


def is_dqn_run(run_dir: Path) -> bool:
    try:
        load_dqn_config(run_dir)
    except (PlastixError, OSError, KeyError, TypeError, ValueError):
        return False
    return True


def evaluate_run(run_dir: str | Path, episodes: int = 10, seed: int = 0, epsilon: float = 0.0) -> dict:
    """Mean return of ``episodes`` fresh episodes per trained seed, acting greedily (ε = 0)."""
    import jax

    from plastix.dqn.trainer import build_setup, evaluate
    from plastix.runs import load_params

    check_positive_int("episodes", episodes)
    config, seeds = load_dqn_config(Path(run_dir))
    if config.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    setup = build_setup(config)
    template = setup.network.init(jax.random.PRNGKey(0))
    run = jax.jit(lambda p, k: evaluate(setup, p, k, episodes, epsilon))
    per_seed = [float(np.mean(np.asarray(run(load_params(Path(run_dir), template, seed_index=i),
                                                 jax.random.PRNGKey(seed))))) for i in range(len(seeds))]
    return {"mean_return": float(np.mean(per_seed)), "episodes": episodes, "seeds": seeds, "per_seed": per_seed,
            "policy": "greedy" if epsilon == 0 else f"epsilon-greedy {epsilon}", "task": config.task,
            "preset": config.preset, "core": config.core, "algo": "dqn" + flags_label(config)}
