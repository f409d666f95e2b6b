"""Policy-gradient training of recurrent and plastic agents, PureJaxRL style (Lu et al. 2022).

``make_trainer(config)`` returns a ``Trainer(init, run, train, setup)``: ``train(key)`` is one
pure function (a ``lax.scan`` over log chunks, each a ``lax.scan`` over updates), so many
seeds train at once with ``jax.jit(jax.vmap(trainer.train))(keys)``, and
``plastix.train.harness.run_segments`` runs it in jitted segments, bitwise equal.

One update (Miconi et al. 2019, Backpropamine; Mnih et al. 2016, A2C; Williams 1992)::

    roll out B environments in lockstep for one full episode of T steps from a reset
        (vmap over environments, lax.scan over steps; the agent's carry is reset exactly at
        episode starts, ``plastix.rl.agent``), a_t ~ π(·|o_≤t) sampled from the logits
    a2c:        G_t = r_t + γ (1 − done_t) G_{t+1}   (Monte-Carlo, ``discounted_returns``)
                L_b = a2c_loss(logits, a, G, v; c_v, c_H)    (each episode's OWN v_t as baseline)
    reinforce:  Q̂_t = reward-to-go (γ); baseline none | batch-mean | value (learned v_t)
                L_b = reinforce_loss(log π, r, done; b_t) + c_v · ½ Σ (Q̂_t − v_t)² [value]
                      − c_H Σ_t H(π_t)
    L = (1 / (B T)) Σ_b L_b                     (Backpropamine divides by batch and length)
    g = ∇_θ L by BPTT over the stored trajectory (below)
    θ ← θ + Adam_lr(clip_{global norm}(g)),  skipped and counted if g is not finite
                (lr constant, or linear from lr to lr_end over the updates)

Actions. ``a_t`` is drawn from the agent's distribution (``plastix.rl.distributions``): a softmax
over the logits for discrete actions, a tanh-squashed Gaussian or a Beta over the box of a
continuous-action environment (``RLConfig.action_dist``; ``Rollout.action`` (T, d) float), and
the losses take log π and H from it. ``RLConfig.reward_scale`` c hands the losses c·r_t.

The gradient. The rollout itself is run without gradients; the loss is then recomputed from
the stored observations o_1..o_T and episode starts: h_{1..T} = scan of the core over them
(the carry reset where an episode starts), logits and values from h. The actions were drawn
from exactly these logits (same θ, same inputs, a deterministic core), so ∇_θ L is the same
as differentiating through the rollout — what Backpropamine does — but the backward pass no
longer runs through the environment and the sampler, and for the cores with a hand-derived
backward (``plastix.grads.hand``: elman, peephole-lstm, plastic-rnn, neuromod-rnn) it uses
that custom VJP, which recomputes the Hebbian and eligibility traces backwards instead of
storing an (n, n) matrix per step. For the plastic cores the rollout records what that
backward needs — h_1..h_T and the traces entering each segment of K ≈ 2√T steps — so the loss
does not run the episodes a second time (``hand_scan_recorded``). ``RLConfig.grad``: ``auto``
(hand-bptt where available, else bptt), ``hand-bptt``, ``bptt`` (autodiff over the stored
trajectory), ``rollout`` (autodiff through the rollout itself, each step rematerialised; the
original way, kept as a reference for tests and benchmarks). ``apply_update(setup, state, rollout)`` is the update on
a given rollout (used by host-loop environments, ``plastix.rl.host_loop``).

Metrics per log point (means over the chunk's updates): ``step`` (environment steps per
seed), ``charts/episodic_return`` (mean reward summed over an episode), ``losses/policy_loss``,
``losses/value_loss``, ``losses/entropy`` (per-step, per-episode means as in L),
``losses/skipped_updates`` (so far), and ``diagnostics/nonfinite_*`` (first update and step
where an observation or reward was NaN/Inf, −1 if none; ``check_finite`` raises on the host),
and the plasticity diagnostics ``diagnostics/eta``, ``diagnostics/mean_abs_M``,
``diagnostics/hebb_at_clip``, ``diagnostics/max_abs_E`` (``plastix.rl.diagnostics``; from 4
fresh episodes at each log point, NaN for cores without a Hebbian trace).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from plastix.cores.base import resolve_dtype, sequence_outputs
from plastix.envs import ENVS, as_env, make_env
from plastix.errors import (PlastixError, check_at_most, check_clip_norm, check_positive_int, check_step_sizes,
                            unknown_name)
from plastix.grads.hand import (HAND_BPTT_CORES, checkpoint_of, checkpoint_segments, episode_group, hand_scan,
                                hand_scan_recorded, records_residuals, supports_hand_bptt)
from plastix.rl.agent import ActorCritic, AgentParams, make_agent_core
from plastix.rl.diagnostics import DIAGNOSTICS, batch_statistics, has_trace
from plastix.rl.distributions import KINDS, Categorical, make_distribution
from plastix.rl.losses import LossParts, a2c_loss, batch_mean_baseline, distribution_terms, reinforce_loss, value_loss
from plastix.rl.returns import discount_from_done, discounted_returns, reward_to_go
from plastix.train.harness import Trainer, assemble_trainer, make_optimizer, run_segments, seed_keys

ALGOS = ("a2c", "reinforce")
GRADS = ("auto", "hand-bptt", "bptt", "rollout")
BASELINES = ("none", "batch-mean", "value")
NONFINITE = ("nonfinite_obs_update", "nonfinite_obs_step", "nonfinite_reward_update", "nonfinite_reward_step")


@dataclasses.dataclass(frozen=True)
class RLConfig:
    """Resolved settings of one policy-gradient run. Defaults: Backpropamine's released code
    (Miconi et al. 2019: neuromod-rnn retroactive, batch 30, γ 0.9, value 0.1, Adam 1e-4, clip 2)."""

    task: str = "cue-reward"  # environment name (plastix.envs.ENVS)
    preset: str = "default"  # environment preset
    env_settings: tuple[tuple[str, Any], ...] = ()  # extra make_env settings, e.g. (("episode_length", 40),)
    core: str = "neuromod-rnn"  # any agent core (plastix.rl.agent.agent_core_names), "mlp" = feed-forward
    core_options: tuple[tuple[str, Any], ...] = ()  # e.g. (("modulation", "simple"),)
    hidden: int = 200
    algo: str = "a2c"  # a2c | reinforce
    baseline: str = "value"  # reinforce only: none | batch-mean | value
    batch_size: int = 30  # B environments (episodes) in parallel per update
    gamma: float = 0.9
    value_coef: float = 0.1
    entropy_coef: float = 0.03
    lr: float = 1e-4
    lr_end: float | None = None  # anneal Adam's step size linearly to lr_end over the updates (None: constant)
    clip_norm: float | None = 2.0
    num_updates: int = 100  # a multiple of updates_per_log
    updates_per_log: int = 10
    dtype: str = "float32"
    grad: str = "auto"  # auto | hand-bptt | bptt | rollout (module docstring)
    # ---- options reproducing Backpropamine's released code (docs/reproduction.md; plastix.rl.released)
    adam_eps: float = 1e-8  # Adam's ε (released: 1e-6 cue-reward, 1e-4 maze)
    concentration_coef: float = 0.0  # a2c: + c Σ_t Σ_a π² (released cue-reward: --bent 0.1, entropy 0)
    baseline_element0: bool = False  # a2c: every episode's baseline (and critic) is batch element 0's v_t
    burn_in_updates: int = 0  # no optimizer step (params and Adam state kept) for the first N updates (released: 100)
    action_dist: str = "gaussian"  # continuous actions: gaussian (tanh-squashed) | beta; ignored for discrete
    reward_scale: float = 1.0  # the losses see c·r_t (returns, critic); the logged episodic return stays unscaled

    @property
    def num_logs(self) -> int:
        return self.num_updates // self.updates_per_log


class NonFinite(NamedTuple):
    """First (update, step) where an observation / a reward was not finite; −1 if never."""

    obs_update: jax.Array  # () int32
    obs_step: jax.Array  # () int32
    reward_update: jax.Array  # () int32
    reward_step: jax.Array  # () int32


class TrainState(NamedTuple):
    params: AgentParams
    opt_state: Any  # optax ApplyIfFiniteState
    key: jax.Array  # (2,) PRNG key of the next update
    update: jax.Array  # () int32, updates done
    nonfinite: NonFinite


class Rollout(NamedTuple):
    """One environment's trajectory, leading axis (T,) (or (B, T) when batched)."""

    obs: jax.Array  # (T, d) the observation the agent saw at step t
    start: jax.Array  # (T,) bool, step t opened an episode (carry was reset before it)
    action: jax.Array  # (T,) int32, or (T, d) float (the agent's dtype) for continuous actions
    reward: jax.Array  # (T,)
    done: jax.Array  # (T,) bool, terminated | truncated after step t
    logits: jax.Array  # (T, P) the action distribution's parameters (A logits if discrete)
    value: jax.Array  # (T,)


