"""Hand-written forward/backward pairs for the Elman and peephole-LSTM cores.

Each ``*_forward(core, params, xs, resets) -> (hs, saved)`` runs the recurrence with a
``lax.scan`` and keeps only vectors per step; each ``*_backward(core, params, xs, resets, hs,
saved, g_hs) -> (d_params, d_xs)`` runs the BPTT recursions in a reverse ``lax.scan`` and
forms the weight gradients afterwards as single matrix products over time. ``g_hs`` (T, n)
is ∂L/∂h_t from the readout and loss (the injected error e^t).

A reset at t means the carry entering step t is zero (the initial carry), so the previous
output is h̃_{t−1} = 0 and the recursion's adjoint of h_{t−1} is cut to zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from plastix.cores.elman import ACTIVATIONS, ElmanParams
from plastix.cores.lstm_peephole import PeepholeLSTMParams


def previous(hs: jax.Array, resets: jax.Array) -> jax.Array:
    """h̃_{t−1} (T, n): hs shifted one step down, zero at t = 0 and where resets[t]."""
    shifted = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]], axis=0)
    return jnp.where(resets[:, None], jnp.zeros_like(shifted), shifted)


def _fprime(activation: str, h: jax.Array) -> jax.Array:
    """f'(a) written through h = f(a): tanh 1 − h², sigmoid h(1 − h), relu [h > 0]."""
    if activation == "tanh":
        return 1.0 - h * h
    if activation == "sigmoid":
        return h * (1.0 - h)
    return (h > 0).astype(h.dtype)


def elman_forward(core, p: ElmanParams, xs, resets):
    """h_t = f(U x_t + W h̃_{t−1} + b) (Elman 1990); saves nothing beyond hs (f' comes from h)."""
    f = ACTIVATIONS[core.activation]

    ux = xs @ p.U.T + p.b[None]  # input terms of all steps: one GEMM

    def body(h, inp):
        ux_t, r = inp
        h = jnp.where(r, jnp.zeros_like(h), h)
        h = f(ux_t + p.W @ h)
        return h, h

    _, hs = lax.scan(body, jnp.zeros((core.hidden_size,), xs.dtype), (ux, resets))
    return hs, ()


def elman_backward(core, p: ElmanParams, xs, resets, hs, saved, g_hs):
    """BPTT for the Elman net (Werbos 1990) with a per-step error e^t = ∂L/∂h_t (g_hs)::

        δ^t = f'(a^t) ⊙ [e^t + Wᵀ δ^{t+1}]           (δ^{T+1} = 0, cut at resets)
        ∂L/∂W = Σ_t δ^t h̃_{t−1}ᵀ,  ∂L/∂U = Σ_t δ^t x_tᵀ,  ∂L/∂b = Σ_t δ^t
        ∂L/∂x_t = Uᵀ δ^t
    """
    fp = _fprime(core.activation, hs)
    n = core.hidden_size

    def body(back, inp):  # back = Wᵀ δ^{t+1}, already cut where resets[t+1]
        fp_t, g_t, r_t = inp
        delta = fp_t * (g_t + back)
        back = delta @ p.W
        return jnp.where(r_t, jnp.zeros_like(back), back), delta

    _, deltas = lax.scan(body, jnp.zeros((n,), hs.dtype), (fp, g_hs, resets), reverse=True)
    grads = ElmanParams(U=deltas.T @ xs, W=deltas.T @ previous(hs, resets), b=jnp.sum(deltas, axis=0))
    return grads, deltas @ p.U


def lstm_forward(core, p: PeepholeLSTMParams, xs, resets):
    """Graves' peephole LSTM (Graves 2012, §4.6, forward pass); saves s_t and the four gate values."""

    n = core.hidden_size
    Wh = p.Wh.reshape(4 * n, n)
    ax = jnp.einsum("knd,td->tkn", p.Wx, xs) + p.b[None]  # input terms of all steps: one GEMM

    def body(carry, inp):
        ax_t, r = inp
        z, s = jax.tree.map(lambda v: jnp.where(r, jnp.zeros_like(v), v), carry)
        a = ax_t + (Wh @ z).reshape(4, n)
        z_i = jax.nn.sigmoid(a[0] + p.peep[0] * s)
        z_f = jax.nn.sigmoid(a[1] + p.peep[1] * s)
        g = jnp.tanh(a[2])
        s = z_f * s + z_i * g
        z_o = jax.nn.sigmoid(a[3] + p.peep[2] * s)
        z = z_o * jnp.tanh(s)
        return (z, s), (z, s, jnp.stack([z_i, z_f, g, z_o]))

    zero = jnp.zeros((n,), xs.dtype)
    _, (zs, ss, gates) = lax.scan(body, (zero, zero), (ax, resets))
    return zs, (ss, gates)


