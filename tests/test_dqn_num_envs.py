"""``num_envs`` (E environments per seed in lockstep): the transitions one update cycle stores
equal those of the same E environments stepped one at a time by a Python loop, bitwise.

The loop re-derives every key from the state's key as the trainer documents it (one cycle of
Mnih et al. 2015, Algorithm 1, with E environments): ``key, k_env, k_learn = split(key, 3)``;
one key per lockstep step ``split(k_env, train_every / E)``; per step ``k_act, k_step =
split(k)``, ``k_explore, k_random = split(k_act)``, E draws ``uniform(k_explore, (E,)) < ε`` and
``randint(k_random, (E,), 0, A)``, and environment j steps with ``split(k_step, E)[j]``. The
initial observations come from ``reset`` with ``split(k_env0, E)[j]`` of ``k_params, k_env0,
k_train = split(seed key, 3)``. Each environment is then stepped alone, with the greedy action
from the unbatched Q-network, and the ε of the linear schedule at env step i · E.

Discrete fields (actions, rewards, terminated, truncated, episode starts) are compared bitwise;
observations to float32 rounding: XLA's CPU compiler fuses a multiply and an add into one FMA in
some programs and not in others, so the CartPole physics of the fused training scan and of a
single jitted step can differ in the last bits (measured: 1 ulp at the first reset, about 1e-7
absolute after 40 steps), while a wrong key, action, order or buffer slot changes them entirely.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.dqn import DQNConfig, make_trainer
from plastix.dqn.trainer import cycle

STEPS_PER_ENV = 40  # lockstep steps in the cycle: several CartPole episodes end (random actions)


def config_for(e: int) -> DQNConfig:
    every = e * STEPS_PER_ENV
    return DQNConfig(task="cartpole", hidden=16, num_envs=e, train_every=every, target_every=every,
                     buffer_size=e * 2 * STEPS_PER_ENV, batch_size=8, learning_starts=2 * every, total_steps=4 * every,
                     steps_per_log=every, epsilon_start=0.6, epsilon_end=0.1, exploration_fraction=0.5)


def python_loop(trainer, seed_key):
    """The E environments stepped one at a time: stored fields (E, T, ...) as NumPy arrays."""
    setup, cfg = trainer.setup, trainer.setup.config
    e, net, env, env_params = cfg.num_envs, setup.network, setup.env, setup.env_params
    k_params, k_env0, k_train = jax.random.split(seed_key, 3)
    params = net.init(k_params)
    reset, env_step = jax.jit(env.reset), jax.jit(env.step)
    greedy = jax.jit(lambda o: jnp.argmax(net.step(params, net.initial_carry(), o, jnp.ones((), bool))[1]))
    envs = [reset(k, env_params) for k in jax.random.split(k_env0, e)]
    obs = [o for o, _ in envs]
    states = [s for _, s in envs]
    _, k_env, _ = jax.random.split(k_train, 3)
    stored = {name: [[] for _ in range(e)] for name in ("obs", "action", "reward", "terminated", "truncated",
                                                        "next_obs")}
    explored = 0
    for i, k in enumerate(jax.random.split(k_env, cfg.train_every // e)):
        # ε = start + (end − start) · min(step / (fraction · total), 1) at env step i · E (float32, as stored)
        frac = np.clip(np.float32(i * e) / np.float32(cfg.exploration_fraction * cfg.total_steps), 0, 1)
        eps = np.float32(cfg.epsilon_start + (cfg.epsilon_end - cfg.epsilon_start) * frac)
        k_act, k_step = jax.random.split(k)
        k_explore, k_random = jax.random.split(k_act)
        explore = np.asarray(jax.random.uniform(k_explore, (e,))) < eps
        random_a = np.asarray(jax.random.randint(k_random, (e,), 0, net.num_actions, jnp.int32))
        explored += int(explore.sum())
        step_keys = jax.random.split(k_step, e)
        for j in range(e):
            a = jnp.int32(random_a[j] if explore[j] else int(greedy(obs[j])))
            o2, states[j], r, term, trunc, info = env_step(step_keys[j], states[j], a, env_params)
            for name, value in (("obs", obs[j]), ("action", a), ("reward", r), ("terminated", term),
                                ("truncated", trunc), ("next_obs", info["terminal_obs"])):
                stored[name][j].append(np.asarray(value))
            obs[j] = o2
    return {name: np.array(v) for name, v in stored.items()} | {"explored": explored}


@pytest.mark.slow
@pytest.mark.parametrize("e", [1, 3, 4])
def test_stored_transitions_equal_environments_stepped_one_at_a_time(e):
    trainer = make_trainer(config_for(e))
    seed_key = jax.random.PRNGKey(11)
    state = trainer.init(seed_key)
    state, _ = jax.jit(functools.partial(cycle, trainer.setup))(state)
    want = python_loop(trainer, seed_key)
    t = STEPS_PER_ENV
    got = state.buffer.experience
    assert int(state.step) == e * t
    for name, value in want.items():
        if name == "explored":
            continue
        stored = np.asarray(getattr(got, name))[:, :t]  # (E, T, ...): environment j's steps in order
        assert stored.shape == value.shape, name
        if value.dtype.kind == "f" and value.ndim == 3:  # obs, next_obs: to float32 rounding (docstring)
            np.testing.assert_allclose(stored, value, rtol=1e-5, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(stored, value, err_msg=name)
    # the comparison covers what it should: episode ends with auto-resets, random and greedy actions
    done = want["terminated"] | want["truncated"]
    assert done.sum() >= e, done.sum()
    after_end = np.roll(done, 1, axis=1)[:, 1:]  # the step after an episode end opens a new one
    assert np.array_equal(np.asarray(got.start)[:, 1:t], after_end)
    inner = done[:, :-1]  # s′ is the next stored observation except after an episode end (auto-reset)
    np.testing.assert_array_equal(want["next_obs"][:, :-1][~inner], want["obs"][:, 1:][~inner])
    assert not np.array_equal(want["next_obs"][:, :-1][inner], want["obs"][:, 1:][inner])
    assert 0 < want["explored"] < e * t  # both random and greedy actions were taken
