"""Peephole LSTM of Graves (2012), ch. 4 (§4.6, forward pass).

Gate order in the stacked weights is (ι input, φ forget, c cell, ω output)::

    a_ι = W_ιx x_t + W_ιh z_{t-1} + w_ιs ⊙ s_{t-1} + b_ι,   z_ι = σ(a_ι)          (27, 28)
    a_φ = W_φx x_t + W_φh z_{t-1} + w_φs ⊙ s_{t-1} + b_φ,   z_φ = σ(a_φ)          (29, 30)
    a_c = W_cx x_t + W_ch z_{t-1} + b_c,                    s_t = z_φ s_{t-1} + z_ι g(a_c)   (31, 32)
    a_ω = W_ωx x_t + W_ωh z_{t-1} + w_ωs ⊙ s_t + b_ω,       z_ω = σ(a_ω)          (33, 34)
    z_t = z_ω ⊙ h(s_t)                                                            (35)

with f = σ, g = h = tanh. Peepholes are diagonal (each one-cell block sees its own cell,
as in Graves). Input and forget gates peep at s_{t-1}, the output gate at s_t. Unlike
the common LSTM there is no +1 forget-gate bias: every bias starts at zero.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, uniform_init

I, F, C, O = 0, 1, 2, 3  # gate order in Wx, Wh, b


class PeepholeLSTMParams(NamedTuple):
    Wx: jax.Array  # (4, n, d) input weights, gates (ι, φ, c, ω)
    Wh: jax.Array  # (4, n, n) recurrent weights from z_{t-1}
    peep: jax.Array  # (3, n) diagonal peepholes w_ιs, w_φs, w_ωs
    b: jax.Array  # (4, n) biases


class PeepholeLSTMCarry(NamedTuple):
    z: jax.Array  # (n,) cell outputs z_{t-1}
    s: jax.Array  # (n,) cell states s_{t-1}


@dataclasses.dataclass(frozen=True)
class PeepholeLSTM(Core):
    """Graves' peephole LSTM core (one cell per block)."""

    def init(self, key):
        n, d, dt = self.hidden_size, self.input_size, self.jdtype
        kx, kh, kp = jax.random.split(key, 3)
        return PeepholeLSTMParams(
            Wx=uniform_init(kx, (4, n, d), n, dt),
            Wh=uniform_init(kh, (4, n, n), n, dt),
            peep=uniform_init(kp, (3, n), n, dt),
            b=jnp.zeros((4, n), dt),
        )

    def initial_carry(self):
        z = jnp.zeros((self.hidden_size,), self.jdtype)
        return PeepholeLSTMCarry(z, z)

    def step(self, params, carry, x):
        a = params.Wx @ x + params.Wh @ carry.z + params.b  # (4, n): all but peepholes
        z_i = jax.nn.sigmoid(a[I] + params.peep[0] * carry.s)
        z_f = jax.nn.sigmoid(a[F] + params.peep[1] * carry.s)
        s = z_f * carry.s + z_i * jnp.tanh(a[C])
        z_o = jax.nn.sigmoid(a[O] + params.peep[2] * s)
        z = z_o * jnp.tanh(s)
        return PeepholeLSTMCarry(z, s), z
