"""Proximal policy optimisation on any plastix core, as one pure, jittable, seed-vmappable loop.

PPO (Schulman et al. 2017, Algorithm 1, "actor-critic style") in the form of PureJaxRL's
``ppo.py`` (Lu et al. 2022): ``make_trainer(config).train(key)`` is one function, so
``jax.jit(jax.vmap(trainer.train))(keys)`` trains many seeds at once. One update::

    collect   E environments × T steps with π_old (the environments and the agent's carry run on
              across updates; the carry is reset exactly where an episode starts)
    GAE       Â_t = δ_t + γλ (1 − done_t) Â_{t+1},  δ_t = r_t + γ (1 − done_t) v_{t+1} − v_t,
              R_t = Â_t + v_t                                   (Schulman et al. 2016, eq. 16)
    K epochs: shuffle the rollout's sequences, M minibatches each:
              θ ← θ − Adam(clip_norm(∇ mean_t[−L^CLIP_t + c_V L^V_t − c_H H_t]))   (``plastix.ppo.losses``)

Truncation. Where an episode is cut by a time limit (truncated, not terminated) the reward is
bootstrapped, r_t ← r_t + γ v(s_{t+1}^terminal) (``bootstrap_truncated``; Pardo, Tavakoli,
Levdik & Kormushev 2018, "Time limits in reinforcement learning": partial-episode
bootstrapping), and the GAE chain is cut there like at a termination. The value of the terminal
observation is the agent's one step on from the current carry. Tasks whose observation holds
the time (the meta-RL tasks' t/T) end at the time limit for real; their resolver turns it off.

Recurrent cores (recurrent PPO). The rollout is cut into sequences of ``seq_len`` steps per
environment; the rollout stores the agent's carry at the start of every sequence (hidden
state, and for plastic cores the Hebbian and eligibility traces, all part of the carry), and
the update re-scans each sequence from that carry with the carry reset at the episode starts
inside it, so the gradient is exact (BPTT) within a sequence and the recomputed
log-probabilities equal the rollout's at θ = θ_old (tested). Minibatches are whole sequences.
With the memoryless ``mlp`` core ``seq_len`` = 1 and the sequences are single transitions,
shuffled as in feed-forward PPO.

Metrics per log point (means over its updates): ``step`` (env steps per seed),
``charts/episodic_return`` and ``charts/episodic_length`` (of the episodes that ended in the
log point's rollouts; NaN if none), ``losses/policy_loss``, ``losses/value_loss``,
``losses/entropy``, ``losses/approx_kl``, ``losses/clip_fraction`` (over the last epoch),
``losses/skipped_updates`` (so far), the first non-finite observation / reward
(``diagnostics/nonfinite_*``, as the a2c trainer) and the plasticity diagnostics of cores
with a Hebbian trace (``plastix.rl.diagnostics``).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from plastix.cores.base import resolve_dtype
from plastix.envs import ENVS, as_env, make_env
from plastix.errors import PlastixError, unknown_name
from plastix.ppo.config import PPOConfig, validate
from plastix.ppo.losses import PPOLoss, ppo_loss
from plastix.ppo.agent import PPOAgent, PPOParams as AgentParams
from plastix.rl.agent import ActorCritic, make_agent_core
from plastix.rl.diagnostics import DIAGNOSTICS, batch_statistics, has_trace
from plastix.rl.distributions import make_distribution
from plastix.rl.returns import gae_advantages
from plastix.rl.trainer import NONFINITE, NonFinite, first_bad
from plastix.train.harness import Trainer, assemble_trainer, make_optimizer

DIAGNOSTIC_EPISODES = 4
LOSS_NAMES = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")


class Setup(NamedTuple):
    """Everything static an update needs (built once by ``build_setup``)."""

    config: PPOConfig
    env: Any
    env_params: Any
    agent: PPOAgent
    dist: Any  # plastix.rl.distributions: Categorical | TanhGaussian | Beta
    optimizer: optax.GradientTransformation
    episode_length: int


class Runner(NamedTuple):
    """The environments and the agent between updates, leading axis E (per seed)."""

    obs: jax.Array  # (E, d) the next observation
    env_state: Any
    carry: Any  # the agent's carry after the last step (reset before use where ``start``)
    start: jax.Array  # (E,) bool, the next observation opens an episode
    ep_return: jax.Array  # (E,) reward summed over the running episode
    ep_length: jax.Array  # (E,) int32 steps of the running episode


class Batch(NamedTuple):
    """One rollout cut into sequences: leading axes (S, L) with S = E · T / L (carry0: (S, ...))."""

    obs: jax.Array  # (S, L, d)
    start: jax.Array  # (S, L) bool
    action: jax.Array  # (S, L) int32 or (S, L, k) float
    logp: jax.Array  # (S, L) log π_old(a_t|o_≤t)
    value: jax.Array  # (S, L) v_old
    advantage: jax.Array  # (S, L) Â_t
    target: jax.Array  # (S, L) R_t = Â_t + v_old
    carry0: Any  # the carry before each sequence's first step (before its reset)


class TrainState(NamedTuple):
    params: AgentParams
    opt_state: Any
    key: jax.Array
    update: jax.Array  # () int32, updates done
    runner: Runner
    nonfinite: NonFinite


# ---------------------------------------------------------------- building
def build_setup(config: PPOConfig, *, core=None, env=None) -> Setup:
    """Validate, build the environment (``env``: an environment object instead of
    ``config.task``), the agent (``core``: a core object instead of ``config.core``), the action
    distribution and Adam."""
    validate(config)
    if env is None and ":" not in config.task and config.task not in ENVS:
        raise unknown_name("PPO task", config.task, ENVS)
    resolve_dtype(config.dtype)
    env, env_params = as_env(env) if env is not None else make_env(config.task, config.preset,
                                                                 **dict(config.env_settings))
    dist = make_distribution(env, config.action_dist)
    agent_core = make_agent_core(config.core if core is None else core, config.embed or env.observation_size,
                                 config.hidden, config.dtype, **(dict(config.core_options) if core is None else {}))
    options = dict(config.core_options) if core is None else {}
    actor = ActorCritic(agent_core, distribution=dist)
    critic_core = None
    if config.separate_critic:
        critic_core = make_agent_core(config.core if core is None else core, env.observation_size, config.hidden,
                                      config.dtype, **options)
    agent = PPOAgent(actor, critic_core, config.embed, config.head_hidden, env.observation_size)
    optimizer = make_optimizer("adam", config.lr, config.lr_end, config.clip_norm, config.optimizer_steps,
                               eps=config.adam_eps)
    return Setup(config, env, env_params, agent, dist, optimizer, int(env_params.episode_length))


def reset_runner(setup: Setup, key: jax.Array) -> Runner:
    keys = jax.random.split(key, setup.config.num_envs)
    obs, env_state = jax.vmap(setup.env.reset, in_axes=(0, None))(keys, setup.env_params)
    carry = jax.vmap(lambda _: setup.agent.initial_carry())(keys)
    e = setup.config.num_envs
    zero = jnp.zeros((e,), setup.agent.core.jdtype)
    return Runner(obs, env_state, carry, jnp.ones((e,), bool), zero, jnp.zeros((e,), jnp.int32))


def init_state(setup: Setup, key: jax.Array) -> TrainState:
    k_params, k_env, k_train = jax.random.split(key, 3)
    params = setup.agent.init(k_params)
    none = jnp.full((), -1, jnp.int32)
    return TrainState(params, setup.optimizer.init(params), k_train, jnp.zeros((), jnp.int32),
                      reset_runner(setup, k_env), NonFinite(none, none, none, none))


# ---------------------------------------------------------------- rollout
class StepRecord(NamedTuple):
    obs: jax.Array
    start: jax.Array
    action: jax.Array
    logp: jax.Array
    value: jax.Array
    reward: jax.Array  # bootstrapped at truncation
    done: jax.Array
    raw_reward: jax.Array
    finished_return: jax.Array  # the episode's return where it ended here, else NaN
    finished_length: jax.Array
    terminal_obs: jax.Array | None = None  # memoryless agents: valued after the rollout, in one batch
    cut: jax.Array | None = None  # a time limit (not a termination) ended the episode here


def memoryless(setup: Setup) -> bool:
    """An agent whose carry is empty (the ``mlp`` core): a value depends on the observation alone."""
    return not jax.tree.leaves(setup.agent.initial_carry())


def env_step(setup: Setup, params: AgentParams, key: jax.Array, obs, env_state, carry, start, ep_return, ep_length):
    """One agent step and one environment step of ONE environment."""
    k_act, k_env = jax.random.split(key)
    carry, out = setup.agent.act(params, carry, obs, start)
    action = setup.dist.sample(k_act, out.logits)
    logp = setup.dist.log_prob(out.logits, action)
    obs2, env_state2, reward, term, trunc, info = setup.env.step(k_env, env_state, action, setup.env_params)
    dtype = out.value.dtype
    reward = reward.astype(dtype)
    done = term | trunc
    boot = reward * setup.config.reward_scale
    deferred = None, None
    if setup.config.bootstrap_truncated:
        if memoryless(setup):  # valued after the rollout, all steps in one batch (rollout)
            deferred = info["terminal_obs"], trunc & ~term
        else:
            terminal = setup.agent.value(params, carry, info["terminal_obs"])
            boot = boot + setup.config.gamma * jnp.where(trunc & ~term, terminal, 0.0)
    total, length = ep_return + reward, ep_length + 1
    record = StepRecord(obs, start, action, logp, out.value, boot, done, reward,
                        jnp.where(done, total, jnp.nan), jnp.where(done, length, -1), *deferred)
    next_state = (obs2, env_state2, carry, info["episode_start"], jnp.where(done, 0.0, total).astype(dtype),
                  jnp.where(done, 0, length))
    return next_state, record


def rollout(setup: Setup, params: AgentParams, runner: Runner, key: jax.Array):
    """T steps of the E environments with ``params`` (no gradient): the runner after them, the
    rollout as a ``Batch`` of sequences with GAE advantages and targets, and the per-step records
    (E, T) (returns of finished episodes, raw rewards, for the metrics)."""
    c = setup.config
    params = lax.stop_gradient(params)
    n_seq, L = c.num_steps // c.seq_len, c.seq_len
    step = jax.vmap(functools.partial(env_step, setup, params))

    def one_step(state, k):
        keys = jax.random.split(k, c.num_envs)
        return step(keys, *state)

    def one_sequence(state, k):
        carry0 = state[2]
        state, records = lax.scan(one_step, state, jax.random.split(k, L))
        return state, (carry0, records)

    state0 = (runner.obs, runner.env_state, runner.carry, runner.start, runner.ep_return, runner.ep_length)
    state, (carry0, rec) = lax.scan(one_sequence, state0, jax.random.split(key, n_seq))
    runner = Runner(*state)
    # rec fields: (n_seq, L, E, ...) -> (E, T, ...)
    rec = jax.tree.map(lambda x: jnp.swapaxes(x.reshape((c.num_steps,) + x.shape[2:]), 0, 1), rec)
    if rec.terminal_obs is not None:  # a memoryless agent's terminal values, one batched call
        empty = setup.agent.initial_carry()
        terminal = jax.vmap(jax.vmap(lambda o: setup.agent.value(params, empty, o)))(rec.terminal_obs)
        rec = rec._replace(reward=rec.reward + c.gamma * jnp.where(rec.cut, terminal, 0.0), terminal_obs=None,
                           cut=None)
    _, last = jax.vmap(setup.agent.act, in_axes=(None, 0, 0, 0))(params, runner.carry, runner.obs, runner.start)
    next_value = jnp.concatenate([rec.value[:, 1:], last.value[:, None]], axis=1)
    discount = c.gamma * (1.0 - rec.done.astype(rec.value.dtype))
    adv = jax.vmap(gae_advantages, in_axes=(0, 0, 0, 0, None))(rec.value, rec.reward, discount, next_value,
                                                                 c.gae_lambda)
    target = adv + rec.value

    def to_seq(x):  # (E, T, ...) -> (E · n_seq, L, ...), environment-major
        return x.reshape((c.num_envs * n_seq, L) + x.shape[2:])

    # carry0: (n_seq, E, ...) -> (E · n_seq, ...)
    carry0 = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1).reshape((c.num_envs * n_seq,) + x.shape[2:]), carry0)
    batch = Batch(to_seq(rec.obs), to_seq(rec.start), to_seq(rec.action), to_seq(rec.logp), to_seq(rec.value),
                  to_seq(adv), to_seq(target), carry0)
    return runner, batch, rec


def collect(setup: Setup, params: AgentParams, runner: Runner, key: jax.Array) -> tuple[Runner, Batch]:
    """``rollout`` without the per-step records: (runner, Batch)."""
    return rollout(setup, params, runner, key)[:2]


# ---------------------------------------------------------------- update
def minibatch_loss(setup: Setup, params: AgentParams, mb: Batch) -> tuple[jax.Array, PPOLoss]:
    c = setup.config
    heads, values = jax.vmap(functools.partial(setup.agent.sequence, params))(mb.carry0, mb.obs, mb.start)
    logp = jax.vmap(jax.vmap(setup.dist.log_prob))(heads, mb.action)
    ent = jax.vmap(jax.vmap(setup.dist.entropy))(heads)
    parts = ppo_loss(logp, mb.logp, mb.advantage, values, mb.value, mb.target, ent, clip_eps=c.clip_eps,
                     clip_value=c.clip_value, vf_coef=c.vf_coef, ent_coef=c.ent_coef, norm_adv=c.norm_adv)
    return parts.total, parts


def optimise(setup: Setup, params: AgentParams, opt_state, batch: Batch, key: jax.Array):
    """K epochs × M minibatches of Adam steps on one rollout. Returns (params, opt_state, the
    last epoch's mean PPOLoss)."""
    c = setup.config
    grad_fn = jax.grad(functools.partial(minibatch_loss, setup), has_aux=True)

    def minibatch_step(carry, mb):
        params, opt_state = carry
        grads, parts = grad_fn(params, mb)
        updates, opt_state = setup.optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), parts

    def epoch(carry, k):
        perm = jax.random.permutation(k, c.num_sequences)
        shuffled = jax.tree.map(lambda x: x[perm].reshape((c.num_minibatches, -1) + x.shape[1:]), batch)
        return lax.scan(minibatch_step, carry, shuffled)

    (params, opt_state), parts = lax.scan(epoch, (params, opt_state), jax.random.split(key, c.update_epochs))
    return params, opt_state, jax.tree.map(lambda x: jnp.mean(x[-1]), parts)


