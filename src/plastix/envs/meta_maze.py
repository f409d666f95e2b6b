"""The grid maze of Miconi et al. (ICML 2018 §4.5; ICLR 2019 §4.2): a meta-RL navigation task.

Layout. A ``size`` × ``size`` interior (9 × 9 by default) surrounded by a border of walls, an
(size + 2) × (size + 2) array with rows/columns 0 and size + 1 walls. Inside, every cell whose
array row and column are both even is a pillar: for size 9, rows/cols {2, 4, 6, 8}, i.e. 16
pillars. The centre cell (size + 1) / 2 (array coordinates) is always free (for size 9 it is
odd anyway; for sizes like 7 it would be a pillar and is cleared, as in the released code).

Episode (T = ``episode_length`` = 200 steps, truncated, never terminated). The reward cell is
drawn uniformly among the free cells other than the centre and stays put for the episode;
the agent starts at the centre. Actions 0 up (row − 1), 1 down, 2 left (col − 1), 3 right.
A move into a wall leaves the agent in place and costs ``wall_penalty`` (default 0). If the
agent is then on the reward cell it receives +``reward_value`` (+10) and is teleported to a
uniformly random free cell other than the reward cell (the centre included).

Observation, (16,) float32::

    [0, 9)   the 3 × 3 neighbourhood of the agent, row-major, 1 = wall, 0 = free
    9        bias 1
    10       t / T
    11       previous reward r_{t−1} (0 at t = 0)
    12..15   previous action one-hot (zeros at t = 0)

(The released code has one always-zero input before the bias, dropped here, and shows action
0 as the previous action at t = 0; we show zeros, as in the cue-reward task.)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from plastix.envs.base import OBS_DTYPE, Environment, check_setting_int, is_last_step, meta_inputs
from plastix.errors import PlastixError

MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right as (d_row, d_col)
VIEW = 3  # the local view is VIEW × VIEW


@functools.lru_cache(maxsize=None)
def grid_layout(size: int) -> np.ndarray:
    """(size + 2, size + 2) int8, 1 = wall: border, pillars at even (row, col), free centre."""
    n = size + 2
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    border = (rows == 0) | (cols == 0) | (rows == n - 1) | (cols == n - 1)
    pillars = (rows % 2 == 0) & (cols % 2 == 0)
    layout = (border | pillars).astype(np.int8)
    layout[n // 2, n // 2] = 0
    layout.setflags(write=False)
    return layout


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MetaMazeParams:
    """Numeric parameters (vmappable): T, the reward on reaching the goal, the wall cost."""

    episode_length: int = 200
    reward_value: float = 10.0
    wall_penalty: float = 0.0


class MetaMazeState(NamedTuple):
    pos: jax.Array  # (2,) int32, agent (row, col) in array coordinates (path plots)
    reward_pos: jax.Array  # (2,) int32, the episode's reward cell
    t: jax.Array  # () int32, step in the episode
    prev_reward: jax.Array  # () float32
    prev_action: jax.Array  # () int32, −1 at t = 0


@dataclasses.dataclass(frozen=True)
class MetaMaze(Environment):
    """Miconi et al.'s grid maze (see the module docstring). Final.

    Attributes:
      size: side of the free interior, odd and >= 3 (9 in the papers).
    """

    size: int = 9

    name: ClassVar[str] = "meta-maze"
    params_class: ClassVar[type] = MetaMazeParams
    PRESETS: ClassVar[dict] = {
        "default": {},  # = the papers' 9 × 9 maze, 200 steps, +10
        "paper": {},
        "easy": {"size": 5, "episode_length": 100},  # 4 pillars; for fast demos
        "released": {"size": 11},  # Backpropamine's released command (maze/README.md: --msize 13 = 11 × 11 inside walls)
    }

    def __post_init__(self):
        check_setting_int(self.name, "size", self.size, 3)
        if self.size % 2 == 0:
            raise PlastixError(f"{self.name}: size must be odd (it has a centre), got {self.size}.")

    @property
    def num_actions(self) -> int:
        return len(MOVES)

    @property
    def observation_size(self) -> int:
        return VIEW * VIEW + 3 + self.num_actions

    @property
    def centre(self) -> int:
        """Array row (= column) of the start cell."""
        return (self.size + 2) // 2

    def layout(self) -> np.ndarray:
        """The wall map, (size + 2, size + 2) int8, 1 = wall."""
        return grid_layout(self.size)

    # ------------------------------------------------------------ dynamics
    def _sample_cell(self, key, excluded: jax.Array) -> jax.Array:
        """A uniform free cell other than ``excluded`` (2,), as (row, col) int32."""
        n = self.size + 2
        rows, cols = jnp.meshgrid(jnp.arange(n), jnp.arange(n), indexing="ij")
        allowed = (jnp.asarray(self.layout()) == 0) & ~(
            (rows == excluded[0]) & (cols == excluded[1])
        )
        flat = jax.random.categorical(key, jnp.where(allowed.reshape(-1), 0.0, -jnp.inf))
        return jnp.stack([flat // n, flat % n]).astype(jnp.int32)

    def observation(self, state: MetaMazeState, params: MetaMazeParams) -> jax.Array:
        walls = jnp.asarray(self.layout(), OBS_DTYPE)
        view = jax.lax.dynamic_slice(walls, (state.pos[0] - 1, state.pos[1] - 1), (VIEW, VIEW))
        tail = meta_inputs(
            state.t, params.episode_length, state.prev_reward, state.prev_action, len(MOVES)
        )
        return jnp.concatenate([view.reshape(-1), tail])

    def reset_env(self, key, params):
        centre = jnp.full((2,), self.centre, jnp.int32)
        state = MetaMazeState(
            pos=centre,
            reward_pos=self._sample_cell(key, centre),
            t=jnp.zeros((), jnp.int32),
            prev_reward=jnp.zeros((), OBS_DTYPE),
            prev_action=jnp.full((), -1, jnp.int32),
        )
        return self.observation(state, params), state

    def step_env(self, key, state, action, params):
        target = state.pos + jnp.asarray(MOVES, jnp.int32)[action]
        blocked = jnp.asarray(self.layout())[target[0], target[1]] == 1
        pos = jnp.where(blocked, state.pos, target)
        hit = jnp.all(pos == state.reward_pos)
        reward = jnp.where(hit, params.reward_value, 0.0) - params.wall_penalty * blocked
        pos = jnp.where(hit, self._sample_cell(key, state.reward_pos), pos)
        state = MetaMazeState(
            pos=pos,
            reward_pos=state.reward_pos,
            t=state.t + 1,
            prev_reward=jnp.asarray(reward, OBS_DTYPE),
            prev_action=action,
        )
        truncated = is_last_step(state.t, params.episode_length)
        obs = self.observation(state, params)
        return obs, state, state.prev_reward, jnp.zeros((), bool), truncated
