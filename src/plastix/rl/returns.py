"""Returns and advantages of ONE trajectory, as reverse ``lax.scan`` recursions (rlax style).

Conventions (shapes for one trajectory of T steps; batch with ``jax.vmap``):

- ``r_t`` (T,): reward received after the action at step t.
- ``discount_t`` (T,): the factor that multiplies the return *after* step t. It is γ inside an
  episode and 0 on the last step of an episode, so one trajectory may hold several episodes
  back to back (``discount_from_done``).
- ``done_t`` (T,) bool: step t is the last step of its episode (used where episode membership
  matters even when γ = 0, e.g. the whole-episode return).
- ``v_tm1`` (T,): v(s_t), the value of the state step t acts in.
- ``v_t`` (T,): v(s_{t+1}), the value of the state reached after step t: the bootstrap value
  (multiplied by ``discount_t``, so it does not matter after a final step).

These are rlax's names (for transition t: ``v_tm1`` before it, ``r_t`` and ``discount_t`` along
it, ``v_t`` after it) and the convention of ``plastix.dqn.targets``. Two arrays rather than one
(T+1,) array let the value after a time-limit truncation be that of the true last state.

Backpropamine's A2C (Miconi et al., ICLR 2019; released code, ``--gr 0.9``) uses Monte-Carlo
returns R_t = r_t + 0.9 R_{t+1}, R_T = 0 over the fixed-length episode:
``discounted_returns(r_t, jnp.full_like(r_t, 0.9))``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from plastix.errors import check_positive_int, check_trajectory


def discount_from_done(done_t: jax.Array, gamma: float | jax.Array) -> jax.Array:
    """discount_t = γ (1 − done_t): γ inside an episode, 0 on its last step.  (T,) -> (T,)."""
    return jnp.where(done_t, 0.0, gamma).astype(jnp.result_type(float))


def discounted_returns(r_t: jax.Array, discount_t: jax.Array, bootstrap: jax.Array | float = 0.0) -> jax.Array:
    """Discounted returns (reward-to-go) G_t, by a reverse scan.

        G_t = r_t + discount_t · G_{t+1},    G_T = bootstrap            (Sutton & Barto eq. 3.9)

    With discount_t = 1 inside episodes this is the undiscounted reward-to-go Q̂_t = Σ_{t'≥t} r_t'
    ("causality": a reward does not depend on later actions; Sutton et al. 2000).
    r_t, discount_t: (T,); bootstrap: () -> G_t (T,).
    """
    check_trajectory(r_t, ("discount_t", discount_t))
    bootstrap = jnp.asarray(bootstrap, r_t.dtype)

    def step(g_next, inp):
        r, d = inp
        g = r + d * g_next
        return g, g

    _, g_t = lax.scan(step, bootstrap, (r_t, discount_t.astype(r_t.dtype)), reverse=True)
    return g_t


def reward_to_go(r_t: jax.Array, done_t: jax.Array, gamma: float = 1.0) -> jax.Array:
    """Q̂_t = Σ_{t'=t}^{end of t's episode} γ^{t'−t} r_t'  (Sutton et al. 2000).  (T,) -> (T,)."""
    return discounted_returns(r_t, discount_from_done(done_t, gamma).astype(r_t.dtype))


def _episode_starts(done_t: jax.Array) -> jax.Array:
    """start_t: step t opens an episode (t = 0 or step t−1 ended one).  (T,) bool."""
    return jnp.concatenate([jnp.ones((1,), bool), done_t[:-1].astype(bool)])


def episode_cumsum(x_t: jax.Array, done_t: jax.Array) -> jax.Array:
    """Within-episode running sum c_t = x_t + [t does not start an episode] · c_{t−1}.  (T,) -> (T,).

    Used for log importance ratios: log Π_{t'=start}^{t} ρ_t' (per-decision weights)."""
    check_trajectory(x_t, ("done_t", done_t))

    def step(c_prev, inp):
        x, start = inp
        c = x + jnp.where(start, 0.0, c_prev)
        return c, c

    _, c_t = lax.scan(step, jnp.zeros((), x_t.dtype), (x_t, _episode_starts(done_t)))
    return c_t


def episode_returns(r_t: jax.Array, done_t: jax.Array, gamma: float = 1.0) -> jax.Array:
    """Whole-episode return R(τ) of the episode that step t belongs to, at every step.

        R_t = Q̂_{start(t)} = Σ_{k≥0} γ^k r_{start(t)+k}  (to the end of that episode)

    The weight of every log π(a_t|s_t) in the original REINFORCE estimator (Williams 1992):
    ∇J ≈ (Σ_t ∇log π(a_t|s_t)) r(τ). Forward scan that carries the reward-to-go
    of the episode's first step.  r_t (T,), done_t (T,) bool -> (T,).
    """
    check_trajectory(r_t, ("done_t", done_t))
    q_t = reward_to_go(r_t, done_t, gamma)

    def step(carry, inp):
        q, start = inp
        whole = jnp.where(start, q, carry)
        return whole, whole

    _, whole_t = lax.scan(step, q_t[0], (q_t, _episode_starts(done_t)))
    return whole_t


def lambda_returns(r_t: jax.Array, discount_t: jax.Array, v_t: jax.Array,
                   lambda_: float | jax.Array) -> jax.Array:
    """TD(λ) returns with bootstrap values (Sutton 1988; Sutton & Barto eq. 12.18, recursive form):

        G^λ_t = r_t + discount_t · [(1 − λ) v_t + λ G^λ_{t+1}],    G^λ_T = v_t[T−1]

    λ = 1: Monte-Carlo returns bootstrapped by v_t[T−1]; λ = 0: one-step TD targets
    r_t + discount_t v_t. r_t, discount_t, v_t: (T,); λ scalar or (T,) -> (T,).
    """
    T = check_trajectory(r_t, ("discount_t", discount_t), ("v_t", v_t))
    lam = jnp.broadcast_to(jnp.asarray(lambda_, r_t.dtype), (T,))

    def step(g_next, inp):
        r, d, v_next, l = inp
        g = r + d * ((1.0 - l) * v_next + l * g_next)
        return g, g

    _, g_t = lax.scan(step, v_t[T - 1], (r_t, discount_t.astype(r_t.dtype), v_t, lam), reverse=True)
    return g_t


def n_step_returns(r_t: jax.Array, discount_t: jax.Array, v_t: jax.Array, n: int) -> jax.Array:
    """n-step returns, truncated at the end of the trajectory (Sutton & Barto eq. 7.1):

        G^(n)_t = Σ_{k<m} (Π_{j<k} γ_{t+j}) r_{t+k} + (Π_{j<m} γ_{t+j}) v_{t+m−1},   m = min(n, T − t)

    (v_{t+m−1} = v(s_{t+m}) in this module's convention). A 0 discount inside the window ends
    the sum there (the episode ended). n = T reproduces ``discounted_returns(r_t, discount_t,
    v_t[T−1])``; n = 1 the one-step TD target r_t + discount_t v_t (rlax's
    ``n_step_bootstrapped_returns``). r_t, discount_t, v_t: (T,); n static int >= 1 -> (T,).
    Cost O(nT).
    """
    T = check_trajectory(r_t, ("discount_t", discount_t), ("v_t", v_t))
    check_positive_int("n", n)
    pad = jnp.zeros((n,), r_t.dtype)
    r_pad = jnp.concatenate([r_t, pad])
    d_pad = jnp.concatenate([discount_t.astype(r_t.dtype), pad + 1.0])
    idx = jnp.arange(T)
    acc = jnp.zeros((T,), r_t.dtype)
    scale = jnp.ones((T,), r_t.dtype)
    for k in range(n):  # n is a small static window; each pass is vectorised over t
        valid = idx + k < T
        acc = acc + jnp.where(valid, scale * r_pad[idx + k], 0.0)
        scale = jnp.where(valid, scale * d_pad[idx + k], scale)
    return acc + scale * v_t[jnp.minimum(idx + n, T) - 1]


def td_errors(v_tm1: jax.Array, r_t: jax.Array, discount_t: jax.Array, v_t: jax.Array) -> jax.Array:
    """δ_t = r_t + discount_t · v_t − v_tm1 (Sutton 1988; rlax's ``td_learning``).
    v_tm1, r_t, discount_t, v_t: (T,) -> (T,)."""
    check_trajectory(r_t, ("v_tm1", v_tm1), ("discount_t", discount_t), ("v_t", v_t))
    return r_t + discount_t.astype(r_t.dtype) * v_t - v_tm1


def gae_advantages(v_tm1: jax.Array, r_t: jax.Array, discount_t: jax.Array, v_t: jax.Array,
                   lambda_: float | jax.Array) -> jax.Array:
    """Generalized advantage estimation (Schulman, Moritz, Levine, Jordan & Abbeel, ICLR 2016, eq. 16):

        Â_t = δ_t + discount_t · λ · Â_{t+1},    Â_T = 0,    δ_t = r_t + discount_t v_t − v_tm1

    λ = 0: Â_t = δ_t; λ = 1: Â_t = G_t − v_tm1 with G the discounted return bootstrapped by
    v_t[T−1]. Â_t + v_tm1 = G^λ_t (``lambda_returns``). v_tm1, r_t, discount_t, v_t: (T,) -> (T,).
    """
    delta_t = td_errors(v_tm1, r_t, discount_t, v_t)
    T = r_t.shape[0]
    lam = jnp.broadcast_to(jnp.asarray(lambda_, r_t.dtype), (T,))

    def step(a_next, inp):
        delta, d, l = inp
        a = delta + d * l * a_next
        return a, a

    xs = (delta_t, discount_t.astype(r_t.dtype), lam)
    _, a_t = lax.scan(step, jnp.zeros((), r_t.dtype), xs, reverse=True)
    return a_t
