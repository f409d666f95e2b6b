"""``gymnasium:<id>``: a Gymnasium environment stepped on the host, with plastix's contract.

Gymnasium environments are Python objects, not JAX functions, so they cannot run inside
``jit``/``scan``: ``make_env("gymnasium:CartPole-v1") -> (GymnasiumEnv, GymnasiumParams)``
describes one (``num_actions``, ``observation_size``/``observation_shape``, the time limit
``episode_length``), and ``HostVecEnv(env, num_envs)`` runs B copies in lockstep on the
host with plastix's auto-reset semantics (``plastix.envs.base``)::

    obs (B, d) = vec.reset(seed)                     env b is reset with seed + b
    obs, reward, terminated, truncated, info = vec.step(actions (B,))
        where terminated | truncated, obs is already the first of a fresh episode;
        info = {"terminal_obs" (B, d), "episode_start" (B,), "discount" = 1 − terminated}

terminated is Gymnasium's ``terminated``; truncated is its ``TimeLimit`` flag
(``max_episode_steps`` = ``episode_length``: the id's registered limit unless a setting
overrides it). Observations are flattened to float32 (Box spaces only); actions must be
integers in [0, num_actions) (a Discrete space with ``start`` ≠ 0 is shifted), else
PlastixError; a non-finite observation or reward raises PlastixError naming the step, the
environment index and the field. ``plastix.rl.host_loop.train_host`` trains an agent on it.

Gymnasium is optional: ``pip install plastix[gymnasium]``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar

import numpy as np

from plastix.errors import PlastixError, check_positive_int, unknown_name

PREFIX = "gymnasium:"


def import_gymnasium():
    """The gymnasium module, or a PlastixError saying how to install it."""
    try:
        import gymnasium
    except ImportError as err:
        raise PlastixError("gymnasium:<id> environments need Gymnasium: pip install plastix[gymnasium]") from err
    return gymnasium


@functools.lru_cache(maxsize=None)
def gymnasium_spaces(env_id: str) -> tuple[Any, Any, int | None]:
    """(observation space, action space, registered max_episode_steps) of ``env_id``."""
    gym = import_gymnasium()
    if env_id not in gym.registry:
        raise unknown_name("gymnasium environment", env_id, gym.registry.keys())
    env = gym.make(env_id)
    try:
        return env.observation_space, env.action_space, env.spec.max_episode_steps
    finally:
        env.close()


@dataclasses.dataclass(frozen=True)
class GymnasiumParams:
    """Host-side settings: the time limit T (Gymnasium's ``max_episode_steps``)."""

    episode_length: int


@dataclasses.dataclass(frozen=True)
class GymnasiumEnv:
    """Description of a Gymnasium environment ``env_id`` (module docstring). Final."""

    env_id: str

    name: ClassVar[str] = "gymnasium"

    def __post_init__(self):
        obs_space, act_space, _ = gymnasium_spaces(self.env_id)
        gym = import_gymnasium()
        if not isinstance(act_space, gym.spaces.Discrete):
            raise PlastixError(f"gymnasium:{self.env_id}: plastix agents need a Discrete action space, "
                               f"got {act_space}.")
        if not isinstance(obs_space, gym.spaces.Box):
            raise PlastixError(f"gymnasium:{self.env_id}: observations must be a Box space, got {obs_space}.")

    @property
    def num_actions(self) -> int:
        return int(gymnasium_spaces(self.env_id)[1].n)

    @property
    def action_start(self) -> int:
        return int(gymnasium_spaces(self.env_id)[1].start)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in gymnasium_spaces(self.env_id)[0].shape)

    @property
    def observation_size(self) -> int:
        return math.prod(self.observation_shape)

    def check_actions(self, actions, num_envs: int) -> np.ndarray:
        """(B,) integer actions in [0, num_actions), else PlastixError naming the bad one."""
        arr = np.asarray(actions)
        if arr.shape != (num_envs,) or not np.issubdtype(arr.dtype, np.integer):
            raise PlastixError(f"gymnasium:{self.env_id}: actions must be {num_envs} integers in "
                               f"[0, {self.num_actions}), got {actions!r}.")
        bad = np.flatnonzero((arr < 0) | (arr >= self.num_actions))
        if bad.size:
            raise PlastixError(f"gymnasium:{self.env_id}: action {int(arr[bad[0]])} of environment {int(bad[0])} "
                               f"is outside [0, {self.num_actions}).")
        return arr