class RolloutCarry(NamedTuple):
    obs: jax.Array  # (d,) next observation
    env_state: Any
    agent_carry: Any
    start: jax.Array  # () bool, the next observation opens an episode


class Setup(NamedTuple):
    """Everything static an update needs (built once by ``make_trainer``)."""

    config: RLConfig
    env: Any
    env_params: Any
    agent: ActorCritic
    optimizer: optax.GradientTransformation
    num_steps: int  # T, the environment's episode length
    grad: str  # the resolved gradient path: hand-bptt | bptt | rollout


# ---------------------------------------------------------------- validation and building
def validate(config: RLConfig, *, core=None, env=None) -> None:
    """Check a config at the boundary. Raises PlastixError naming the bad field.
    ``core`` / ``env``: objects used instead of ``config.core`` / ``config.task`` (checked when built)."""
    if env is None and ":" not in config.task and config.task not in ENVS:  # "gymnax:<id>" etc. are checked by make_env
        raise unknown_name("RL task", config.task, ENVS)
    if config.algo not in ALGOS:
        raise unknown_name("RL algorithm", config.algo, ALGOS)
    if config.action_dist not in KINDS:
        raise unknown_name("action distribution", config.action_dist, KINDS)
    if config.baseline not in BASELINES:
        raise unknown_name("REINFORCE baseline", config.baseline, BASELINES)
    for name in ("hidden", "batch_size", "num_updates", "updates_per_log"):
        check_positive_int(name, getattr(config, name))
    if config.num_updates % config.updates_per_log:
        raise PlastixError(f"num_updates ({config.num_updates}) must be a multiple of updates_per_log "
                           f"({config.updates_per_log}).")
    if not (np.isfinite(config.gamma) and 0.0 <= config.gamma <= 1.0):
        raise PlastixError(f"gamma must lie in [0, 1], got {config.gamma!r}.")
    if not (np.isfinite(config.reward_scale) and config.reward_scale > 0):
        raise PlastixError(f"reward_scale must be a finite number > 0, got {config.reward_scale!r}.")
    for name in ("value_coef", "entropy_coef", "concentration_coef"):
        value = getattr(config, name)
        if not (np.isfinite(value) and value >= 0):
            raise PlastixError(f"{name} must be a finite number >= 0, got {value!r}.")
    if not (np.isfinite(config.adam_eps) and config.adam_eps > 0):
        raise PlastixError(f"adam_eps must be a finite number > 0, got {config.adam_eps!r}.")
    if not (isinstance(config.burn_in_updates, int) and config.burn_in_updates >= 0):
        raise PlastixError(f"burn_in_updates must be an integer >= 0, got {config.burn_in_updates!r}.")
    if config.baseline_element0 and config.algo != "a2c":
        raise PlastixError(f"baseline_element0 is an a2c option, got algo {config.algo!r}.")
    check_step_sizes(config.lr, config.lr_end)
    check_clip_norm(config.clip_norm)
    if config.grad not in GRADS:
        raise unknown_name("RL gradient method", config.grad, GRADS)
    if config.grad == "hand-bptt" and (config.core not in HAND_BPTT_CORES if core is None
                                       else not supports_hand_bptt(core)):
        raise PlastixError(f"grad 'hand-bptt' needs one of the cores {list(HAND_BPTT_CORES)}, got core "
                           f"{config.core if core is None else type(core).__name__!r}; use grad 'auto' or 'bptt'.")
    resolve_dtype(config.dtype)


