"""The environment contract of plastix: gymnax's API, with terminated/truncated split.

An environment is a frozen dataclass whose fields are the *settings that fix shapes* (number
of cues, maze size, ...); the numbers that do not change shapes (episode length, reward
size, probabilities) live in a separate frozen ``Params`` dataclass registered as a pytree,
so a batch of environments with different parameters is a ``vmap`` over params::

    env, params = make_env("cue-reward")
    obs, state = env.reset(key, params)                        # obs: (observation_size,)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

Everything is pure JAX on ONE unbatched environment: batch with ``vmap`` over keys (and
states, actions), run time with ``lax.scan``; both functions ``jit``.

Auto-reset (as in gymnax). When the step ends the episode (``terminated | truncated``), the
returned ``obs``/``state`` are already those of a fresh episode (drawn with a key split from
the step key); the observation the old episode would have shown next is in
``info["terminal_obs"]`` (for bootstrapping at truncation), and ``info["episode_start"]`` is
True: the returned obs is the FIRST of a new episode, so a trainer resets the recurrent carry
(hidden state, Hebbian traces) before feeding it. ``info["discount"]`` is 1 − terminated.

Every observation ends with the same "meta-RL" inputs (Miconi et al. 2019; Wang et al.
2018): bias 1, t/T (step index t = 0..T−1 of the episode over the episode length T), the
previous reward r_{t−1} (0 at t = 0) and the previous action one-hot (all zeros at t = 0).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from plastix.errors import PlastixError

PyTree = Any
OBS_DTYPE = jnp.float32  # observations and rewards are float32; cast in the trainer if needed


class ContinuousActions(NamedTuple):
    """A continuous action space: actions are float32 vectors (dim,) in the box [low, high].
    An environment declares one through its ``action_spec`` property (None: discrete actions)."""

    dim: int
    low: tuple[float, ...]  # (dim,)
    high: tuple[float, ...]  # (dim,)


class Transition(NamedTuple):
    """One step of a rollout (leading time axis when stacked by ``rollout``).

    state: the state the step started from; obs: the observation the policy saw;
    next_obs: the returned (post-auto-reset) observation.
    """

    state: PyTree
    obs: jax.Array  # (observation_size,)
    action: jax.Array  # () int32
    reward: jax.Array  # () float32
    terminated: jax.Array  # () bool
    truncated: jax.Array  # () bool
    next_obs: jax.Array  # (observation_size,)
    terminal_obs: jax.Array  # (observation_size,)


@dataclasses.dataclass(frozen=True)
class Environment(abc.ABC):
    """Abstract environment (module docstring: the contract). Subclasses are final.

    Subclasses define ``name``, ``params_class``, ``num_actions``, ``observation_size``,
    ``reset_env`` and ``step_env`` (the transition WITHOUT auto-reset); ``reset`` and
    ``step`` add the auto-reset and must not be overridden.
    """

    name: ClassVar[str] = "environment"
    params_class: ClassVar[type] = type(None)

    # ------------------------------------------------------------ to implement
    @property
    @abc.abstractmethod
    def num_actions(self) -> int: ...

    @property
    @abc.abstractmethod
    def observation_size(self) -> int: ...

    @property
    def action_spec(self) -> ContinuousActions | None:
        """None for discrete actions (integers in [0, num_actions)); a continuous-action
        environment returns its ``ContinuousActions(dim, low, high)`` (actions float32 (dim,))."""
        return None

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """The observation's natural shape (e.g. (10, 10, C) for MinAtar images); observations
        are passed flat or in this shape as the environment documents. Default
        ``(observation_size,)``."""
        return (self.observation_size,)

    @abc.abstractmethod
    def reset_env(self, key: jax.Array, params) -> tuple[jax.Array, PyTree]:
        """A fresh episode: (obs (observation_size,), state)."""

    @abc.abstractmethod
    def step_env(self, key, state, action, params) -> tuple[jax.Array, PyTree, Any, Any, Any]:
        """One transition without auto-reset: (obs, state, reward, terminated, truncated)."""

    # ------------------------------------------------------------ the contract
    def default_params(self):
        """The environment's default numeric parameters (a pytree dataclass)."""
        return self.params_class()

    def reset(self, key: jax.Array, params=None) -> tuple[jax.Array, PyTree]:
        """(obs, state) of a new episode; ``params=None`` means ``default_params()``."""
        params = self.default_params() if params is None else params
        return self.reset_env(key, params)

    def step(self, key: jax.Array, state: PyTree, action, params=None):
        """One step with auto-reset.

        Returns (obs, state, reward, terminated, truncated, info): reward () float32, the flags
        () bool, info = {"terminal_obs": (observation_size,), "episode_start": () bool,
        "discount": () float32}. When terminated | truncated, obs/state begin a new episode.
        """
        params = self.default_params() if params is None else params
        key_step, key_reset = jax.random.split(key)
        obs_end, state_end, reward, terminated, truncated = self.step_env(
            key_step, state, jnp.asarray(action, jnp.int32 if self.action_spec is None else OBS_DTYPE), params
        )
        obs_new, state_new = self.reset_env(key_reset, params)
        done = jnp.logical_or(terminated, truncated)
        state = jax.tree_util.tree_map(lambda a, b: jnp.where(done, a, b), state_new, state_end)
        obs = jnp.where(done, obs_new, obs_end)
        info = {
            "terminal_obs": obs_end,
            "episode_start": done,
            "discount": 1.0 - terminated.astype(OBS_DTYPE),
        }
        return obs, state, jnp.asarray(reward, OBS_DTYPE), terminated, truncated, info

    # ------------------------------------------------------------ host-side checks
    def check_action(self, action) -> int:
        """Validate one host-side action (adapters, CLI): an integer in [0, num_actions).

        Accepts Python/NumPy integers and 0-d integer arrays; rejects bools, floats, strings.
        """
        arr = np.asarray(action) if not isinstance(action, (bool, str)) else None
        if arr is None or arr.shape != () or not np.issubdtype(arr.dtype, np.integer):
            raise PlastixError(
                f"{self.name}: an action must be an integer in [0, {self.num_actions}), "
                f"got {action!r}."
            )
        if not 0 <= int(arr) < self.num_actions:
            raise PlastixError(
                f"{self.name}: action must be in [0, {self.num_actions}), got {action!r}."
            )
        return int(arr)

    def check_params(self, params) -> Any:
        """Validate concrete params at the boundary (``make_env``); returns them."""
        if not isinstance(params, self.params_class):
            raise PlastixError(
                f"{self.name}: params must be a {self.params_class.__name__}, "
                f"got {type(params).__name__}."
            )
        for leaf in jax.tree_util.tree_leaves(params):
            if not bool(jnp.all(jnp.isfinite(jnp.asarray(leaf)))):
                raise PlastixError(f"{self.name}: params must be finite, got {params!r}.")
        check_episode_length(self.name, params.episode_length)
        return params


