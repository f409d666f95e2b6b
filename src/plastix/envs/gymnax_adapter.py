"""``gymnax:<id>``: any gymnax environment (discrete or Box actions) behind plastix's contract.

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
alias of it).

Continuous actions. A gymnax ``Box`` action space of shape (d,) (``Pendulum-v1``: d = 1, torque
in [−2, 2]; ``MountainCarContinuous-v0``: d = 1, force in [−1, 1]) is exposed as
``action_spec = ContinuousActions(d, low, high)`` (``plastix.envs.base``); actions are then
float32 vectors (d,) passed to gymnax unchanged, ``num_actions`` raises, and the agents that
accept them are a2c, reinforce and ppo (``plastix.rl.distributions``). gymnax observations carry
no previous action, so nothing one-hot needs replacing.

Your own environment object (``wrap_gymnax(obj, params=None, episode_length=None)``): anything
with gymnax's API — ``reset(key, params) -> (obs, state)``, ``step(key, state, action, params)``,
``action_space(params)`` (discrete: an integer ``n``; continuous: a Box ``shape`` (d,), ``low``, ``high``), ``observation_space(params)`` (a
``shape``) and ``default_params`` — e.g. ``gymnax.environments.classic_control.CartPole()`` or a
class of your own. A gymnax ``Environment`` subclass is stepped through its ``reset_env`` /
``step_env`` as above. Any other object through its ``reset`` / ``step``: a 6-tuple step
``(obs, state, reward, terminated, truncated, info)`` (gymnax >= 1.0) takes the end-of-episode
observation from ``info["final_observation"]`` if present; a 5-tuple ``(obs, state, reward,
done, info)`` counts ``done`` as terminated. The episode length T is the params'
``max_steps_in_episode``, or ``episode_length`` (required when the params have none). Checked at
the boundary with ``jax.eval_shape``: a Discrete or 1-D Box action space, an observation of the declared
shape from ``reset`` and ``step``, scalar reward and flags.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from plastix.envs.base import OBS_DTYPE, ContinuousActions, Environment
from plastix.errors import PlastixError, check_positive_int, unknown_name

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
    action_spec_of(f"gymnax:{env_id}", env.action_space(params))  # a Discrete or a 1-D Box
    return env, params


def action_spec_of(label: str, space) -> ContinuousActions | None:
    """None for a discrete space (an integer ``n``), ``ContinuousActions`` for a Box of shape (d,)
    with finite bounds; PlastixError for anything else."""
    n = getattr(space, "n", None)
    if n is not None and not isinstance(n, bool) and isinstance(n, (int, np.integer)) and int(n) >= 1:
        return None
    shape, low, high = (getattr(space, name, None) for name in ("shape", "low", "high"))
    try:
        shape = tuple(int(d) for d in shape)
        low, high = (np.broadcast_to(np.asarray(b, np.float64), shape) for b in (low, high))
    except (TypeError, ValueError):
        shape = None
    if shape is None or len(shape) != 1 or shape[0] < 1 or not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))
                                                                  and np.all(low < high)):
        raise PlastixError(f"environment {label!r} must have a discrete action space (an integer n >= 1, e.g. "
                           f"gymnax.environments.spaces.Discrete) or a Box of shape (d,) with finite low < high; "
                           f"got {type(space).__name__} with n={n!r}.")
    return ContinuousActions(shape[0], tuple(float(v) for v in low), tuple(float(v) for v in high))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GymnaxParams:
    """plastix params of a gymnax environment: the gymnax params pytree ``inner``; ``length`` is
    the episode length of a wrapped object whose params have no ``max_steps_in_episode``."""

    inner: Any
    length: Any = None

    @property
    def episode_length(self):
        """The time limit T = ``inner.max_steps_in_episode`` (what plastix's trainer rolls out)."""
        return self.inner.max_steps_in_episode if self.length is None else self.length


@dataclasses.dataclass(frozen=True)
class GymnaxEnv(Environment):
    """A gymnax environment (``env_id``) with plastix's contract (module docstring). Final."""

    env_id: str = "CartPole-v1"
    # --- a wrapped object (wrap_gymnax) instead of a registered id; compared by identity
    source: Any = dataclasses.field(default=None, compare=False, repr=False)
    source_id: int = 0
    source_params: Any = dataclasses.field(default=None, compare=False, repr=False)
    length: int | None = None  # the episode length when source_params has no max_steps_in_episode

    name: ClassVar[str] = "gymnax"
    params_class: ClassVar[type] = GymnaxParams
    PRESETS: ClassVar[dict] = {"default": {}}

    def __post_init__(self):
        if self.source is None:
            gymnax_env(self.env_id)  # validates the id and the action space

    def env_and_params(self):
        """(the gymnax-API object, the params its spaces are read with)."""
        return gymnax_env(self.env_id) if self.source is None else (self.source, self.source_params)

    @property
    def inner(self):
        return self.env_and_params()[0]

    @property
    def action_spec(self) -> ContinuousActions | None:
        """None (discrete actions) or the Box action space as ``ContinuousActions(d, low, high)``."""
        env, params = self.env_and_params()
        return action_spec_of(self.env_id, env.action_space(params))

    @property
    def num_actions(self) -> int:
        if self.action_spec is not None:
            raise PlastixError(f"gymnax:{self.env_id} has continuous actions {self.action_spec}, not a number of "
                               "discrete actions (read action_spec).")
        env, params = self.env_and_params()
        return int(env.action_space(params).n)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        env, params = self.env_and_params()
        return tuple(int(d) for d in env.observation_space(params).shape)

    @property
    def observation_size(self) -> int:
        return math.prod(self.observation_shape)

    def default_params(self) -> GymnaxParams:
        if self.source is not None:
            return GymnaxParams(self.source_params, self.length)
        return GymnaxParams(gymnax_env(self.env_id)[1])

    @property
    def own_transitions(self) -> bool:
        """True when the object is a gymnax ``Environment`` (stepped by reset_env / step_env)."""
        from gymnax.environments.environment import Environment as GymnaxBase

        return self.source is None or isinstance(self.source, GymnaxBase)

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
        reset = self.inner.reset_env if self.own_transitions else self.inner.reset
        obs, state = reset(key, params.inner)
        return self.flat_obs(obs), state

    def step_env(self, key, state, action, params):
        if not self.own_transitions:
            return self.step_object(key, state, action, params)
        obs, state, reward, terminated, _ = self.inner.step_env(key, state, action, params.inner)
        truncated = jnp.zeros((), bool)
        if hasattr(params.inner, "max_steps_in_episode"):
            truncated = jnp.asarray(self.inner.is_truncated(state, params.inner), bool)
        return self.flat_obs(obs), state, jnp.asarray(reward, OBS_DTYPE), jnp.asarray(terminated, bool), truncated

    def step_object(self, key, state, action, params):
        """A step through the object's own (auto-resetting) ``step``: the end-of-episode
        observation comes from ``info["final_observation"]``; plastix's ``step`` resets again."""
        out = self.inner.step(key, state, action, params.inner)
        if len(out) == 6:
            obs, state, reward, terminated, truncated, info = out
        else:
            obs, state, reward, terminated, info = out
            truncated = jnp.zeros((), bool)
        obs = info.get("final_observation", obs) if isinstance(info, dict) else obs
        return (self.flat_obs(obs), state, jnp.asarray(reward, OBS_DTYPE), jnp.asarray(terminated, bool),
                jnp.asarray(truncated, bool))


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


# ---------------------------------------------------------------- your own environment object
GYMNAX_API = ("reset", "step", "action_space", "observation_space")


def object_default_params(obj):
    """``obj.default_params`` (a property in gymnax, possibly a method elsewhere)."""
    if not hasattr(obj, "default_params"):
        raise PlastixError(f"environment {type(obj).__name__!r} has no default_params; pass params explicitly.")
    params = obj.default_params
    return params() if callable(params) and not dataclasses.is_dataclass(params) else params


def check_spaces(label: str, obj, params) -> tuple[ContinuousActions | None, tuple[int, ...]]:
    """(action spec: None if discrete, observation shape); a Discrete or 1-D Box action space is required."""
    spec = action_spec_of(label, obj.action_space(params))
    shape = getattr(obj.observation_space(params), "shape", None)
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        shape = None
    if not shape or math.prod(shape) < 1:
        raise PlastixError(f"environment {label!r}: observation_space(params).shape must be a non-empty shape, "
                           f"got {shape!r}.")
    return spec, shape


def check_transitions(label: str, env: GymnaxEnv, params: GymnaxParams, shape: tuple[int, ...]) -> None:
    """Trace reset and one step (``jax.eval_shape``, nothing runs) and check what comes out."""
    key = jax.random.PRNGKey(0)
    try:
        obs, state = jax.eval_shape(lambda k: env.inner.reset(k, params.inner), key)
    except Exception as err:  # noqa: BLE001 - the user's code failed
        raise PlastixError(f"environment {label!r}: reset(key, params) failed: {err}") from err
    if tuple(getattr(obs, "shape", ())) != shape:
        raise PlastixError(f"environment {label!r}: reset returns an observation of shape "
                           f"{getattr(obs, 'shape', None)}, but observation_space says {shape}.")
    try:
        spec = env.action_spec
        action = jnp.zeros((), jnp.int32) if spec is None else jnp.asarray(spec.low, OBS_DTYPE)
        out = jax.eval_shape(lambda k: env.step(k, env.reset(k, params)[1], action, params), key)
    except Exception as err:  # noqa: BLE001
        raise PlastixError(f"environment {label!r}: step(key, state, action, params) failed on action 0 / low (expected "
                           f"(obs, state, reward, terminated, truncated, info) or (obs, state, reward, done, "
                           f"info)): {err}") from err
    _, _, reward, terminated, truncated, _ = out
    for what, value in (("reward", reward), ("terminated/done flag", terminated), ("truncated flag", truncated)):
        if value.shape != ():
            raise PlastixError(f"environment {label!r}: step must return a scalar {what}, got shape {value.shape}.")


def wrap_gymnax(obj, params=None, *, episode_length: int | None = None) -> tuple[GymnaxEnv, GymnaxParams]:
    """``(env, params)`` for a gymnax-API environment object (module docstring); PlastixError if
    it lacks the API, has an action space neither Discrete nor a 1-D Box, or its observations disagree
    with its space."""
    label = type(obj).__name__
    missing = [m for m in GYMNAX_API if not callable(getattr(obj, m, None))]
    if missing:
        raise PlastixError(f"an environment object needs gymnax's API (reset, step, action_space, "
                           f"observation_space, default_params); {label!r} has no {', '.join(missing)}.")
    params = object_default_params(obj) if params is None else params
    if episode_length is not None:
        check_positive_int("episode_length", episode_length)
    if hasattr(params, "max_steps_in_episode"):
        if episode_length is not None:
            replace = getattr(params, "replace", None) or functools.partial(dataclasses.replace, params)
            params = replace(max_steps_in_episode=episode_length)
        length = None
    elif episode_length is None:
        raise PlastixError(f"environment {label!r}: its params have no max_steps_in_episode, so pass "
                           "episode_length (the steps per rollout, T).")
    else:
        length = episode_length
    check_spaces(label, obj, params)
    env = GymnaxEnv(label, source=obj, source_id=id(obj), source_params=params, length=length)
    env_params = env.check_params(env.default_params())
    check_transitions(label, env, env_params, env.observation_shape)
    return env, env_params