def build_setup(config: RLConfig, env_and_params=None, *, core=None, env=None) -> Setup:
    """Validate, build the environment (or use ``env_and_params``), the agent and Adam.
    ``env``: an environment object (``plastix.envs.as_env``) instead of ``config.task``;
    ``core``: a core object (``plastix.cores.adapter``) instead of ``config.core``."""
    validate(config, core=core, env=env)
    if env is not None:
        env_and_params = as_env(env)
    if env_and_params is None:
        env_and_params = make_env(config.task, config.preset, **dict(config.env_settings))
    env, env_params = env_and_params
    core = make_agent_core(config.core if core is None else core, env.observation_size, config.hidden, config.dtype,
                           **(dict(config.core_options) if core is None else {}))
    agent = ActorCritic(core, distribution=make_distribution(env, config.action_dist))
    if config.concentration_coef and not isinstance(agent.distribution, Categorical):
        raise PlastixError(f"concentration_coef is a penalty on softmax probabilities (discrete actions); "
                           f"{config.task!r} has continuous actions.")
    num_steps = int(env_params.episode_length)
    check_at_most("num_updates × batch_size × episode_length (the env steps counted by the step metric)",
                  config.num_updates * config.batch_size * num_steps)
    grad = config.grad
    if grad == "auto":
        grad = "hand-bptt" if supports_hand_bptt(core) else "bptt"
    optimizer = make_optimizer("adam", config.lr, config.lr_end, config.clip_norm, config.num_updates,
                               eps=config.adam_eps)
    return Setup(config, env, env_params, agent, optimizer, num_steps, grad)


