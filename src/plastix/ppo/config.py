"""The settings of a PPO run (``PPOConfig``) and their validation at the boundary."""

from __future__ import annotations

import dataclasses
from typing import Any

from plastix.errors import (PlastixError, check_at_most, check_clip_norm, check_nonnegative_int, check_positive_int,
                            check_step_sizes, unknown_name)

ACTION_DISTS = ("gaussian", "beta")


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Resolved settings of one PPO run. Defaults: PureJaxRL's ``ppo.py`` CartPole-v1 settings
    (Lu et al. 2022; 4 environments × 128 steps, 4 epochs of 4 minibatches, γ 0.99, λ 0.95,
    ε 0.2, c_V 0.5, c_H 0.01, Adam 2.5e-4 annealed linearly to 0, ε_Adam 1e-5, global norm 0.5,
    500k steps)."""

    task: str = "cartpole"  # environment name (plastix.envs.make_env)
    preset: str = "default"
    env_settings: tuple[tuple[str, Any], ...] = ()
    core: str = "mlp"  # any agent core (plastix.rl.agent.agent_core_names); mlp = feed-forward
    core_options: tuple[tuple[str, Any], ...] = ()
    hidden: int = 64
    separate_critic: bool = True  # the value from a second core of the same kind (plastix.ppo.agent); False: shared
    embed: int = 0  # m > 0: a ReLU layer of m units before a shared core (plastix.ppo.agent); 0: none
    head_hidden: int = 0  # k > 0: a ReLU layer of k units in each of the policy and value heads; 0: linear heads
    action_dist: str = "gaussian"  # continuous actions: gaussian (tanh-squashed) | beta; unused for discrete
    num_envs: int = 4  # E environments per seed, stepped in lockstep and never reset between updates
    num_steps: int = 128  # T steps per environment per rollout
    seq_len: int = 1  # L: the rollout is cut into T / L sequences per environment (recurrent: T)
    update_epochs: int = 4  # K passes over the rollout
    num_minibatches: int = 4  # M minibatches of sequences per pass
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    clip_value: bool = True
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    norm_adv: bool = True
    reward_scale: float = 1.0  # the learner sees c · r_t (returns and values of order 1); metrics report r_t
    bootstrap_truncated: bool = True  # r_t += γ v(s_terminal) where an episode is cut by a time limit
    lr: float = 2.5e-4
    lr_end: float | None = 0.0  # anneal linearly to lr_end over the optimizer steps (None: constant)
    adam_eps: float = 1e-5
    clip_norm: float | None = 0.5
    total_steps: int = 499_712  # env steps per seed: a multiple of num_envs × num_steps × updates_per_log
    updates_per_log: int = 16
    dtype: str = "float32"

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.steps_per_update

    @property
    def num_logs(self) -> int:
        return self.num_updates // self.updates_per_log

    @property
    def num_sequences(self) -> int:
        return self.num_envs * (self.num_steps // self.seq_len)

    @property
    def optimizer_steps(self) -> int:
        return self.num_updates * self.update_epochs * self.num_minibatches


def check_unit_interval(name: str, value) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    if not ok:
        raise PlastixError(f"{name} must lie in [0, 1], got {value!r}.")


def validate(config: PPOConfig) -> None:
    """Check a config at the boundary (before anything is traced). Raises PlastixError."""
    for name in ("hidden", "num_envs", "num_steps", "seq_len", "update_epochs", "num_minibatches", "total_steps",
                 "updates_per_log"):
        check_positive_int(name, getattr(config, name))
    check_at_most("num_updates × update_epochs × num_minibatches (the optimizer's int32 step count)",
                  config.optimizer_steps)
    if config.num_steps % config.seq_len:
        raise PlastixError(f"seq_len ({config.seq_len}) must divide num_steps ({config.num_steps}).")
    if config.num_sequences % config.num_minibatches:
        raise PlastixError(
            f"the rollout's {config.num_sequences} sequences (num_envs {config.num_envs} × num_steps "
            f"{config.num_steps} / seq_len {config.seq_len}) must split evenly into num_minibatches "
            f"({config.num_minibatches}).")
    per_log = config.steps_per_update * config.updates_per_log
    if config.total_steps % per_log:
        raise PlastixError(f"total_steps ({config.total_steps}) must be a multiple of num_envs × num_steps × "
                           f"updates_per_log ({per_log}).")
    for name in ("embed", "head_hidden"):
        check_nonnegative_int(name, getattr(config, name), " (0: no such layer)")
    if (config.embed or config.head_hidden) and config.separate_critic:
        raise PlastixError(f"embed ({config.embed}) and head_hidden ({config.head_hidden}) are layers around a core "
                           "shared by actor and critic; they need separate_critic=False.")
    for name in ("gamma", "gae_lambda"):
        check_unit_interval(name, getattr(config, name))
    if not (isinstance(config.reward_scale, (int, float)) and 0 < config.reward_scale < float("inf")):
        raise PlastixError(f"reward_scale must be a finite number > 0, got {config.reward_scale!r}.")
    for name in ("clip_eps", "vf_coef", "ent_coef"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
            raise PlastixError(f"{name} must be a finite number >= 0, got {value!r}.")
    if not (isinstance(config.adam_eps, (int, float)) and 0 < config.adam_eps < float("inf")):
        raise PlastixError(f"adam_eps must be a finite number > 0, got {config.adam_eps!r}.")
    if config.action_dist not in ACTION_DISTS:
        raise unknown_name("action distribution", config.action_dist, ACTION_DISTS)
    check_step_sizes(config.lr, config.lr_end)
    check_clip_norm(config.clip_norm)
