"""The classical Hopfield network (Hopfield 1982): ±1 units, symmetric weights, zero diagonal.

N units s_i ∈ {−1, +1} store P patterns ξ^μ ∈ {−1, +1}^N (``patterns``: (P, N), one pattern per
row) in a weight matrix W (N, N). Three storage rules, each with w_ii = 0:

* ``hebbian`` (Hopfield 1982, eq. 2 with V = (s + 1)/2 → ±1 units; Hertz, Krogh & Palmer 1991,
  eq. 2.9)::

      w_ij = (1/N) Σ_μ ξ^μ_i ξ^μ_j   (i ≠ j)

* ``pseudo-inverse`` — the projection rule (Personnaz, Guyon & Dreyfus 1985; Kanter &
  Sompolinsky 1987, who also set the diagonal to zero). With Ξ = (ξ^1 ... ξ^P) (N, P) and the
  overlap matrix C = Ξᵀ Ξ / N (P, P)::

      W = (1/N) Ξ C⁺ Ξᵀ,  then w_ii = 0

  W without the diagonal projects onto the span of the patterns, so W ξ^μ = (1 − w_ii) ξ^μ:
  every pattern is a fixed point while the diagonal stays below 1, up to P/N → 1.

* ``storkey`` (Storkey 1997; Storkey & Valabregue 1999, eq. 1), incremental, pattern ν after
  ν − 1, starting from W = 0::

      w^ν_ij = w^{ν−1}_ij + (1/N) (ξ^ν_i ξ^ν_j − ξ^ν_i h^ν_ji − h^ν_ij ξ^ν_j),
      h^ν_ij = Σ_{k ≠ i, j} w^{ν−1}_ik ξ^ν_k                       (the local field without i, j)

  then w_ii = 0. A pattern of all zeros changes nothing under any rule, which is how the
  capacity experiment (``plastix.hopfield.capacity``) stores a traced number of patterns in a
  fixed-shape array.

Dynamics (zero temperature). The local field h = W s; a unit is set to sign(h_i), and keeps its
state when h_i = 0:

* ``sync_update``: all units at once (Little 1974), s ← sgn(W s);
* ``async_sweep``: the units one after the other in a given order (Hopfield 1982), each seeing
  the updates before it. With symmetric W and w_ii ≥ 0 no single update raises the energy

      E(s) = −½ sᵀ W s                                          (Hopfield 1982, eq. 7)

  (ΔE = −Δs_i h_i ≤ 0), so asynchronous dynamics end in a fixed point (``run_async``).

All functions are pure and jittable; a batch of states is a ``vmap``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.errors import PlastixError, unknown_name


def _zero_diagonal(W: jax.Array) -> jax.Array:
    return W * (1.0 - jnp.eye(W.shape[0], dtype=W.dtype))


def hebbian(patterns: jax.Array) -> jax.Array:
    """W = (1/N) Σ_μ ξ^μ ξ^μᵀ with w_ii = 0. patterns: (P, N) ±1 -> W (N, N)."""
    N = patterns.shape[1]
    return _zero_diagonal(patterns.T @ patterns / N)


def pseudo_inverse(patterns: jax.Array) -> jax.Array:
    """The projection rule W = (1/N) Ξ C⁺ Ξᵀ, C = ΞᵀΞ/N, with w_ii = 0. patterns: (P, N) -> (N, N).

    C⁺ is the Moore–Penrose pseudo-inverse, so dependent (or all-zero) patterns are allowed."""
    N = patterns.shape[1]
    C = patterns @ patterns.T / N  # (P, P) overlaps
    return _zero_diagonal(patterns.T @ jnp.linalg.pinv(C, hermitian=True) @ patterns / N)


def storkey_step(W: jax.Array, xi: jax.Array) -> jax.Array:
    """Store one more pattern ξ (N,) in W (N, N) by Storkey's rule (module docstring)."""
    N = xi.shape[0]
    W = _zero_diagonal(W)
    field = W @ xi  # (N,) h_i = Σ_k w_ik ξ_k (w_ii = 0, so k = i adds nothing)
    H = field[:, None] - W * xi[None, :]  # H[i, j] = h_ij = h_i − w_ij ξ_j
    dW = (jnp.outer(xi, xi) - xi[:, None] * H.T - H * xi[None, :]) / N
    return _zero_diagonal(W + dW)