# ---------------------------------------------------------------- rollout
def rollout_step(setup: Setup, params: AgentParams, rc: RolloutCarry, key, greedy: bool = False):
    """One agent step then one environment step (auto-reset); emits the step's record."""
    k_act, k_env = jax.random.split(key)
    agent_carry, out = setup.agent.act(params, rc.agent_carry, rc.obs, rc.start)
    logits, dist = lax.stop_gradient(out.logits), setup.agent.distribution
    action = dist.mode(logits) if greedy else dist.sample(k_act, logits)
    obs, env_state, reward, term, trunc, info = setup.env.step(k_env, rc.env_state, action, setup.env_params)
    record = Rollout(rc.obs, rc.start, action, reward.astype(out.value.dtype), term | trunc, out.logits, out.value)
    return RolloutCarry(obs, env_state, agent_carry, info["episode_start"]), record


def recording(setup: Setup) -> bool:
    """True if this setup's gradient uses residuals recorded by the rollout (``hand_scan_recorded``)."""
    return setup.grad == "hand-bptt" and records_residuals(setup.agent.core)


def _scan_recording(step, rc: RolloutCarry, keys: jax.Array):
    """``lax.scan(step, rc, keys)`` where ``step`` also emits h_t, in segments of K steps
    (``checkpoint_segments``): (final carry, records, (hs (T, n), the traces entering each segment))."""
    T = keys.shape[0]
    K, _ = checkpoint_segments(T)
    full, rest = divmod(T, K)

    def segment(c, seg_keys):
        saved = checkpoint_of(c.agent_carry)
        c, ys = lax.scan(step, c, seg_keys)
        return c, (ys, saved)

    rc, (ys, saved) = lax.scan(segment, rc, keys[: full * K].reshape(full, K, *keys.shape[1:]))
    ys = jax.tree.map(lambda a: a.reshape(full * K, *a.shape[2:]), ys)
    if rest:
        last = checkpoint_of(rc.agent_carry)
        rc, tail = lax.scan(step, rc, keys[full * K:])
        ys = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, tail)
        saved = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), saved, last)
    records, hs = ys
    return rc, records, (hs, saved)


