"""Tabular TD learning on a named grid world as a plastix ``Trainer``, so the training driver
(``plastix.driver``) segments, checkpoints, resumes and evaluates it like every other trainer.

``GridConfig`` is the resolved config of such a run: the grid task, its discount γ and the
``TabularConfig`` fields (``plastix.mdp.tabular``). Defaults: step size α decays linearly from
``lr`` (0.5) to α/10 over the run; ε is constant (0.1); γ is the task's; the budget is the
task's ``DEFAULT_STEPS``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.errors import PlastixError, check_positive_int, unknown_name
from plastix.mdp.grids import GRID_TASKS, make_grid
from plastix.mdp.tabular import (ALGOS, AgentState, TabularConfig, TrainMetrics, env_reset,
                                  epsilon_greedy, greedy_return, train_window)
from plastix.options import LOG_POINTS, pick
from plastix.train.harness import Trainer

DEFAULT_STEPS = {"lecture-grid": 5_000, "aima-4x3": 20_000, "cliff-walking": 20_000,
                 "frozenlake-4x4": 100_000, "frozenlake-8x8": 300_000}
DEFAULT_LR = 0.5
DEFAULT_EPSILON = 0.1
METRIC_NAMES = ("charts/episodic_return", "charts/greedy_return", "charts/episodes", "charts/epsilon",
                "charts/learning_rate", "losses/td_error")


@dataclasses.dataclass(frozen=True)
class GridConfig:
    """Resolved settings of a tabular run on a grid task (``tabular`` gives the TabularConfig)."""

    task: str = "cliff-walking"  # plastix.mdp.GRID_TASKS
    gamma: float = 1.0  # discount γ (the resolver fills in the task's)
    algo: str = "q-learning"  # q-learning | sarsa
    total_steps: int = 20_000
    lr: float = DEFAULT_LR
    lr_end: float | None = DEFAULT_LR / 10
    lr_visit_power: float = 0.0
    epsilon: float = DEFAULT_EPSILON
    epsilon_end: float | None = None
    epsilon_decay_steps: int | None = None
    log_every: int = 400
    max_episode_steps: int = 500
    eval_episodes: int = 8

    @property
    def core(self) -> str:
        return "tabular"

    @property
    def dtype(self) -> str:
        return "float32"

    @property
    def tabular(self) -> TabularConfig:
        names = {f.name for f in dataclasses.fields(TabularConfig)}
        return TabularConfig(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})

    @property
    def num_logs(self) -> int:
        return self.total_steps // self.log_every


def log_every_of(total: int, requested: int | None) -> int:
    """Steps per log window: ``requested`` (must divide ``total``), else the largest divisor of
    ``total`` not above total / LOG_POINTS."""
    if requested is not None:
        check_positive_int("log_every", requested)
        if total % requested:
            raise PlastixError(f"--log-every ({requested}) must divide --total-steps ({total}).")
        return requested
    d = max(1, total // LOG_POINTS)
    while total % d:
        d -= 1
    return d


def resolve_grid_config(flags) -> GridConfig:
    """The flags of ``plastix train GRID-TASK`` (task, algo, gamma, total_steps, lr, epsilon,
    log_every) -> a validated GridConfig."""
    if flags.task not in GRID_TASKS:
        raise unknown_name("grid task", flags.task, GRID_TASKS)
    algo = pick(flags.algo, "q-learning")
    if algo not in ALGOS:
        raise unknown_name("algorithm for grid tasks", algo, ALGOS)
    task = make_grid(flags.task, flags.gamma)
    total = check_positive_int("total_steps", pick(flags.total_steps, DEFAULT_STEPS[flags.task]))
    lr = pick(flags.lr, DEFAULT_LR)
    if not (math.isfinite(lr) and 0.0 < lr <= 1.0):
        raise PlastixError(f"--lr (step size α) must be in (0, 1] for tabular learning, got {lr!r}.")
    epsilon = pick(flags.epsilon, DEFAULT_EPSILON)
    if not (math.isfinite(epsilon) and 0.0 <= epsilon <= 1.0):
        raise PlastixError(f"--epsilon must be in [0, 1], got {epsilon!r}.")
    config = GridConfig(task=flags.task, gamma=float(task.mdp.gamma), algo=algo, total_steps=total, lr=lr,
                        lr_end=lr / 10, epsilon=epsilon, log_every=log_every_of(total, flags.log_every),
                        max_episode_steps=task.max_episode_steps)
    validate(config)
    return config


def validate(config: GridConfig) -> None:
    if config.task not in GRID_TASKS:
        raise unknown_name("grid task", config.task, GRID_TASKS)
    config.tabular  # TabularConfig checks its fields  # noqa: B018


class GridSetup(NamedTuple):
    config: GridConfig
    mdp: Any


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


def make_trainer(config: GridConfig, *, env=None) -> Trainer:
    """Tabular Q-learning / SARSA as a ``Trainer(init, run, train, setup)``. ``train(key)``
    equals ``plastix.mdp.tabular.train`` window for window (same key splits, the same
    ``train_window`` step). ``env``: an ``MDP`` to learn on instead of the named grid's."""
    validate(config)
    mdp = make_grid(config.task, config.gamma).mdp if env is None else env
    cfg = config.tabular
    n_logs = config.num_logs

    def init(key):
        k_init, k_run = jax.random.split(key)
        q0 = jnp.zeros((mdp.num_states, mdp.num_actions), mdp.R.dtype)
        state = env_reset(mdp)
        agent = AgentState(q0, jnp.zeros_like(q0), state, epsilon_greedy(k_init, q0[state.s], cfg.epsilon),
                           jnp.asarray(0.0, mdp.R.dtype), jnp.asarray(0, jnp.int32))
        return GridState(agent, jax.random.split(k_run, n_logs), jnp.zeros((), jnp.int32))

    def one_window(state: GridState, _=None):
        agent, m = train_window(cfg, mdp, state.agent, state.keys[state.window])
        return GridState(agent, state.keys, state.window + 1), metrics_dict(m)

    def run(state, num_logs):
        return lax.scan(one_window, state, None, num_logs)

    def train(key):
        return run(init(key), n_logs)

    return Trainer(init, run, train, GridSetup(config, mdp))


def evaluate_q(config: GridConfig, q: jax.Array, key: jax.Array, episodes: int) -> jax.Array:
    """Mean undiscounted return of ``episodes`` greedy episodes of each Q table, q (seeds, S, A)
    -> (seeds,), the same episode keys for every seed (one jitted, vmapped call)."""
    mdp = make_grid(config.task, config.gamma).mdp
    q = jnp.asarray(q, mdp.R.dtype)
    run = jax.vmap(lambda table: greedy_return(key, mdp, table, config.max_episode_steps, episodes))
    return jax.jit(run)(q)
