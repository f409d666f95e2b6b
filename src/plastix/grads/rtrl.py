"""Real-time recurrent learning (Williams & Zipser 1989).

RTRL carries, forward in time, the sensitivity of the core's state to its parameters::

    P_t = ∂s_t/∂θ                                   (n_s, n_θ), P = 0 at an episode start
    P_t = J_t P_{t-1} + ∂s_t/∂θ|direct,              J_t = ∂s_t/∂s_{t-1}
    ∂ℓ_t/∂θ = ∂ℓ_t/∂h_t (∂h_t/∂s_{t-1} P_{t-1} + ∂h_t/∂θ|direct)

where s is the flattened carry (h, c, Hebb, E, ...), θ the flattened core parameters and h_t
the core's output. The gradient of L = Σ_t w_t ℓ_t is accumulated as the sequence runs; the
readout's gradient is accumulated directly (it does not feed back into the state). On a full
sequence the result equals BPTT's to rounding.

Cost per step: O(n_s · n_θ) memory for P and O(n_s · n_θ · n) time for J_t P — for a fully
connected net with n units and W = n_θ weights, O(nW) memory and O(n²W) time, *independent of
the sequence length T* (BPTT: O(W) time per step, O(nT) memory). ``sensitivity_size`` gives
n_s · n_θ for a core, for the benchmark.

Three entry points:

* ``rtrl()``        — generic, every core: J_t P_{t-1} is the step linearised in the state
  applied to P's columns (J_t is never materialised), ∂s_t/∂θ|direct a ``jax.jacrev``.
* ``elman_rtrl()``  — the explicit Williams–Zipser recursion for the Elman net (no autodiff in the recursion).
* ``rtrl_online``   — an optimizer update at every step (see its docstring).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from plastix.cores.base import reset_where
from plastix.cores.elman import ACTIVATIONS, Elman, ElmanParams
from plastix.errors import PlastixError
from plastix.grads.base import Batch, GradMethod, ModelParams, SeqModel

PyTree = Any


class RTRLState(NamedTuple):
    """State carried by the generic RTRL scan."""

    carry: PyTree  # the core's carry s_{t-1} (structured)
    P: jax.Array  # (n_s, n_θ) sensitivities ∂s_{t-1}/∂θ
    g_core: jax.Array  # (n_θ,) accumulated ∂L/∂θ
    g_readout: PyTree  # accumulated ∂L/∂(V, c) (None without a readout)
    loss: jax.Array  # () accumulated Σ w_t ℓ_t


def weighted_step_loss(model: SeqModel, readout, h: jax.Array, target, weight) -> jax.Array:
    """w_t ℓ(y_t, target_t) with y_t = V h_t + c; readout may be None (y_t = h_t)."""
    y = model.output(ModelParams(None, readout), h)
    return weight * model.step_loss(y, target)


def sensitivity_size(model_or_core, params: PyTree) -> int:
    """n_s · n_θ, the number of entries of P (RTRL's memory, independent of T).

    ``params``: the core's parameters (or a ``ModelParams``, whose core part is used).
    """
    core = getattr(model_or_core, "core", model_or_core)
    core_params = params.core if isinstance(params, ModelParams) else params
    n_s = ravel_pytree(core.initial_carry())[0].size
    n_theta = ravel_pytree(core_params)[0].size
    return int(n_s * n_theta)


def _push_forward(core, theta_flat, unravel_theta, carry, P, x):
    """One step of the sensitivity recursion, without materialising J_t.

    J_t P_{t-1}: the step linearised in s (``jax.linearize``) applied to the n_θ columns of P
    (``vmap``), O(n_θ · cost of a step) = O(n²W) for a dense net. The direct term ∂s_t/∂θ is one
    reverse-mode Jacobian (``jax.jacrev``, n_s + n_h backward passes, O(nW)); forward mode
    (``jacfwd``) would push an n_θ × n_θ identity through the step instead.

    Returns (carry_t, h_t, P_t (n_s, n_θ), dh_t/dθ (n_h, n_θ)), the last two total derivatives.
    """
    s_flat, unravel_s = ravel_pytree(carry)

    def step_flat(theta, s):
        new_carry, h = core.step(unravel_theta(theta), unravel_s(s), x)
        return ravel_pytree(new_carry)[0], h

    (s_new, h), along_s = jax.linearize(lambda s: step_flat(theta_flat, s), s_flat)
    JP_s, JP_h = jax.vmap(along_s, in_axes=1, out_axes=1)(P)  # J_t P_{t-1}, (∂h_t/∂s_{t-1}) P_{t-1}
    D_s, D_h = jax.jacrev(lambda th: step_flat(th, s_flat))(theta_flat)  # direct ∂/∂θ
    return unravel_s(s_new), h, JP_s + D_s, JP_h + D_h


def rtrl_value_and_grad(model: SeqModel, params: ModelParams, batch: Batch):
    """Loss and gradient of one sequence by generic RTRL (equal to BPTT's)."""
    core = model.core
    theta_flat, unravel_theta = ravel_pytree(params.core)
    fresh = core.initial_carry()
    n_s, n_theta = ravel_pytree(fresh)[0].size, theta_flat.size
    zero_P = jnp.zeros((n_s, n_theta), theta_flat.dtype)
    loss_grad = jax.value_and_grad(weighted_step_loss, argnums=(1, 2))

    def body(state: RTRLState, inp):
        x, target, weight, done = inp
        carry = reset_where(done, fresh, state.carry)
        P = jnp.where(done, zero_P, state.P)
        carry, h, P, dh = _push_forward(core, theta_flat, unravel_theta, carry, P, x)
        loss, (g_out, g_h) = loss_grad(model, params.readout, h, target, weight)
        g_core = state.g_core + g_h @ dh
        g_readout = jax.tree.map(jnp.add, state.g_readout, g_out)
        return RTRLState(carry, P, g_core, g_readout, state.loss + loss), None

    g_readout0 = jax.tree.map(jnp.zeros_like, params.readout)
    init = RTRLState(fresh, zero_P, jnp.zeros_like(theta_flat), g_readout0, jnp.zeros((), theta_flat.dtype))
    final, _ = lax.scan(body, init, (batch.xs, batch.targets, batch.weights, batch.resets))
    return final.loss, ModelParams(unravel_theta(final.g_core), final.g_readout)


def rtrl() -> GradMethod:
    """Generic RTRL for every core (name "rtrl")."""
    return GradMethod("rtrl", rtrl_value_and_grad)


# ---------------------------------------------------------------------------------------------
# The explicit Williams–Zipser recursion for the Elman net (Williams & Zipser 1989).

_ELMAN_DERIVATIVES = {
    "tanh": lambda a, h: 1.0 - h * h,
    "sigmoid": lambda a, h: h * (1.0 - h),
    "relu": lambda a, h: (a > 0).astype(h.dtype),
}


class ElmanSensitivities(NamedTuple):
    """p_{k,(i,j)} = ∂h_k/∂θ_ij for the Elman parameters (k: unit, (i, j): weight)."""

    U: jax.Array  # (n, n, d)  ∂h_k/∂U_ij
    W: jax.Array  # (n, n, n)  ∂h_k/∂W_ij
    b: jax.Array  # (n, n)     ∂h_k/∂b_i


class ElmanRTRLState(NamedTuple):
    h: jax.Array  # (n,) h_{t-1}
    p: ElmanSensitivities
    g_core: Any  # ElmanParams of accumulated gradients
    g_readout: PyTree
    loss: jax.Array


def elman_sensitivity_step(params, activation: str, h_prev, p: ElmanSensitivities, x):
    """One step of the Williams–Zipser recursion for every Elman weight::

        a^{t+1} = U x^{t+1} + W z^t + b,  z^{t+1} = f(a^{t+1})
        p_{k,(i,j)}^{t+1} = f'(a_k^{t+1}) [Σ_l W_kl p_{l,(i,j)}^t + δ_ik z_j^t]      (W)
        p_{k,(i,j)}^{t+1} = f'(a_k^{t+1}) [Σ_l W_kl p_{l,(i,j)}^t + δ_ik x_j^{t+1}]  (U)
        p_{k,i}^{t+1}     = f'(a_k^{t+1}) [Σ_l W_kl p_{l,i}^t + δ_ik]                 (b)

    Shapes: h_prev (n,), x (d,). Returns (h_t, p_t).
    """
    n = h_prev.shape[0]
    a = params.U @ x + params.W @ h_prev + params.b
    h = ACTIVATIONS[activation](a)
    fprime = _ELMAN_DERIVATIVES[activation](a, h)
    eye = jnp.eye(n, dtype=h.dtype)
    p_W = jnp.einsum("kl,lij->kij", params.W, p.W) + eye[:, :, None] * h_prev[None, None, :]
    p_U = jnp.einsum("kl,lij->kij", params.W, p.U) + eye[:, :, None] * x[None, None, :]
    p_b = params.W @ p.b + eye
    return h, ElmanSensitivities(
        fprime[:, None, None] * p_U, fprime[:, None, None] * p_W, fprime[:, None] * p_b
    )


def elman_rtrl_value_and_grad(model: SeqModel, params: ModelParams, batch: Batch):
    """Loss and gradient of one sequence by the explicit Elman RTRL recursion.

    ∂L/∂θ_ij = Σ_t Σ_k e_k^t p_{k,(i,j)}^t with e^t = ∂(w_t ℓ_t)/∂h_t (Williams & Zipser 1989).
    """
    core = model.core
    if not isinstance(core, Elman):
        raise PlastixError(f"elman_rtrl needs an Elman core, got {type(core).__name__}.")
    n = core.hidden_size
    p0 = ElmanSensitivities(*(jnp.zeros((n,) + a.shape, a.dtype) for a in params.core))
    h0 = core.initial_carry().h
    loss_grad = jax.value_and_grad(weighted_step_loss, argnums=(1, 2))

    def body(state: ElmanRTRLState, inp):
        x, target, weight, done = inp
        h_prev = jnp.where(done, h0, state.h)
        p = jax.tree.map(lambda z, q: jnp.where(done, z, q), p0, state.p)
        h, p = elman_sensitivity_step(params.core, core.activation, h_prev, p, x)
        loss, (g_out, e) = loss_grad(model, params.readout, h, target, weight)
        g_step = ElmanParams(*(jnp.tensordot(e, q, axes=1) for q in p))  # Σ_k e_k p_k,(i,j)
        g_core = jax.tree.map(jnp.add, state.g_core, g_step)
        g_readout = jax.tree.map(jnp.add, state.g_readout, g_out)
        return ElmanRTRLState(h, p, g_core, g_readout, state.loss + loss), None

    init = ElmanRTRLState(
        h0, p0, jax.tree.map(jnp.zeros_like, params.core),
        jax.tree.map(jnp.zeros_like, params.readout), jnp.zeros((), core.jdtype),
    )
    final, _ = lax.scan(body, init, (batch.xs, batch.targets, batch.weights, batch.resets))
    return final.loss, ModelParams(final.g_core, final.g_readout)


def elman_rtrl() -> GradMethod:
    """Explicit Williams–Zipser RTRL for the Elman core (name "elman-rtrl")."""
    return GradMethod("elman-rtrl", elman_rtrl_value_and_grad)


# ---------------------------------------------------------------------------------------------
# Online RTRL: an update at every step.


class OnlineRTRLState(NamedTuple):
    params: ModelParams
    opt_state: PyTree
    carry: PyTree  # s_{t-1}
    P: jax.Array  # (n_s, n_θ)


def rtrl_online(model: SeqModel, optimizer, params: ModelParams, opt_state, batch: Batch):
    """Train online along one stream: at every step t an optimizer update with ∂ℓ_t/∂θ.

    At step t, with the current parameters θ_t::

        s_t, h_t = step(θ_t, s_{t-1}, x_t);   P_t = J_t P_{t-1} + ∂s_t/∂θ|direct
        g_t = ∂(w_t ℓ_t)/∂h_t · dh_t/dθ       (readout: its direct gradient)
        θ_{t+1} = θ_t + optimizer.update(g_t)

    The sensitivities P are carried across the updates although they were computed with the
    earlier parameters θ_{t'<t}: the standard approximation of online RTRL (Williams & Zipser
    1989), exact in the limit of a small learning rate. Resets zero both the carry and P.

    Args:
      optimizer: an ``optax.GradientTransformation``.
      batch: one unbatched stream (xs (T, d), targets, weights (T,), resets (T,)).

    Returns:
      (params, opt_state, losses) with losses (T,) the weighted step losses w_t ℓ_t, each
      measured before that step's update.
    """
    core = model.core
    fresh = core.initial_carry()
    n_s = ravel_pytree(fresh)[0].size
    n_theta = ravel_pytree(params.core)[0].size
    dtype = ravel_pytree(params.core)[0].dtype
    zero_P = jnp.zeros((n_s, n_theta), dtype)
    loss_grad = jax.value_and_grad(weighted_step_loss, argnums=(1, 2))

    def body(state: OnlineRTRLState, inp):
        x, target, weight, done = inp
        theta_flat, unravel_theta = ravel_pytree(state.params.core)
        carry = reset_where(done, fresh, state.carry)
        P = jnp.where(done, zero_P, state.P)
        carry, h, P, dh = _push_forward(core, theta_flat, unravel_theta, carry, P, x)
        loss, (g_out, g_h) = loss_grad(model, state.params.readout, h, target, weight)
        grads = ModelParams(unravel_theta(g_h @ dh), g_out)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        new_params = optax.apply_updates(state.params, updates)
        return OnlineRTRLState(new_params, opt_state, carry, P), loss

    init = OnlineRTRLState(params, opt_state, fresh, zero_P)
    final, losses = lax.scan(body, init, (batch.xs, batch.targets, batch.weights, batch.resets))
    return final.params, final.opt_state, losses
