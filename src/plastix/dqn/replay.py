"""Replay memory for the DQN family: flashbax trajectory buffers, uniform or prioritized.

Every environment step is stored as a ``Step`` in a flashbax trajectory buffer of shape
(E environments, N / E time steps) (circular per environment), and a minibatch is B windows of
L consecutive steps of one environment, ``Sample.steps`` (B, L, ...): L = n for an n-step
feed-forward DQN (the one-step DQN of Mnih et al. 2015 is L = 1), L = burn_in + seq_len + n − 1
for a recurrent Q-network (R2D2, Kapturowski et al. 2019). Flashbax only returns windows whose
L steps were all written and are consecutive in time.

Uniform (``per=False``): each valid window is equally likely, the IS weights are 1.

Prioritized (``per=True``, Schaul et al. 2016, proportional variant)::

    P(i) = p_i^α / Σ_k p_k^α               (flashbax's sum tree; new windows get the max p)
    w_i  = (N · P(i))^(−β) / max_j w_j = (min_j P(j) / P(i))^β   (max over the minibatch,
                                                                  as in the paper's Algorithm 1)
    p_i ← |δ_i| + ε  after each update  (ε = PRIORITY_EPS); for a window of several learning
    positions p = η max_t |δ_t| + (1 − η) mean_t |δ_t| with η = 0.9 (R2D2).

flashbax's functions broadcast with implicit rank promotion, so every call is traced inside
``jax.numpy_rank_promotion("allow")`` (plastix's tests raise on rank promotion elsewhere).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flashbax as fbx
import jax
import jax.numpy as jnp

PRIORITY_EPS = 1e-6
R2D2_ETA = 0.9


class Step(NamedTuple):
    """One stored environment step (leading axes (E,) when added, (B, L) when sampled)."""

    obs: jax.Array  # (d,) o_t, the observation the agent acted on
    action: jax.Array  # () int32 a_t
    reward: jax.Array  # () r_t
    terminated: jax.Array  # () bool, s_{t+1} is terminal (no bootstrap)
    truncated: jax.Array  # () bool, the episode was cut after step t (bootstrap from next_obs)
    next_obs: jax.Array  # (d,) the true o_{t+1} (info["terminal_obs"], before any auto-reset)
    start: jax.Array  # () bool, o_t opened an episode (the carry is reset before it)


class Sample(NamedTuple):
    steps: Step  # (B, L, ...)
    indices: jax.Array  # (B,) flashbax item indices (PER), zeros otherwise
    weights: jax.Array  # (B,) importance-sampling weights (ones without PER)


def importance_weights(probs: jax.Array, beta) -> jax.Array:
    """w_i = (min_j P(j) / P(i))^β, i.e. (N P(i))^(−β) normalised by its max. probs (B,)."""
    return (jnp.min(probs) / probs) ** beta


def replace_invalid(steps: Step, indices: jax.Array, probs: jax.Array, key: jax.Array):
    """Swap every sampled window of probability 0 for a sampled window of positive probability.

    A zero-priority item is one flashbax has not yet written (or whose window is broken), and it
    must never be drawn. The sum tree is updated by adding differences along the path, so in
    float32 its root drifts from the sum of its leaves (measured: 1.4 in 27,900 after 100k
    CartPole steps); a draw in the last stratum, u · root with u close to 1, then walks past the
    last stored item into the empty leaves. Left alone, such a draw has P = 0, so the IS
    weights (min_j P(j) / P(i))^β are 0 and NaN, the whole update is skipped, and the empty
    item receives a priority and stays drawable. Each such draw is replaced by one of the
    batch's valid draws picked uniformly (at least one exists: the first stratum starts at 0)."""
    valid = probs > 0
    pick = jax.random.categorical(key, jnp.where(valid, 0.0, -jnp.inf), shape=probs.shape)
    source = jnp.where(valid, jnp.arange(probs.shape[0]), pick)
    return jax.tree.map(lambda x: x[source], steps), indices[source], probs[source]


def window_priority(abs_td: jax.Array) -> jax.Array:
    """Priority of a window from |δ| at its learning positions (U,): η max + (1 − η) mean."""
    return R2D2_ETA * jnp.max(abs_td) + (1.0 - R2D2_ETA) * jnp.mean(abs_td)


@dataclasses.dataclass(frozen=True)
class Replay:
    """A replay memory of ``capacity`` steps over ``num_envs`` environments. Final.

    Attributes:
      num_envs: E, environments adding one step each per call of ``add``.
      capacity: N, steps stored in total (N / E per environment).
      batch_size: B windows per sample.
      window: L steps per window.
      per: proportional prioritized replay with exponent ``alpha``.
    """

    num_envs: int
    capacity: int
    batch_size: int
    window: int
    per: bool = False
    alpha: float = 0.6

    @property
    def buffer(self) -> Any:
        common = dict(add_batch_size=self.num_envs, sample_batch_size=self.batch_size,
                      sample_sequence_length=self.window, period=1, min_length_time_axis=self.window,
                      max_length_time_axis=self.capacity // self.num_envs)
        if self.per:
            return fbx.make_prioritised_trajectory_buffer(**common, priority_exponent=self.alpha)
        return fbx.make_trajectory_buffer(**common)

    def init(self, template: Step):
        """An empty buffer for steps shaped like ``template`` (one unbatched Step)."""
        with jax.numpy_rank_promotion("allow"):
            return self.buffer.init(template)

    def add(self, state, steps: Step):
        """Append one step per environment: ``steps`` has leading axis (E,)."""
        with jax.numpy_rank_promotion("allow"):
            return self.buffer.add(state, jax.tree.map(lambda x: x[:, None], steps))

    def can_sample(self, state) -> jax.Array:
        with jax.numpy_rank_promotion("allow"):
            return self.buffer.can_sample(state)

    def sample(self, state, key: jax.Array, beta=1.0) -> Sample:
        """B windows (uniform, or with probability P(i) and IS weights for exponent β)."""
        with jax.numpy_rank_promotion("allow"):
            out = self.buffer.sample(state, key)
        ones = jnp.ones((self.batch_size,), out.experience.reward.dtype)
        if not self.per:
            return Sample(out.experience, jnp.zeros((self.batch_size,), jnp.int32), ones)
        steps, indices, probs = replace_invalid(out.experience, out.indices, out.probabilities,
                                                jax.random.fold_in(key, 1))
        weights = importance_weights(probs, beta).astype(ones.dtype)
        return Sample(steps, indices, weights)

    def update(self, state, indices: jax.Array, priorities: jax.Array):
        """Set the priorities p (B,) of the sampled windows (PER; a no-op otherwise)."""
        if not self.per:
            return state
        with jax.numpy_rank_promotion("allow"):
            return self.buffer.set_priorities(state, indices, priorities + PRIORITY_EPS)
