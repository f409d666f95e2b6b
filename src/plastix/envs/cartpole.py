"""CartPole: balance a pole on a cart (Barto, Sutton & Anderson 1983), as Gymnasium's CartPole-v1.

State s = (x, ẋ, θ, θ̇): cart position (m), cart velocity, pole angle from vertical (rad),
pole angular velocity. Action 0 pushes the cart left, 1 right, with force F = ±force_mag.
With total mass M = m_c + m_p, half-pole length l and g = gravity (Barto et al. 1983,
eqs. 21–22, frictionless, as coded in Gymnasium's ``CartPoleEnv``)::

    tmp  = (F + m_p l θ̇² sin θ) / M
    θ̈    = (g sin θ − cos θ · tmp) / (l (4/3 − m_p cos² θ / M))
    ẍ    = tmp − m_p l θ̈ cos θ / M

then one explicit Euler step of τ = 0.02 s, positions first with the OLD velocities::

    x ← x + τ ẋ,  ẋ ← ẋ + τ ẍ,  θ ← θ + τ θ̇,  θ̇ ← θ̇ + τ θ̈

Reward 1 on every step (the terminating one included). The episode is **terminated** when
|x| > 2.4 or |θ| > 12° (2π·12/360 rad) after the step, and **truncated** when the step count
reaches ``episode_length`` (500 for CartPole-v1; preset "v0": 200). As in Gymnasium's
``TimeLimit``, a step can be both terminated and truncated. A new episode starts from
s ~ U(−0.05, 0.05)⁴.

Observation, (4,) float32: the state itself (no meta-RL inputs: the task is Markov).
Physics is computed in float32 (as in gymnax); Gymnasium integrates in float64 and casts
the observation, so the two agree to ~1e-6 per step (tested).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from plastix.envs.base import OBS_DTYPE, Environment, is_last_step
from plastix.errors import PlastixError


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CartPoleParams:
    """Numeric parameters (vmappable): Gymnasium CartPole-v1's constants and the time limit."""

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    tau: float = 0.02  # seconds per step
    theta_threshold: float = 12 * 2 * math.pi / 360  # radians
    x_threshold: float = 2.4
    init_range: float = 0.05  # initial state ~ U(−init_range, init_range)^4
    episode_length: int = 500


class CartPoleState(NamedTuple):
    physics: jax.Array  # (4,) float32: x, x_dot, theta, theta_dot
    t: jax.Array  # () int32, steps taken in the episode


def cartpole_derivatives(physics: jax.Array, action, params: CartPoleParams):
    """(ẍ, θ̈) at state (4,) under action 0/1 (module docstring equations)."""
    _, _, theta, theta_dot = physics[0], physics[1], physics[2], physics[3]
    force = jnp.where(action == 1, params.force_mag, -params.force_mag)
    total_mass = params.masscart + params.masspole
    polemass_length = params.masspole * params.length
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    tmp = (force + polemass_length * theta_dot**2 * sin) / total_mass
    theta_acc = (params.gravity * sin - cos * tmp) / (
        params.length * (4.0 / 3.0 - params.masspole * cos**2 / total_mass)
    )
    x_acc = tmp - polemass_length * theta_acc * cos / total_mass
    return x_acc, theta_acc


def cartpole_euler(physics: jax.Array, action, params: CartPoleParams) -> jax.Array:
    """One explicit Euler step of τ: (4,) -> (4,) (positions advance with the old velocities)."""
    x_acc, theta_acc = cartpole_derivatives(physics, action, params)
    x, x_dot, theta, theta_dot = physics[0], physics[1], physics[2], physics[3]
    new = jnp.stack([
        x + params.tau * x_dot,
        x_dot + params.tau * x_acc,
        theta + params.tau * theta_dot,
        theta_dot + params.tau * theta_acc,
    ])
    return new.astype(OBS_DTYPE)


def out_of_bounds(physics: jax.Array, params: CartPoleParams) -> jax.Array:
    """Termination: |x| > x_threshold or |θ| > theta_threshold, () bool."""
    return (jnp.abs(physics[0]) > params.x_threshold) | (jnp.abs(physics[2]) > params.theta_threshold)


@dataclasses.dataclass(frozen=True)
class CartPole(Environment):
    """Gymnasium's CartPole-v1 in JAX (module docstring). No shape-fixing settings. Final."""

    name: ClassVar[str] = "cartpole"
    params_class: ClassVar[type] = CartPoleParams
    PRESETS: ClassVar[dict] = {"default": {}, "v1": {}, "v0": {"episode_length": 200}}

    @property
    def num_actions(self) -> int:
        return 2

    @property
    def observation_size(self) -> int:
        return 4

    def check_params(self, params):
        super().check_params(params)
        for name in ("masscart", "masspole", "length", "tau", "x_threshold", "theta_threshold"):
            if not float(getattr(params, name)) > 0:
                raise PlastixError(f"{self.name}: {name} must be > 0, got {getattr(params, name)!r}.")
        if not float(params.init_range) >= 0:
            raise PlastixError(f"{self.name}: init_range must be >= 0, got {params.init_range!r}.")
        return params

    def reset_env(self, key, params):
        r = jnp.asarray(params.init_range, OBS_DTYPE)
        physics = jax.random.uniform(key, (4,), OBS_DTYPE, -r, r)
        return physics, CartPoleState(physics, jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        del key  # deterministic dynamics
        physics = cartpole_euler(state.physics, action, params)
        t = state.t + 1
        terminated = out_of_bounds(physics, params)
        truncated = is_last_step(t, params.episode_length)
        return physics, CartPoleState(physics, t), jnp.ones((), OBS_DTYPE), terminated, truncated
