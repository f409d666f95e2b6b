"""A memoryless feed-forward core, the no-memory baseline of the recurrent and plastic cores.

    h_t = tanh(W x_t + b)        W: (n, d), b: (n,); the carry is empty

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

FEED_FORWARD = "mlp"


class MLPParams(NamedTuple):
    W: jax.Array  # (n, d)
    b: jax.Array  # (n,)


class NoCarry(NamedTuple):
    """The empty carry of a feed-forward core (nothing is remembered)."""


@dataclasses.dataclass(frozen=True)
class FeedForward(Core):
    """A memoryless one-layer core, h_t = tanh(W x_t + b); the carry is empty. Final."""

    def init(self, key):
        n, d = self.hidden_size, self.input_size
        return MLPParams(uniform_init(key, (n, d), d, self.jdtype), jnp.zeros((n,), self.jdtype))

    def initial_carry(self):
        return NoCarry()

    def step(self, params, carry, x):
        return carry, jnp.tanh(params.W @ x + params.b)
