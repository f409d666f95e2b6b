"""A memoryless feed-forward core, the no-memory baseline of the recurrent and plastic cores.

    h_t = f(W x_t + b)        W: (n, d), b: (n,); the carry is empty; f = tanh by default

or, with ``layers`` K > 1, K such layers in a row (h¹ = f(W¹ x + b¹), hᵏ = f(Wᵏ hᵏ⁻¹ + bᵏ),
each of n units: the two-layer 64-unit torso of PPO's reference implementations is
``layers=2``). ``activation`` f is "tanh", "relu" (the DQN torso of PureJaxRL, Lu et al. 2022,
and of CleanRL) or "sigmoid".

It sees the same inputs as a recurrent core (in RL: the observation with the previous reward
and action) but remembers nothing older, so a gap between it and a recurrent core measures
what memory buys. Used as ``core="mlp"`` by the actor-critic agent (``plastix.rl.agent``) and
as the DQN torso (``plastix.dqn``); it is not in ``CORES`` (the sequence tasks need memory).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, uniform_init
from plastix.cores.elman import ACTIVATIONS
from plastix.errors import PlastixError

FEED_FORWARD = "mlp"


class MLPParams(NamedTuple):
    W: jax.Array  # (n, d)
    b: jax.Array  # (n,)


class DeepMLPParams(NamedTuple):
    layers: tuple  # (MLPParams of layer 1 (n, d), ..., of layer K (n, n))


class NoCarry(NamedTuple):
    """The empty carry of a feed-forward core (nothing is remembered)."""


@dataclasses.dataclass(frozen=True)
class FeedForward(Core):
    """A memoryless core, h_t = f(W x_t + b) (``layers`` of them in a row, f = ``activation``);
    the carry is empty. Final."""

    layers: int = 1
    activation: str = "tanh"

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 1:
            raise PlastixError(f"core 'mlp': layers must be an integer >= 1, got {self.layers!r}.")
        if self.activation not in ACTIVATIONS:
            raise PlastixError(f"core 'mlp': activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}.")

    def init(self, key):
        n, d = self.hidden_size, self.input_size
        if self.layers == 1:
            return MLPParams(uniform_init(key, (n, d), d, self.jdtype), jnp.zeros((n,), self.jdtype))
        keys = jax.random.split(key, self.layers)
        return DeepMLPParams(tuple(MLPParams(uniform_init(k, (n, d if i == 0 else n), d if i == 0 else n, self.jdtype),
                                             jnp.zeros((n,), self.jdtype)) for i, k in enumerate(keys)))

    def initial_carry(self):
        return NoCarry()

    def step(self, params, carry, x):
        # W x written x Wᵀ: vmapped over a batch of x it is one plain (B, d) × (d, n) matmul whose
        # output needs no transpose (W x compiles into a matmul with the units leading, then a
        # transposing copy that cost a DQN update as much as the matmul itself)
        f = ACTIVATIONS[self.activation]
        if isinstance(params, MLPParams):
            return carry, f(x @ params.W.T + params.b)
        h = x
        for layer in params.layers:
            h = f(h @ layer.W.T + layer.b)
        return carry, h
