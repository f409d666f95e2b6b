"""Unknown model: estimate P from counts while acting, and plan on the estimate (adaptive
dynamic programming, Russell & Norvig 2010, §21.2.2).

Each time the agent applies a in s and lands in s', it increments N[s, a, s'] (and so
N[s, a] = Σ_s' N[s, a, s']) and adds the observed reward to Σr[s, a, s']. The estimate is

    P̂(s'|s, a) = N[s, a, s'] / N[s, a]       (uniform over states while N[s, a] = 0)
    R̂[s, a, s'] = Σr[s, a, s'] / N[s, a, s']  (0 while unseen)

The agent is assumed to recognise final states and their utility on arrival (a state
reward R(s) is perceived in s), so ``terminal``, ``R_final``, ``start`` and γ come from the true MDP.
``model_based`` alternates acting ε-greedily on the current plan with re-planning by value
iteration on (P̂, R̂); the true value of each plan, U^π̂(s_0) by an exact linear solve on the
real model, approaches U*(s_0) as experience grows.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.mdp.mdp import MDP
from plastix.mdp.planning import policy_evaluation, value_iteration
from plastix.mdp.tabular import EnvState, env_reset, env_step, epsilon_greedy


class Counts(NamedTuple):
    n: jax.Array  # (S, A, S) N[s, a, s']
    r_sum: jax.Array  # (S, A, S) Σ of rewards seen on s --a--> s'


def init_counts(mdp: MDP) -> Counts:
    z = jnp.zeros_like(mdp.P)
    return Counts(z, z)


def update_counts(counts: Counts, s: jax.Array, a: jax.Array, s_next: jax.Array, r: jax.Array) -> Counts:
    """N[s, a, s'] += 1, Σr[s, a, s'] += r."""
    return Counts(counts.n.at[s, a, s_next].add(1.0), counts.r_sum.at[s, a, s_next].add(r))


def estimate_mdp(counts: Counts, template: MDP) -> MDP:
    """The maximum-likelihood model (P̂, R̂) from counts; final states, start and γ from ``template``."""
    n_sa = jnp.sum(counts.n, axis=-1, keepdims=True)  # (S, A, 1)
    S = counts.n.shape[-1]
    P_hat = jnp.where(n_sa > 0, counts.n / jnp.maximum(n_sa, 1.0), 1.0 / S)
    R_hat = jnp.where(counts.n > 0, counts.r_sum / jnp.maximum(counts.n, 1.0), 0.0)
    return template.replace(P=P_hat, R=R_hat)


class ModelBasedMetrics(NamedTuple):
    """Per phase, shapes (n_phases,)."""

    steps: jax.Array  # experience so far
    plan_value: jax.Array  # U^π̂(s_0) of the greedy plan on the TRUE model
    estimated_value: jax.Array  # Û(s_0): the plan's value on the estimated model
    model_error: jax.Array  # mean over non-final (s, a) of Σ_s' |P̂ − P| (L1 error per row)


class _Carry(NamedTuple):
    counts: Counts
    env: EnvState
    q: jax.Array  # (S, A) current plan's Q on the estimate


def _act(mdp: MDP, epsilon: float, max_episode_steps: int, carry: _Carry, key: jax.Array) -> tuple[_Carry, None]:
    k_a, k_env = jax.random.split(key)
    s = carry.env.s
    a = epsilon_greedy(k_a, carry.q[s], epsilon)
    env, tr = env_step(k_env, mdp, carry.env, a, max_episode_steps)
    return _Carry(update_counts(carry.counts, s, a, tr.next_s, tr.reward), env, carry.q), None


def _phase(mdp: MDP, steps: int, epsilon: float, max_episode_steps: int, carry: _Carry, key: jax.Array):
    carry, _ = lax.scan(partial(_act, mdp, epsilon, max_episode_steps), carry, jax.random.split(key, steps))
    est = estimate_mdp(carry.counts, mdp)
    plan = value_iteration(est, tol=1e-8, max_iters=5_000)
    true_value = policy_evaluation(mdp, plan.policy)[mdp.start]
    l1 = jnp.sum(jnp.abs(est.P - mdp.P), axis=-1)  # (S, A)
    live = (~mdp.terminal).astype(l1.dtype)[:, None] * jnp.ones_like(l1)
    err = jnp.sum(live * l1) / jnp.sum(live)
    m = ModelBasedMetrics(jnp.sum(carry.counts.n), true_value, plan.values[mdp.start], err)
    return _Carry(carry.counts, carry.env, plan.q), m


@partial(jax.jit, static_argnames=("steps_per_phase", "n_phases", "max_episode_steps"))
def model_based(key: jax.Array, mdp: MDP, steps_per_phase: int, n_phases: int, epsilon: float = 0.2,
                max_episode_steps: int = 100) -> tuple[Counts, ModelBasedMetrics]:
    """Certainty-equivalent model-based RL: n_phases × (act ``steps_per_phase`` ε-greedy steps
    on the current plan, count, re-estimate, re-plan). Pure; vmap over keys for seeds."""
    q0 = jnp.zeros((mdp.num_states, mdp.num_actions), mdp.R.dtype)
    carry = _Carry(init_counts(mdp), env_reset(mdp), q0)
    step = partial(_phase, mdp, steps_per_phase, epsilon, max_episode_steps)
    carry, metrics = lax.scan(step, carry, jax.random.split(key, n_phases))
    return carry.counts, metrics