def _lstm_step_back(p: PeepholeLSTMParams, Wh_T, back, inp):
    """One step of Graves eqs. 39–44; ``back`` = (Σ_g w_cg δ_g^{t+1}, ε_s carried from t+1);
    ``Wh_T`` (n, 4n) is the transposed stack of the recurrent weights."""
    dz_next, ds_next = back
    g_t, s, s_prev, (z_i, z_f, g, z_o), r = inp
    eps_c = g_t + dz_next  # (39)
    th = jnp.tanh(s)
    d_o = z_o * (1.0 - z_o) * th * eps_c  # (40)
    eps_s = z_o * (1.0 - th * th) * eps_c + ds_next + p.peep[2] * d_o  # (41)
    d_c = z_i * (1.0 - g * g) * eps_s  # (42)
    d_f = z_f * (1.0 - z_f) * s_prev * eps_s  # (43)
    d_i = z_i * (1.0 - z_i) * g * eps_s  # (44)
    da = jnp.stack([d_i, d_f, d_c, d_o])
    dz_prev = Wh_T @ da.reshape(-1)  # Σ_g W_gh^T δ_g as one (n, 4n) matvec
    # terms of (41) at t−1: z_φ^t ε_s^t + w_ιs δ_ι^t + w_φs δ_φ^t
    ds_prev = z_f * eps_s + p.peep[0] * d_i + p.peep[1] * d_f
    back = jax.tree.map(lambda v: jnp.where(r, jnp.zeros_like(v), v), (dz_prev, ds_prev))
    return back, da


def lstm_backward(core, p: PeepholeLSTMParams, xs, resets, hs, saved, g_hs):
    """Graves (2012), §4.6, backward pass, with ε_c^t = ∂L/∂z_t + Σ_g w_cg δ_g^{t+1}::

        δ_ω = σ'(a_ω) h(s_t) ε_c                                        (40)
        ε_s = z_ω h'(s_t) ε_c + z_φ^{t+1} ε_s^{t+1} + w_ιs δ_ι^{t+1} + w_φs δ_φ^{t+1} + w_ωs δ_ω^t  (41)
        δ_c = z_ι g'(a_c) ε_s,  δ_φ = σ'(a_φ) s_{t−1} ε_s,  δ_ι = σ'(a_ι) g(a_c) ε_s   (42–44)

    Weight gradients: ∂L/∂W_gx = Σ_t δ_g^t x_tᵀ, ∂L/∂W_gh = Σ_t δ_g^t z_{t−1}ᵀ, ∂L/∂b_g = Σ_t δ_g^t,
    peepholes ∂L/∂w_ιs = Σ_t δ_ι^t s_{t−1}, ∂L/∂w_φs = Σ_t δ_φ^t s_{t−1}, ∂L/∂w_ωs = Σ_t δ_ω^t s_t.
    """
    ss, gates = saved
    s_prev = previous(ss, resets)
    n = core.hidden_size
    zero = jnp.zeros((n,), hs.dtype)
    Wh_T = p.Wh.reshape(4 * n, n).T
    _, das = lax.scan(
        lambda back, inp: _lstm_step_back(p, Wh_T, back, inp),
        (zero, zero),
        (g_hs, ss, s_prev, gates, resets),
        reverse=True,
    )  # (T, 4, n)
    peep = jnp.stack(
        [jnp.sum(das[:, 0] * s_prev, axis=0), jnp.sum(das[:, 1] * s_prev, axis=0), jnp.sum(das[:, 3] * ss, axis=0)]
    )
    grads = PeepholeLSTMParams(
        Wx=jnp.einsum("tkn,td->knd", das, xs),
        Wh=jnp.einsum("tkn,tm->knm", das, previous(hs, resets)),
        peep=peep,
        b=jnp.sum(das, axis=0),
    )
    return grads, jnp.einsum("tkn,knd->td", das, p.Wx)
