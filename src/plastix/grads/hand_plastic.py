"""Hand-derived BPTT for the plastic and neuromodulated RNNs (Miconi et al. 2018, 2019).

Forward (carry entering step t: h̃ = h_{t−1}, H = Hebb_t, E = E_t, all zero at a reset)::

    u_t = W_in x_t + (W + α ⊙ H) h̃ + b,   h_t = tanh(u_t),   M_t = s(v_t), v_t = w_M·h_t + b_M
    clip:   P = H + η h_t h̃ᵀ,            H' = clip(P, −1, 1)
    decay:  H' = (1 − η) H + η h_t h̃ᵀ
    oja:    H'_ij = H_ij (1 − η h_i²) + η h_i h̃_j
    simple: P = H + M_t h_t h̃ᵀ,          H' = clip(P, −1, 1)
    retro:  P = H + M_t E,  H' = clip(P, −1, 1),   E' = (1 − η) E + η h_t h̃ᵀ

Backward. Adjoints of the carry leaving step t: ĥ = ∂L/∂h_t from step t+1, Ĥ' = ∂L/∂H',
Ê' = ∂L/∂E'; e_t = ∂L/∂h_t from the readout. With the clip mask m = 1[−1 < P < 1]
(½ exactly at ±1, JAX's subgradient of clip) and P̂ = m ⊙ Ĥ'::

    trace part (∂H'/∂·, ∂E'/∂· transposed):
      clip:   Ĥ_tr = P̂,  ĥ_tr = η P̂ h̃,  h̃̂_tr = η P̂ᵀ h_t,  η̂ = h_tᵀ P̂ h̃
      decay:  Ĥ_tr = (1−η) Ĥ',  ĥ_tr = η Ĥ' h̃,  h̃̂_tr = η Ĥ'ᵀ h_t,  η̂ = h_tᵀ Ĥ' h̃ − Σ Ĥ' ⊙ H
      oja:    Ĥ_tr = (1 − η h²) ⊙ Ĥ' (rows),  ĥ_tr = η Ĥ' h̃ − 2η h ⊙ rowsum(Ĥ' ⊙ H),
              h̃̂_tr = η Ĥ'ᵀ h_t,  η̂ = h_tᵀ Ĥ' h̃ − Σ_ij Ĥ'_ij h_i² H_ij
      simple: Ĥ_tr = P̂,  M̂ = h_tᵀ P̂ h̃,  v̂ = s'(v) M̂,  ĥ_tr = M P̂ h̃ + v̂ w_M,  h̃̂_tr = M P̂ᵀ h_t
      retro:  Ĥ_tr = P̂,  M̂ = Σ P̂ ⊙ E,  v̂ = s'(v) M̂,  Ê_tr = M P̂ + (1−η) Ê',
              ĥ_tr = η Ê' h̃ + v̂ w_M,  h̃̂_tr = η Ê'ᵀ h_t,  η̂ = h_tᵀ Ê' h̃ − Σ Ê' ⊙ E
    hidden part:
      δ_t = (1 − h_t²) ⊙ (e_t + ĥ + ĥ_tr)
      Ĥ = Ĥ_tr + α ⊙ δ_t h̃ᵀ,   ĥ_{t−1} = (W + α ⊙ H)ᵀ δ_t + h̃̂_tr       (zero at a reset)
    parameters (summed over t):
      ∂W = δ h̃ᵀ, ∂W_in = δ xᵀ, ∂b = δ, ∂α = reduce(δ h̃ᵀ ⊙ H), ∂θ = η̂ dη/dθ (η = θ or sigmoid(θ)),
      ∂w_M = v̂ h_t, ∂b_M = v̂, ∂x_t = W_inᵀ δ_t.

Memory: no (n, n) trace is stored per step. The forward keeps hs (T, n) and Hebb/E only at
the starts of ⌈T/K⌉ segments of K ≈ 2√T steps (``segments``). The backward walks the segments
in reverse; for each it recomputes the K traces from the checkpoint and hs (elementwise, no
matvec), then runs the reverse recursion over the segment: O(√T n²) trace memory instead of
O(T n²). An RL rollout of these cores records hs and the checkpoints itself
(``plastix.grads.hand.hand_scan_recorded``), so the forward pass is not run a second time.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from plastix.cores.plastic import PlasticCarry, PlasticParams


def _retro(core) -> bool:
    return getattr(core, "modulation", None) == "retroactive"


def _kind(core) -> str:
    return getattr(core, "modulation", None) if core.modulated else core.rule


def _zero(v):
    return None if v is None else jnp.zeros_like(v)


def _cut(r, tree):
    """Zero every leaf of ``tree`` where the scalar bool ``r`` (a reset) holds."""
    return jax.tree.map(lambda v: jnp.where(r, jnp.zeros_like(v), v), tree)


def segments(T: int) -> tuple[int, int]:
    """(K, number of segments ⌈T/K⌉): K steps per segment, the divisor of T nearest 2√T among
    those in [√T, 4√T] (no padded last segment), else ⌈2√T⌉ (at most T).

    Trace memory is ⌈T/K⌉ checkpoints plus a K-step buffer, O(√T) for any K ∝ √T. Why 2√T and a
    divisor, measured at Backpropamine's released size (n = 200, B = 30, T = 120, one core, the
    recording rollout and the backward interleaved, 6 rounds): K = 20, 24, 30 took 0.59 s per
    gradient; K = 11 (⌈√T⌉, padded), 16 and 22 (padded) and 12 took 0.63–0.64 s. Each segment
    boundary costs the rollout a carry copy; a padded segment costs the backward whole steps."""
    if T <= 1:
        return 1, T
    root = math.sqrt(T)
    fits = [k for k in range(math.ceil(root), math.floor(4 * root) + 1) if T % k == 0]
    K = min(fits, key=lambda k: (abs(k - 2 * root), k)) if fits else min(T, math.ceil(2 * root))
    return K, -(-T // K)


def _pad(a: jax.Array, length: int) -> jax.Array:
    widths = [(0, length - a.shape[0])] + [(0, 0)] * (a.ndim - 1)
    return jnp.pad(a, widths)


def _trace(core, p: PlasticParams, H, E, h, hp):
    """(Hebb_{t+1}, E_{t+1}) from the carry (H, E), h_t and h̃ = h_{t−1} (module docstring)."""
    kind, eta = _kind(core), core.rate(p)
    if kind == "clip":
        return jnp.clip(H + eta * jnp.outer(h, hp), -1.0, 1.0), None
    if kind == "decay":
        return (1.0 - eta) * H + eta * jnp.outer(h, hp), None
    if kind == "oja":
        return H + eta * h[:, None] * (hp[None, :] - h[:, None] * H), None
    M = core.modulator(p, h)
    if kind == "simple":
        return jnp.clip(H + M * jnp.outer(h, hp), -1.0, 1.0), None
    return jnp.clip(H + M * E, -1.0, 1.0), (1.0 - eta) * E + eta * jnp.outer(h, hp)


def plastic_forward(core, p: PlasticParams, xs, resets):
    """hs (T, n) and the (Hebb, E) checkpoints at segment starts, each (segments, n, n)."""
    T, d = xs.shape
    n = core.hidden_size
    K, nseg = segments(T)
    zero_nn = jnp.zeros((n, n), xs.dtype)
    state0 = (jnp.zeros((n,), xs.dtype), zero_nn, zero_nn if _retro(core) else None)

    def step(state, inp):
        x, r = inp
        hp, H, E = _cut(r, state)
        h = core.hidden(p, PlasticCarry(hp, H, E), x)
        return (h, *_trace(core, p, H, E, h, hp)), h

    def segment(state, inp):
        ckpt = state[1:]
        state, hs = lax.scan(step, state, inp)
        return state, (hs, ckpt)

    inputs = (_pad(xs, K * nseg).reshape(nseg, K, d), _pad(resets, K * nseg).reshape(nseg, K))
    _, (hs, ckpts) = lax.scan(segment, state0, inputs)
    return hs.reshape(K * nseg, n)[:T], ckpts


def _sprime(core, M):
    """s'(v) written through M = s(v)."""
    if core.squash == "tanh":
        return 1.0 - M * M
    if core.squash == "sigmoid":
        return M * (1.0 - M)
    return jnp.ones_like(M)


