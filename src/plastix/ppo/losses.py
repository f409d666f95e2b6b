"""The losses of proximal policy optimisation, per sample (rlax style; average over a minibatch).

Clipped surrogate (Schulman, Wolski, Dhariwal, Radford & Klimov 2017, "Proximal policy
optimization algorithms", eq. 7), with the probability ratio r_t(θ) = π_θ(a_t|s_t) / π_old(a_t|s_t)::

    L^CLIP_t = min( r_t Â_t,  clip(r_t, 1 − ε, 1 + ε) Â_t )          (maximised; we return −L^CLIP)

For Â_t > 0 the min caps the objective once r_t > 1 + ε; for Â_t < 0 once r_t < 1 − ε. There the
objective is the constant (1 ± ε) Â_t and the sample gives no gradient: a step that has already
moved the policy far enough in the advantage's direction is not pushed further. On the other side
of 1 the unclipped term is the smaller one and the gradient flows.

Value loss, optionally clipped around the rollout's value estimate v_old (as in the released
``baselines`` ppo2 and most PPO code since; Andrychowicz et al. 2021, "What matters in on-policy
RL", found it does not help on their tasks, so it is an option)::

    L^V_t = ½ (v_θ(s_t) − R_t)²                                             (clip_value off)
    L^V_t = ½ max( (v_θ − R_t)²,  (v_old + clip(v_θ − v_old, −ε, ε) − R_t)² )  (clip_value on)

with R_t = Â_t + v_old the λ-return target (GAE, Schulman et al. 2016, eq. 16). The total per
sample is −L^CLIP_t + c_V L^V_t − c_H H(π_θ(·|s_t)) (eq. 9, with the value loss as a cost).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

sg = jax.lax.stop_gradient


class PPOLoss(NamedTuple):
    """The minibatch's loss and its parts (scalars, means over the samples)."""

    total: jax.Array  # policy + c_V value − c_H entropy
    policy_loss: jax.Array  # −mean L^CLIP
    value_loss: jax.Array  # mean L^V
    entropy: jax.Array  # mean H(π_θ(·|s_t))
    approx_kl: jax.Array  # mean (r − 1) − log r ≥ 0, an estimate of KL(π_old ‖ π_θ) (Schulman 2020)
    clip_fraction: jax.Array  # fraction of samples with |r − 1| > ε


def normalize_advantages(adv: jax.Array, eps: float = 1e-8) -> jax.Array:
    """(Â − mean Â) / (std Â + eps) over all the given samples (one minibatch)."""
    return (adv - jnp.mean(adv)) / (jnp.std(adv) + eps)


def clipped_surrogate(logp: jax.Array, logp_old: jax.Array, adv: jax.Array, clip_eps: float) -> jax.Array:
    """−L^CLIP per sample (eq. 7, negated for descent).  logp, logp_old, adv: same shape -> same shape.

    ``logp_old`` and ``adv`` are constants (stop_gradient)."""
    ratio = jnp.exp(logp - sg(logp_old))
    adv = sg(adv)
    return -jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv)


def value_loss(value: jax.Array, value_old: jax.Array, target: jax.Array, clip_eps: float | None) -> jax.Array:
    """L^V per sample: ½ (v − R)², or the clipped form around ``value_old`` when ``clip_eps`` is a number."""
    target, value_old = sg(target), sg(value_old)
    unclipped = (value - target) ** 2
    if clip_eps is None:
        return 0.5 * unclipped
    clipped = value_old + jnp.clip(value - value_old, -clip_eps, clip_eps)
    return 0.5 * jnp.maximum(unclipped, (clipped - target) ** 2)


def ppo_loss(logp: jax.Array, logp_old: jax.Array, adv: jax.Array, value: jax.Array, value_old: jax.Array,
             target: jax.Array, entropy: jax.Array, *, clip_eps: float = 0.2, clip_value: bool = True,
             vf_coef: float = 0.5, ent_coef: float = 0.01, norm_adv: bool = True,
             mask: jax.Array | None = None) -> PPOLoss:
    """The PPO loss of a minibatch of samples (any common shape), averaged over the samples
    (over those where ``mask`` is True, if given). Advantages are normalised over the (masked)
    minibatch first when ``norm_adv`` (as PureJaxRL, CleanRL and Stable-Baselines3 do)."""
    weight = jnp.ones_like(adv) if mask is None else mask.astype(adv.dtype)
    count = jnp.maximum(jnp.sum(weight), 1.0)

    def mean(x):
        return jnp.sum(x * weight) / count

    if norm_adv:
        mu = mean(adv)
        adv = (adv - mu) / (jnp.sqrt(mean((adv - mu) ** 2)) + 1e-8)
    policy = mean(clipped_surrogate(logp, logp_old, adv, clip_eps))
    value_term = mean(value_loss(value, value_old, target, clip_eps if clip_value else None))
    ent = mean(entropy)
    log_ratio = sg(logp - logp_old)
    approx_kl = mean(jnp.expm1(log_ratio) - log_ratio)
    clip_fraction = mean((jnp.abs(jnp.expm1(log_ratio)) > clip_eps).astype(adv.dtype))
    total = policy + vf_coef * value_term - ent_coef * ent
    return PPOLoss(total, policy, value_term, ent, approx_kl, clip_fraction)
