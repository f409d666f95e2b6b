"""Gated recurrent unit (Cho et al. 2014, eqs. 5–8).

Gate order in the stacked weights is (r reset, z update, h̃ candidate)::

    r_t = σ(W_r x_t + U_r h_{t-1} + b_r)
    z_t = σ(W_z x_t + U_z h_{t-1} + b_z)
    h̃_t = tanh(W_h x_t + U_h (r_t ⊙ h_{t-1}) + b_h)
    h_t = z_t ⊙ h_{t-1} + (1 − z_t) ⊙ h̃_t

This is Cho et al.'s own convention: the update gate z keeps the *old* state (z = 1 copies
h_{t-1}, like an LSTM forget gate), and the reset gate acts on h_{t-1} *before* the recurrent
matrix U_h. (cuDNN/PyTorch instead apply r after the product, r ⊙ (U_h h_{t-1} + b_hn);
the two differ.) Cho et al. have no biases; ours start at zero.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, uniform_init

R, Z, H = 0, 1, 2  # gate order in Wx, Wh, b


class GRUParams(NamedTuple):
    Wx: jax.Array  # (3, n, d) input weights, gates (r, z, h̃)
    Wh: jax.Array  # (3, n, n) recurrent weights U_r, U_z, U_h
    b: jax.Array  # (3, n) biases


class GRUCarry(NamedTuple):
    h: jax.Array  # (n,) h_{t-1}


@dataclasses.dataclass(frozen=True)
class GRU(Core):
    """GRU core (Cho et al. 2014 convention, see module docstring)."""

    def init(self, key):
        n, d, dt = self.hidden_size, self.input_size, self.jdtype
        kx, kh = jax.random.split(key)
        return GRUParams(uniform_init(kx, (3, n, d), n, dt), uniform_init(kh, (3, n, n), n, dt), jnp.zeros((3, n), dt))

    def initial_carry(self):
        return GRUCarry(jnp.zeros((self.hidden_size,), self.jdtype))

    def scan_params(self, params):
        """Each gate's weights as separate arrays (``Core.scan_params``): the scan's backward
        pass then accumulates three (n, n) gradients per step, not a padded (3, n, n) one per
        slice (twice as fast for a GRU of 128 on one sequence)."""
        return GRUParams(*(tuple(w[g] for g in (R, Z, H)) for w in params))

    def step(self, params, carry, x):
        """``params``: a ``GRUParams`` of stacked (3, ...) arrays or of per-gate tuples."""
        h_prev = carry.h
        Wx, Wh, b = params
        r = jax.nn.sigmoid(Wx[R] @ x + b[R] + Wh[R] @ h_prev)
        z = jax.nn.sigmoid(Wx[Z] @ x + b[Z] + Wh[Z] @ h_prev)
        h_tilde = jnp.tanh(Wx[H] @ x + b[H] + Wh[H] @ (r * h_prev))
        h = z * h_prev + (1.0 - z) * h_tilde
        return GRUCarry(h), h