def collect_rollout(setup: Setup, params: AgentParams, key: jax.Array, num_steps: int,
                    greedy: bool = False, record: bool = False):
    """``num_steps`` steps of ONE environment from a reset: (final RolloutCarry, Rollout (T,)).

    Differentiable in ``params`` (logits and values); actions are sampled (or argmax if
    ``greedy``) from stop-gradient logits. One key: split into the reset key and a key per step.
    For ``grad="rollout"`` each step is a ``jax.checkpoint``: the backward pass keeps only the
    carries and recomputes the rest (at hidden 200 this is faster as well as smaller).
    ``record`` (a plastic core, ``recording``): returns a third item, the residuals of the hand-derived
    backward (``_scan_recording``); the same steps, keys and records.
    """
    k_reset, k_steps = jax.random.split(key)
    obs, env_state = setup.env.reset(k_reset, setup.env_params)
    rc = RolloutCarry(obs, env_state, setup.agent.initial_carry(), jnp.ones((), bool))
    step = functools.partial(rollout_step, setup, greedy=greedy)
    if setup.grad == "rollout":
        step = jax.checkpoint(step)
    keys = jax.random.split(k_steps, num_steps)
    if record:
        def step_h(c, k):
            c, rec = step(params, c, k)
            return c, (rec, c.agent_carry.h)

        return _scan_recording(step_h, rc, keys)
    return lax.scan(lambda c, k: step(params, c, k), rc, keys)


def rollout_batch(setup: Setup, params: AgentParams, key: jax.Array, greedy: bool = False, record: bool = False):
    """B = batch_size environments for one episode each, in lockstep: a Rollout (B, T)
    (with ``record``: (Rollout, residuals of each episode), ``collect_rollout``).

    Vectorised over the B environments (``vmap``), except for a plastic core whose (n, n) traces
    overflow the cache (``plastix.grads.hand.episode_group``): then ``lax.map`` steps them a few
    episodes at a time (the same keys, so the same episodes, up to float rounding)."""
    keys = jax.random.split(key, setup.config.batch_size)
    one = functools.partial(collect_rollout, setup, params, num_steps=setup.num_steps, greedy=greedy, record=record)
    group = episode_group(setup.agent.core, setup.num_steps, setup.config.batch_size)

    def episode(k):
        out = one(k)
        return out[1:] if record else out[1]

    return jax.vmap(episode)(keys) if group is None else lax.map(episode, keys, batch_size=group)


# ---------------------------------------------------------------- losses
def a2c_episode(config: RLConfig, ro: Rollout, distribution=None) -> LossParts:
    """A2C loss of one trajectory (T,) with Monte-Carlo returns and its own values."""
    g_t = discounted_returns(ro.reward, discount_from_done(ro.done, config.gamma))
    return a2c_loss(ro.logits, ro.action, g_t, ro.value, value_coef=config.value_coef,
                    entropy_coef=config.entropy_coef, concentration_coef=config.concentration_coef,
                    distribution=distribution)


def reinforce_episode(config: RLConfig, ro: Rollout, baseline_t: jax.Array | None, distribution=None) -> LossParts:
    """REINFORCE (reward-to-go) of one trajectory (T,), plus the critic and entropy terms."""
    logp_t, ent_t = distribution_terms(ro.logits, ro.action, distribution)
    if config.baseline == "value":
        baseline_t = ro.value
    policy = reinforce_loss(logp_t, ro.reward, ro.done, causal=True, gamma=config.gamma, baseline_t=baseline_t)
    value = value_loss(ro.value, reward_to_go(ro.reward, ro.done, config.gamma))
    value = value if config.baseline == "value" else jnp.zeros_like(value)
    ent = jnp.sum(ent_t)
    return LossParts(policy + config.value_coef * value - config.entropy_coef * ent, policy, value, ent)


def batch_loss(config: RLConfig, ro: Rollout, distribution=None) -> LossParts:
    """The update's loss L = (1 / (B T)) Σ_b L_b and its parts, from a Rollout (B, T).
    ``distribution``: the agent's action distribution (None: softmax over the logits).
    ``config.reward_scale`` c ≠ 1 multiplies the rewards first (returns and critic in units of c·r)."""
    if config.reward_scale != 1.0:  # a static float: the default graph is unchanged
        ro = ro._replace(reward=ro.reward * jnp.asarray(config.reward_scale, ro.reward.dtype))
    if config.algo == "a2c":
        if config.baseline_element0:  # the released code's ctrR = R − vs[0]: element 0's values for all
            ro = ro._replace(value=jnp.broadcast_to(ro.value[:1], ro.value.shape))
        parts = jax.vmap(functools.partial(a2c_episode, config, distribution=distribution))(ro)
    else:
        g_bt = jax.vmap(reward_to_go, in_axes=(0, 0, None))(ro.reward, ro.done, config.gamma)
        base = batch_mean_baseline(g_bt) if config.baseline == "batch-mean" else None
        episode = functools.partial(reinforce_episode, config, distribution=distribution)
        parts = jax.vmap(episode, in_axes=(0, None if base is None else 0))(ro, base)
    scale = 1.0 / ro.reward.shape[1]
    return LossParts(*(jnp.mean(p) * scale for p in parts))


