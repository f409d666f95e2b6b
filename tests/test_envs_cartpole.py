"""CartPole against an independent plain-Python transcription and against Gymnasium's CartPole-v1."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.envs import ENVS, CartPole, make_env, random_policy, rollout
from plastix.errors import PlastixError


def reference_step(s, action):
    """Barto, Sutton & Anderson (1983) cart-pole, Euler τ = 0.02, as described in Gymnasium's docs.

    Plain Python floats (float64). Returns (next state, terminated).
    """
    g, mc, mp, half_len, f_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    x, xd, th, thd = s
    f = f_mag if action == 1 else -f_mag
    m = mc + mp
    c, sn = math.cos(th), math.sin(th)
    tmp = (f + mp * half_len * thd * thd * sn) / m
    thacc = (g * sn - c * tmp) / (half_len * (4.0 / 3.0 - mp * c * c / m))
    xacc = tmp - mp * half_len * thacc * c / m
    nxt = (x + tau * xd, xd + tau * xacc, th + tau * thd, thd + tau * thacc)
    term = abs(nxt[0]) > 2.4 or abs(nxt[2]) > 12 * 2 * math.pi / 360
    return nxt, term


def run(env, params, key, steps):
    return jax.device_get(jax.jit(rollout, static_argnums=(0, 2, 4))(
        env, params, random_policy(2), key, steps))


def test_registered_with_presets_and_gymnasium_constants():
    assert ENVS["cartpole"] is CartPole
    env, params = make_env("cartpole")
    assert (env.num_actions, env.observation_size, env.observation_shape) == (2, 4, (4,))
    assert params.episode_length == 500 and make_env("cartpole", "v0")[1].episode_length == 200
    assert math.isclose(params.theta_threshold, 0.20943951023931953)  # 12° in Gymnasium
    with pytest.raises(PlastixError, match="masspole"):
        make_env("cartpole", masspole=0.0)
    with pytest.raises(PlastixError, match="episode_length"):
        make_env("cartpole", episode_length=0)


def test_random_rollout_matches_plain_python_step_by_step():
    """1000 random steps with auto-reset: every obs, reward and flag equals the reference."""
    env, params = make_env("cartpole", "v0")
    tr = run(env, params, jax.random.key(0), 1000)
    s = tuple(float(v) for v in tr.obs[0])
    t, episodes = 0, 0
    for i in range(1000):
        np.testing.assert_allclose(tr.obs[i], s, rtol=1e-5, atol=1e-5)
        s, term = reference_step(s, int(tr.action[i]))
        t += 1
        np.testing.assert_allclose(tr.terminal_obs[i], s, rtol=1e-5, atol=1e-5)
        assert tr.reward[i] == 1.0
        assert bool(tr.terminated[i]) == term and bool(tr.truncated[i]) == (t == 200)
        if term or t == 200:
            episodes += 1
            s, t = tuple(float(v) for v in tr.next_obs[i]), 0
            assert np.all(np.abs(tr.next_obs[i]) <= 0.05)
        else:
            np.testing.assert_array_equal(tr.next_obs[i], tr.terminal_obs[i])
    assert episodes > 20  # random play fails after ~20 steps: many terminations tested


def test_truncation_at_time_limit_with_a_balancing_policy():
    """A simple controller (push toward the side the pole falls to) lasts; truncated at T = 30."""
    env, params = make_env("cartpole", episode_length=30)

    def policy(key, obs):
        return (obs[2] + 0.5 * obs[3] > 0).astype(jnp.int32)

    tr = jax.device_get(jax.jit(rollout, static_argnums=(0, 2, 4))(env, params, policy,
                                                                    jax.random.key(1), 90))
    np.testing.assert_array_equal(np.flatnonzero(tr.truncated), [29, 59, 89])
    assert not tr.terminated.any()
    assert np.all(tr.state.t == np.tile(np.arange(30), 3))


def test_matches_gymnasium_cartpole_from_identical_states():
    """Gymnasium's own CartPole-v1 (float64 internally) from our states, for all actions."""
    gym = pytest.importorskip("gymnasium")
    genv = gym.make("CartPole-v1").unwrapped
    genv.reset(seed=0)
    env, params = make_env("cartpole")
    states = np.asarray(jax.random.uniform(jax.random.key(2), (200, 4), jnp.float32, -1.0, 1.0))
    states = (states * np.array([2.4, 2.0, 0.2, 2.0], np.float32)).astype(np.float32)
    template = env.reset(jax.random.key(0), params)[1]
    step = jax.jit(lambda s, a: env.step(jax.random.key(0), template._replace(physics=s), a, params))
    for s in states:
        for a in (0, 1):
            genv.state, genv.steps_beyond_terminated = np.array(s, np.float64), None
            g_obs, g_r, g_term, g_trunc, _ = genv.step(a)
            obs, _, r, term, trunc, info = step(jnp.asarray(s), a)
            np.testing.assert_allclose(info["terminal_obs"], g_obs, rtol=1e-5, atol=1e-6)
            assert float(r) == g_r and bool(term) == g_term and bool(trunc) == g_trunc


@pytest.mark.slow
def test_reset_distribution_and_vmapped_params():
    """Initial states ~ U(−0.05, 0.05)⁴ (mean 0, var 0.1²/12); vmapped gravity changes θ̈."""
    env, params = make_env("cartpole")
    obs = np.asarray(jax.vmap(lambda k: env.reset(k, params)[0])(
        jax.random.split(jax.random.key(3), 4000)))
    assert np.all(np.abs(obs) <= 0.05)
    assert np.all(np.abs(obs.mean(0)) < 5 * 0.05 / np.sqrt(3 * 4000))
    np.testing.assert_allclose(obs.var(0), 0.01 / 12, rtol=0.1)

    many = jax.tree_util.tree_map(lambda v: jnp.stack([jnp.asarray(v)] * 2), params)
    many = dataclasses.replace(many, gravity=jnp.array([9.8, 0.0]))
    state = env.reset(jax.random.key(0), params)[1]._replace(
        physics=jnp.array([0.0, 0.0, 0.1, 0.0], jnp.float32))
    out = jax.vmap(lambda p: env.step(jax.random.key(0), state, 1, p)[0])(many)
    for row, g in zip(np.asarray(out), (9.8, 0.0)):
        ref = reference_step((0.0, 0.0, 0.1, 0.0), 1)[0]
        if g == 0.0:  # θ̈ = −cos θ · tmp / (l (4/3 − m_p cos² θ / M)) without gravity
            c, m = math.cos(0.1), 1.1
            tmp = 10.0 / m
            thacc = -c * tmp / (0.5 * (4 / 3 - 0.1 * c * c / m))
            ref = (0.0, tmp * 0.02 - 0.1 * 0.5 * thacc * c / m * 0.02, 0.1, 0.02 * thacc)
        np.testing.assert_allclose(row, ref, rtol=1e-5, atol=1e-6)