def make_gymnasium_env(name: str, preset: str = "default", **settings) -> tuple[GymnasiumEnv, GymnasiumParams]:
    """``make_env("gymnasium:<id>", episode_length=T)``; T defaults to the registered limit."""
    env = GymnasiumEnv(name[len(PREFIX):])
    if preset != "default":
        raise unknown_name(f"{name} preset", preset, ["default"])
    for key in settings:
        if key != "episode_length":
            raise unknown_name(f"{name} setting", key, ["episode_length"])
    length = settings.get("episode_length", gymnasium_spaces(env.env_id)[2])
    if length is None:
        raise PlastixError(f"{name} has no registered time limit: pass episode_length=T.")
    check_positive_int(f"{name} episode_length", length)
    return env, GymnasiumParams(length)


class HostVecEnv:
    """B Gymnasium environments stepped in lockstep on the host, auto-resetting (module docstring)."""

    def __init__(self, env: GymnasiumEnv, params: GymnasiumParams, num_envs: int):
        check_positive_int("num_envs", num_envs)
        gym = import_gymnasium()
        self.env, self.num_envs = env, num_envs
        self.envs = [gym.make(env.env_id, max_episode_steps=params.episode_length) for _ in range(num_envs)]
        self.steps = 0  # steps since the last reset(), for error messages

    def close(self) -> None:
        for e in self.envs:
            e.close()

    def _obs(self, obs, b: int) -> np.ndarray:
        flat = np.asarray(obs, np.float32).reshape(self.env.observation_size)
        if not np.all(np.isfinite(flat)):
            raise PlastixError(f"gymnasium:{self.env.env_id}: non-finite observation (field 'obs') at step "
                               f"{self.steps} of environment {b}: {flat}.")
        return flat

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset all B environments (env b with ``seed + b``, or unseeded): obs (B, d) float32."""
        self.steps = 0
        seeds = [None if seed is None else seed + b for b in range(self.num_envs)]
        return np.stack([self._obs(self._call(b, "reset", e.reset, seed=s)[0], b)
                         for b, (e, s) in enumerate(zip(self.envs, seeds))])

    def _call(self, b: int, what: str, fn, *args, **kwargs):
        """``fn(*args)`` of environment ``b``; an exception the environment raises becomes one
        PlastixError naming the environment, the call and the step (the original is its cause,
        so its traceback reaches the run's train.log)."""
        try:
            return fn(*args, **kwargs)
        except PlastixError:
            raise
        except Exception as err:  # noqa: BLE001 - the user's environment: any exception is its own
            raise PlastixError(f"gymnasium:{self.env.env_id}: the environment's {what}() raised "
                               f"{type(err).__name__}: {err} (at step {self.steps} of environment {b}).") from err

    def step(self, actions):
        """One step of every environment with auto-reset: (obs, reward, terminated, truncated, info)."""
        actions = self.env.check_actions(actions, self.num_envs)
        self.steps += 1
        out = [self._step_one(b, int(a)) for b, a in enumerate(actions)]
        obs, reward, term, trunc, terminal = (np.stack(x) for x in zip(*out))
        done = term | trunc
        info = {"terminal_obs": terminal, "episode_start": done, "discount": 1.0 - term.astype(np.float32)}
        return obs, reward, term, trunc, info

    def _step_one(self, b: int, action: int):
        e = self.envs[b]
        obs, reward, term, trunc, _ = self._call(b, "step", e.step, action + self.env.action_start)
        reward = np.float32(reward)
        if not np.isfinite(reward):
            raise PlastixError(f"gymnasium:{self.env.env_id}: non-finite reward (field 'reward') at step "
                               f"{self.steps} of environment {b}: {reward}.")
        terminal = self._obs(obs, b)
        first = self._obs(self._call(b, "reset", e.reset)[0], b) if (term or trunc) else terminal
        return first, reward, np.bool_(term), np.bool_(trunc), terminal