def _clip_mask(P):
    inside = (P > -1.0) & (P < 1.0)
    tie = (P == -1.0) | (P == 1.0)
    return jnp.where(inside, 1.0, jnp.where(tie, 0.5, 0.0)).astype(P.dtype)


def _inner(A, B):
    """Σ_ij A_ij B_ij, as a row-sum matrix-vector product (XLA's CPU reduction of a whole
    (n, n) product ran 2× slower than the product followed by a matrix-vector product)."""
    return jnp.sum((A * B) @ jnp.ones((A.shape[1],), A.dtype))


def _trace_back(core, p: PlasticParams, H, E, h, hp, dHn, dEn):
    """Trace part of the backward: (Ĥ_tr, Ê_tr, ĥ_tr, h̃̂_tr, η̂, v̂) (module docstring)."""
    kind, eta = _kind(core), core.rate(p)
    zero = jnp.zeros((), h.dtype)
    # each (n, n) @ vector product is formed once and reused (h ⊤ Ĥ' h̃ = h · (Ĥ' h̃))
    if kind in ("clip", "decay", "oja"):
        if kind == "clip":
            dHn = _clip_mask(H + eta * jnp.outer(h, hp)) * dHn
        dHn_hp = dHn @ hp
        if kind == "clip":
            d_eta, dH = h @ dHn_hp, dHn
            dh = eta * dHn_hp
        elif kind == "decay":
            d_eta, dH = h @ dHn_hp - jnp.sum(dHn * H), (1.0 - eta) * dHn
            dh = eta * dHn_hp
        else:
            hh = (h * h)[:, None]
            d_eta, dH = h @ dHn_hp - jnp.sum(dHn * H * hh), (1.0 - eta * hh) * dHn
            dh = eta * dHn_hp - 2.0 * eta * h * jnp.sum(dHn * H, axis=1)
        return dH, None, dh, eta * (h @ dHn), d_eta, zero
    M = core.modulator(p, h)
    if kind == "simple":
        dP = _clip_mask(H + M * jnp.outer(h, hp)) * dHn
        dP_hp = dP @ hp
        dv = _sprime(core, M) * (h @ dP_hp)
        return dP, None, M * dP_hp + dv * p.w_M, M * (h @ dP), zero, dv
    dP = _clip_mask(H + M * E) * dHn
    dv = _sprime(core, M) * _inner(dP, E)
    dE = M * dP + (1.0 - eta) * dEn
    dEn_hp = dEn @ hp
    d_eta = h @ dEn_hp - _inner(dEn, E)
    return dP, dE, eta * dEn_hp + dv * p.w_M, eta * (h @ dEn), d_eta, dv