def completed(done_t: jax.Array) -> jax.Array:
    """(T,) bool: step t belongs to an episode that ended within the window (a done at some t' >= t)."""
    return jnp.cumsum(done_t[::-1].astype(jnp.int32))[::-1] > 0


def first_episode(done_t: jax.Array) -> jax.Array:
    """(T,) bool: step t belongs to the window's first episode (no done before t)."""
    before = jnp.cumsum(done_t.astype(jnp.int32)) - done_t.astype(jnp.int32)
    return before == 0


def episodic_return(ro: Rollout) -> jax.Array:
    """Mean total reward of the episodes COMPLETED in a Rollout (B, T), pooled over the batch, ().

    Steps of an episode still running at the end of the window are left out (a cartpole
    rollout of T steps holds several episodes, the last usually unfinished); NaN if no episode
    ended (the log's ``finite_mean`` skips it). For the meta-RL tasks every rollout is exactly
    one episode, truncated at T, so this is the mean of Σ_t r_t."""
    mask = jax.vmap(completed)(ro.done)
    total = jnp.sum(jnp.where(mask, ro.reward, 0.0))
    episodes = jnp.sum(ro.done)
    return jnp.where(episodes > 0, total / jnp.maximum(episodes, 1), jnp.nan)


def loss_fn(setup: Setup, params: AgentParams, key: jax.Array):
    """(L, (LossParts, Rollout)) of one update; ``jax.grad`` of it is BPTT through the rollout."""
    ro = rollout_batch(setup, params, key)
    parts = batch_loss(setup.config, ro, setup.agent.distribution)
    return parts.total, (parts, ro)


def trajectory_outputs(setup: Setup, params: AgentParams, obs: jax.Array, start: jax.Array, recorded=None):
    """Logits (T, A) and values (T,) of ONE stored trajectory: the core scanned over its
    observations (T, d), its carry reset where ``start`` (T,) — the same outputs the rollout
    computed, now differentiable (hand-derived VJP for ``setup.grad == "hand-bptt"``; with the
    rollout's ``recorded`` residuals, ``collect_rollout``, the scan is not run again)."""
    core = setup.agent.core
    xs = obs.astype(core.jdtype)
    if recorded is not None:
        hs = hand_scan_recorded(core, params.core, xs, start, *recorded)
    elif setup.grad == "hand-bptt":
        hs = hand_scan(core, params.core, xs, start)
    else:
        hs = sequence_outputs(core, params.core, xs, start)  # a transformer: all steps at once
    logits = hs @ params.policy.V.T + params.policy.c[None, :]
    values = hs @ params.value.V[0] + params.value.c[0]
    return logits, values


def rollout_loss(setup: Setup, params: AgentParams, ro: Rollout, recorded=None):
    """(L, LossParts) of a stored Rollout (B, T), its logits and values recomputed from ``params``
    (from the hidden vectors the rollout ``recorded``, if given: ``rollout_batch``)."""
    per_episode = (ro.obs, ro.start) if recorded is None else (ro.obs, ro.start, recorded)
    logits, values = jax.vmap(functools.partial(trajectory_outputs, setup, params))(*per_episode)
    parts = batch_loss(setup.config, ro._replace(logits=logits, value=values), setup.agent.distribution)
    return parts.total, parts


def gradients(setup: Setup, params: AgentParams, key: jax.Array):
    """(∇_θ L, LossParts, Rollout) of one update from a fresh rollout drawn with ``key``."""
    if setup.grad == "rollout":
        grads, (parts, ro) = jax.grad(functools.partial(loss_fn, setup), has_aux=True)(params, key)
        return grads, parts, ro
    if recording(setup):
        ro, recorded = rollout_batch(setup, lax.stop_gradient(params), key, record=True)
        loss = functools.partial(rollout_loss, setup, recorded=recorded)
    else:
        ro, loss = rollout_batch(setup, lax.stop_gradient(params), key), functools.partial(rollout_loss, setup)
    grads, parts = jax.grad(loss, has_aux=True)(params, ro)
    return grads, parts, ro