# ---------------------------------------------------------------- shared helpers
def check_episode_length(env_name: str, length) -> None:
    """Reject episode lengths that are not integers >= 1 (concrete values only)."""
    arr = jnp.asarray(length)
    if not jnp.issubdtype(arr.dtype, jnp.integer) or bool(jnp.any(arr < 1)):
        raise PlastixError(
            f"{env_name}: episode_length must be an integer >= 1, got {length!r}."
        )


def check_setting_int(env_name: str, name: str, value, minimum: int) -> int:
    """Reject a shape-fixing integer setting below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PlastixError(f"{env_name}: {name} must be an integer >= {minimum}, got {value!r}.")
    return value


def check_probability(env_name: str, name: str, value) -> None:
    """Reject probabilities outside [0, 1] (or non-finite)."""
    arr = jnp.asarray(value)
    if not bool(jnp.all(jnp.isfinite(arr))) or bool(jnp.any((arr < 0) | (arr > 1))):
        raise PlastixError(f"{env_name}: {name} must lie in [0, 1], got {value!r}.")


def meta_inputs(t, episode_length, prev_reward, prev_action, num_actions: int) -> jax.Array:
    """The shared tail of every observation, (3 + num_actions,) float32.

    [1 (bias), t / T, r_{t−1}, onehot(a_{t−1})]; ``prev_action = −1`` gives an all-zero
    one-hot (used at t = 0, when there is no previous action).
    """
    head = jnp.stack(
        [
            jnp.ones((), OBS_DTYPE),
            jnp.asarray(t, OBS_DTYPE) / jnp.asarray(episode_length, OBS_DTYPE),
            jnp.asarray(prev_reward, OBS_DTYPE),
        ]
    )
    return jnp.concatenate([head, jax.nn.one_hot(prev_action, num_actions, dtype=OBS_DTYPE)])


def is_last_step(t_next, episode_length) -> jax.Array:
    """Truncation flag after a step: the episode has reached T steps (t_next = t + 1 >= T)."""
    return jnp.asarray(t_next >= episode_length)


def meta_inputs_size(num_actions: int) -> int:
    return 3 + num_actions


# ---------------------------------------------------------------- rollout (tests, demos)
def _rollout_step(env, params, policy_fn, carry, key):
    obs, state = carry
    key_policy, key_step = jax.random.split(key)
    action = jnp.asarray(policy_fn(key_policy, obs), jnp.int32)
    next_obs, next_state, reward, terminated, truncated, info = env.step(
        key_step, state, action, params
    )
    transition = Transition(
        state, obs, action, reward, terminated, truncated, next_obs, info["terminal_obs"]
    )
    return (next_obs, next_state), transition


def rollout(
    env: Environment,
    params,
    policy_fn: Callable[[jax.Array, jax.Array], jax.Array],
    key: jax.Array,
    steps: int,
) -> Transition:
    """Run ``steps`` auto-resetting steps from a reset: a Transition with leading axis (steps,).

    ``policy_fn(key, obs) -> action`` (a memoryless policy, enough for tests and demos; a
    recurrent agent lives in a trainer). One key is split into the reset key and one key per
    step. Pure: ``jit`` it with ``env``, ``policy_fn`` and ``steps`` static.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise PlastixError(f"rollout: steps must be a positive integer, got {steps!r}.")
    key_reset, key_steps = jax.random.split(key)
    obs, state = env.reset(key_reset, params)
    keys = jax.random.split(key_steps, steps)

    def body(carry, k):
        return _rollout_step(env, params, policy_fn, carry, k)

    _, transitions = lax.scan(body, (obs, state), keys)
    return transitions


def random_policy(num_actions: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """A uniformly random policy over ``num_actions`` actions, for ``rollout``."""

    def policy(key, obs):
        del obs
        return jax.random.randint(key, (), 0, num_actions, jnp.int32)

    return policy
