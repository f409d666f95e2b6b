"""Plasticity diagnostics of an agent: is the plastic machinery in a healthy range?

Backpropamine's retroactive modulation (Miconi et al., ICLR 2019, eq. 4–5)::

    Hebb_{t+1} = clip(Hebb_t + M_t E_t, −1, 1),   E_{t+1} = (1 − η) E_t + η h_t h_{t−1}ᵀ

misbehaves in recognisable ways: η past 1 makes E flip sign every step and overshoot (|E|
grows past max |h_t h_{t−1}ᵀ| = 1), a saturated modulator (|M| → 1) writes the same large
step every time, and a Hebbian trace pinned at ±1 no longer stores anything new. Per log point
the trainer records, from a few fresh episodes of the current agent (``trace_statistics`` on
their stored observations):

    diagnostics/eta          the plasticity (plastic-rnn) or eligibility (retroactive) rate η
    diagnostics/mean_abs_M   mean over steps and episodes of |M_t| (neuromodulated cores)
    diagnostics/hebb_at_clip fraction of Hebbian entries with |Hebb_ij| ≥ 1 (at the clip),
                             mean over steps and episodes
    diagnostics/max_abs_E    max over steps, episodes and entries of |E_ij| (retroactive)

NaN where a quantity does not exist (a non-plastic core, no modulator, no eligibility trace, η
under simple modulation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

DIAGNOSTICS = ("diagnostics/eta", "diagnostics/mean_abs_M", "diagnostics/hebb_at_clip", "diagnostics/max_abs_E")
AT_CLIP = 1.0 - 1e-6  # |Hebb| at or beyond this counts as pinned at the clip ±1


def has_trace(core) -> bool:
    """True if the core's carry holds a Hebbian trace (plastic-rnn, neuromod-rnn, the plastic LSTMs)."""
    return hasattr(core.initial_carry(), "hebb")


def plasticity_rate(core, params) -> jax.Array:
    """The rate η the core uses (its ``rate`` if it has a parameterisation, else ``params.eta``)."""
    rate = getattr(core, "rate", None)
    return rate(params) if rate is not None else params.eta


def trace_statistics(core, params, obs: jax.Array, start: jax.Array) -> dict:
    """The diagnostics of ONE stored trajectory: obs (T, d), start (T,) bool (carry reset there).

    Returns {name: ()} with the per-trajectory pieces: mean |M_t|, the mean fraction at the
    clip, max |E| (NaN where absent) and η."""
    nan = jnp.full((), jnp.nan, obs.dtype)
    if not has_trace(core):
        return dict.fromkeys(DIAGNOSTICS, nan)

    def record(carry):
        M = core.modulator(params, carry.h) if getattr(core, "modulated", False) else nan  # M_t from h_t
        E = nan if carry.E is None else jnp.max(jnp.abs(carry.E))
        return jnp.abs(M), jnp.mean((jnp.abs(carry.hebb) >= AT_CLIP).astype(carry.hebb.dtype)), E

    def step(carry, inp):
        x, reset = inp
        carry = jax.tree.map(lambda c0, c: jnp.where(reset, c0, c), core.initial_carry(), carry)
        carry, _ = core.step(params, carry, x)
        return carry, record(carry)

    _, (abs_M, at_clip, max_E) = jax.lax.scan(step, core.initial_carry(), (obs.astype(core.jdtype), start))
    eta = nan if getattr(core, "modulation", None) == "simple" else plasticity_rate(core, params)  # unused by simple
    return {"diagnostics/eta": jnp.asarray(eta, obs.dtype).reshape(()),
            "diagnostics/mean_abs_M": jnp.mean(abs_M), "diagnostics/hebb_at_clip": jnp.mean(at_clip),
            "diagnostics/max_abs_E": jnp.max(max_E)}


def batch_statistics(core, params, obs: jax.Array, start: jax.Array) -> dict:
    """``trace_statistics`` over trajectories obs (B, T, d), start (B, T): means, and max for max |E|."""
    per = jax.vmap(lambda o, s: trace_statistics(core, params, o, s))(obs, start)
    return {name: jnp.max(v) if name == "diagnostics/max_abs_E" else jnp.mean(v) for name, v in per.items()}


__all__ = ["DIAGNOSTICS", "batch_statistics", "has_trace", "plasticity_rate", "trace_statistics"]
