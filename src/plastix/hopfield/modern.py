"""The modern (continuous) Hopfield network of Ramsauer et al. (2021), "Hopfield Networks is
All You Need" (ICLR 2021).

P stored patterns x_1..x_P ∈ R^d are the rows of ``X`` (P, d) — the paper's X = (x_1, ..., x_N)
is this matrix transposed, and its N (patterns) is our P. A state ξ ∈ R^d is updated by
(Ramsauer et al. 2021, eq. 3)::

    ξ_new = Xᵀ softmax(β X ξ)                      (paper: ξ_new = X softmax(β Xᵀ ξ))

which is one step of softmax attention with the query ξ and keys = values = the stored
patterns, at inverse temperature β (the paper's §3 derives the Transformer's attention from
it with β = 1/√d_k). It decreases the energy (eq. 2; Theorem 1)::

    E(ξ) = −lse(β, X ξ) + ½ ξᵀξ + β⁻¹ log P + ½ M²,    lse(β, z) = β⁻¹ log Σ_i exp(β z_i),
    M = max_i ‖x_i‖,

and a well-separated pattern is retrieved after one update, for a number of patterns that can
grow exponentially with d (Theorem 3) — far beyond the 0.138 N of the classical network.

``mask`` (P,) booleans, where given, leaves patterns out (the capacity experiment stores a
traced number of patterns in a fixed-shape array).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _scores(X: jax.Array, xi: jax.Array, beta, mask) -> jax.Array:
    z = beta * (X @ xi)  # (P,) β x_iᵀ ξ
    return z if mask is None else jnp.where(mask, z, -jnp.inf)


def update(X: jax.Array, xi: jax.Array, beta=1.0, mask: jax.Array | None = None) -> jax.Array:
    """ξ_new = Xᵀ softmax(β X ξ) (Ramsauer et al. 2021, eq. 3). X (P, d), ξ (d,) -> (d,)."""
    return X.T @ jax.nn.softmax(_scores(X, xi, beta, mask))


def energy(X: jax.Array, xi: jax.Array, beta=1.0, mask: jax.Array | None = None) -> jax.Array:
    """E(ξ) of Ramsauer et al. (2021), eq. 2 (module docstring). X (P, d), ξ (d,) -> ()."""
    lse = jax.nn.logsumexp(_scores(X, xi, beta, mask)) / beta
    P = X.shape[0] if mask is None else jnp.sum(mask)
    norms = jnp.linalg.norm(X, axis=1)
    M = jnp.max(norms if mask is None else jnp.where(mask, norms, 0.0))
    return -lse + 0.5 * xi @ xi + jnp.log(P) / beta + 0.5 * M**2


def retrieve(X: jax.Array, xi: jax.Array, beta=1.0, steps: int = 1, mask: jax.Array | None = None) -> jax.Array:
    """``steps`` updates from the state ξ (d,); one is enough for well-separated patterns."""
    for _ in range(steps):
        xi = update(X, xi, beta, mask)
    return xi
