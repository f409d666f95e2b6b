"""Model-free tabular RL on an MDP: TD Q-learning and SARSA (Sutton &
Barto 2018, §6.4–6.5), as one pure, jit-able ``train(key, mdp)``.

Environment (pure JAX, gymnax-like): ``env_step(key, mdp, state, action)`` samples
s' ~ P[s, a, ·] and returns reward R[s, a, s']. An episode ends (``terminated``) on arriving
at a final state, whose utility R_final[s'] is added to the return; it is cut (``truncated``)
after ``max_episode_steps`` steps. In both cases the next state is the start (auto-reset).

Updates, with U(s') = R_final[s'] if s' is final (Q(final, ·) = R(final)):

    Q-learning (S&B eq. 6.8):     Q(s,a) += α (r + γ max_a' Q(s',a') − Q(s,a))
    SARSA (Rummery & Niranjan):   Q(s,a) += α (r + γ Q(s',a') − Q(s,a)),  a' ~ ε-greedy(Q, s')

A truncated episode still bootstraps from s' (a time limit is not a final state). Actions are
ε-greedy with ties broken uniformly at random. Schedules: ε decays linearly from ``epsilon`` to
``epsilon_end`` over ``epsilon_decay_steps``; the step size is α_t = lr_t / N(s,a)^ω with lr_t
linear from ``lr`` to ``lr_end`` over the run and N(s,a) the visit count (ω = lr_visit_power;
ω ∈ (1/2, 1] gives the Robbins–Monro conditions). ``jax.jit(jax.vmap(train, (0, None)))``
trains many seeds at once.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.errors import PlastixError, check_positive_int, unknown_name
from plastix.mdp.mdp import MDP

ALGOS = ("q-learning", "sarsa")


class EnvState(NamedTuple):
    s: jax.Array  # () int32 current state
    t: jax.Array  # () int32 steps taken in the current episode


class Transition(NamedTuple):
    next_s: jax.Array  # () s' before any reset
    reward: jax.Array  # () R[s, a, s']
    terminated: jax.Array  # () bool: s' is final
    truncated: jax.Array  # () bool: the episode hit max_episode_steps


def env_reset(mdp: MDP) -> EnvState:
    return EnvState(mdp.start.astype(jnp.int32), jnp.asarray(0, jnp.int32))


def sample_index(u: jax.Array, probs: jax.Array) -> jax.Array:
    """Inverse-CDF draw from a categorical: the first i with u·c < Σ_{j<=i} probs[j], c = Σ probs,
    u ~ U[0, 1). Rounding can only push past the end: clamp to the last positive entry."""
    cdf = jnp.cumsum(probs)
    n = probs.shape[-1]
    last = n - 1 - jnp.argmax(probs[::-1] > 0)
    return jnp.minimum(jnp.sum(cdf <= u * cdf[-1]), last).astype(jnp.int32)


def env_step_u(u: jax.Array, mdp: MDP, state: EnvState, action: jax.Array,
               max_episode_steps: int) -> tuple[EnvState, Transition]:
    """``env_step`` driven by one uniform u ∈ [0, 1) instead of a key (s' by inverse CDF)."""
    next_s = sample_index(u, mdp.P[state.s, action])
    terminated = mdp.terminal[next_s]
    truncated = (~terminated) & (state.t + 1 >= max_episode_steps)
    done = terminated | truncated
    new = EnvState(jnp.where(done, mdp.start, next_s).astype(jnp.int32),
                   jnp.where(done, 0, state.t + 1).astype(jnp.int32))
    return new, Transition(next_s, mdp.R[state.s, action, next_s], terminated, truncated)


def env_step(key: jax.Array, mdp: MDP, state: EnvState, action: jax.Array,
             max_episode_steps: int) -> tuple[EnvState, Transition]:
    """s' ~ P[s, a, ·]; auto-reset to the start when the episode terminates or is truncated."""
    return env_step_u(jax.random.uniform(key, dtype=mdp.P.dtype), mdp, state, action, max_episode_steps)


def epsilon_greedy_u(u: jax.Array, q_s: jax.Array, epsilon: jax.Array) -> jax.Array:
    """ε-greedy from ONE uniform u ∈ [0, 1). If u < ε: explore with the action ⌊(u/ε)·A⌋ (u/ε is
    uniform given u < ε); else pick the k-th of the n tied greedy actions, k = ⌊(u−ε)/(1−ε)·n⌋
    (uniform given u ≥ ε). q_s: (A,)."""
    A = q_s.shape[-1]
    explore = u < epsilon
    v = jnp.where(explore, u / jnp.maximum(epsilon, 1e-30), (u - epsilon) / jnp.maximum(1.0 - epsilon, 1e-30))
    is_max = q_s >= jnp.max(q_s)
    n_max = jnp.sum(is_max)
    k = jnp.minimum(jnp.floor(v * n_max), n_max - 1)
    greedy = jnp.argmax(jnp.cumsum(is_max) > k)
    rand = jnp.minimum(jnp.floor(v * A), A - 1).astype(greedy.dtype)
    return jnp.where(explore, rand, greedy).astype(jnp.int32)


def epsilon_greedy(key: jax.Array, q_s: jax.Array, epsilon: jax.Array) -> jax.Array:
    """With probability ε a uniform action, else a greedy one (ties uniformly). q_s: (A,)."""
    return epsilon_greedy_u(jax.random.uniform(key, dtype=q_s.dtype), q_s, epsilon)


@dataclasses.dataclass(frozen=True)
class TabularConfig:
    """Settings of a tabular run (static: they fix loop lengths). See module docstring."""

    algo: str = "q-learning"
    total_steps: int = 20_000
    lr: float = 0.5
    lr_end: float | None = None
    lr_visit_power: float = 0.0
    epsilon: float = 0.1
    epsilon_end: float | None = None
    epsilon_decay_steps: int | None = None
    log_every: int = 500
    max_episode_steps: int = 100
    eval_episodes: int = 8

    def __post_init__(self):
        if self.algo not in ALGOS:
            raise unknown_name("algorithm", self.algo, ALGOS)
        for name in ("total_steps", "log_every", "max_episode_steps", "eval_episodes"):
            check_positive_int(name, getattr(self, name))
        if self.epsilon_decay_steps is not None:
            check_positive_int("epsilon_decay_steps", self.epsilon_decay_steps)
        if self.total_steps % self.log_every:
            raise PlastixError(f"total_steps ({self.total_steps}) must be a multiple of log_every ({self.log_every}).")
        for name in ("lr", "lr_end"):
            v = getattr(self, name)
            if v is not None and not (v == v and 0.0 < v <= 1.0):
                raise PlastixError(f"{name} (step size α) must be in (0, 1], got {v!r}.")
        for name in ("epsilon", "epsilon_end"):
            v = getattr(self, name)
            if v is not None and not (v == v and 0.0 <= v <= 1.0):
                raise PlastixError(f"{name} must be in [0, 1], got {v!r}.")
        if not 0.0 <= self.lr_visit_power <= 1.0:
            raise PlastixError(f"lr_visit_power must be in [0, 1], got {self.lr_visit_power!r}.")


def linear_schedule(t: jax.Array, start: float, end: float | None, steps: int) -> jax.Array:
    """start + (end − start)·min(t/steps, 1); constant when end is None."""
    end = start if end is None else end
    frac = jnp.minimum(t / steps, 1.0)
    return start + (end - start) * frac


class AgentState(NamedTuple):
    q: jax.Array  # (S, A)
    visits: jax.Array  # (S, A) N(s, a)
    env: EnvState
    action: jax.Array  # () the action to take now (SARSA's a'; unused by Q-learning)
    ep_return: jax.Array  # () undiscounted return of the current episode so far
    t: jax.Array  # () global step


class StepLog(NamedTuple):
    done_return: jax.Array  # () return of the episode that ended at this step (0 otherwise)
    done: jax.Array  # () bool
    abs_td: jax.Array  # () |δ|


class TrainMetrics(NamedTuple):
    """One entry per log point, shapes (n_logs,)."""

    step: jax.Array
    episodic_return: jax.Array  # mean online return of the episodes ended in the window (NaN if none)
    episodes: jax.Array  # episodes ended in the window
    greedy_return: jax.Array  # mean return of eval_episodes ε = 0 episodes from the start
    td_error: jax.Array  # mean |δ| in the window
    epsilon: jax.Array
    lr: jax.Array


def _value_at(mdp: MDP, q: jax.Array, s: jax.Array, a_next: jax.Array, algo: str) -> jax.Array:
    """Bootstrap U(s'): R_final if final, else max_a Q (Q-learning) or Q(s', a') (SARSA)."""
    boot = jnp.max(q[s]) if algo == "q-learning" else q[s, a_next]
    return jnp.where(mdp.terminal[s], mdp.R_final[s], boot)


def _agent_step(cfg: TabularConfig, mdp: MDP, st: AgentState, u: jax.Array) -> tuple[AgentState, StepLog]:
    """One environment step and TD update; u: (4,) uniforms, all the step's randomness
    (action, environment, SARSA's next action, action after a reset)."""
    u_act, u_env, u_next, u_reset = u[0], u[1], u[2], u[3]
    decay = cfg.epsilon_decay_steps or cfg.total_steps
    eps = linear_schedule(st.t, cfg.epsilon, cfg.epsilon_end, decay)
    s = st.env.s
    a = st.action if cfg.algo == "sarsa" else epsilon_greedy_u(u_act, st.q[s], eps)
    env, tr = env_step_u(u_env, mdp, st.env, a, cfg.max_episode_steps)
    a_next = epsilon_greedy_u(u_next, st.q[tr.next_s], eps)
    target = tr.reward + mdp.gamma * _value_at(mdp, st.q, tr.next_s, a_next, cfg.algo)
    visits = st.visits.at[s, a].add(1.0)
    alpha = linear_schedule(st.t, cfg.lr, cfg.lr_end, cfg.total_steps) / visits[s, a] ** cfg.lr_visit_power
    td = target - st.q[s, a]
    q = st.q.at[s, a].add(alpha * td)
    done = tr.terminated | tr.truncated
    ret = st.ep_return + tr.reward + jnp.where(tr.terminated, mdp.R_final[tr.next_s], 0.0)
    action = jnp.where(done, epsilon_greedy_u(u_reset, q[env.s], eps), a_next)
    new = AgentState(q, visits, env, action, jnp.where(done, 0.0, ret), st.t + 1)
    return new, StepLog(jnp.where(done, ret, 0.0), done, jnp.abs(td))


class _Rollout(NamedTuple):
    s: jax.Array  # () state
    t: jax.Array  # () steps taken
    alive: jax.Array  # () not yet at a final state
    ret: jax.Array  # () undiscounted return so far


def _greedy_episode(key: jax.Array, mdp: MDP, q: jax.Array, max_episode_steps: int) -> jax.Array:
    def cond(c: _Rollout):
        return c.alive & (c.t < max_episode_steps)

    def body(c: _Rollout):
        a = jnp.argmax(q[c.s])
        s_next = sample_index(jax.random.uniform(jax.random.fold_in(key, c.t), dtype=mdp.P.dtype), mdp.P[c.s, a])
        r = mdp.R[c.s, a, s_next] + jnp.where(mdp.terminal[s_next], mdp.R_final[s_next], 0.0)
        return _Rollout(s_next, c.t + 1, ~mdp.terminal[s_next], c.ret + r)

    init = _Rollout(mdp.start.astype(jnp.int32), jnp.asarray(0), jnp.asarray(True), jnp.asarray(0.0, q.dtype))
    return lax.while_loop(cond, body, init).ret


def greedy_return(key: jax.Array, mdp: MDP, q: jax.Array, max_episode_steps: int, episodes: int = 1) -> jax.Array:
    """Mean undiscounted return (rewards + the final utility) of ``episodes`` episodes acting
    greedily (first argmax) from the start, each cut at ``max_episode_steps``."""
    keys = jax.random.split(key, episodes)
    return jnp.mean(jax.vmap(_greedy_episode, in_axes=(0, None, None, None))(keys, mdp, q, max_episode_steps))


def train_window(cfg: TabularConfig, mdp: MDP, st: AgentState, key: jax.Array) -> tuple[AgentState, TrainMetrics]:
    """``cfg.log_every`` environment steps from ``st``, then one evaluation: (state, metrics).
    ``train`` scans it; a driver that saves between windows calls it directly."""
    # all the window's randomness in one batched draw (no per-step key splitting)
    k_train, k_eval = jax.random.split(key)
    us = jax.random.uniform(k_train, (cfg.log_every, 4), dtype=mdp.P.dtype)
    st, logs = lax.scan(partial(_agent_step, cfg, mdp), st, us)
    n = jnp.sum(logs.done)
    mean_ret = jnp.where(n > 0, jnp.sum(logs.done_return) / jnp.maximum(n, 1), jnp.nan)
    decay = cfg.epsilon_decay_steps or cfg.total_steps
    m = TrainMetrics(st.t, mean_ret, n, greedy_return(k_eval, mdp, st.q, cfg.max_episode_steps, cfg.eval_episodes),
                     jnp.mean(logs.abs_td), linear_schedule(st.t, cfg.epsilon, cfg.epsilon_end, decay),
                     linear_schedule(st.t, cfg.lr, cfg.lr_end, cfg.total_steps))
    return st, m


class TrainResult(NamedTuple):
    q: jax.Array  # (S, A) final table
    visits: jax.Array  # (S, A)
    metrics: TrainMetrics


@partial(jax.jit, static_argnames="cfg")
def train(key: jax.Array, mdp: MDP, cfg: TabularConfig) -> TrainResult:
    """Run ``cfg.total_steps`` environment steps of Q-learning or SARSA from Q = 0, logging every
    ``cfg.log_every`` steps. One key in; vmap over keys for seeds (see ``train_seeds``)."""
    k_init, k_run = jax.random.split(key)
    S, A = mdp.num_states, mdp.num_actions
    q0 = jnp.zeros((S, A), mdp.R.dtype)
    env = env_reset(mdp)
    st = AgentState(q0, jnp.zeros((S, A), mdp.R.dtype), env, epsilon_greedy(k_init, q0[env.s], cfg.epsilon),
                    jnp.asarray(0.0, mdp.R.dtype), jnp.asarray(0, jnp.int32))
    keys = jax.random.split(k_run, cfg.total_steps // cfg.log_every)
    st, metrics = lax.scan(partial(train_window, cfg, mdp), st, keys)
    return TrainResult(st.q, st.visits, metrics)


@partial(jax.jit, static_argnames="cfg")
def train_seeds(keys: jax.Array, mdp: MDP, cfg: TabularConfig) -> TrainResult:
    """``train`` vmapped over a batch of keys (n_seeds,): one jitted call for all seeds."""
    return jax.vmap(train, in_axes=(0, None, None))(keys, mdp, cfg)
