"""A two-armed Bernoulli bandit, fixed or redrawn per episode (meta-RL, Wang et al. 2018).

Arm a ∈ {0, 1} pays r = 1 with probability p_a and 0 otherwise. ``randomize`` chooses where
(p_0, p_1) come from at each episode start:

    "none"          the params' ``probs`` (default (0.9, 0.1)), every episode
    "independent"   p_0, p_1 ~ U(0, 1) independently
    "dependent"     p_0 ~ U(0, 1), p_1 = 1 − p_0 (Wang et al. 2018's "dependent" bandit)

An episode lasts ``episode_length`` pulls (1 by default: the one-step bandit of REINFORCE
exercises; use the "meta" preset, 100 pulls of a dependent bandit, for a recurrent agent).
Truncated at T, never terminated.

Observation, (5,) float32: [bias 1, t / T, previous reward, previous action one-hot (2)]
(zeros for the previous reward and action at t = 0).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from plastix.envs.base import OBS_DTYPE, Environment, check_probability, is_last_step, meta_inputs
from plastix.errors import PlastixError, unknown_name

RANDOMIZE = ("none", "independent", "dependent")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class BanditParams:
    """Numeric parameters (vmappable): arm probabilities (2,) (used when randomize = "none")
    and the episode length T."""

    probs: tuple[float, float] | jax.Array = (0.9, 0.1)
    episode_length: int = 1


class BanditState(NamedTuple):
    probs: jax.Array  # (2,) float32, this episode's p_a
    t: jax.Array  # () int32
    prev_reward: jax.Array  # () float32
    prev_action: jax.Array  # () int32, −1 at t = 0


@dataclasses.dataclass(frozen=True)
class TwoArmedBandit(Environment):
    """Two-armed Bernoulli bandit (module docstring). Final.

    Attributes:
      randomize: "none", "independent" or "dependent" (how p is drawn per episode).
    """

    randomize: str = "none"

    name: ClassVar[str] = "bandit"
    params_class: ClassVar[type] = BanditParams
    PRESETS: ClassVar[dict] = {
        "default": {},
        "meta": {"randomize": "dependent", "episode_length": 100},
    }

    def __post_init__(self):
        if self.randomize not in RANDOMIZE:
            raise unknown_name("bandit randomize mode", self.randomize, RANDOMIZE)

    @property
    def num_actions(self) -> int:
        return 2

    @property
    def observation_size(self) -> int:
        return 3 + self.num_actions

    def check_params(self, params):
        super().check_params(params)
        probs = jnp.asarray(params.probs)
        if probs.shape[-1:] != (2,):
            raise PlastixError(f"{self.name}: probs must have 2 entries, got {params.probs!r}.")
        check_probability(self.name, "probs", probs)
        return params

    def episode_probs(self, key, params) -> jax.Array:
        """(p_0, p_1) for a new episode, (2,) float32."""
        fixed = jnp.asarray(params.probs, OBS_DTYPE)
        if self.randomize == "independent":
            return jax.random.uniform(key, (2,), OBS_DTYPE)
        if self.randomize == "dependent":
            p0 = jax.random.uniform(key, (), OBS_DTYPE)
            return jnp.stack([p0, 1.0 - p0])
        return fixed

    def observation(self, state: BanditState, params: BanditParams) -> jax.Array:
        return meta_inputs(state.t, params.episode_length, state.prev_reward, state.prev_action, 2)

    def reset_env(self, key, params):
        state = BanditState(
            probs=self.episode_probs(key, params),
            t=jnp.zeros((), jnp.int32),
            prev_reward=jnp.zeros((), OBS_DTYPE),
            prev_action=jnp.full((), -1, jnp.int32),
        )
        return self.observation(state, params), state

    def step_env(self, key, state, action, params):
        reward = jax.random.bernoulli(key, state.probs[action]).astype(OBS_DTYPE)
        state = BanditState(state.probs, state.t + 1, reward, action)
        truncated = is_last_step(state.t, params.episode_length)
        return self.observation(state, params), state, reward, jnp.zeros((), bool), truncated
