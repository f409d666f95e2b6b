"""``gymnax:<id>``: any discrete-action gymnax environment behind plastix's contract.

``make_env("gymnax:CartPole-v1", **settings) -> (GymnaxEnv, GymnaxParams)``. The adapter is a
plastix ``Environment`` (pure JAX; ``jit``/``vmap``/``lax.scan`` as any other), built on
gymnax's own ``reset_env``/``step_env``:

    obs_t  = float32(flatten(gymnax obs))                  (observation_size = Π shape,)
    terminated = gymnax's natural termination (``step_env``'s flag, ``is_terminated``)
    truncated  = gymnax's time limit ``is_truncated(state)``: state.time >= max_steps_in_episode

gymnax >= 1.0 separates the two the same way in its own ``step`` (older gymnax merged them
into ``done``; those versions are rejected). Auto-reset and ``info`` come from plastix's
``Environment.step``, which splits the step key as gymnax does (key_step, key_reset), so a
rollout through the adapter equals gymnax's ``env.step`` with the same keys (tested).

Per environment (gymnax 1.0.1 defaults):

    CartPole-v1            obs (4,)         terminated: pole/cart out of bounds; truncated at 500
    MemoryChain-bsuite     obs (3,)         terminated after memory_length + 1 steps; time limit 1000
    BernoulliBandit-misc   obs (4,)         never terminated; truncated at 100
    MetaMaze-misc          obs (15,)        never terminated; truncated at 200
    Breakout-MinAtar       obs (10,10,4)→400 terminated when the ball is lost; truncated at 1000

Known gymnax limitation: MetaMaze-misc fails to trace with ``jax_enable_x64`` on (its step
mixes int32 and int64 in ``lax.select``); plastix runs float32 by default, where it works.

``observation_shape`` keeps the original shape (MinAtar images 10 × 10 × C). The params
wrapper ``GymnaxParams(inner)`` exposes ``episode_length = inner.max_steps_in_episode`` (the
number of steps plastix's trainer rolls out per update). Settings given to ``make_env`` are
fields of the gymnax params dataclass (``max_steps_in_episode=...``; ``episode_length`` is an
alias of it). Continuous-action environments are rejected.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from plastix.envs.base import OBS_DTYPE, Environment
from plastix.errors import PlastixError, unknown_name

PREFIX = "gymnax:"


def import_gymnax():
    """The gymnax module, or a PlastixError saying how to install it."""
    try:
        import gymnax
    except ImportError as err:  # pragma: no cover - gymnax is installed in development
        raise PlastixError("gymnax:<id> environments need gymnax: pip install gymnax") from err
    return gymnax


def gymnax_env(env_id: str):
    """(gymnax environment, its default params) for a registered id (cached per id and x64 mode:
    gymnax environments build integer constants at construction, int64 under x64)."""
    return _gymnax_env(env_id, bool(jax.config.jax_enable_x64))


@functools.lru_cache(maxsize=None)
def _gymnax_env(env_id: str, x64: bool):
    del x64  # part of the cache key only
    gymnax = import_gymnax()
    if env_id not in gymnax.registered_envs:
        raise unknown_name("gymnax environment", env_id, gymnax.registered_envs)
    env, params = gymnax.make(env_id)
    if not hasattr(env, "is_truncated"):  # pragma: no cover - old gymnax
        raise PlastixError("gymnax:<id> needs gymnax >= 1.0 (split terminated/truncated).")
    space = env.action_space(params)
    if not hasattr(space, "n"):
        raise PlastixError(f"gymnax:{env_id} has a continuous action space ({type(space).__name__}); "
                           "plastix agents need discrete actions.")
    return env, params


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GymnaxParams:
    """plastix params of a gymnax environment: the gymnax params pytree ``inner``."""

    inner: Any

    @property
    def episode_length(self):
        """The time limit T = ``inner.max_steps_in_episode`` (what plastix's trainer rolls out)."""
        return self.inner.max_steps_in_episode


@dataclasses.dataclass(frozen=True)
class GymnaxEnv(Environment):
    """A gymnax environment (``env_id``) with plastix's contract (module docstring). Final."""

    env_id: str = "CartPole-v1"

    name: ClassVar[str] = "gymnax"
    params_class: ClassVar[type] = GymnaxParams
    PRESETS: ClassVar[dict] = {"default": {}}

    def __post_init__(self):
        gymnax_env(self.env_id)  # validates the id and the action space

    @property
    def inner(self):
        return gymnax_env(self.env_id)[0]

    @property
    def num_actions(self) -> int:
        env, params = gymnax_env(self.env_id)
        return int(env.action_space(params).n)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        env, params = gymnax_env(self.env_id)
        return tuple(int(d) for d in env.observation_space(params).shape)

    @property
    def observation_size(self) -> int:
        return math.prod(self.observation_shape)

    def default_params(self) -> GymnaxParams:
        return GymnaxParams(gymnax_env(self.env_id)[1])

    def check_params(self, params):
        if not isinstance(params, GymnaxParams):
            raise PlastixError(f"gymnax:{self.env_id}: params must be GymnaxParams, got {type(params).__name__}.")
        length = params.episode_length
        if not (float(length) >= 1 and float(length) == int(length)):
            raise PlastixError(f"gymnax:{self.env_id}: max_steps_in_episode must be an integer >= 1, "
                               f"got {length!r}.")
        return params

    def flat_obs(self, obs) -> jax.Array:
        return jnp.reshape(jnp.asarray(obs, OBS_DTYPE), (self.observation_size,))

    def reset_env(self, key, params):
        obs, state = self.inner.reset_env(key, params.inner)
        return self.flat_obs(obs), state

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, _ = self.inner.step_env(key, state, action, params.inner)
        truncated = jnp.asarray(self.inner.is_truncated(state, params.inner), bool)
        return self.flat_obs(obs), state, jnp.asarray(reward, OBS_DTYPE), jnp.asarray(terminated, bool), truncated


def make_gymnax_env(name: str, preset: str = "default", **settings) -> tuple[GymnaxEnv, GymnaxParams]:
    """``make_env("gymnax:<id>", **settings)``: settings are fields of the gymnax params."""
    env = GymnaxEnv(name[len(PREFIX):])
    if preset not in GymnaxEnv.PRESETS:
        raise unknown_name(f"{name} preset", preset, GymnaxEnv.PRESETS)
    if "episode_length" in settings:
        settings["max_steps_in_episode"] = settings.pop("episode_length")
    inner = gymnax_env(env.env_id)[1]
    fields = [f.name for f in dataclasses.fields(inner)]
    for key in settings:
        if key not in fields:
            raise unknown_name(f"{name} setting", key, fields + ["episode_length"])
    params = GymnaxParams(inner.replace(**settings))
    return env, env.check_params(params)
