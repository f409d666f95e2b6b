"""Rollouts that record demonstrations: a learner, an expert, or a mixture of the two.

``mixed_rollout`` runs ONE environment for T steps from a reset (auto-reset inside the window,
``plastix.envs.base``) with the mixture policy of DAgger (Ross, Gordon & Bagnell 2011, Alg. 3.1),
π_i = β π* + (1 − β) π̂: at every step the expert is queried on the visited state (its label
a*_t is recorded), and the executed action is a*_t with probability β, else the learner's own
action (its mode if ``greedy``, else a sample). With ``policy=None`` the expert acts alone.

``first_episodes`` keeps the first episode of each window (it always ends inside a window of
T = the episode length steps) as flat ``Demos``; ``agent_demos`` does the same for a trained
policy-gradient agent with the actor-critic trainer's own ``collect_rollout``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from plastix.imitation.bc import Policy, PolicyParams
from plastix.imitation.demos import Demos, make_demos
from plastix.imitation.experts import Expert
from plastix.rl.trainer import Setup, collect_rollout


class Step(NamedTuple):
    """One recorded step (leading axes (T,) or (E, T) when stacked)."""

    obs: jax.Array  # (d,) the observation at step t
    start: jax.Array  # () bool, step t opens an episode
    label: jax.Array  # () int32, the expert's action a*_t at this state
    learner: jax.Array  # () int32, the learner's action (= label when there is no learner)
    action: jax.Array  # () int32, the executed action
    reward: jax.Array  # ()
    done: jax.Array  # () bool, terminated | truncated after step t


class _Carry(NamedTuple):
    obs: jax.Array
    env_state: Any
    start: jax.Array
    learner: Any  # the learner's carry
    expert: Any  # the expert's carry


def _step(env, env_params, policy: Policy | None, params, expert: Expert, expert_params, beta, greedy: bool,
          c: _Carry, key):
    k_mix, k_act, k_env = jax.random.split(key, 3)
    expert_carry, label = expert.label(expert_params, c.expert, c.obs, c.env_state, c.start)
    learner_carry, learner = c.learner, label
    if policy is not None:
        learner_carry, z = policy.act(params, c.learner, c.obs, c.start)
        learner = policy.head.mode(z) if greedy else policy.head.sample(k_act, z)
    action = jnp.where(jax.random.uniform(k_mix) < beta, label, learner).astype(jnp.int32)
    obs, env_state, reward, term, trunc, info = env.step(k_env, c.env_state, action, env_params)
    step = Step(c.obs, c.start, label, learner, action, reward, term | trunc)
    return _Carry(obs, env_state, info["episode_start"], learner_carry, expert_carry), step


@functools.partial(jax.jit, static_argnames=("env", "policy", "expert", "num_steps", "greedy"))
def mixed_rollout(env, env_params, policy: Policy | None, params: PolicyParams | None, expert: Expert, expert_params,
                  beta: jax.Array, key: jax.Array, num_steps: int, greedy: bool = True) -> Step:
    """One window of ``num_steps`` steps from a reset, executing β π* + (1 − β) π̂: a Step (T,).

    ``policy``/``params``: the learner (None: the expert acts alone); ``expert``/``expert_params``:
    ``plastix.imitation.experts``; β () in [0, 1]. One key: the reset key and one per step."""
    k_reset, k_steps = jax.random.split(key)
    obs, env_state = env.reset(k_reset, env_params)
    learner = None if policy is None else policy.initial_carry()
    c0 = _Carry(obs, env_state, jnp.ones((), bool), learner, expert.initial_carry())
    body = functools.partial(_step, env, env_params, policy, params, expert, expert_params, beta, greedy)
    return lax.scan(body, c0, jax.random.split(k_steps, num_steps))[1]


def mixed_rollouts(env, env_params, policy, params, expert, expert_params, beta, key, windows: int, num_steps: int,
                   greedy: bool = True) -> Step:
    """``windows`` independent windows (vmapped): a Step (windows, T)."""
    keys = jax.random.split(key, windows)
    one = functools.partial(mixed_rollout, env, env_params, policy, params, expert, expert_params,
                            jnp.asarray(beta, jnp.float32), num_steps=num_steps, greedy=greedy)
    return jax.vmap(one)(keys)


def first_episode_mask(done: np.ndarray) -> np.ndarray:
    """(E, T) bool: step t of a window belongs to its first episode (no done before t)."""
    done = np.asarray(done, bool)
    return (np.cumsum(done, axis=1) - done) == 0


def first_episodes(obs, actions, rewards, done, meta: dict) -> Demos:
    """Flat ``Demos`` of the first episode of each window; arrays (E, T, ...). Returns are Σ_t r_t."""
    mask = first_episode_mask(done)
    obs, actions, rewards = np.asarray(obs), np.asarray(actions), np.asarray(rewards)
    starts = np.zeros(mask.shape, bool)
    starts[:, 0] = True
    returns = np.sum(np.where(mask, rewards, 0.0), axis=1)
    return make_demos(obs[mask].astype(np.float32), actions[mask], starts[mask], returns.astype(np.float32), meta)


def episode_costs(steps: Step) -> tuple[np.ndarray, np.ndarray]:
    """(return, mistakes) of the first episode of each window of a Step (E, T): Σ_t r_t and the
    number of steps where the learner's action differed from the expert's (Ross et al. 2011's
    0-1 surrogate loss, summed over the episode)."""
    mask = first_episode_mask(np.asarray(steps.done))
    returns = np.sum(np.where(mask, np.asarray(steps.reward), 0.0), axis=1)
    mistakes = np.sum(mask & (np.asarray(steps.learner) != np.asarray(steps.label)), axis=1)
    return returns, mistakes


def agent_demos(setup: Setup, params, key: jax.Array, episodes: int, greedy: bool = False,
                meta: dict | None = None) -> Demos:
    """``episodes`` first episodes of a trained actor-critic (``plastix.rl.trainer``), as Demos."""
    keys = jax.random.split(key, episodes)
    run = jax.jit(jax.vmap(lambda k: collect_rollout(setup, params, k, setup.num_steps, greedy)[1]))
    ro = run(keys)
    return first_episodes(ro.obs, ro.action, ro.reward, ro.done, dict(meta or {}))
