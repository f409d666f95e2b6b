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

A torso around a shared core (``embed`` m > 0 and/or ``head_hidden`` k > 0; the network of
PureJaxRL's ``ppo_rnn.py``, Lu et al. 2022), the core's memory still shared:

    x_t = relu(E o_t + e)                                   (embed: the core reads x_t, not o_t)
    carry_t, h_t = core.step(θ, reset(carry_{t−1}), x_t)
    z_t = P relu(A h_t + a) + p,   v_t = U relu(C h_t + c) + u      (head_hidden: a hidden layer each)

Without ``head_hidden`` the heads are the actor-critic's linear readouts of h_t. The torso's
layers start orthogonal (Saxe et al. 2014) with gain √2 for the ReLU layers, 0.01 for the
policy's output and 1 for the value's, and zero biases — the initialisation Andrychowicz et al.
(2021, §3.2 and §3.3) found to matter for PPO, a near-uniform initial policy among it. A shared
linear readout lets the value loss's gradient, much larger than the policy's at the start, shape
the features the policy reads; the hidden head layers give each loss room of its own.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, Readout, init_readout, reset_where, scan_core
from plastix.errors import PlastixError, check_nonnegative_int
from plastix.rl.agent import ActorCritic, AgentOut, AgentParams


class CriticParams(NamedTuple):
    core: Any
    value: Readout  # V (1, n), c (1,)


class TorsoParams(NamedTuple):
    """The layers around a shared core; a layer that is not used is None."""

    embed: Readout | None  # E (m, d), e (m,)
    actor: Readout | None  # A (k, n), a (k,)
    critic: Readout | None  # C (k, n), c (k,)
    policy: Readout | None  # P (P, k), p (P,)
    value: Readout | None  # U (1, k), u (1,)


class PPOParams(NamedTuple):
    actor: AgentParams  # core, policy head, value head (the heads are unused with a separate critic / head_hidden)
    critic: CriticParams | None
    torso: TorsoParams | None = None


def orthogonal_layer(key: jax.Array, in_size: int, out_size: int, gain: float, dtype) -> Readout:
    """W (out, in) with orthonormal rows or columns times ``gain`` (Saxe et al. 2014), zero bias."""
    w = jax.nn.initializers.orthogonal(gain)(key, (out_size, in_size), jnp.float32)
    return Readout(w.astype(dtype), jnp.zeros((out_size,), dtype))


def dense(layer: Readout, x: jax.Array) -> jax.Array:
    """x W^T + b for x (in,) or (L, in)."""
    y = x @ layer.V.T
    return y + (layer.c if x.ndim == 1 else layer.c[None, :])


class PPOCarry(NamedTuple):
    actor: Any
    critic: Any  # () placeholder when the critic is shared


@dataclasses.dataclass(frozen=True)
class PPOAgent:
    """``actor``: an ``ActorCritic``; ``critic_core``: None (shared) or a second core;
    ``embed`` m and ``head_hidden`` k: the torso around a shared core (0: none). With ``embed``
    the actor's core reads m inputs and ``obs_size`` is the observation's size d. Final."""

    actor: ActorCritic
    critic_core: Core | None = None
    embed: int = 0
    head_hidden: int = 0
    obs_size: int | None = None

    def __post_init__(self):
        for name in ("embed", "head_hidden"):
            check_nonnegative_int(name, getattr(self, name), " (0: no such layer)")
        if self.torso and self.critic_core is not None:
            raise PlastixError("embed and head_hidden shape the layers around a core shared by actor and critic; "
                               "with a separate critic set them to 0 (or use separate_critic=False).")
        if self.embed and (isinstance(self.obs_size, bool) or not isinstance(self.obs_size, int) or self.obs_size < 1):
            raise PlastixError(f"with embed > 0, obs_size (the observation's size) must be an integer >= 1, got "
                               f"{self.obs_size!r}.")
        if self.embed and self.actor.core.input_size != self.embed:
            raise PlastixError(f"with embed {self.embed} the core reads the embedding: its input_size must be "
                               f"{self.embed}, got {self.actor.core.input_size}.")

    @property
    def torso(self) -> bool:
        return bool(self.embed or self.head_hidden)

    @property
    def core(self) -> Core:
        """The actor's core (its plasticity diagnostics are the agent's)."""
        return self.actor.core

    @property
    def distribution(self):
        return self.actor.distribution

    def init(self, key: jax.Array) -> PPOParams:
        k_actor, k_core, k_value = jax.random.split(key, 3)
        actor = self.actor.init(k_actor)
        if self.torso:
            return PPOParams(actor, None, self.init_torso(jax.random.fold_in(key, 7)))
        if self.critic_core is None:
            return PPOParams(actor, None)
        n, dt = self.critic_core.output_size, self.critic_core.jdtype
        return PPOParams(actor, CriticParams(self.critic_core.init(k_core), init_readout(k_value, n, 1, dt)))

    def init_torso(self, key: jax.Array) -> TorsoParams:
        n, dt, k, p = self.core.output_size, self.core.jdtype, self.head_hidden, self.distribution.param_size
        keys = jax.random.split(key, 5)
        relu_gain = 2.0 ** 0.5
        embed = None
        if self.embed:
            embed = orthogonal_layer(keys[0], self.obs_size, self.embed, relu_gain, dt)
        if not k:
            return TorsoParams(embed, None, None, None, None)
        return TorsoParams(embed, orthogonal_layer(keys[1], n, k, relu_gain, dt),
                           orthogonal_layer(keys[2], n, k, relu_gain, dt), orthogonal_layer(keys[3], k, p, 0.01, dt),
                           orthogonal_layer(keys[4], k, 1, 1.0, dt))

    def inputs(self, params: PPOParams, obs: jax.Array) -> jax.Array:
        """What the core reads: o (..., d) or relu(E o + e) (..., m)."""
        x = obs.astype(self.core.jdtype)
        return jax.nn.relu(dense(params.torso.embed, x)) if self.embed else x

    def heads(self, params: PPOParams, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(distribution parameters (..., P), value (...)) from core outputs h (..., n)."""
        if self.head_hidden:
            t = params.torso
            return (dense(t.policy, jax.nn.relu(dense(t.actor, h))),
                    dense(t.value, jax.nn.relu(dense(t.critic, h)))[..., 0])
        return dense(params.actor.policy, h), dense(params.actor.value, h)[..., 0]

    def initial_carry(self) -> PPOCarry:
        critic = () if self.critic_core is None else self.critic_core.initial_carry()
        return PPOCarry(self.actor.initial_carry(), critic)

    def act(self, params: PPOParams, carry: PPOCarry, obs: jax.Array, episode_start: jax.Array):
        """One step: (carry, o_t, episode_start) -> (carry, AgentOut(distribution params, value))."""
        if self.torso:
            core = self.core
            actor_carry = reset_where(episode_start, core.initial_carry(), carry.actor)
            actor_carry, h = core.step(params.actor.core, actor_carry, self.inputs(params, obs))
            return PPOCarry(actor_carry, carry.critic), AgentOut(*self.heads(params, h))
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
        if self.torso:
            _, h = self.core.step(params.actor.core, carry.actor, self.inputs(params, obs))
            return self.heads(params, h)[1]
        if self.critic_core is None:
            return self.actor.act(params.actor, carry.actor, obs, jax.numpy.zeros((), bool))[1].value
        core = self.critic_core
        _, h = core.step(params.critic.core, carry.critic, obs.astype(core.jdtype))
        return (params.critic.value.V @ h + params.critic.value.c)[0]

    def sequence(self, params: PPOParams, carry0: PPOCarry, obs: jax.Array, start: jax.Array):
        """Distribution parameters (L, P) and values (L,) of ONE sequence (L, d), each core
        scanned from its carry in ``carry0`` with resets where ``start`` (L,)."""
        core = self.actor.core
        if self.torso:
            hs = scan_core(core, params.actor.core, self.inputs(params, obs), carry0=carry0.actor, resets=start)[1]
            return self.heads(params, hs)
        hs = scan_core(core, params.actor.core, obs.astype(core.jdtype), carry0=carry0.actor, resets=start)[1]
        heads = hs @ params.actor.policy.V.T + params.actor.policy.c[None, :]
        if self.critic_core is None:
            return heads, hs @ params.actor.value.V[0] + params.actor.value.c[0]
        critic = self.critic_core
        hc = scan_core(critic, params.critic.core, obs.astype(critic.jdtype), carry0=carry0.critic, resets=start)[1]
        return heads, hc @ params.critic.value.V[0] + params.critic.value.c[0]