# ---------------------------------------------------------------- training loop
def first_bad(flags_bt: jax.Array) -> jax.Array:
    """First step index t with any True in flags (B, T), −1 if none. () int32."""
    any_t = jnp.any(flags_bt, axis=0)
    return jnp.where(jnp.any(any_t), jnp.argmax(any_t), -1).astype(jnp.int32)


def track_nonfinite(nf: NonFinite, ro: Rollout, update: jax.Array) -> NonFinite:
    """Keep the first update/step with a non-finite observation or reward."""
    obs_t = first_bad(~jnp.all(jnp.isfinite(ro.obs), axis=-1))
    rew_t = first_bad(~jnp.isfinite(ro.reward))
    new_obs = (nf.obs_update < 0) & (obs_t >= 0)
    new_rew = (nf.reward_update < 0) & (rew_t >= 0)
    return NonFinite(jnp.where(new_obs, update, nf.obs_update), jnp.where(new_obs, obs_t, nf.obs_step),
                     jnp.where(new_rew, update, nf.reward_update), jnp.where(new_rew, rew_t, nf.reward_step))


def optimizer_step(setup: Setup, state: TrainState, key: jax.Array, grads, parts: LossParts, ro: Rollout):
    """One (possibly skipped) Adam step from ``grads``; the next state and per-update metrics."""
    updates, opt_state = setup.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if setup.config.burn_in_updates:  # released code: no optimizer.step() while numepisode <= 100
        frozen = state.update < setup.config.burn_in_updates
        params, opt_state = jax.tree.map(lambda old, new: jnp.where(frozen, old, new),
                                         (state.params, state.opt_state), (params, opt_state))
    nonfinite = track_nonfinite(state.nonfinite, ro, state.update)
    metrics = {"charts/episodic_return": episodic_return(ro), "losses/policy_loss": parts.policy,
               "losses/value_loss": parts.value, "losses/entropy": parts.entropy}
    return TrainState(params, opt_state, key, state.update + 1, nonfinite), metrics


def update_step(setup: Setup, state: TrainState, _=None) -> tuple[TrainState, dict]:
    """One rollout + one (possibly skipped) Adam step; returns per-update metrics."""
    key, k_roll = jax.random.split(state.key)
    grads, parts, ro = gradients(setup, state.params, k_roll)
    return optimizer_step(setup, state, key, grads, parts, ro)


def apply_update(setup: Setup, state: TrainState, ro: Rollout) -> tuple[TrainState, dict]:
    """One update on a rollout (B, T) collected elsewhere (e.g. a host-loop environment).

    Uses ``ro.obs``, ``ro.start``, ``ro.action``, ``ro.reward``, ``ro.done``; the logits and
    values are recomputed from ``state.params`` (so they may be zeros). The PRNG key in the
    state is advanced exactly as by an in-graph update. Pure: ``jax.jit`` it with ``setup``
    static (``functools.partial``)."""
    key, _ = jax.random.split(state.key)
    grad_setup = setup if setup.grad != "rollout" else setup._replace(grad="bptt")
    grads, parts = jax.grad(functools.partial(rollout_loss, grad_setup), has_aux=True)(state.params, ro)
    return optimizer_step(setup, state, key, grads, parts, ro)


def finite_mean(x: jax.Array) -> jax.Array:
    finite = jnp.isfinite(x)
    return jnp.sum(jnp.where(finite, x, 0.0)) / jnp.maximum(jnp.sum(finite), 1)


def log_chunk(setup: Setup, state: TrainState, _=None) -> tuple[TrainState, dict]:
    """``updates_per_log`` updates (a scan): one log point (means over the chunk)."""
    state, per_update = lax.scan(functools.partial(update_step, setup), state, None, setup.config.updates_per_log)
    metrics = {k: finite_mean(v) for k, v in per_update.items()}
    metrics["step"] = state.update * setup.config.batch_size * setup.num_steps
    metrics["losses/skipped_updates"] = state.opt_state.total_notfinite
    metrics.update({f"diagnostics/{name}": v for name, v in zip(NONFINITE, state.nonfinite, strict=True)})
    metrics.update(plasticity_diagnostics(setup, state))
    return state, metrics


