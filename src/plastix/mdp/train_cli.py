"""``plastix train GRID-TASK --algo q-learning|sarsa``: tabular TD learning on a grid world, many
seeds vmapped in one jitted call; writes a run directory (config, metrics, Q tables, pictures).

Defaults: step size α decays linearly from ``--lr`` (0.5) to α/10 over the run; ε is constant
(``--epsilon``, 0.1); γ is the task's; the budget is the task's ``DEFAULT_STEPS``. Training
runs in jitted segments with a checkpoint after each (``plastix.cli.train.train_with_progress``),
so ``--resume`` continues it bitwise; ``wall_time`` is the clock at the end of each segment.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from plastix.cli.args import TrainArgs
from plastix.errors import PlastixError, check_positive_int, unknown_name
from plastix.mdp.grids import GRID_TASKS, make_grid
from plastix.mdp.planning import value_iteration
from plastix.mdp.plots import Q_TABLE, plot_grid_run
from plastix.mdp.tabular import (ALGOS, AgentState, TabularConfig, TrainMetrics, _window, env_reset,
                                  epsilon_greedy)
from plastix.runs import default_run_name, metric_rows, open_run, tee_log, write_metrics
from plastix.train.supervised import Trainer

DEFAULT_STEPS = {"lecture-grid": 5_000, "aima-4x3": 20_000, "cliff-walking": 20_000,
                 "frozenlake-4x4": 100_000, "frozenlake-8x8": 300_000}
DEFAULT_LR = 0.5
N_LOG_POINTS = 50
METRIC_NAMES = ("charts/episodic_return", "charts/greedy_return", "charts/episodes", "charts/epsilon",
                "charts/learning_rate", "losses/td_error")


def _log_every(total: int, requested: int | None) -> int:
    if requested is not None:
        check_positive_int("log_every", requested)
        if total % requested:
            raise PlastixError(f"--log-every ({requested}) must divide --total-steps ({total}).")
        return requested
    d = max(1, total // N_LOG_POINTS)
    while total % d:
        d -= 1
    return d


def tabular_config(args: TrainArgs, max_episode_steps: int) -> TabularConfig:
    """Validate ``plastix train`` arguments for a grid task and turn them into a TabularConfig."""
    if args.algo not in ALGOS:
        raise unknown_name("algorithm for grid tasks", args.algo, ALGOS)
    total = DEFAULT_STEPS[args.task] if args.total_steps is None else args.total_steps
    check_positive_int("total_steps", total)
    check_positive_int("seeds", args.seeds)
    if isinstance(args.seed, bool) or not isinstance(args.seed, int) or args.seed < 0:
        raise PlastixError(f"seed must be a non-negative integer, got {args.seed!r}.")
    lr = DEFAULT_LR if args.lr is None else args.lr
    if not (math.isfinite(lr) and 0.0 < lr <= 1.0):
        raise PlastixError(f"--lr (step size α) must be in (0, 1] for tabular learning, got {lr!r}.")
    if not (math.isfinite(args.epsilon) and 0.0 <= args.epsilon <= 1.0):
        raise PlastixError(f"--epsilon must be in [0, 1], got {args.epsilon!r}.")
    return TabularConfig(algo=args.algo, total_steps=total, lr=lr, lr_end=lr / 10, epsilon=args.epsilon,
                         log_every=_log_every(total, args.log_every), max_episode_steps=max_episode_steps)


class GridSetup(NamedTuple):
    """What ``plastix.cli.train.train_with_progress`` reads of a trainer's setup."""

    config: "GridRunConfig"
    mdp: Any


@dataclasses.dataclass(frozen=True)
class GridRunConfig:
    task: str
    core: str
    tabular: TabularConfig

    @property
    def num_logs(self) -> int:
        return self.tabular.total_steps // self.tabular.log_every


class GridState(NamedTuple):
    """The whole state of one seed's tabular run: the agent, the key of every log window
    (drawn up front exactly as ``plastix.mdp.tabular.train`` does) and the next window index."""

    agent: AgentState
    keys: jax.Array  # (num_logs, 2) raw PRNG keys
    window: jax.Array  # () int32


def metrics_dict(m: TrainMetrics) -> dict:
    """TrainMetrics (trailing log axis) -> namespaced metrics of the run directory."""
    return {"step": m.step, "charts/episodic_return": m.episodic_return, "charts/greedy_return": m.greedy_return,
            "charts/episodes": m.episodes, "charts/epsilon": m.epsilon, "charts/learning_rate": m.lr,
            "losses/td_error": m.td_error}