def _step_back(core, p: PlasticParams, adj, inp):
    """One reverse step; adj = (ĥ, Ĥ', Ê', running Σ δ h̃ᵀ ⊙ H)."""
    dh_next, dHn, dEn, d_alpha = adj
    h, hp, H, E, g, r = inp
    dH, dE, dh_tr, dhp_tr, d_eta, dv = _trace_back(core, p, H, E, h, hp, dHn, dEn)
    delta = (1.0 - h * h) * (g + dh_next + dh_tr)
    outer = jnp.outer(delta, hp)
    dH = dH + p.alpha * outer
    dhp = delta @ (p.W + p.alpha * H) + dhp_tr
    adj = (*_cut(r, (dhp, dH, dE)), d_alpha + outer * H)
    return adj, (delta, d_eta, dv)


def _segment_back(core, p: PlasticParams, adj, inp):
    """Recompute the segment's traces from its checkpoint, then run it backwards."""
    (H0, E0), h_s, hp_s, g_s, r_s = inp

    def retrace(state, step_in):
        h, hp, r = step_in
        hp, H, E = _cut(r, (hp, *state))
        return _trace(core, p, H, E, h, hp), (hp, H, E)

    _, (hp_s, H_s, E_s) = lax.scan(retrace, (H0, E0), (h_s, hp_s, r_s))
    return lax.scan(
        lambda a, i: _step_back(core, p, a, i), adj, (h_s, hp_s, H_s, E_s, g_s, r_s), reverse=True
    )


def _reduce_alpha(d_alpha, shape):
    """Sum the per-connection ∂α over the axes that α broadcasts along."""
    if shape[1] == 1 and d_alpha.shape[1] != 1:
        d_alpha = jnp.sum(d_alpha, axis=1, keepdims=True)
    if shape[0] == 1 and d_alpha.shape[0] != 1:
        d_alpha = jnp.sum(d_alpha, axis=0, keepdims=True)
    return d_alpha


def plastic_backward(core, p: PlasticParams, xs, resets, hs, ckpts, g_hs):
    """The recursions of the module docstring, segment by segment, in reverse."""
    T, n = hs.shape
    K, nseg = segments(T)
    hp_raw = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]], axis=0)
    seg = lambda a: _pad(a, K * nseg).reshape(nseg, K, *a.shape[1:])  # noqa: E731
    zero_nn = jnp.zeros((n, n), hs.dtype)
    adj0 = (jnp.zeros((n,), hs.dtype), zero_nn, zero_nn if _retro(core) else None, zero_nn)
    adj, (deltas, d_etas, dvs) = lax.scan(
        lambda a, i: _segment_back(core, p, a, i),
        adj0,
        (ckpts, seg(hs), seg(hp_raw), seg(g_hs), seg(resets)),
        reverse=True,
    )
    deltas = deltas.reshape(K * nseg, n)[:T]
    dvs = dvs.reshape(K * nseg)[:T]
    hp = jnp.where(resets[:, None], jnp.zeros_like(hp_raw), hp_raw)
    grads = PlasticParams(
        W_in=deltas.T @ xs,
        W=deltas.T @ hp,
        alpha=_reduce_alpha(adj[3], p.alpha.shape),
        eta=core.rate_grad(p, jnp.sum(d_etas)).astype(p.eta.dtype),  # ∂θ = ∂η · dη/dθ (eta_param)
        b=jnp.sum(deltas, axis=0),
        w_M=None if p.w_M is None else dvs @ hs,
        b_M=None if p.b_M is None else jnp.sum(dvs),
    )
    return grads, deltas @ p.W_in
