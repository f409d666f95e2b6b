"""A grid world of ``plastix.mdp`` as an environment of the gymnax contract, and its planner.

``GridEnv`` wraps a ``GridTask`` (``plastix.mdp.make_grid`` or ``grid_from_text``) so a plastix
policy can act in it: the observation is the one-hot code of the current state (S,), the
actions are N, E, S, W, the step is ``plastix.mdp.tabular.env_step_u`` (s' ~ P[s, a, ·], reward
R[s, a, s']; an episode terminates on a final cell, whose reward R_final is added, or is
truncated after ``episode_length`` steps) and the auto-reset of ``plastix.envs.base``.

``planner_policy(task)`` is the expert of the imitation experiments: the greedy policy of
value iteration, π*(s) = argmax_a Σ_s' P (R + γ U*(s')) (Russell & Norvig 2010, eq. 17.4).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from plastix.envs.base import OBS_DTYPE, Environment
from plastix.errors import check_positive_int, unknown_name
from plastix.mdp.grids import GridTask
from plastix.mdp.mdp import MDP
from plastix.mdp.planning import value_iteration
from plastix.mdp.tabular import EnvState, env_step_u


OBSERVATIONS = ("one-hot", "coordinates")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GridParams:
    """The MDP (vmappable arrays), each state's (row, column) scaled to [0, 1] (S, 2), and the
    episode length T."""

    mdp: MDP
    cells: jax.Array
    episode_length: int = dataclasses.field(metadata={"static": True}, default=100)


class GridState(NamedTuple):
    s: jax.Array  # () int32 current state
    t: jax.Array  # () int32 steps taken in the episode


@dataclasses.dataclass(frozen=True)
class GridEnv(Environment):
    """A grid task with one-hot observations (module docstring). Final.

    Attributes:
      num_states: S, the number of states.
      observation: ``"one-hot"`` (the state's one-hot code, (S,)) or ``"coordinates"`` (its row
        and column scaled to [0, 1], (2,): neighbouring states look alike to the learner).
    """

    num_states: int
    observation: str = "one-hot"
    name: ClassVar[str] = "grid"
    params_class: ClassVar[type] = GridParams

    def __post_init__(self):
        check_positive_int("GridEnv.num_states", self.num_states)
        if self.observation not in OBSERVATIONS:
            raise unknown_name("grid observation", self.observation, OBSERVATIONS)

    @property
    def num_actions(self) -> int:
        return 4

    @property
    def observation_size(self) -> int:
        return self.num_states if self.observation == "one-hot" else 2

    def default_params(self):
        raise TypeError("GridEnv has no default parameters: use grid_env(task) for (env, params).")

    def observe(self, s: jax.Array, params: GridParams) -> jax.Array:
        if self.observation == "coordinates":
            return params.cells[s].astype(OBS_DTYPE)
        return jax.nn.one_hot(s, self.num_states, dtype=OBS_DTYPE)

    def reset_env(self, key, params: GridParams):
        s = params.mdp.start.astype(jnp.int32)
        return self.observe(s, params), GridState(s, jnp.zeros((), jnp.int32))

    def step_env(self, key, state: GridState, action, params: GridParams):
        u = jax.random.uniform(key, dtype=params.mdp.P.dtype)
        new, tr = env_step_u(u, params.mdp, EnvState(state.s, state.t), action, params.episode_length)
        reward = tr.reward + jnp.where(tr.terminated, params.mdp.R_final[tr.next_s], 0.0)
        return self.observe(tr.next_s, params), GridState(tr.next_s, state.t + 1), reward, tr.terminated, tr.truncated


def grid_env(task: GridTask, episode_length: int | None = None,
             observation: str = "one-hot") -> tuple[GridEnv, GridParams]:
    """(env, params) of a grid task; T = ``episode_length`` or the task's ``max_episode_steps``."""
    T = task.max_episode_steps if episode_length is None else episode_length
    check_positive_int("episode_length", T)
    H, W = task.layout.shape
    cells = np.asarray(task.layout.cells, np.float32) / np.maximum(np.array([H - 1, W - 1], np.float32), 1.0)
    return GridEnv(task.mdp.num_states, observation), GridParams(task.mdp, jnp.asarray(cells), int(T))


def planner_policy(task: GridTask) -> np.ndarray:
    """π*(s) of value iteration on the task's MDP, (S,) int32."""
    return np.asarray(value_iteration(task.mdp).policy, np.int32)