# ---------------------------------------------------------------- plasticity diagnostics
DIAGNOSTIC_EPISODES = 4  # fresh episodes per log point for plastix.rl.diagnostics


def plasticity_diagnostics(setup: Setup, state: TrainState) -> dict:
    """η, mean |M|, fraction of Hebb at the clip and max |E| (``plastix.rl.diagnostics``) from
    ``DIAGNOSTIC_EPISODES`` fresh episodes of the current agent; NaN for a core without a Hebbian
    trace. Their key is folded from the state's key, so the training's own keys are unchanged."""
    core = setup.agent.core
    if not has_trace(core):
        return {name: jnp.full((), jnp.nan, jnp.float32) for name in DIAGNOSTICS}
    keys = jax.random.split(jax.random.fold_in(state.key, 1), DIAGNOSTIC_EPISODES)
    ro = jax.vmap(lambda k: collect_rollout(setup, state.params, k, setup.num_steps)[1])(keys)
    return {name: v.astype(jnp.float32) for name, v in batch_statistics(core, state.params.core, ro.obs, ro.start).items()}


def init_state(setup: Setup, key: jax.Array) -> TrainState:
    k_params, k_train = jax.random.split(key)
    params = setup.agent.init(k_params)
    none = jnp.full((), -1, jnp.int32)
    return TrainState(params, setup.optimizer.init(params), k_train, jnp.zeros((), jnp.int32),
                      NonFinite(none, none, none, none))




def make_trainer(config: RLConfig, env_and_params=None, *, core=None, env=None, data=None) -> Trainer:
    """Validate ``config`` and build the pure functions (``env_and_params`` overrides the env).
    ``env``: an environment object (a plastix Environment, ``(env, params)``, or anything with
    gymnax's API: ``plastix.envs.as_env``); ``core``: a core object. ``data`` is rejected."""
    if data is not None:
        raise PlastixError("a2c / reinforce learn from an environment (env=), not from data=.")
    return assemble_trainer(build_setup(config, env_and_params, core=core, env=env), init_state, log_chunk)


# ---------------------------------------------------------------- host side
def check_finite(metrics: dict, seeds: Sequence[int]) -> None:
    """Raise PlastixError if any seed saw a non-finite observation or reward (metrics (S, L))."""
    for field in ("obs", "reward"):
        updates = np.asarray(metrics[f"diagnostics/nonfinite_{field}_update"])[:, -1]
        steps = np.asarray(metrics[f"diagnostics/nonfinite_{field}_step"])[:, -1]
        for s, seed in enumerate(seeds):
            if updates[s] >= 0:
                name = "observation" if field == "obs" else "reward"
                raise PlastixError(f"non-finite {name} (field {field!r}) at update {int(updates[s])}, step "
                                   f"{int(steps[s])} of the episode, seed {seed}: check the environment.")


def train_seeds(trainer: Trainer, seeds: Sequence[int], segments: Sequence[int], on_segment=None):
    """``run_segments`` over seeds, checking for non-finite inputs after every segment."""

    def check(done, part):
        check_finite(part, seeds)
        if on_segment is not None:
            on_segment(done, part)

    return run_segments(trainer, seed_keys(seeds), segments, check)


def evaluate(setup: Setup, params: AgentParams, key: jax.Array, episodes: int, greedy: bool = False) -> jax.Array:
    """Total reward of ``episodes`` fresh episodes of one agent, (episodes,) (vmapped).

    Each is the FIRST episode of a T-step window from a reset (T = the environment's episode
    length, so it always ends within the window: terminated early, or truncated at T)."""
    keys = jax.random.split(key, episodes)
    run = functools.partial(collect_rollout, setup, params, num_steps=setup.num_steps, greedy=greedy)
    ro = jax.vmap(lambda k: run(k)[1])(keys)
    return jnp.sum(jnp.where(jax.vmap(first_episode)(ro.done), ro.reward, 0.0), axis=1)
