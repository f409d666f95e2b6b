"""Experts that can be queried on the states a learner visits (the oracle of DAgger).

An expert is a frozen (hashable, static under ``jit``) description plus a pytree of numbers
passed separately, so one compiled rollout serves every expert of the same kind::

    carry = expert.initial_carry()
    carry, a_star = expert.label(expert_params, carry, obs, env_state, start)

``TableExpert``: a policy over the states of a tabular environment, a* = π*(s)
(``expert_params`` = π*, (S,) int32; e.g. the planner's optimal policy,
``plastix.imitation.grid.planner_policy``); it reads the state s from the environment state.

``AgentExpert``: a trained plastix actor-critic (``plastix.rl.agent.ActorCritic``) acting
greedily, a* = argmax_a logits_t. A recurrent expert is run alongside the learner on the
learner's observations (its carry reset where an episode starts), so it labels the state the
learner's trajectory led to with the action it would take there after that same history.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from plastix.rl.agent import ActorCritic


@dataclasses.dataclass(frozen=True)
class TableExpert:
    """a* = π*(s) from a table (S,) int32 passed as ``expert_params``. Final."""

    def initial_carry(self):
        return ()

    def label(self, expert_params: jax.Array, carry, obs: jax.Array, env_state, start: jax.Array):
        return carry, expert_params[env_state.s].astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class AgentExpert:
    """A trained actor-critic acting greedily; ``expert_params`` = its ``AgentParams``. Final."""

    agent: ActorCritic

    def initial_carry(self):
        return self.agent.initial_carry()

    def label(self, expert_params, carry, obs: jax.Array, env_state, start: jax.Array):
        carry, out = self.agent.act(expert_params, carry, obs, start)
        return carry, jnp.argmax(out.logits).astype(jnp.int32)


Expert = TableExpert | AgentExpert
