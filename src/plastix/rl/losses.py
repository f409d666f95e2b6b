"""Policy-gradient losses of ONE trajectory (rlax style; batch with ``jax.vmap`` and average).

Every loss is a *surrogate*: a scalar whose gradient with respect to the policy parameters is
minus the policy-gradient estimator, so ``jax.grad`` of the loss is a descent direction.
Shapes (one trajectory of T steps): ``logp_t`` (T,) log π_θ(a_t|s_t) (differentiable);
``logits_t`` (T, A); ``a_t`` (T,) int; ``r_t`` (T,); ``done_t`` (T,) bool (last step of an
episode); ``v_tm1`` (T,) value estimates v(s_t) of the states acted in (rlax's name, as in
``returns.py``); ``g_t`` (T,) return targets (``returns.py``).
Off-policy: ``logb_t`` (T,) log β(a_t|s_t) of the behaviour policy that drew the actions.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.errors import PlastixError, check_trajectory, check_vector
from plastix.rl.returns import episode_cumsum, episode_returns, reward_to_go

sg = jax.lax.stop_gradient


def log_prob(logits_t: jax.Array, a_t: jax.Array) -> jax.Array:
    """log π(a_t|s_t) = log softmax(logits_t)[a_t].  logits_t (T, A), a_t (T,) int -> (T,)."""
    if logits_t.ndim != 2 or a_t.shape != logits_t.shape[:1]:
        raise PlastixError(f"expected logits_t (T, A) and a_t (T,), got {tuple(logits_t.shape)} and "
                           f"{tuple(a_t.shape)}.")
    logp_all = jax.nn.log_softmax(logits_t, axis=-1)
    return jnp.take_along_axis(logp_all, a_t[:, None].astype(jnp.int32), axis=-1)[:, 0]


def entropy(logits_t: jax.Array) -> jax.Array:
    """H(π(·|s_t)) = −Σ_a π(a|s_t) log π(a|s_t), exact over the full distribution (not a sample).

    logits_t (..., A) -> (...). Uses log_softmax, so it is finite for any finite logits."""
    logp = jax.nn.log_softmax(logits_t, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


def concentration_penalty(logits_t: jax.Array) -> jax.Array:
    """Σ_a π(a|s_t)² (Simpson concentration index), per step.  logits_t (..., A) -> (...).

    Not the entropy: Backpropamine's released code adds ``bent · Σ_a π(a)²`` to its loss as a
    stand-in for the entropy bonus (its PyTorch had no entropy()). Provided only to reproduce
    that code; ``a2c_loss`` uses the true entropy."""
    return jnp.sum(jax.nn.softmax(logits_t, axis=-1) ** 2, axis=-1)


def distribution_terms(logits_t: jax.Array, a_t: jax.Array, distribution=None) -> tuple[jax.Array, jax.Array]:
    """(log π(a_t|s_t) (T,), H(π(·|s_t)) (T,)) of a trajectory under ``distribution``
    (``plastix.rl.distributions``, its per-step ``log_prob`` / ``entropy`` vmapped over T);
    None: the softmax over logits (``log_prob``, ``entropy``). logits_t (T, P), a_t (T,) or (T, d)."""
    if distribution is None:
        return log_prob(logits_t, a_t), entropy(logits_t)
    if logits_t.ndim != 2 or a_t.shape[:1] != logits_t.shape[:1]:
        raise PlastixError(f"expected logits_t (T, P) and a_t (T, ...), got {tuple(logits_t.shape)} and "
                           f"{tuple(a_t.shape)}.")
    return jax.vmap(distribution.log_prob)(logits_t, a_t), jax.vmap(distribution.entropy)(logits_t)


def policy_gradient_loss(logp_t: jax.Array, adv_t: jax.Array) -> jax.Array:
    """L = −Σ_t log π(a_t|s_t) · sg(A_t); ∇L = −Σ_t A_t ∇log π(a_t|s_t) (Williams 1992, eq. 11).

    The weight A_t (return, reward-to-go, advantage) is held constant: no gradient flows into it,
    which is what makes a learned baseline inside A_t harmless. logp_t, adv_t (T,) -> ()."""
    check_trajectory(logp_t, ("adv_t", adv_t))
    return -jnp.sum(logp_t * sg(adv_t))


def reinforce_loss(logp_t: jax.Array, r_t: jax.Array, done_t: jax.Array, *, causal: bool = True,
                   gamma: float = 1.0, baseline_t: jax.Array | None = None) -> jax.Array:
    """REINFORCE surrogate (Williams 1992; Sutton et al. 2000).

    causal=False (whole return):  ∇J ≈ Σ_t ∇log π(a_t|s_t) (R(τ_t) − b_t),  R(τ_t) the return of
                                  the episode holding step t (``episode_returns``)
    causal=True (reward-to-go):   ∇J ≈ Σ_t ∇log π(a_t|s_t) (Q̂_t − b_t),  Q̂_t = Σ_{t'≥t} γ^{t'−t} r_t'
                                  (``reward_to_go``, the recursion Q̂_t = r_t + γ(1−done_t) Q̂_{t+1})

    Baselines b_t: None (b = 0); a batch mean (``batch_mean_baseline``, computed over the batch
    before vmapping this loss); a learned value v(s_t) (its own loss: ``value_loss``). The
    baseline is wrapped in stop_gradient here. Returns L with ∇L = −(estimator).  -> ()
    """
    check_trajectory(r_t, ("logp_t", logp_t), ("done_t", done_t))
    g_t = reward_to_go(r_t, done_t, gamma) if causal else episode_returns(r_t, done_t, gamma)
    if baseline_t is not None:
        check_vector("baseline_t", baseline_t, r_t.shape[0])
        g_t = g_t - sg(baseline_t)
    return policy_gradient_loss(logp_t, g_t)


def batch_mean_baseline(g_bt: jax.Array, *, leave_one_out: bool = False) -> jax.Array:
    """Batch-mean baseline b_t = (1/N) Σ_i G_{i,t} (Williams 1992, §5), over a BATCH of returns.

    g_bt (N, T) -> (N, T), the mean broadcast back to every trajectory. With leave_one_out the
    baseline of trajectory i excludes it, b_{i,t} = (Σ_{j≠i} G_{j,t}) / (N − 1), which keeps the
    estimator exactly unbiased (b_i is independent of τ_i); the plain mean has an O(1/N) bias.
    """
    if g_bt.ndim != 2:
        raise PlastixError(f"g_bt must have shape (N, T) (a batch of returns), got {tuple(g_bt.shape)}.")
    n = g_bt.shape[0]
    total = jnp.sum(g_bt, axis=0, keepdims=True)
    if not leave_one_out:
        return jnp.broadcast_to(total / n, g_bt.shape)
    if n < 2:
        raise PlastixError(f"leave_one_out needs a batch of at least 2 trajectories, got {n}.")
    return (total - g_bt) / (n - 1)


def value_loss(v_tm1: jax.Array, g_t: jax.Array) -> jax.Array:
    """Regression of the critic on the returns: ½ Σ_t (sg(G_t) − v_tm1)².  v_tm1, g_t (T,) -> ()."""
    check_trajectory(v_tm1, ("g_t", g_t))
    return 0.5 * jnp.sum((sg(g_t) - v_tm1) ** 2)


class LossParts(NamedTuple):
    """A policy-gradient loss and its parts (all scalars, for logging): A2C's and REINFORCE's."""

    total: jax.Array  # policy + value_coef · value − entropy_coef · entropy
    policy: jax.Array  # −Σ_t log π(a_t|s_t) sg(G_t − v_tm1)
    value: jax.Array  # ½ Σ_t (G_t − v_tm1)²
    entropy: jax.Array  # Σ_t H(π(·|s_t)) (a bonus: it is subtracted)


def a2c_loss(logits_t: jax.Array, a_t: jax.Array, g_t: jax.Array, v_tm1: jax.Array, *,
             value_coef: float = 0.1, entropy_coef: float = 0.03, concentration_coef: float = 0.0,
             distribution=None) -> LossParts:
    """Advantage actor-critic loss of one trajectory (Mnih et al. 2016, "A3C", synchronous form):

        L = −Σ_t log π(a_t|s_t) · sg(G_t − v_tm1) + c_v · ½ Σ_t (G_t − v_tm1)² − c_H · Σ_t H(π(·|s_t))

    G_t are the return targets: Monte-Carlo ``discounted_returns(r_t, discount_t)`` (Backpropamine,
    γ = 0.9), or bootstrapped / λ-returns, or ``gae_advantages(...) + v_tm1``. The baseline is
    this episode's own v_tm1. H is the exact entropy from the logits; with a ``distribution``
    (``plastix.rl.distributions``: continuous actions) log π and H are its own (``distribution_terms``;
    ``TanhGaussian``'s H is the pre-squash Gaussian's). ``concentration_coef`` c_S > 0
    adds c_S Σ_t Σ_a π(a|s_t)² (``concentration_penalty``), the released code's stand-in for the
    entropy bonus (its ``--bent``; set entropy_coef 0 to reproduce it exactly).

    Defaults are Backpropamine's released settings (Miconi et al. 2019, code: ``--blossv 0.1``,
    ``--bent 0.03``); note that code's value term has no ½ and its "entropy" term is a penalty
    c Σ_a π(a)² (a Simpson concentration index), not the entropy — see docs/policy-gradients.md.
    logits_t (T, A) (or (T, P)), a_t (T,) (or (T, d)), g_t (T,), v_tm1 (T,) -> LossParts of scalars.
    """
    check_trajectory(g_t, ("v_tm1", v_tm1))
    logp_t, ent_t = distribution_terms(logits_t, a_t, distribution)
    check_vector("logp_t", logp_t, g_t.shape[0])
    adv_t = g_t - v_tm1
    policy = policy_gradient_loss(logp_t, adv_t)
    value = value_loss(v_tm1, g_t)
    ent = jnp.sum(ent_t)
    total = policy + value_coef * value - entropy_coef * ent
    if concentration_coef:  # a static float: the default graph is unchanged
        total = total + concentration_coef * jnp.sum(concentration_penalty(logits_t))
    return LossParts(total, policy, value, ent)


# ---------------------------------------------------------------- off-policy, importance sampling


def _returns(r_t, done_t, gamma, causal):
    return reward_to_go(r_t, done_t, gamma) if causal else episode_returns(r_t, done_t, gamma)


def is_trajectory_loss(logp_t: jax.Array, logb_t: jax.Array, r_t: jax.Array, done_t: jax.Array, *,
                       gamma: float = 1.0, causal: bool = True) -> jax.Array:
    """Off-policy REINFORCE with a trajectory-wise importance weight (Precup, Sutton & Singh 2000):

        ∇J(θ) ≈ W(τ) Σ_t ∇log π_θ(a_t|s_t) Q̂_t,   W(τ) = Π_{t∈episode} π_θ(a_t|s_t) / β(a_t|s_t)

    (Q̂_t reward-to-go if causal, else the episode return). Unbiased for ∇J under τ ~ β, but the
    weight's variance grows exponentially with the horizon. Surrogate −sg(W) Σ_t log π_t · Q̂_t;
    W = exp(Σ_t (log π_t − log β_t)) is formed in log space (episode-wise sums). -> ()
    """
    check_trajectory(r_t, ("logp_t", logp_t), ("logb_t", logb_t), ("done_t", done_t))
    log_w = episode_returns(logp_t - logb_t, done_t, 1.0)  # Σ over each step's whole episode
    return -jnp.sum(sg(jnp.exp(log_w)) * logp_t * sg(_returns(r_t, done_t, gamma, causal)))


def is_per_decision_loss(logp_t: jax.Array, logb_t: jax.Array, r_t: jax.Array, done_t: jax.Array, *,
                         gamma: float = 1.0, weight_future_rewards: bool = True) -> jax.Array:
    """Off-policy policy gradient with per-decision (causal) importance weights ρ_{1:t} = Π_{t'≤t} ρ_t'.

    weight_future_rewards=True (per-decision IS, Precup, Sutton & Singh 2000): each reward carries
    the weight of the actions that led to it,

        ∇J ≈ Σ_t ∇log π_t · Q̃_t,   Q̃_t = Σ_{t'≥t} γ^{t'−t} ρ_{1:t'} r_t',   i.e.
        Q̃_t = ρ_{1:t} r_t + γ(1−done_t) Q̃_{t+1}                         — unbiased for ∇J.

    weight_future_rewards=False: the future
    weights are deleted, ∇J ≈ Σ_t ρ_{1:t} ∇log π_t · Q̂_t. This is biased for ∇J whenever later
    actions matter (Q̂_t follows β after t); it estimates Σ_t E_π[∇log π_t Q^β_t], a policy
    improvement direction. Weights in log space (within-episode cumulative sums). -> ()
    """
    check_trajectory(r_t, ("logp_t", logp_t), ("logb_t", logb_t), ("done_t", done_t))
    rho_cum = jnp.exp(episode_cumsum(sg(logp_t - logb_t), done_t))  # ρ_{1:t}, within the episode
    if weight_future_rewards:
        weight_t = reward_to_go(rho_cum * r_t, done_t, gamma)
    else:
        weight_t = rho_cum * reward_to_go(r_t, done_t, gamma)
    return policy_gradient_loss(logp_t, weight_t)


def is_first_order_loss(logp_t: jax.Array, logb_t: jax.Array, r_t: jax.Array, done_t: jax.Array, *,
                        gamma: float = 1.0) -> jax.Array:
    """First-order approximation of IS (Kakade & Langford 2002; Schulman et al. 2015): the ratio at each step only,

        ∇J ≈ Σ_t ρ_t ∇log π_θ(a_t|s_t) Q̂_t,   ρ_t = π_θ(a_t|s_t) / β(a_t|s_t)

    ignoring the change of state distribution (biased unless π_θ ≈ β; exact for one-step
    problems). Surrogate −Σ_t ρ_t sg(Q̂_t) with ρ_t = exp(log π_t − sg(log β_t)), whose gradient
    ρ_t ∇log π_t Q̂_t is the estimator (the unclipped PPO/TRPO surrogate). -> ()
    """
    check_trajectory(r_t, ("logp_t", logp_t), ("logb_t", logb_t), ("done_t", done_t))
    rho_t = jnp.exp(logp_t - sg(logb_t))
    return -jnp.sum(rho_t * sg(reward_to_go(r_t, done_t, gamma)))