def storkey(patterns: jax.Array) -> jax.Array:
    """Storkey's incremental rule over the rows of ``patterns`` (P, N), from W = 0."""
    N = patterns.shape[1]
    W, _ = lax.scan(lambda W, xi: (storkey_step(W, xi), None), jnp.zeros((N, N), patterns.dtype), patterns)
    return W


RULES = {"hebbian": hebbian, "pseudo-inverse": pseudo_inverse, "storkey": storkey}


def store(rule: str, patterns: jax.Array) -> jax.Array:
    """W (N, N) storing ``patterns`` (P, N) with the named rule (``RULES``)."""
    if rule not in RULES:
        raise unknown_name("storage rule", rule, RULES)
    if getattr(patterns, "ndim", None) != 2:
        raise PlastixError(f"patterns must have shape (P, N), got {getattr(patterns, 'shape', None)}.")
    return RULES[rule](patterns)


def energy(W: jax.Array, s: jax.Array) -> jax.Array:
    """E(s) = −½ sᵀ W s (Hopfield 1982, eq. 7; no thresholds). W (N, N), s (N,) -> ()."""
    return -0.5 * s @ W @ s


def _sign_keep(h: jax.Array, s: jax.Array) -> jax.Array:
    """sgn(h), but the current state where h = 0."""
    return jnp.where(h > 0, 1.0, jnp.where(h < 0, -1.0, s)).astype(s.dtype)


def sync_update(W: jax.Array, s: jax.Array) -> jax.Array:
    """Every unit at once: s_i ← sgn(Σ_j w_ij s_j) (kept where the field is 0). s (N,)."""
    return _sign_keep(W @ s, s)


def async_sweep(W: jax.Array, s: jax.Array, order: jax.Array) -> jax.Array:
    """One asynchronous sweep: for k = 0..N−1, unit i = order[k] is set to sgn(Σ_j w_ij s_j)
    with the current s (kept where the field is 0). order: (N,) a permutation of 0..N−1."""

    def body(k, s):
        i = order[k]
        return s.at[i].set(_sign_keep(W[i] @ s, s[i]))

    return lax.fori_loop(0, order.shape[0], body, s)


class AsyncResult(NamedTuple):
    s: jax.Array  # (N,) final state
    sweeps: jax.Array  # () int32, sweeps run (the last one changed nothing if converged)
    converged: jax.Array  # () bool, a whole sweep changed no unit


def run_async(W: jax.Array, s0: jax.Array, key: jax.Array, max_sweeps: int = 100) -> AsyncResult:
    """Asynchronous sweeps in a fresh random order each, until a sweep changes nothing (a fixed
    point) or ``max_sweeps`` sweeps. W (N, N), s0 (N,) ±1, key: the orders."""
    N = s0.shape[0]

    def cond(carry):
        _, _, sweeps, changed = carry
        return changed & (sweeps < max_sweeps)

    def body(carry):
        s, key, sweeps, _ = carry
        key, k_order = jax.random.split(key)
        new = async_sweep(W, s, jax.random.permutation(k_order, N))
        return new, key, sweeps + 1, jnp.any(new != s)

    s, _, sweeps, changed = lax.while_loop(cond, body, (s0, key, jnp.zeros((), jnp.int32), jnp.asarray(True)))
    return AsyncResult(s, sweeps, ~changed)


def overlap(xi: jax.Array, s: jax.Array) -> jax.Array:
    """m = (1/N) Σ_i ξ_i s_i (Amit, Gutfreund & Sompolinsky 1985): 1 for s = ξ, 1 − 2·(errors/N)."""
    return xi @ s / xi.shape[-1]


def random_patterns(key: jax.Array, P: int, N: int, dtype=jnp.float32) -> jax.Array:
    """P independent unbiased patterns, each bit ±1 with probability ½: (P, N)."""
    return jnp.where(jax.random.bernoulli(key, 0.5, (P, N)), 1.0, -1.0).astype(dtype)


def flip_bits(key: jax.Array, xi: jax.Array, fraction) -> jax.Array:
    """ξ with round(fraction · N) bits, chosen uniformly without replacement, flipped. xi (N,)."""
    N = xi.shape[0]
    n_flip = jnp.round(fraction * N).astype(jnp.int32)
    ranks = jnp.argsort(jax.random.uniform(key, (N,)))  # a random permutation's inverse
    return jnp.where(ranks < n_flip, -xi, xi)
