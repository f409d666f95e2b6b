"""Plastic and neuromodulated LSTMs (Miconi et al. 2019, "Backpropamine").

An LSTM (see ``plastix.cores.lstm``) whose recurrent matrix into the cell candidate g_t is
plastic; the gates i, f, o keep fixed weights::

    a_t = W_x x_t + W_h h_{t-1} + b                                  (4, n), gates (i, f, g, o)
    g_t = tanh(a_g + (α ⊙ Hebb_t) h_{t-1})      i.e. (W_gh + α ⊙ Hebb_t) h_{t-1}
    c_t = σ(a_f) ⊙ c_{t-1} + σ(a_i) ⊙ g_t,      h_t = σ(a_o) ⊙ tanh(c_t)

Miconi et al. index the Hebbian trace pre-synaptic first, E_t = h_{t-1} g_tᵀ; we store its
transpose, the outer product g_t h_{t-1}ᵀ, so that Hebb (n, n) has W_gh's orientation (row i = post-synaptic g unit,
column j = pre-synaptic h_{t-1} unit). Plastic LSTM, with rate η::

    Hebb_{t+1} = clip(Hebb_t + η g_t h_{t-1}ᵀ, −1, 1)                   rule="clip"
               = (1 − η) Hebb_t + η g_t h_{t-1}ᵀ                        rule="decay"
    ΔHebb_ij   = η g_t,i (h_{t-1},j − g_t,i Hebb_t,ij)                  rule="oja"

Neuromodulated LSTM, with M_t = s(w_M · h_t + b_M), s ∈ {tanh, sigmoid, linear}::

    simple:       Hebb_{t+1} = clip(Hebb_t + M_t g_t h_{t-1}ᵀ, −1, 1)
    retroactive:  Hebb_{t+1} = clip(Hebb_t + M_t E_t, −1, 1)             (E_t *before* its update)
                  E_{t+1}    = (1 − η) E_t + η g_t h_{t-1}ᵀ

Options and their names are those of ``PlasticRNN`` / ``NeuromodRNN`` (``alpha`` per
connection (n, n), per post-synaptic neuron (n, 1) or single (1, 1); ``rule``; ``eta_init``;
``alpha_init``; ``modulation``; ``squash``) plus the LSTM's ``forget_bias``. Traces live in
the carry and are zero at an episode start.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core
from plastix.cores.lstm import G, init_lstm_weights, lstm_cell
from plastix.errors import check_finite_float
from plastix.cores.plastic import Neuromodulated, Plastic, hebbian_update


class PlasticLSTMParams(NamedTuple):
    Wx: jax.Array  # (4, n, d) input weights, gates (i, f, g, o)
    Wh: jax.Array  # (4, n, n) fixed recurrent weights; Wh[G] = W_gh is the plastic one's base
    b: jax.Array  # (4, n) biases; b[F] starts at forget_bias
    alpha: jax.Array  # (n, n) | (n, 1) | (1, 1) plasticity coefficients of W_gh
    eta: jax.Array  # () plasticity rate η (plastic) or eligibility rate (retroactive)
    w_M: jax.Array | None  # (n,) modulator weights (neuromodulated only)
    b_M: jax.Array | None  # () modulator bias (neuromodulated only)


class PlasticLSTMCarry(NamedTuple):
    h: jax.Array  # (n,) h_{t-1}
    c: jax.Array  # (n,) c_{t-1}
    hebb: jax.Array  # (n, n) Hebb_t (row = post g unit, column = pre h_{t-1} unit)
    E: jax.Array | None  # (n, n) eligibility trace E_t (retroactive only)


@dataclasses.dataclass(frozen=True)
class PlasticLSTM(Plastic, Core):
    """LSTM with a plastic recurrent matrix into the cell candidate (see module docstring);
    options of ``Plastic`` plus the LSTM's ``forget_bias``."""

    forget_bias: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        check_finite_float(f"{type(self).__name__}.forget_bias", self.forget_bias)

    def init(self, key):
        n, d, dt = self.hidden_size, self.input_size, self.jdtype
        k_lstm, k_a, k_m = jax.random.split(key, 3)
        Wx, Wh, b = init_lstm_weights(k_lstm, n, d, self.forget_bias, dt)
        return PlasticLSTMParams(Wx=Wx, Wh=Wh, b=b, **self.init_plasticity(k_a, k_m, n, dt))

    def initial_carry(self):
        n, dt = self.hidden_size, self.jdtype
        z = jnp.zeros((n,), dt)
        return PlasticLSTMCarry(z, z, jnp.zeros((n, n), dt), None)

    def cell(self, params, carry, x):
        """(h_t, c_t, g_t) with g_t = tanh(a_g + (α ⊙ Hebb_t) h_{t-1})."""
        a = params.Wx @ x + params.Wh @ carry.h + params.b  # (4, n)
        g = jnp.tanh(a[G] + (params.alpha * carry.hebb) @ carry.h)
        h, c = lstm_cell(a, carry.c, g)
        return h, c, g

    def step(self, params, carry, x):
        h, c, g = self.cell(params, carry, x)
        hebb = hebbian_update(self.rule, carry.hebb, self.rate(params), g, carry.h)
        return PlasticLSTMCarry(h, c, hebb, None), h


@dataclasses.dataclass(frozen=True)
class NeuromodLSTM(Neuromodulated, PlasticLSTM):
    """Neuromodulated plastic LSTM (Backpropamine). ``modulation``: simple | retroactive;
    ``squash``: the modulator's output function s (tanh | sigmoid | linear)."""

    def step(self, params, carry, x):
        h, c, g = self.cell(params, carry, x)
        hebb, E = self.modulated_update(params, carry, self.modulator(params, h), g, carry.h)
        return PlasticLSTMCarry(h, c, hebb, E), h
