"""``plastix train GRID-TASK --algo q-learning|sarsa``: tabular TD learning on a grid world, many
seeds vmapped in one jitted call; writes a run directory (config, metrics, Q tables, pictures).

Defaults: step size α decays linearly from ``--lr`` (0.5) to α/10 over the run; ε is constant
(``--epsilon``, 0.1); γ is the task's; the budget is the task's ``DEFAULT_STEPS``. The
``wall_time`` column is the time of the one jitted call spread evenly over the log points
(training runs as a single XLA program, so no finer clock exists).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any

import jax
import numpy as np

from plastix.cli.args import TrainArgs
from plastix.errors import PlastixError, check_positive_int, unknown_name
from plastix.mdp.grids import GRID_TASKS, make_grid
from plastix.mdp.planning import value_iteration
from plastix.mdp.plots import Q_TABLE, plot_grid_run
from plastix.mdp.tabular import ALGOS, TabularConfig, train_seeds
from plastix.runs import create_run_dir, default_run_name, write_metrics

DEFAULT_STEPS = {"lecture-grid": 5_000, "aima-4x3": 20_000, "cliff-walking": 20_000,
                 "frozenlake-4x4": 100_000, "frozenlake-8x8": 300_000}
DEFAULT_LR = 0.5
N_LOG_POINTS = 50


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


def _rows(metrics, seeds: list[int], elapsed: float, total: int) -> list[dict[str, Any]]:
    m = jax.tree.map(np.asarray, metrics)
    rows = []
    for i in range(m.step.shape[1]):
        for j, seed in enumerate(seeds):
            step = int(m.step[j, i])
            rows.append({"step": step, "wall_time": elapsed * step / total, "seed": seed,
                         "charts/episodic_return": float(m.episodic_return[j, i]),
                         "charts/greedy_return": float(m.greedy_return[j, i]),
                         "charts/episodes": int(m.episodes[j, i]),
                         "charts/epsilon": float(m.epsilon[j, i]),
                         "charts/learning_rate": float(m.lr[j, i]),
                         "losses/td_error": float(m.td_error[j, i])})
    return rows


def run_grid_training(args: TrainArgs) -> int:
    """Train ``args.seeds`` tabular agents on the grid task ``args.task``; returns the exit code."""
    if args.task not in GRID_TASKS:
        raise unknown_name("grid task", args.task, GRID_TASKS)
    if args.resume is not None:
        raise PlastixError("--resume is not supported for tabular grid runs (they take seconds).")
    task = make_grid(args.task, args.gamma)
    cfg = tabular_config(args, task.max_episode_steps)
    seeds = list(range(args.seed, args.seed + args.seeds))
    config = {"args": dataclasses.asdict(args),
              "resolved": {"task": args.task, "gamma": float(task.mdp.gamma), **dataclasses.asdict(cfg)}}
    run_dir = create_run_dir(args.out, default_run_name(args.task, "tabular", args.algo), config, seeds)
    keys = jax.vmap(jax.random.key)(np.array(seeds, dtype=np.uint32))
    t0 = time.perf_counter()
    result = jax.block_until_ready(train_seeds(keys, task.mdp, cfg))
    elapsed = time.perf_counter() - t0
    write_metrics(run_dir, _rows(result.metrics, seeds, elapsed, cfg.total_steps))
    np.save(run_dir / Q_TABLE, np.asarray(result.q))
    v_star = float(value_iteration(task.mdp).values[task.mdp.start])
    tail = np.asarray(result.metrics.episodic_return)[:, -max(1, result.metrics.step.shape[1] // 5):]
    summary = {"task": args.task, "algo": args.algo, "seeds": len(seeds), "steps_per_seed": cfg.total_steps,
               "gamma": float(task.mdp.gamma), "optimal_value_at_start": v_star,
               "online_return_last_20pct": float(np.nanmean(tail)),
               "greedy_return_final": float(np.mean(np.asarray(result.metrics.greedy_return)[:, -1])),
               "seconds": elapsed}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    if not args.no_plot:
        plot_grid_run(run_dir)
    if not args.quiet:
        print(f"{args.algo} on {args.task}: {len(seeds)} seeds x {cfg.total_steps} steps in {elapsed:.1f} s; "
              f"online return (last 20%) {summary['online_return_last_20pct']:.2f}, greedy return "
              f"{summary['greedy_return_final']:.2f}, U*(start) = {v_star:.3f}; run saved to {run_dir}")
    return 0
