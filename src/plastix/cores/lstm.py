"""Standard LSTM (Hochreiter & Schmidhuber 1997 with the forget gate of Gers et al. 2000).

Gate order in the stacked weights is (i input, f forget, g cell candidate, o output)::

    a_t = W_x x_t + W_h h_{t-1} + b                          (4, n), one row block per gate
    i_t = σ(a_i),  f_t = σ(a_f),  g_t = tanh(a_g),  o_t = σ(a_o)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

Some texts write h_t = c_t · o_t (no tanh on the cell); we use the common h_t = o ⊙ tanh(c_t)
(Gers et al. 2000). No peepholes (see ``peephole-lstm`` for Graves' variant). The forget-gate bias
starts at ``forget_bias`` (default 1.0, Gers et al. 2000 / Jozefowicz et al. 2015), so the
cell keeps its content at initialisation; every other bias starts at zero.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, uniform_init
from plastix.errors import check_finite_float

I, F, G, O = 0, 1, 2, 3  # gate order in Wx, Wh, b


class LSTMParams(NamedTuple):
    Wx: jax.Array  # (4, n, d) input weights, gates (i, f, g, o)
    Wh: jax.Array  # (4, n, n) recurrent weights from h_{t-1}
    b: jax.Array  # (4, n) biases; b[F] starts at forget_bias


class LSTMCarry(NamedTuple):
    h: jax.Array  # (n,) hidden output h_{t-1}
    c: jax.Array  # (n,) cell state c_{t-1}


def init_lstm_weights(key, n: int, d: int, forget_bias: float, dt) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(Wx (4, n, d), Wh (4, n, n), b (4, n)): U(±1/√n) weights, zero biases but b[F]."""
    kx, kh = jax.random.split(key)
    b = jnp.zeros((4, n), dt).at[F].set(forget_bias)
    return uniform_init(kx, (4, n, d), n, dt), uniform_init(kh, (4, n, n), n, dt), b


def lstm_cell(a: jax.Array, c_prev: jax.Array, g: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """From pre-activations a (4, n) and c_{t-1} (n,) to (h_t, c_t); ``g`` overrides tanh(a_g)."""
    g = jnp.tanh(a[G]) if g is None else g
    c = jax.nn.sigmoid(a[F]) * c_prev + jax.nn.sigmoid(a[I]) * g
    return jax.nn.sigmoid(a[O]) * jnp.tanh(c), c


@dataclasses.dataclass(frozen=True)
class LSTM(Core):
    """LSTM core. ``forget_bias``: initial value of the forget-gate bias b_f (default 1.0)."""

    forget_bias: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        check_finite_float("LSTM.forget_bias", self.forget_bias)

    def init(self, key):
        return LSTMParams(*init_lstm_weights(key, self.hidden_size, self.input_size, self.forget_bias, self.jdtype))

    def initial_carry(self):
        z = jnp.zeros((self.hidden_size,), self.jdtype)
        return LSTMCarry(z, z)

    def step(self, params, carry, x):
        a = params.Wx @ x + params.Wh @ carry.h + params.b  # (4, n)
        h, c = lstm_cell(a, carry.c)
        return LSTMCarry(h, c), h