def learn(setup: Setup, state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
    """The update on a rollout collected elsewhere (distributed actors): K × M Adam steps, the
    update counter advanced; the runner and non-finite record are left as they are."""
    key, k_learn = jax.random.split(state.key)
    params, opt_state, parts = optimise(setup, state.params, state.opt_state, batch, k_learn)
    metrics = {f"losses/{name}": getattr(parts, name) for name in LOSS_NAMES}
    return state._replace(params=params, opt_state=opt_state, key=key, update=state.update + 1), metrics


def track_nonfinite(nf: NonFinite, rec, update) -> NonFinite:
    obs_t = first_bad(~jnp.all(jnp.isfinite(rec.obs.reshape(rec.obs.shape[:2] + (-1,))), axis=-1))
    rew_t = first_bad(~jnp.isfinite(rec.raw_reward))
    new_obs = (nf.obs_update < 0) & (obs_t >= 0)
    new_rew = (nf.reward_update < 0) & (rew_t >= 0)
    return NonFinite(jnp.where(new_obs, update, nf.obs_update), jnp.where(new_obs, obs_t, nf.obs_step),
                     jnp.where(new_rew, update, nf.reward_update), jnp.where(new_rew, rew_t, nf.reward_step))


def update_step(setup: Setup, state: TrainState, _=None):
    """One rollout and its K × M optimizer steps; per-update metrics."""
    key, k_roll, k_learn = jax.random.split(state.key, 3)
    runner, batch, rec = rollout(setup, state.params, state.runner, k_roll)
    params, opt_state, parts = optimise(setup, state.params, state.opt_state, batch, k_learn)
    nonfinite = track_nonfinite(state.nonfinite, rec, state.update)
    finished = jnp.isfinite(rec.finished_return)
    n = jnp.sum(finished)
    metrics = {
        "episodes": n.astype(jnp.float32),
        "return_sum": jnp.sum(jnp.where(finished, rec.finished_return, 0.0)).astype(jnp.float32),
        "length_sum": jnp.sum(jnp.where(finished, rec.finished_length, 0)).astype(jnp.float32),
        **{f"losses/{name}": getattr(parts, name) for name in LOSS_NAMES}}
    return TrainState(params, opt_state, key, state.update + 1, runner, nonfinite), metrics


def plasticity_diagnostics(setup: Setup, state: TrainState) -> dict:
    """η, mean |M|, Hebb at the clip, max |E| (``plastix.rl.diagnostics``) from fresh episodes;
    NaN for cores without a Hebbian trace. Their key is folded from the state's key."""
    core = setup.agent.core
    if not has_trace(core):
        return {name: jnp.full((), jnp.nan, jnp.float32) for name in DIAGNOSTICS}
    keys = jax.random.split(jax.random.fold_in(state.key, 1), DIAGNOSTIC_EPISODES)
    obs, start = jax.vmap(lambda k: episode(setup, state.params, k, False)[1:3])(keys)
    if setup.agent.embed:  # the core reads the embedding
        obs = setup.agent.inputs(state.params, obs)
    stats = batch_statistics(core, state.params.actor.core, obs, start)
    return {name: v.astype(jnp.float32) for name, v in stats.items()}


def log_chunk(setup: Setup, state: TrainState, _=None):
    """``updates_per_log`` updates: one log point."""
    state, per = lax.scan(functools.partial(update_step, setup), state, None, setup.config.updates_per_log)
    episodes = jnp.sum(per.pop("episodes"))
    nan = jnp.full((), jnp.nan, jnp.float32)
    metrics = {
        "charts/episodic_return": jnp.where(episodes > 0, jnp.sum(per.pop("return_sum")) / jnp.maximum(episodes, 1), nan),
        "charts/episodic_length": jnp.where(episodes > 0, jnp.sum(per.pop("length_sum")) / jnp.maximum(episodes, 1), nan),
    }
    metrics.update({k: jnp.mean(v) for k, v in per.items()})
    metrics["step"] = state.update * setup.config.steps_per_update
    metrics["losses/skipped_updates"] = state.opt_state.total_notfinite
    metrics.update({f"diagnostics/{name}": v for name, v in zip(NONFINITE, state.nonfinite, strict=True)})
    metrics.update(plasticity_diagnostics(setup, state))
    return state, metrics


def make_trainer(config: PPOConfig, *, core=None, env=None, data=None) -> Trainer:
    """Validate ``config`` and build the pure functions. ``env``: an environment object
    (``plastix.envs.as_env``); ``core``: a core object; ``data`` is rejected."""
    if data is not None:
        raise PlastixError("ppo learns from an environment (env=), not from data=.")
    return assemble_trainer(build_setup(config, core=core, env=env), init_state, log_chunk)


# ---------------------------------------------------------------- evaluation
def episode(setup: Setup, params: AgentParams, key: jax.Array, greedy: bool):
    """One fresh episode of at most T steps (T = the episode length): (total reward of its
    first episode, observations (T, d), starts (T,))."""
    k_reset, k_steps = jax.random.split(key)
    obs, env_state = setup.env.reset(k_reset, setup.env_params)

    def step(state, k):
        obs, env_state, carry, start, alive = state
        k_act, k_env = jax.random.split(k)
        carry, out = setup.agent.act(params, carry, obs, start)
        action = setup.dist.mode(out.logits) if greedy else setup.dist.sample(k_act, out.logits)
        obs2, env_state, reward, term, trunc, info = setup.env.step(k_env, env_state, action, setup.env_params)
        r = jnp.where(alive, reward, 0.0)
        return (obs2, env_state, carry, info["episode_start"], alive & ~(term | trunc)), (r, obs, start)

    state = (obs, env_state, setup.agent.initial_carry(), jnp.ones((), bool), jnp.ones((), bool))
    _, (r, obs_t, start_t) = lax.scan(step, state, jax.random.split(k_steps, setup.episode_length))
    return jnp.sum(r), obs_t, start_t


def evaluate(setup: Setup, params: AgentParams, key: jax.Array, episodes: int, greedy: bool = True) -> jax.Array:
    """Total reward of ``episodes`` fresh episodes, (episodes,) (greedy: the distribution's mode)."""
    keys = jax.random.split(key, episodes)
    return jax.vmap(lambda k: episode(setup, params, k, greedy)[0])(keys)


__all__ = ["Batch", "PPOConfig", "Runner", "Setup", "TrainState", "build_setup", "collect", "evaluate", "learn",
           "make_trainer", "reset_runner"]
