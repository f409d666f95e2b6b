"""Planning with a known model (Russell & Norvig 2010, §17.2–17.3).

* ``value_iteration``   U_{k+1} = T U_k from U_0 = 0 (R&N Fig. 17.4), with the history
  of the Bellman residual δ_k = ‖U_{k+1} − U_k‖_∞.
* ``greedy_policy``     π(s) = argmax_a Σ_s' P[s, a, s'] (R[s, a, s'] + γ U(s')) (R&N eq. 17.4).
* ``policy_evaluation`` exact U^π by one linear solve (I − γ P_π) U = r_π (final rows: U = R_final).
* ``policy_iteration``  evaluate exactly, improve greedily, stop when the policy is stable.

Stopping rule of value iteration. T is a γ-contraction in the max norm when γ < 1, so
‖U_{k+1} − U*‖ ≤ γ/(1−γ) ‖U_{k+1} − U_k‖ (R&N eq. 17.8). We stop at the first k with
δ_k < tol·(1−γ)/γ, which guarantees ‖U_{k+1} − U*‖_∞ < tol, and then the greedy policy loses
at most 2·tol·γ/(1−γ) (R&N §17.2.3). With γ = 1 there is no contraction: we stop at δ_k < tol
(which converges on episodic grids where every policy of interest reaches a final state, as in
R&N fig. 17.3, but guarantees nothing) and always stop after ``max_iters`` sweeps.

All functions are pure JAX on an ``MDP``/``SparseMDP`` pytree: they jit and vmap over MDPs.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.mdp.mdp import AnyMDP, bellman_optimality, q_backup, to_dense, values_from_q

TIE_RTOL = 1e-10


class VIResult(NamedTuple):
    """values U (S,), q (S, A), greedy policy (S,) int32, iterations k (sweeps done), residual
    δ of the last sweep, residuals (max_iters,) the δ history (NaN after ``iterations``)."""

    values: jax.Array
    q: jax.Array
    policy: jax.Array
    iterations: jax.Array
    residual: jax.Array
    residuals: jax.Array


class PIResult(NamedTuple):
    """values U^π (S,), q (S, A), policy (S,) int32, iterations (evaluations done), residual
    ‖T U − U‖_∞ of the final values (≈ 0 at the optimum)."""

    values: jax.Array
    q: jax.Array
    policy: jax.Array
    iterations: jax.Array
    residual: jax.Array


class _VIState(NamedTuple):
    values: jax.Array  # (S,)
    k: jax.Array  # () sweeps done
    delta: jax.Array  # () last residual
    history: jax.Array  # (max_iters,)


def stopping_threshold(gamma: jax.Array, tol: float) -> jax.Array:
    """δ threshold: tol (1−γ)/γ for γ < 1 (guarantees ‖U − U*‖ < tol), tol for γ = 1."""
    return jnp.where(gamma < 1.0, tol * (1.0 - gamma) / gamma, tol)


@partial(jax.jit, static_argnames="max_iters")
def value_iteration(mdp: AnyMDP, tol: float = 1e-8, max_iters: int = 10_000) -> VIResult:
    """Value iteration U_{k+1}(s) = max_a Σ_s' P (R + γ U_k(s')) from U_0 = 0 until
    δ_k < stopping_threshold(γ, tol) or ``max_iters`` sweeps (see module docstring)."""
    dtype = mdp.R.dtype
    threshold = stopping_threshold(mdp.gamma, tol)

    def cond(st: _VIState):
        return (st.k < max_iters) & (st.delta >= threshold)

    def body(st: _VIState):
        new = bellman_optimality(mdp, st.values)
        delta = jnp.max(jnp.abs(new - st.values))
        return _VIState(new, st.k + 1, delta, st.history.at[st.k].set(delta))

    init = _VIState(jnp.zeros(mdp.num_states, dtype), jnp.asarray(0), jnp.asarray(jnp.inf, dtype),
                    jnp.full((max_iters,), jnp.nan, dtype))
    st = lax.while_loop(cond, body, init)
    q = q_backup(mdp, st.values)
    return VIResult(st.values, q, jnp.argmax(q, axis=-1).astype(jnp.int32), st.k, st.delta, st.history)


def greedy_policy(mdp: AnyMDP, values: jax.Array) -> jax.Array:
    """π(s) = argmax_a Q_U(s, a) (R&N eq. 17.4; first maximum on ties). values (S,) -> (S,) int32."""
    return jnp.argmax(q_backup(mdp, values), axis=-1).astype(jnp.int32)


def epsilon_greedy_probs(q: jax.Array, epsilon: float) -> jax.Array:
    """π(a|s) = (1−ε)·[a = argmax_b Q(s, b)] + ε/A. q (S, A) -> (S, A)."""
    A = q.shape[-1]
    best = jax.nn.one_hot(jnp.argmax(q, axis=-1), A, dtype=q.dtype)
    return (1.0 - epsilon) * best + epsilon / A


def policy_evaluation(mdp: AnyMDP, policy: jax.Array) -> jax.Array:
    """Exact U^π by a linear solve.

    policy: (S,) action indices or (S, A) probabilities π(a|s). With
    P_π[s, s'] = Σ_a π(a|s) P[s, a, s'] and r_π[s] = Σ_a π(a|s) Σ_s' P[s, a, s'] R[s, a, s'],
    solves U(s) = r_π(s) + γ Σ_s' P_π[s, s'] U(s') for non-final s and U(s) = R_final(s) for
    final s, i.e. (I − γ diag(1 − final) P_π) U = b. Needs γ < 1 or a policy that reaches a
    final state with probability 1 (else the matrix is singular). Sparse MDPs are densified.
    """
    dense = to_dense(mdp)
    S, A = dense.num_states, dense.num_actions
    pi = jax.nn.one_hot(policy, A, dtype=dense.P.dtype) if policy.ndim == 1 else policy
    P_pi = jnp.einsum("sa,sat->st", pi, dense.P)
    r_pi = jnp.einsum("sa,sat,sat->s", pi, dense.P, dense.R)
    live = (~dense.terminal).astype(dense.P.dtype)
    M = jnp.eye(S, dtype=dense.P.dtype) - dense.gamma * live[:, None] * P_pi
    b = jnp.where(dense.terminal, dense.R_final, r_pi)
    return jnp.linalg.solve(M, b)


def improve_policy(q: jax.Array, policy: jax.Array) -> jax.Array:
    """Greedy improvement that keeps the current action when it is (numerically) tied with the
    best one, so that policy iteration cannot cycle between equally good policies."""
    best = jnp.argmax(q, axis=-1).astype(jnp.int32)
    q_max = jnp.max(q, axis=-1)
    q_cur = jnp.take_along_axis(q, policy[:, None], axis=-1)[:, 0]
    keep = q_cur >= q_max - TIE_RTOL * (1.0 + jnp.abs(q_max))
    return jnp.where(keep, policy, best)


def reaching_policy(mdp: AnyMDP) -> jax.Array:
    """A policy that reaches a final state with probability 1 wherever some policy can: greedy
    for the auxiliary problem "utility 1 at final states, 0 reward, γ = 0.9". Under it every
    non-final state that can reach a final state has U > 0, so no closed set of non-final states
    exists. Used to start policy iteration, which keeps policies proper when γ = 1."""
    dtype = mdp.R.dtype
    aux = mdp.replace(R=jnp.zeros_like(mdp.R), R_final=mdp.terminal.astype(dtype),
                      gamma=jnp.asarray(0.9, dtype))
    return value_iteration(aux, tol=1e-12, max_iters=2_000).policy


class _PIState(NamedTuple):
    policy: jax.Array  # (S,)
    values: jax.Array  # (S,)
    k: jax.Array
    stable: jax.Array


@partial(jax.jit, static_argnames="max_iters")
def policy_iteration(mdp: AnyMDP, max_iters: int = 1_000) -> PIResult:
    """Policy iteration (R&N fig. 17.7): U ← U^π exactly, π ← greedy(U) (ties keep π), until
    π is unchanged. Starts from ``reaching_policy`` so that γ = 1 works on episodic grids."""

    def cond(st: _PIState):
        return (~st.stable) & (st.k < max_iters)

    def body(st: _PIState):
        values = policy_evaluation(mdp, st.policy)
        new = improve_policy(q_backup(mdp, values), st.policy)
        return _PIState(new, values, st.k + 1, jnp.all(new == st.policy))

    pi0 = reaching_policy(mdp)
    init = _PIState(pi0, jnp.zeros(mdp.num_states, mdp.R.dtype), jnp.asarray(0), jnp.asarray(False))
    st = lax.while_loop(cond, body, init)
    q = q_backup(mdp, st.values)
    residual = jnp.max(jnp.abs(values_from_q(mdp, q) - st.values))
    return PIResult(st.values, q, st.policy, st.k, residual)
