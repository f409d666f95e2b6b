"""Multiplicative-interaction recurrent layer (Sutskever, Martens &
Hinton 2011; Wu et al. 2016, "multiplicative integration").

A multiplicative layer's activity is the elementwise product of two other layers' activities,
which makes the net different from a multilayer perceptron. We make both factor layers recurrent, each an Elman layer
over the same (x_t, h_{t-1})::

    u_t = f(A x_t + B h_{t-1} + a)            A: (n, d), B: (n, n), a: (n,)
    v_t = g(C x_t + D h_{t-1} + c)            C: (n, d), D: (n, n), c: (n,)
    h_t = u_t ⊙ v_t

stored stacked as Wx = [A; C] (2, n, d), Wh = [B; D] (2, n, n), b = [a; c] (2, n).
``f`` and ``g`` are chosen among tanh, sigmoid, relu and linear; the default f = tanh,
g = sigmoid makes v_t a multiplicative gate on u_t (a single-gate GRU-like unit), and f = g =
linear gives a purely second-order (bilinear) network. The seed's text lost its equations in
extraction, so the factor activations are options rather than fixed.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, uniform_init
from plastix.cores.elman import ACTIVATIONS as _ELMAN_ACTIVATIONS
from plastix.errors import PlastixError

ACTIVATIONS = {**_ELMAN_ACTIVATIONS, "linear": lambda u: u}


class MultiplicativeParams(NamedTuple):
    Wx: jax.Array  # (2, n, d) [A; C]
    Wh: jax.Array  # (2, n, n) [B; D]
    b: jax.Array  # (2, n) [a; c]


class MultiplicativeCarry(NamedTuple):
    h: jax.Array  # (n,) h_{t-1}


@dataclasses.dataclass(frozen=True)
class Multiplicative(Core):
    """h_t = f(A x + B h + a) ⊙ g(C x + D h + c). Options ``f`` (default "tanh"), ``g`` ("sigmoid")."""

    f: str = "tanh"
    g: str = "sigmoid"

    def __post_init__(self):
        super().__post_init__()
        for name in ("f", "g"):
            value = getattr(self, name)
            if value not in ACTIVATIONS:
                raise PlastixError(f"Multiplicative {name} must be one of {sorted(ACTIVATIONS)}, got {value!r}.")

    def init(self, key):
        n, d, dt = self.hidden_size, self.input_size, self.jdtype
        kx, kh = jax.random.split(key)
        return MultiplicativeParams(
            uniform_init(kx, (2, n, d), n, dt), uniform_init(kh, (2, n, n), n, dt), jnp.zeros((2, n), dt)
        )

    def initial_carry(self):
        return MultiplicativeCarry(jnp.zeros((self.hidden_size,), self.jdtype))

    def step(self, params, carry, x):
        a = params.Wx @ x + params.Wh @ carry.h + params.b  # (2, n)
        h = ACTIVATIONS[self.f](a[0]) * ACTIVATIONS[self.g](a[1])
        return MultiplicativeCarry(h), h
