"""The settings of a DQN run (``DQNConfig``) and their validation at the boundary."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from plastix.errors import (PlastixError, check_at_most, check_clip_norm, check_positive_int, check_step_sizes,
                            unknown_name)
from plastix.dqn.targets import LOSSES

OPTIMIZERS = ("adam", "rmsprop")


@dataclasses.dataclass(frozen=True)
class DQNConfig:
    """Resolved settings of one DQN run (every field concrete; counts are environment steps
    per seed). Defaults: a CartPole-v1 setting measured in docs/dqn.md (CleanRL's dqn.py
    network sizes and γ, a faster schedule)."""

    task: str = "cartpole"  # environment name (plastix.envs.make_env)
    preset: str = "default"
    env_settings: tuple[tuple[str, Any], ...] = ()
    core: str = "mlp"  # torso core: mlp (memoryless) or any agent core (recurrent Q-network)
    core_options: tuple[tuple[str, Any], ...] = ()
    hidden: int = 128  # the core's units n; the head's ReLU layer has the same size unless head_hidden
    head_hidden: int = 0  # m > 0: units of the head's ReLU layer (0: m = hidden)
    double: bool = False  # van Hasselt et al. 2016
    dueling: bool = False  # Wang et al. 2016
    per: bool = False  # Schaul et al. 2016, proportional
    n_step: int = 1
    buffer_size: int = 10_000  # N, stored environment steps
    batch_size: int = 64  # B windows per update
    num_envs: int = 1  # E environments per seed, stepped in lockstep
    gamma: float = 0.99
    lr: float = 1e-3
    lr_end: float | None = None  # anneal the step size linearly from lr to lr_end over the updates (None: constant)
    optimizer: str = "adam"  # adam | rmsprop (centered, decay 0.95, ε 0.01, as Mnih et al. 2015)
    loss: str = "huber"  # huber | mse
    clip_norm: float | None = 10.0
    target_every: int = 500  # C: copy θ → θ⁻ every C env steps
    learning_starts: int = 1_000  # env steps before the first update
    train_every: int = 2  # env steps between updates
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    exploration_fraction: float = 0.2  # ε decays over this fraction of total_steps
    per_alpha: float = 0.6
    per_beta: float = 0.4  # annealed linearly to 1 over total_steps
    burn_in: int = 0  # recurrent: window steps only used to warm up the carry (R2D2)
    seq_len: int = 1  # learning positions per window (recurrent; 1 for feed-forward)
    total_steps: int = 50_000  # a multiple of steps_per_log
    steps_per_log: int = 1_000  # a multiple of train_every
    dtype: str = "float32"

    @property
    def num_logs(self) -> int:
        return self.total_steps // self.steps_per_log

    @property
    def window(self) -> int:
        """L = burn_in + seq_len + n − 1 steps per sampled window."""
        return self.burn_in + self.seq_len + self.n_step - 1

    @property
    def updates_per_log(self) -> int:
        return self.steps_per_log // self.train_every


def check_fraction(name: str, value, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > 1 or value < 0 or (low_open and value == 0):
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise PlastixError(f"{name} must lie in {interval}, got {value!r}.")


def check_epsilon_schedule(config: DQNConfig) -> None:
    """ε_start, ε_end in [0, 1] with ε_end ≤ ε_start, exploration_fraction in (0, 1]."""
    check_fraction("epsilon_start", config.epsilon_start)
    check_fraction("epsilon_end", config.epsilon_end)
    check_fraction("exploration_fraction", config.exploration_fraction, low_open=True)
    if config.epsilon_end > config.epsilon_start:
        raise PlastixError(f"the ε schedule must not increase: expected epsilon_end <= epsilon_start, got "
                           f"epsilon_start={config.epsilon_start!r}, epsilon_end={config.epsilon_end!r}.")


def check_multiple(name: str, value: int, of_name: str, of: int) -> None:
    if value % of:
        raise PlastixError(f"{name} ({value}) must be a multiple of {of_name} ({of}).")


def check_counts(config: DQNConfig) -> None:
    """Sizes >= 1, the step counts nest (E | train_every | steps_per_log | total_steps,
    train_every | target_every), and the replay holds at least one batch."""
    for name in ("hidden", "n_step", "buffer_size", "batch_size", "num_envs", "target_every", "train_every",
                 "seq_len", "total_steps", "steps_per_log"):
        check_positive_int(name, getattr(config, name))
    for name in ("learning_starts", "burn_in", "head_hidden"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PlastixError(f"{name} must be an integer >= 0, got {value!r}.")
        check_at_most(name, value)
    check_multiple("train_every", config.train_every, "num_envs", config.num_envs)
    check_multiple("steps_per_log", config.steps_per_log, "train_every", config.train_every)
    check_multiple("total_steps", config.total_steps, "steps_per_log", config.steps_per_log)
    check_multiple("target_every", config.target_every, "train_every", config.train_every)
    windows = config.buffer_size // config.num_envs - config.window + 1
    if windows < config.batch_size:
        raise PlastixError(
            f"the replay memory is smaller than a batch: buffer_size {config.buffer_size} over {config.num_envs} "
            f"environment(s) holds {max(windows, 0)} windows of {config.window} steps, expected at least "
            f"batch_size = {config.batch_size}.")
    if config.learning_starts < config.num_envs * config.window:
        raise PlastixError(f"learning_starts ({config.learning_starts}) must be at least num_envs × window "
                           f"({config.num_envs} × {config.window}) so a full window is stored before the first update.")
    if config.learning_starts >= config.total_steps:
        raise PlastixError(f"learning_starts ({config.learning_starts:,}) must be below total_steps "
                           f"({config.total_steps:,}): otherwise the run ends before its first update.")


def validate(config: DQNConfig) -> None:
    """Check a config at the boundary (before anything is traced). Raises PlastixError."""
    check_counts(config)
    check_epsilon_schedule(config)
    check_fraction("gamma", config.gamma)
    check_fraction("per_alpha", config.per_alpha)
    check_fraction("per_beta", config.per_beta)
    if config.loss not in LOSSES:
        raise unknown_name("dqn loss", config.loss, LOSSES)
    if config.optimizer not in OPTIMIZERS:
        raise unknown_name("dqn optimizer", config.optimizer, OPTIMIZERS)
    check_step_sizes(config.lr, config.lr_end)
    check_clip_norm(config.clip_norm)
