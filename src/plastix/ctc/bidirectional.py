"""Bidirectional cores over padded sequences (Schuster & Paliwal 1997, "Bidirectional recurrent
neural networks", IEEE TSP, fig. 3; Graves et al. 2006 used a bidirectional LSTM for CTC).

A padded sequence holds T_b real frames followed by padding up to T. The forward core reads
x_1..x_T (the padding comes after every real frame, so it cannot reach them); the backward core
must start at the last *real* frame, so it reads the sequence reversed within its length::

    x̃_s = x_{T_b + 1 − s} for s ≤ T_b,   x̃_s = x_s for s > T_b        (a per-sequence permutation)
    h^→_t = forward core after x_1..x_t,   h^←_t = h̃_{T_b + 1 − t} = backward core after x_T_b..x_t
    h_t = [h^→_t ; h^←_t]                                              (T, n_f + n_b)

The permutation is its own inverse, so the backward outputs are put back in order with the same
gather. Frames t > T_b give outputs too (of padding only); a loss must mask them. The parameters
are those of ``plastix.cores.Bidirectional`` (``BidirectionalParams``), whose ``apply`` is the
unpadded special case T_b = T.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from plastix.cores import Bidirectional, Core, scan_core
from plastix.cores.stack import BidirectionalParams


def reverse_within(xs: jax.Array, length: jax.Array) -> jax.Array:
    """xs (T, ...) with its first ``length`` entries reversed and the rest in place."""
    t = jnp.arange(xs.shape[0])
    return xs[jnp.where(t < length, length - 1 - t, t)]


def run_bidirectional(bi: Bidirectional, params: BidirectionalParams, xs: jax.Array, length: jax.Array) -> jax.Array:
    """hs (T, n_f + n_b) of one padded sequence xs (T, d) with ``length`` real frames."""
    _, hs_f = scan_core(bi.forward, params.forward, xs)
    _, hs_b = scan_core(bi.backward, params.backward, reverse_within(xs, length))
    return jnp.concatenate([hs_f, reverse_within(hs_b, length)], axis=1)


def run_core(core: Core | Bidirectional, params, xs: jax.Array, length: jax.Array) -> jax.Array:
    """hs (T, output_size) of a core or a ``Bidirectional`` on one padded sequence."""
    if isinstance(core, Bidirectional):
        return run_bidirectional(core, params, xs, length)
    return scan_core(core, params, xs)[1]


__all__ = ["reverse_within", "run_bidirectional", "run_core"]
