"""Elman network (Elman 1990).

    a_t = U x_t + W h_{t-1} + b,     h_t = f(a_t)

with input matrix U (n, d), transition matrix W (n, n) and bias b (n,). The readout
y_t = g(V h_t + c) lives outside the core (``plastix.grads.SeqModel``).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, uniform_init
from plastix.errors import PlastixError

ACTIVATIONS = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}


class ElmanParams(NamedTuple):
    U: jax.Array  # (n, d) input -> hidden
    W: jax.Array  # (n, n) hidden -> hidden (transition)
    b: jax.Array  # (n,)


class ElmanCarry(NamedTuple):
    h: jax.Array  # (n,) hidden state h_{t-1}


@dataclasses.dataclass(frozen=True)
class Elman(Core):
    """Elman RNN core. ``activation`` is f: "tanh" (default), "sigmoid" or "relu"."""

    activation: str = "tanh"

    def __post_init__(self):
        super().__post_init__()
        if self.activation not in ACTIVATIONS:
            raise PlastixError(f"Elman activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}.")

    def init(self, key):
        n, d, dt = self.hidden_size, self.input_size, self.jdtype
        ku, kw = jax.random.split(key)
        return ElmanParams(uniform_init(ku, (n, d), n, dt), uniform_init(kw, (n, n), n, dt), jnp.zeros((n,), dt))

    def initial_carry(self):
        return ElmanCarry(jnp.zeros((self.hidden_size,), self.jdtype))

    def step(self, params, carry, x):
        a = params.U @ x + params.W @ carry.h + params.b
        h = ACTIVATIONS[self.activation](a)
        return ElmanCarry(h), h
