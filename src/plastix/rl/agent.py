"""Actor-critic agents: any plastix core + a linear policy head + a linear value head.

One unbatched agent step (Miconi et al. 2019, Backpropamine: the same network outputs the
action logits and the value; Mnih et al. 2016, A3C)::

    carry_t, h_t = core.step(θ_core, reset(carry_{t−1}), o_t)
    logits_t     = V_π h_t + c_π          (P,)             π(·|o_≤t) = distribution(logits_t)
    v_t          = V_v h_t + c_v          ()               the critic's value estimate

P = ``distribution.param_size`` (``plastix.rl.distributions``): the A logits of a softmax over
discrete actions (the default, ``Categorical(num_actions)``), or the 2d parameters of a
continuous action distribution (``TanhGaussian``: mean and log-std; ``Beta``). The field keeps
the name ``logits`` in both cases. ``reset`` replaces the carry (hidden state, Hebbian and eligibility traces) by
``core.initial_carry()`` exactly at the first step of an episode (``episode_start``: at
reset, and wherever the environment's ``info["episode_start"]`` said the previous step ended
an episode), so traces never leak between episodes. A batch is a ``vmap`` around ``act`` and
time a ``lax.scan`` around it (``plastix.rl.trainer.collect_rollout``).

``core="mlp"`` is the feed-forward (memoryless) core ``plastix.cores.mlp.FeedForward``,
``h_t = tanh(W o_t + b)`` with an empty carry, for the memory comparison: it sees the same
observations (including the previous reward and action) but cannot remember anything older.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax

from plastix.cores import CORES, as_core, make_core
from plastix.cores.base import Core, Readout, init_readout, reset_where, uniform_init
from plastix.cores.mlp import FEED_FORWARD, FeedForward
from plastix.errors import PlastixError, check_positive_int, unknown_name
from plastix.rl.distributions import Categorical, Distribution, TanhGaussian


class AgentParams(NamedTuple):
    core: Any  # the core's params NamedTuple
    policy: Readout  # V (A, n), c (A,)
    value: Readout  # V (1, n), c (1,)


class AgentOut(NamedTuple):
    logits: jax.Array  # (P,) the distribution's parameters: A logits, or 2d for continuous actions
    value: jax.Array  # ()


def agent_core_names() -> tuple[str, ...]:
    """Every core an agent can use: the registered cores (but the fixed-reservoir esn and jordan,
    which feeds back its own output layer) + mlp."""
    return (*[c for c in CORES if c not in ("esn", "jordan")], FEED_FORWARD)


def make_agent_core(name, input_size: int, hidden: int, dtype: str = "float32", **options) -> Core:
    """The core ``name`` (``plastix.cores.make_core``, or ``"mlp"`` for ``FeedForward``).

    ``name`` may be a core object (``plastix.cores.adapter``): checked against ``input_size`` and
    used as it is (it fixes its own size and dtype; ``hidden``, ``dtype`` and options unused)."""
    if not isinstance(name, str):  # bring-your-own core
        return make_core(name, input_size, hidden, **options)
    if name == "jordan":
        raise PlastixError("core 'jordan' feeds back its own output layer; use it in supervised tasks.")
    if name not in agent_core_names():
        raise unknown_name("agent core", name, agent_core_names())
    if name == FEED_FORWARD:
        if set(options) - {"layers", "activation"}:
            raise PlastixError(f"core 'mlp' takes the options layers and activation, got {sorted(options)}.")
        return FeedForward(input_size=input_size, hidden_size=hidden, dtype=dtype, **options)
    return make_core(name, input_size, hidden, dtype=dtype, **options)


@dataclasses.dataclass(frozen=True)
class ActorCritic:
    """A core with a policy head (the action distribution's parameters) and a value head. Final.

    Attributes:
      core: any plastix core (input_size = the environment's observation size).
      num_actions: A, the number of discrete actions (None with a continuous ``distribution``).
      distribution: the policy's action distribution (``plastix.rl.distributions``); default
        ``Categorical(num_actions)``. The policy head has ``distribution.param_size`` outputs.
    """

    core: Core
    num_actions: int | None = None
    distribution: Distribution | None = None

    def __post_init__(self):
        if not isinstance(self.core, Core):  # bring-your-own core: any object with the core protocol
            object.__setattr__(self, "core", as_core(self.core))
        if self.distribution is None:
            check_positive_int("num_actions", self.num_actions)
            object.__setattr__(self, "distribution", Categorical(self.num_actions))
        elif isinstance(self.distribution, Categorical):
            if self.num_actions not in (None, self.distribution.num_actions):
                raise PlastixError(f"num_actions {self.num_actions!r} disagrees with the distribution {self.distribution}.")
            object.__setattr__(self, "num_actions", self.distribution.num_actions)
        elif self.num_actions is not None:
            raise PlastixError(f"num_actions is for discrete actions; got {self.num_actions!r} with the continuous "
                               f"distribution {self.distribution}.")

    def init(self, key: jax.Array) -> AgentParams:
        """Core params, then both heads drawn U(±1/sqrt(n)) with zero biases (a ``TanhGaussian``'s
        log-std half of the policy bias starts at its ``log_std_init``)."""
        k_core, k_pi, k_v = jax.random.split(key, 3)
        n, dt, p = self.core.output_size, self.core.jdtype, self.distribution.param_size
        policy, value = init_readout(k_pi, n, p, dt), init_readout(k_v, n, 1, dt)
        if getattr(self.core, "init_scheme", "plastix") == "released":  # nn.Linear's biases U(±1/√n)
            policy = policy._replace(c=uniform_init(jax.random.fold_in(k_pi, 1), (p,), n, dt))
            value = value._replace(c=uniform_init(jax.random.fold_in(k_v, 1), (1,), n, dt))
        if isinstance(self.distribution, TanhGaussian):
            d = self.distribution.action_dim
            policy = policy._replace(c=policy.c.at[d:].set(self.distribution.log_std_init))
        return AgentParams(self.core.init(k_core), policy, value)

    def initial_carry(self):
        return self.core.initial_carry()

    def act(self, params: AgentParams, carry, obs: jax.Array, episode_start: jax.Array):
        """One step: (carry_{t−1}, o_t (d,), episode_start () bool) -> (carry_t, AgentOut).

        The carry is replaced by ``initial_carry()`` first where ``episode_start``."""
        carry = reset_where(episode_start, self.core.initial_carry(), carry)
        carry, h = self.core.step(params.core, carry, obs.astype(self.core.jdtype))
        logits = params.policy.V @ h + params.policy.c
        value = (params.value.V @ h + params.value.c)[0]
        return carry, AgentOut(logits, value)