def grid_trainer(task_name: str, mdp, cfg: TabularConfig) -> Trainer:
    """Tabular Q-learning / SARSA as a ``Trainer(init, run, train, setup)`` so the shared driver
    segments, checkpoints and resumes it. ``train(key)`` equals ``plastix.mdp.tabular.train``
    window for window (same key splits, the same ``_window`` step)."""
    config = GridRunConfig(task_name, "tabular", cfg)
    n_logs = config.num_logs

    def init(key):
        k_init, k_run = jax.random.split(key)
        q0 = jnp.zeros((mdp.num_states, mdp.num_actions), mdp.R.dtype)
        env = env_reset(mdp)
        agent = AgentState(q0, jnp.zeros_like(q0), env, epsilon_greedy(k_init, q0[env.s], cfg.epsilon),
                           jnp.asarray(0.0, mdp.R.dtype), jnp.asarray(0, jnp.int32))
        return GridState(agent, jax.random.split(k_run, n_logs), jnp.zeros((), jnp.int32))

    def one_window(state: GridState, _=None):
        agent, m = _window(cfg, mdp, state.agent, state.keys[state.window])
        return GridState(agent, state.keys, state.window + 1), metrics_dict(m)

    def run(state, num_logs):
        return lax.scan(one_window, state, None, num_logs)

    def train(key):
        return run(init(key), n_logs)

    return Trainer(init, run, train, GridSetup(config, mdp))


def run_grid_training(args: TrainArgs) -> int:
    """Train ``args.seeds`` tabular agents on the grid task ``args.task``; returns the exit code.
    Runs in checkpointed segments like every trainer, so ``--resume`` continues it exactly."""
    from plastix.cli.train import train_with_progress

    if args.task not in GRID_TASKS:
        raise unknown_name("grid task", args.task, GRID_TASKS)
    task = make_grid(args.task, args.gamma)
    cfg = tabular_config(args, task.max_episode_steps)
    seeds = list(range(args.seed, args.seed + args.seeds))
    config = {"args": dataclasses.asdict(args),
              "resolved": {"task": args.task, "gamma": float(task.mdp.gamma), **dataclasses.asdict(cfg)}}
    trainer = grid_trainer(args.task, task.mdp, cfg)
    control = open_run(args, default_run_name(args.task, "tabular", args.algo), config, seeds)
    run_dir = control.run_dir
    states, metrics, walls = train_with_progress(
        trainer, seeds, quiet=args.quiet, units_per_log=cfg.log_every, status=("charts/greedy_return", "greedy"),
        unit="env steps", control=control, metric_names=METRIC_NAMES)
    with tee_log(run_dir):
        finish(run_dir, args, task, cfg, states, metrics, walls, seeds)
    return 0


def finish(run_dir, args: TrainArgs, task, cfg: TabularConfig, states: GridState, metrics: dict, walls, seeds) -> None:
    """Final files (metrics.csv, q_table.npy, summary.json, pictures) and the summary line."""
    write_metrics(run_dir, metric_rows(metrics, seeds, walls, METRIC_NAMES))
    np.save(run_dir / Q_TABLE, np.asarray(states.agent.q))
    v_star = float(value_iteration(task.mdp).values[task.mdp.start])
    returns = metrics["charts/episodic_return"]
    tail = returns[:, -max(1, returns.shape[1] // 5):]
    elapsed = float(walls[-1]) if len(walls) else 0.0
    summary = {"task": args.task, "algo": args.algo, "seeds": len(seeds), "steps_per_seed": cfg.total_steps,
               "gamma": float(task.mdp.gamma), "optimal_value_at_start": v_star,
               "online_return_last_20pct": float(np.nanmean(tail)),
               "greedy_return_final": float(np.mean(metrics["charts/greedy_return"][:, -1])),
               "seconds": elapsed}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    if not args.no_plot:
        plot_grid_run(run_dir)
    if not args.quiet:
        print(f"{args.algo} on {args.task}: {len(seeds)} seeds x {cfg.total_steps} steps in {elapsed:.1f} s; "
              f"online return (last 20%) {summary['online_return_last_20pct']:.2f}, greedy return "
              f"{summary['greedy_return_final']:.2f}, U*(start) = {v_star:.3f}; run saved to {run_dir}")
