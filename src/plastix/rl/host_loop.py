"""Train an actor-critic agent on a host-side (Gymnasium) environment.

Gymnasium environments run in Python, so the rollout cannot live inside ``jit``: each update
(same algorithm as ``plastix.rl.trainer``; docs/rl-training.md)::

    k_roll = split(state.key)[1]              (the key an in-graph update would roll out with)
    obs = vec.reset()                         B environments (``HostVecEnv``), auto-resetting
    for t = 0..T−1:                           T = episode_length
        carry, a_t = act(θ, carry, o_t, start_t, k_t)     jitted, vmapped over B; the carry
                                                          is reset where start_t
        o_{t+1}, r_t, term, trunc, info = vec.step(a_t)   on the host (actions checked)
        start_{t+1} = info["episode_start"]
    state, metrics = apply_update(setup, state, Rollout(o, start, a, r, term | trunc, 0, 0))

``apply_update`` recomputes logits and values from the stored observations (so they are
zeros here) and takes one clipped Adam step. The first reset of seed s seeds environment b
with ``s + b``; later resets continue each environment's own generator, so a run is
reproducible from its seed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from plastix.envs.gymnasium_adapter import PREFIX, HostVecEnv, make_gymnasium_env
from plastix.rl.agent import ActorCritic, AgentParams
from plastix.rl.trainer import RLConfig, Rollout, Setup, TrainState, apply_update, build_setup, init_state
from plastix.train.harness import seed_keys


class HostRun(NamedTuple):
    """One seed's result: the final TrainState and per-update metrics (lists of floats)."""

    state: TrainState
    metrics: dict[str, list[float]]


@functools.partial(jax.jit, static_argnums=0)
def act_batch(agent: ActorCritic, params: AgentParams, carry, obs, start, key):
    """B agents' step: (carry (B, ...), o (B, d), start (B,), key) -> (carry, actions (B,) int32)."""
    carry, out = jax.vmap(agent.act, in_axes=(None, 0, 0, 0))(params, carry, obs, start)
    keys = jax.random.split(key, obs.shape[0])
    actions = jax.vmap(jax.random.categorical)(keys, out.logits)
    return carry, actions.astype(jnp.int32)


def batched_carry(agent: ActorCritic, batch: int):
    """The agent's initial carry repeated over a leading axis (B, ...)."""
    return jax.tree_util.tree_map(lambda x: jnp.stack([x] * batch), agent.initial_carry())


def collect_host(setup: Setup, params: AgentParams, vec: HostVecEnv, key: jax.Array,
                 seed: int | None = None) -> Rollout:
    """One update's Rollout (B, T) from B host environments (module docstring)."""
    B, T, A = vec.num_envs, setup.num_steps, setup.agent.num_actions
    obs, start = vec.reset(seed), np.ones((B,), bool)
    carry = batched_carry(setup.agent, B)
    record = {k: [] for k in ("obs", "start", "action", "reward", "done")}
    for t, k in enumerate(jax.random.split(key, T)):
        carry, action = act_batch(setup.agent, params, carry, obs, start, k)
        action = np.asarray(action)
        next_obs, reward, term, trunc, info = vec.step(action)
        for name, value in zip(record, (obs, start, action, reward, term | trunc), strict=True):
            record[name].append(value)
        obs, start = next_obs, info["episode_start"]
    cols = {k: jnp.asarray(np.stack(v, axis=1)) for k, v in record.items()}
    return Rollout(cols["obs"], cols["start"], cols["action"], cols["reward"], cols["done"],
                   jnp.zeros((B, T, A), jnp.float32), jnp.zeros((B, T), jnp.float32))


def completed_returns(ro: Rollout) -> list[float]:
    """Returns Σ r of the episodes that started AND ended inside the rollout (host-side)."""
    out = []
    for reward, start, done in zip(np.asarray(ro.reward), np.asarray(ro.start), np.asarray(ro.done), strict=True):
        total, open_ = 0.0, False
        for r, s, d in zip(reward, start, done, strict=True):
            total, open_ = (0.0, True) if s else (total, open_)
            total += float(r)
            if d and open_:
                out.append(total)
                open_ = False
    return out


def train_host(config: RLConfig, env_id: str, seeds: Sequence[int], episode_length: int | None = None,
               on_update: Callable[[int, int, dict], None] | None = None) -> list[HostRun]:
    """Train ``config``'s agent on the Gymnasium environment ``env_id`` for each seed.

    ``env_id`` is ``"gymnasium:<id>"`` or a bare Gymnasium id; ``episode_length`` overrides
    the registered time limit (it is also T, the steps per update). ``on_update(seed, update,
    metrics)`` is called after every update. Metrics per update: ``apply_update``'s, plus
    ``charts/completed_return`` (mean return of the episodes completed in the rollout, NaN
    if none). Raises PlastixError on bad actions or non-finite observations/rewards.
    """
    name = env_id if env_id.startswith(PREFIX) else PREFIX + env_id
    settings = {} if episode_length is None else {"episode_length": episode_length}
    env_and_params = make_gymnasium_env(name, **settings)
    setup = build_setup(config, env_and_params)
    update = jax.jit(functools.partial(apply_update, setup))
    runs = []
    for seed, key in zip(seeds, seed_keys(seeds), strict=True):
        vec = HostVecEnv(*env_and_params, config.batch_size)
        state, history = init_state(setup, key), {}
        try:
            for u in range(config.num_updates):
                ro = collect_host(setup, state.params, vec, jax.random.split(state.key)[1],
                                  seed if u == 0 else None)
                state, metrics = update(state, ro)
                metrics = {k: float(v) for k, v in metrics.items()}
                done = completed_returns(ro)
                metrics["charts/completed_return"] = float(np.mean(done)) if done else float("nan")
                for k, v in metrics.items():
                    history.setdefault(k, []).append(v)
                if on_update is not None:
                    on_update(seed, u, metrics)
        finally:
            vec.close()
        runs.append(HostRun(state, history))
    return runs
