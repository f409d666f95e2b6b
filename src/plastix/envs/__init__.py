"""Reinforcement-learning environments with the gymnax contract (see ``plastix.envs.base``).

``make_env(name, preset="default", **settings) -> (env, params)``: ``settings`` may name
either a shape-fixing field of the environment (``n_cues``, ``size``, ``randomize``) or a
numeric parameter (``episode_length``, ``reward_value``, ...); presets ("paper", "easy",
"meta", "v0") are named bundles of both. ``"gymnax:<id>"`` and ``"gymnasium:<id>"`` reach outside
environments through adapters. Documentation: docs/environments.md.
"""

from __future__ import annotations

import dataclasses

from plastix.envs.bandit import BanditParams, BanditState, TwoArmedBandit
from plastix.envs.base import Environment, Transition, random_policy, rollout
from plastix.envs.cartpole import CartPole, CartPoleParams, CartPoleState
from plastix.envs.cue_reward import CueReward, CueRewardParams, CueRewardState
from plastix.envs.gymnasium_adapter import PREFIX as GYMNASIUM_PREFIX
from plastix.envs.gymnasium_adapter import GymnasiumEnv, GymnasiumParams, HostVecEnv, make_gymnasium_env
from plastix.envs.gymnax_adapter import PREFIX as GYMNAX_PREFIX
from plastix.envs.gymnax_adapter import GymnaxEnv, GymnaxParams, make_gymnax_env, wrap_gymnax
from plastix.envs.meta_maze import MetaMaze, MetaMazeParams, MetaMazeState, grid_layout
from plastix.errors import PlastixError, unknown_name

ENVS: dict[str, type[Environment]] = {
    "cue-reward": CueReward,
    "meta-maze": MetaMaze,
    "bandit": TwoArmedBandit,
    "cartpole": CartPole,
}


def env_setting_names(name: str) -> tuple[list[str], list[str]]:
    """(shape-fixing settings, numeric parameters) accepted by ``make_env(name, ...)``."""
    cls = get_env_class(name)
    return (
        [f.name for f in dataclasses.fields(cls)],
        [f.name for f in dataclasses.fields(cls.params_class)],
    )


def get_env_class(name: str) -> type[Environment]:
    """The environment class called ``name`` (raises with the closest valid name)."""
    if name not in ENVS:
        raise unknown_name("environment", name, ENVS)
    return ENVS[name]


def make_env(name: str, preset: str = "default", **settings):
    """Build ``(env, params)`` for the environment ``name``.

    ``"gymnax:<id>"`` wraps a gymnax environment (``plastix.envs.gymnax_adapter``, pure JAX);
    ``"gymnasium:<id>"`` describes a Gymnasium environment run on the host
    (``plastix.envs.gymnasium_adapter``; train it with ``plastix.rl.host_loop.train_host``).

    The preset's values are applied first, then ``settings``; each key goes to the
    environment's constructor (shape-fixing) or to its params dataclass (numeric). Unknown
    names, presets or keys, and invalid values, raise PlastixError.
    """
    if name.startswith(GYMNAX_PREFIX):
        return make_gymnax_env(name, preset, **settings)
    if name.startswith(GYMNASIUM_PREFIX):
        return make_gymnasium_env(name, preset, **settings)
    cls = get_env_class(name)
    if preset not in cls.PRESETS:
        raise unknown_name(f"{name} preset", preset, cls.PRESETS)
    env_keys, param_keys = env_setting_names(name)
    merged = {**cls.PRESETS[preset], **settings}
    for key in merged:
        if key not in env_keys and key not in param_keys:
            raise unknown_name(f"{name} setting", key, env_keys + param_keys)
    env = cls(**{k: v for k, v in merged.items() if k in env_keys})
    try:
        params = env.params_class(**{k: v for k, v in merged.items() if k in param_keys})
    except TypeError as err:  # pragma: no cover - keys are checked above
        raise PlastixError(f"{name}: bad parameters: {err}") from err
    return env, env.check_params(params)


# --- bring-your-own environment ---
def as_env(env, params=None, *, episode_length: int | None = None):
    """``(env, params)`` from what a trainer's ``env=`` may be: a plastix ``Environment`` (params
    default to its own), a registered name (``make_env``), a pair ``(env, params)``, or any
    object with gymnax's API (``wrap_gymnax``: discrete actions; ``episode_length`` when its
    params have no ``max_steps_in_episode``). Raises PlastixError for anything else."""
    if isinstance(env, tuple) and len(env) == 2 and params is None:
        env, params = env
    if isinstance(env, str):
        if params is not None:
            raise PlastixError(f"as_env: give either the name {env!r} or params, not both (use make_env settings).")
        return make_env(env)
    if isinstance(env, Environment):
        return env, env.check_params(env.default_params() if params is None else params)
    return wrap_gymnax(env, params, episode_length=episode_length)


__all__ = [
    "ENVS",
    "BanditParams",
    "BanditState",
    "CartPole",
    "CartPoleParams",
    "CartPoleState",
    "CueReward",
    "CueRewardParams",
    "CueRewardState",
    "Environment",
    "GymnasiumEnv",
    "GymnasiumParams",
    "GymnaxEnv",
    "GymnaxParams",
    "HostVecEnv",
    "MetaMaze",
    "MetaMazeParams",
    "MetaMazeState",
    "Transition",
    "TwoArmedBandit",
    "as_env",
    "env_setting_names",
    "get_env_class",
    "grid_layout",
    "make_env",
    "make_gymnasium_env",
    "make_gymnax_env",
    "random_policy",
    "rollout",
    "wrap_gymnax",
]
