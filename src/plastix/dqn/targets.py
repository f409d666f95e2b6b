"""TD targets and losses of the DQN family, one window at a time (rlax style; batch with vmap).

Bootstrap values of the next state s′_t (the TRUE next observation, ``terminal_obs``)::

    dqn     (Mnih et al. 2015):       v_t = max_a Q(s′_t, a; θ⁻)
    double  (van Hasselt et al. 2016): v_t = Q(s′_t, argmax_a Q(s′_t, a; θ); θ⁻)

n-step target from step t of a window (Sutton & Barto 2018 §7.1; Hessel et al. 2018),
written as a backward recursion over k = n−1, …, 0 (steps t+k of the window)::

    G_{t+k} = r_{t+k} + γ · (1 − term_{t+k}) · v_{t+k}     if done_{t+k} or k = n − 1
    G_{t+k} = r_{t+k} + γ · G_{t+k+1}                     otherwise

computed by the one return kernel, ``plastix.rl.returns.discounted_returns``, with the cut
folded into the reward and the discount: r′ = r + γ [cut] (1 − term) v, discount = γ [not cut].
Arrays follow rlax's names and ``plastix.rl.returns``' convention: ``r_t``, ``terminated_t``,
``truncated_t`` of step t and ``v_t`` = the value of the state after step t, all (n,).

with done = terminated | truncated. So the return is cut at the first episode end: after a
termination nothing is bootstrapped (y_j = r_j for terminal φ_{j+1}, Mnih et al. 2015, Algorithm 1); after a
truncation (time limit) the value of the true next state is bootstrapped; otherwise after n
rewards v_{t+n−1} = the value of s_{t+n}. n = 1 is Mnih et al.'s y = r + γ max_a′ Q̂(s′, a′).

TD loss per learning position (δ = G − Q(s_t, a_t; θ)): ``huber`` ρ(δ) = ½δ² for |δ| ≤ 1,
|δ| − ½ otherwise (the DQN paper's error clipping), or ``mse`` ½δ².
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from plastix.rl.returns import discounted_returns

LOSSES = ("huber", "mse")


def bootstrap_values(q_next_target: jax.Array, q_next_online: jax.Array, double: bool) -> jax.Array:
    """v_t from Q(s′_t, ·) of the target (and online) network: (L, A), (L, A) -> (L,)."""
    if double:
        best = jnp.argmax(q_next_online, axis=-1)
        return jnp.take_along_axis(q_next_target, best[:, None], axis=-1)[:, 0]
    return jnp.max(q_next_target, axis=-1)


def n_step_target(r_t: jax.Array, terminated_t: jax.Array, truncated_t: jax.Array, v_t: jax.Array,
                  gamma) -> jax.Array:
    """The n-step target G_t (module docstring) from n steps: r_t, flags, v_t all (n,) -> ()."""
    n = r_t.shape[0]
    cut_t = terminated_t | truncated_t | (jnp.arange(n) == n - 1)
    boot_t = jnp.where(cut_t, (1.0 - terminated_t.astype(r_t.dtype)) * v_t, 0.0)
    if n == 1:  # G = r + γ (1 − term) v: the recursion below with its one step (no scan)
        return (r_t + gamma * boot_t)[0]
    discount_t = jnp.where(cut_t, 0.0, gamma).astype(r_t.dtype)
    return discounted_returns(r_t + gamma * boot_t, discount_t)[0]


def window_targets(r_t, terminated_t, truncated_t, v_t, gamma, first: int, count: int, n: int) -> jax.Array:
    """G at the learning positions first, …, first+count−1 of a window (L,) -> (count,)."""

    def at(j):
        take = lambda x: lax.dynamic_slice_in_dim(x, j, n)  # noqa: E731
        return n_step_target(take(r_t), take(terminated_t), take(truncated_t), take(v_t), gamma)

    return jax.vmap(at)(first + jnp.arange(count))


def td_loss(delta: jax.Array, kind: str) -> jax.Array:
    """Elementwise ρ(δ): Huber (κ = 1) or ½δ²."""
    if kind == "huber":
        abs_d = jnp.abs(delta)
        return jnp.where(abs_d <= 1.0, 0.5 * delta**2, abs_d - 0.5)
    return 0.5 * delta**2


def linear_schedule(start, end, duration, step) -> jax.Array:
    """start + (end − start) · min(step / duration, 1): ε (and PER's β) over env steps."""
    frac = jnp.clip(jnp.asarray(step, jnp.float32) / duration, 0.0, 1.0)
    return start + (end - start) * frac
