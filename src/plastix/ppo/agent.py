"""The PPO agent: the actor-critic of ``plastix.rl.agent`` with, optionally, a critic of its own.

Shared (``separate_critic=False``, the recurrent default, as PureJaxRL's ``ppo_rnn.py``): one
core, a policy head and a value head (``ActorCritic``); the core's memory (hidden state, Hebbian
and eligibility traces) serves both.

Separate (``separate_critic=True``, the feed-forward default, as PureJaxRL's ``ppo.py``, CleanRL
and Stable-Baselines3): the value is read from a second core of the same kind and size,

    v_t = V_v h^c_t + c_v,   carry^c_t, h^c_t = core_c.step(θ_c, reset(carry^c_{t−1}), o_t)

so the critic's regression on returns (values of order 100 on CartPole) does not shape the
policy's features, and clipping the global gradient norm does not let the value gradient crowd
out the policy's. (Andrychowicz et al. 2021, "What matters in on-policy RL", §3.1: separate
networks performed better.) The carry is the pair (actor carry, critic carry).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax

from plastix.cores.base import Core, Readout, init_readout, reset_where, scan_core
from plastix.rl.agent import ActorCritic, AgentOut, AgentParams


class CriticParams(NamedTuple):
    core: Any
    value: Readout  # V (1, n), c (1,)


class PPOParams(NamedTuple):
    actor: AgentParams  # core, policy head, value head (the value head is unused with a separate critic)
    critic: CriticParams | None


class PPOCarry(NamedTuple):
    actor: Any
    critic: Any  # () placeholder when the critic is shared


@dataclasses.dataclass(frozen=True)
class PPOAgent:
    """``actor``: an ``ActorCritic``; ``critic_core``: None (shared) or a second core. Final."""

    actor: ActorCritic
    critic_core: Core | None = None

    @property
    def core(self) -> Core:
        """The actor's core (its plasticity diagnostics are the agent's)."""
        return self.actor.core

    def init(self, key: jax.Array) -> PPOParams:
        k_actor, k_core, k_value = jax.random.split(key, 3)
        actor = self.actor.init(k_actor)
        if self.critic_core is None:
            return PPOParams(actor, None)
        n, dt = self.critic_core.output_size, self.critic_core.jdtype
        return PPOParams(actor, CriticParams(self.critic_core.init(k_core), init_readout(k_value, n, 1, dt)))

    def initial_carry(self) -> PPOCarry:
        critic = () if self.critic_core is None else self.critic_core.initial_carry()
        return PPOCarry(self.actor.initial_carry(), critic)

    def act(self, params: PPOParams, carry: PPOCarry, obs: jax.Array, episode_start: jax.Array):
        """One step: (carry, o_t, episode_start) -> (carry, AgentOut(distribution params, value))."""
        actor_carry, out = self.actor.act(params.actor, carry.actor, obs, episode_start)
        if self.critic_core is None:
            return PPOCarry(actor_carry, carry.critic), out
        core = self.critic_core
        critic_carry = reset_where(episode_start, core.initial_carry(), carry.critic)
        critic_carry, h = core.step(params.critic.core, critic_carry, obs.astype(core.jdtype))
        value = (params.critic.value.V @ h + params.critic.value.c)[0]
        return PPOCarry(actor_carry, critic_carry), AgentOut(out.logits, value)

    def value(self, params: PPOParams, carry: PPOCarry, obs: jax.Array) -> jax.Array:
        """v(o) one step on from ``carry`` (no reset): the value of a terminal observation. With a
        separate critic only the critic runs (the actor's step would be discarded)."""
        if self.critic_core is None:
            return self.actor.act(params.actor, carry.actor, obs, jax.numpy.zeros((), bool))[1].value
        core = self.critic_core
        _, h = core.step(params.critic.core, carry.critic, obs.astype(core.jdtype))
        return (params.critic.value.V @ h + params.critic.value.c)[0]

    def sequence(self, params: PPOParams, carry0: PPOCarry, obs: jax.Array, start: jax.Array):
        """Distribution parameters (L, P) and values (L,) of ONE sequence (L, d), each core
        scanned from its carry in ``carry0`` with resets where ``start`` (L,)."""
        core = self.actor.core
        hs = scan_core(core, params.actor.core, obs.astype(core.jdtype), carry0=carry0.actor, resets=start)[1]
        heads = hs @ params.actor.policy.V.T + params.actor.policy.c[None, :]
        if self.critic_core is None:
            return heads, hs @ params.actor.value.V[0] + params.actor.value.c[0]
        critic = self.critic_core
        hc = scan_core(critic, params.critic.core, obs.astype(critic.jdtype), carry0=carry0.critic, resets=start)[1]
        return heads, hc @ params.critic.value.V[0] + params.critic.value.c[0]
