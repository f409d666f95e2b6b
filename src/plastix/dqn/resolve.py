"""``plastix train TASK --algo dqn`` flags -> a ``DQNConfig`` (each task's defaults, once, in
``DQN_DEFAULTS``: on CartPole PureJaxRL's dqn.py settings, elsewhere CleanRL's dqn.py settings where
they fit; MinAtar: Young & Tian 2019)."""

from __future__ import annotations

from typing import NamedTuple

from plastix.dqn.config import DQNConfig, validate
from plastix.errors import PlastixError, check_positive_int
from plastix.options import LOG_POINTS, clip_norm, core_options, env_settings, pick

RECURRENT_SEQ_LEN = 8  # learning positions per window for a recurrent core (when seq_len is not given)
DEFAULT_CORE = "mlp"
DEFAULT_GAMMA = 0.99


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
    clip_norm: float | None = 10.0  # None: no clipping
    num_envs: int = 1  # environments per seed, stepped in lockstep
    head_hidden: int = 0  # units of the head's ReLU layer when --hidden is not given (0: as many as hidden)
    loss: str = "huber"  # the TD loss: huber (Mnih et al. 2015's error clipping) or mse


DQN_DEFAULTS = {
    # PureJaxRL's dqn.py CartPole settings (Lu et al. 2022): 10 environments, buffer 10k, batch 128, an
    # update every 10 env steps, target every 500, ε 1 → 0.05 over 250k, learning from 10k, Adam at a
    # constant 2.5e-4, 500k env steps, and its network's sizes: 120 units, then 84. Two departures,
    # each for the final policy's reliability (docs/dqn.md, 32 seeds each): the Huber loss of Mnih et
    # al. 2015 with the mlp torso's tanh (32 of 32 seeds at a greedy ≥ 475, against 28 of 32 with
    # PureJaxRL's squared error and ReLU torso: --loss mse --core-opt activation=relu), and a global-norm
    # clip of 10. The Huber loss with a ReLU torso diverges here (Q → 1e6, every seed), so the torso
    # stays tanh.
    "cartpole": DQNDefaults(500_000, 10_000, 500, 10_000, 10, 120, 2.5e-4, exploration_fraction=0.5,
                            batch_size=128, num_envs=10, head_hidden=84),
    "*": DQNDefaults(100_000, 10_000, 500, 1_000, 2, 64, 1e-3),
}
MINATAR_DEFAULTS = DQNDefaults(500_000, 100_000, 1_000, 5_000, 1, 128, 2.5e-4)


def dqn_defaults(task: str) -> DQNDefaults:
    if task.endswith("-MinAtar"):
        return MINATAR_DEFAULTS
    return DQN_DEFAULTS.get(task, DQN_DEFAULTS["*"])


def round_budget(total: int, train_every: int, log_every: int | None) -> tuple[int, int]:
    """(total_steps, steps_per_log): the log interval a multiple of train_every, the budget a
    multiple of it (rounded down, at least one log point)."""
    per_log = max(1, total // LOG_POINTS) if log_every is None else log_every
    per_log = max(train_every, (per_log // train_every) * train_every)
    if total < per_log:
        raise PlastixError(f"total_steps ({total}) must be at least one log interval ({per_log} env steps).")
    return (total // per_log) * per_log, per_log


def resolve_dqn_config(flags) -> DQNConfig:
    """The flags of ``plastix train ... --algo dqn`` -> a validated DQNConfig."""
    if flags.task.startswith("gymnasium:"):
        raise PlastixError(f"--algo dqn runs its environments inside jit; {flags.task!r} is a Gymnasium "
                           "environment stepped on the host. Use --algo a2c or reinforce for gymnasium:<id> "
                           "tasks, or a pure-JAX environment (cartpole, gymnax:<id>) for dqn.")
    d = dqn_defaults(flags.task)
    core = pick(flags.core, DEFAULT_CORE)
    given_envs = getattr(flags, "num_envs", None)
    num_envs = check_positive_int("num_envs", pick(given_envs, d.num_envs))
    if given_envs is None and flags.train_every is not None and flags.train_every % num_envs:
        raise PlastixError(f"--train-every {flags.train_every} must be a multiple of the environments per seed: "
                           f"{flags.task!r} steps {num_envs} by default (--num-envs). Give a multiple of "
                           f"{num_envs}, or --num-envs with a divisor of {flags.train_every} (1: one environment).")
    # the cadence counts env steps over all E environments: the task's, rounded up to a multiple of E
    train_every = pick(flags.train_every, -(-d.train_every // num_envs) * num_envs)
    total, per_log = round_budget(check_positive_int("total_steps", pick(flags.total_steps, d.total_steps)),
                                  train_every, flags.log_every)
    config = DQNConfig(
        task=flags.task, preset=flags.preset, env_settings=env_settings(flags),
        core=core, core_options=core_options(flags), hidden=pick(flags.hidden, d.hidden),
        head_hidden=pick(getattr(flags, "head_hidden", None), d.head_hidden if flags.hidden is None else 0),
        double=flags.double, dueling=flags.dueling, per=flags.per, n_step=flags.n_step,
        buffer_size=pick(flags.buffer_size, d.buffer_size), batch_size=pick(flags.batch_size, d.batch_size),
        num_envs=num_envs,
        gamma=pick(flags.gamma, DEFAULT_GAMMA), lr=pick(flags.lr, d.lr), lr_end=pick(flags.lr_end, d.lr_end),
        optimizer=flags.optimizer, loss=pick(flags.loss, d.loss), clip_norm=clip_norm(flags.clip_norm, d.clip_norm),
        target_every=pick(flags.target_every, d.target_every),
        learning_starts=pick(flags.learning_starts, d.learning_starts), train_every=train_every,
        epsilon_start=flags.epsilon_start, epsilon_end=flags.epsilon_end,
        exploration_fraction=pick(flags.exploration_fraction, d.exploration_fraction), per_alpha=flags.per_alpha,
        per_beta=flags.per_beta, burn_in=flags.burn_in,
        seq_len=pick(flags.seq_len, 1 if core == "mlp" else RECURRENT_SEQ_LEN),
        total_steps=total, steps_per_log=per_log, dtype=flags.dtype)
    validate(config)
    return config


def flags_label(config: DQNConfig) -> str:
    """" (double, dueling, n-step 3)": the DQN variants a config turns on."""
    flags = [name for name in ("double", "dueling", "per") if getattr(config, name)]
    if config.n_step > 1:
        flags.append(f"n-step {config.n_step}")
    return f" ({', '.join(flags)})" if flags else ""
