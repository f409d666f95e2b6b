"""Behavioural cloning: maximum likelihood of the demonstrated actions, for any plastix core.

A policy is a core, a linear readout and an action head (``plastix.imitation.heads``)::

    carry_t, h_t = core.step(θ_core, reset(carry_{t−1}), o_t)      reset where an episode starts
    z_t          = V h_t + c                                       (head.size,)
    π(· | o_≤t)  = head(z_t)

Behavioural cloning (Pomerleau 1989, ALVINN; Ross, Gordon & Bagnell 2011 §2: "supervised
learning" of the expert's actions on the expert's state distribution) minimises the mean
negative log-likelihood of the demonstrated actions over the valid steps of a minibatch of
sequences (an episode, or a window holding several episodes with their starts)::

    L(θ) = − (1 / Σ_{e,t} m_{e,t}) Σ_{e,t} m_{e,t} log π_θ(a_{e,t} | o_{e,≤t})

A recurrent core sees each sequence whole: the core is scanned over it
(``plastix.cores.base.scan_core``) with the carry reset at every episode start, so the log-
likelihood of a_t is conditioned on the episode's past exactly as when the policy acts. θ is
updated with Adam (``plastix.train.harness.make_optimizer``); ``bc_train`` is one pure function
(a ``lax.scan`` over the updates, each on B sequences drawn uniformly with replacement), jitted.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from plastix.cores import as_core
from plastix.cores.base import Core, Readout, init_readout, reset_where, scan_core
from plastix.errors import PlastixError, check_positive_int
from plastix.imitation.demos import Demos, episode_bounds
from plastix.imitation.heads import Head
from plastix.train.harness import make_optimizer


class PolicyParams(NamedTuple):
    core: Any  # the core's params NamedTuple
    readout: Readout  # V (head.size, n), c (head.size,)


@dataclasses.dataclass(frozen=True)
class Policy:
    """A core + a linear readout + an action head. Final.

    Attributes:
      core: any plastix core (input_size = the observation size d).
      head: the action distribution (``Categorical``, ``DiagGaussian``, ``MixtureGaussian``,
        ``Discretised``).
    """

    core: Core
    head: Head

    def __post_init__(self):
        if not isinstance(self.core, Core):
            object.__setattr__(self, "core", as_core(self.core))

    def init(self, key: jax.Array) -> PolicyParams:
        k_core, k_out, k_bias = jax.random.split(key, 3)
        readout = init_readout(k_out, self.core.output_size, self.head.size, self.core.jdtype)
        if hasattr(self.head, "init_bias"):  # a head that must not start symmetric (the mixture)
            readout = readout._replace(c=self.head.init_bias(k_bias, self.core.jdtype))
        return PolicyParams(self.core.init(k_core), readout)

    def initial_carry(self):
        return self.core.initial_carry()

    def act(self, params: PolicyParams, carry, obs: jax.Array, start: jax.Array):
        """One step: (carry_{t−1}, o_t (d,), start () bool) -> (carry_t, z_t (head.size,))."""
        carry = reset_where(start, self.core.initial_carry(), carry)
        carry, h = self.core.step(params.core, carry, obs.astype(self.core.jdtype))
        return carry, params.readout.V @ h + params.readout.c

    def outputs(self, params: PolicyParams, obs: jax.Array, starts: jax.Array) -> jax.Array:
        """z_t of a whole sequence: obs (T, d), starts (T,) bool -> (T, head.size)."""
        _, hs = scan_core(self.core, params.core, obs.astype(self.core.jdtype), resets=starts)
        return hs @ params.readout.V.T + params.readout.c[None, :]


class Sequences(NamedTuple):
    """Padded sequences for training, leading axes (E, L)."""

    obs: jax.Array  # (E, L, d)
    actions: jax.Array  # (E, L) int32 or (E, L, k) float
    starts: jax.Array  # (E, L) bool, an episode opens at step t (always at t = 0)
    mask: jax.Array  # (E, L) bool, a real (not padding) step


def to_sequences(demos: Demos, length: int | None = None) -> Sequences:
    """One row per episode of ``demos``, padded with zeros to ``length`` (default: the longest)."""
    bounds = episode_bounds(demos.episode_starts)
    longest = max(e - b for b, e in bounds)
    length = longest if length is None else length
    if length < longest:
        raise PlastixError(f"to_sequences: length {length} is shorter than the longest episode ({longest} steps).")
    E, d = len(bounds), demos.observations.shape[1]
    obs = np.zeros((E, length, d), np.float32)
    actions = np.zeros((E, length, *demos.actions.shape[1:]), demos.actions.dtype)
    mask = np.zeros((E, length), bool)
    for i, (b, e) in enumerate(bounds):
        obs[i, : e - b], actions[i, : e - b], mask[i, : e - b] = demos.observations[b:e], demos.actions[b:e], True
    starts = np.zeros((E, length), bool)
    starts[:, 0] = True
    return Sequences(jnp.asarray(obs), jnp.asarray(actions), jnp.asarray(starts), jnp.asarray(mask))


def sequence_log_likelihood(policy: Policy, params: PolicyParams, seq: Sequences) -> tuple[jax.Array, jax.Array]:
    """(Σ_t m_t log π(a_t | o_≤t), Σ_t m_t) of ONE sequence (leading axis L)."""
    z = policy.outputs(params, seq.obs, seq.starts)
    logp = jax.vmap(policy.head.log_prob)(z, seq.actions)
    return jnp.sum(jnp.where(seq.mask, logp, 0.0)), jnp.sum(seq.mask.astype(logp.dtype))


def bc_loss(policy: Policy, params: PolicyParams, batch: Sequences) -> jax.Array:
    """L(θ): the mean negative log-likelihood over the valid steps of a batch (E, L) (module docstring)."""
    total, count = jax.vmap(lambda s: sequence_log_likelihood(policy, params, s))(batch)
    return -jnp.sum(total) / jnp.maximum(jnp.sum(count), 1.0)


@dataclasses.dataclass(frozen=True)
class BCConfig:
    """Settings of behavioural cloning."""

    steps: int = 500  # Adam updates
    batch_size: int = 16  # sequences per update, drawn uniformly with replacement
    lr: float = 3e-3  # Adam's step size
    clip_norm: float | None = 1.0  # clip the gradient to this global norm (None: no clipping)

    def __post_init__(self):
        check_positive_int("BCConfig.steps", self.steps)
        check_positive_int("BCConfig.batch_size", self.batch_size)
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise PlastixError(f"BCConfig.lr must be a finite number > 0, got {self.lr!r}.")

    def optimizer(self):
        return make_optimizer("adam", self.lr, None, self.clip_norm, self.steps)


class BCState(NamedTuple):
    params: PolicyParams
    opt_state: Any  # optax state


def bc_update(policy: Policy, config: BCConfig, data: Sequences, count: jax.Array, state: BCState, key: jax.Array):
    """One Adam update on ``batch_size`` of the first ``count`` sequences of ``data``."""
    idx = jax.random.randint(key, (config.batch_size,), 0, count)
    batch = jax.tree.map(lambda a: a[idx], data)
    loss, grads = jax.value_and_grad(lambda p: bc_loss(policy, p, batch))(state.params)
    updates, opt_state = config.optimizer().update(grads, state.opt_state, state.params)
    return BCState(jax.tree.map(lambda p, u: p + u, state.params, updates), opt_state), loss


@functools.partial(jax.jit, static_argnames=("policy", "config"))
def bc_train(policy: Policy, config: BCConfig, params: PolicyParams, data: Sequences, key: jax.Array,
             count: jax.Array | None = None) -> tuple[PolicyParams, jax.Array]:
    """``config.steps`` Adam updates of L(θ) from ``params``: (params, losses (steps,)).

    Pure and jitted (``policy`` and ``config`` static). ``count``: only the first ``count``
    rows of ``data`` are drawn (a preallocated buffer that fills up, as in DAgger; a traced
    value, so a growing count does not recompile); default all E rows."""
    count = data.obs.shape[0] if count is None else count
    state = BCState(params, config.optimizer().init(params))
    step = functools.partial(bc_update, policy, config, data, count)
    state, losses = lax.scan(step, state, jax.random.split(key, config.steps))
    return state.params, losses


def check_policy_data(policy: Policy, demos: Demos) -> None:
    """Raise unless the policy's input and head fit the demonstrations."""
    d = demos.observations.shape[1]
    if policy.core.input_size != d:
        raise PlastixError(f"the policy's core takes inputs of size {policy.core.input_size}, the demonstrations' "
                           f"observations have size {d}.")
    if policy.head.discrete != demos.discrete:
        kind = "discrete (int32 actions)" if demos.discrete else f"continuous ({demos.actions.shape[1]}-d actions)"
        raise PlastixError(f"head {type(policy.head).__name__} does not fit {kind} demonstrations.")
    if not demos.discrete and policy.head.dim != demos.actions.shape[1]:
        raise PlastixError(f"head {type(policy.head).__name__} has dim {policy.head.dim}, the demonstrations' "
                           f"actions have size {demos.actions.shape[1]}.")
    if demos.discrete and int(demos.actions.max()) >= policy.head.num_actions:
        raise PlastixError(f"the demonstrations hold action {int(demos.actions.max())}, the head has "
                           f"{policy.head.num_actions} actions.")


def behavioural_cloning(policy: Policy, demos: Demos, key: jax.Array, config: BCConfig = BCConfig()) -> tuple[
        PolicyParams, jax.Array]:
    """Fit ``policy`` to ``demos`` from a fresh init: (params, losses (steps,)). Validates first."""
    check_policy_data(policy, demos)
    k_init, k_train = jax.random.split(key)
    return bc_train(policy, config, policy.init(k_init), to_sequences(demos), k_train)
