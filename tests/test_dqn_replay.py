"""Replay memory of plastix.dqn (flashbax underneath): windows, PER frequencies, IS weights,
priority updates."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.dqn import Replay, Step, importance_weights, window_priority
from plastix.dqn.replay import PRIORITY_EPS


def step_at(t: jax.Array, num_envs: int) -> Step:
    """Step number t for each of E environments; obs = (t, env) so a sample says where it came from."""
    tt = jnp.full((num_envs,), t, jnp.float32)
    obs = jnp.stack([tt, jnp.arange(num_envs, dtype=jnp.float32)], axis=-1)
    z = jnp.zeros((num_envs,), bool)
    return Step(obs, jnp.zeros((num_envs,), jnp.int32), tt, z, z, obs + 1.0, z)


@functools.partial(jax.jit, static_argnums=(0, 1))
def fill(replay: Replay, steps: int):
    state = replay.init(jax.tree.map(lambda x: x[0], step_at(jnp.zeros(()), 1)))

    def body(st, t):
        return replay.add(st, step_at(t, replay.num_envs)), None

    state, _ = jax.lax.scan(body, state, jnp.arange(steps, dtype=jnp.float32))
    return state


def test_windows_are_consecutive_recent_and_of_one_env():
    replay = Replay(num_envs=3, capacity=60, batch_size=256, window=4)
    total = 75  # the circular buffer (20 steps per env) has wrapped three times and more
    state = fill(replay, total)
    sample = jax.jit(replay.sample)(state, jax.random.PRNGKey(0))
    t, env = np.asarray(sample.steps.obs[..., 0]), np.asarray(sample.steps.obs[..., 1])
    assert np.all(np.diff(t, axis=1) == 1)  # L consecutive steps
    assert np.all(env == env[:, :1])  # of one environment
    assert t.min() >= total - 20 and t.max() <= total - 1  # only what is still stored
    assert len(np.unique(t[:, 0])) == 20 - 4 + 1  # every valid window start occurs
    np.testing.assert_array_equal(np.asarray(sample.weights), 1.0)


def test_per_sampling_frequencies_match_priorities():
    """P(i) = p_i^α / Σ_k p_k^α (Schaul et al. 2016, eq. 1), checked over 64 000 draws."""
    k, alpha = 8, 0.6
    replay = Replay(num_envs=1, capacity=k, batch_size=64, window=1, per=True, alpha=alpha)
    state = fill(replay, k)
    p = np.array([0.1, 0.5, 1.0, 2.0, 4.0, 0.0, 3.0, 0.7])
    # item index of step t is t (one environment, period 1): check it before relying on it
    probe = jax.jit(replay.sample)(state, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(np.asarray(probe.indices), np.asarray(probe.steps.obs[:, 0, 0]).astype(int))
    state = jax.jit(replay.update)(state, jnp.arange(k), jnp.asarray(p, jnp.float32))
    draws = jax.jit(jax.vmap(lambda key: replay.sample(state, key).indices))(jax.random.split(jax.random.PRNGKey(2), 1000))
    freq = np.bincount(np.asarray(draws).ravel(), minlength=k) / draws.size
    want = (p + PRIORITY_EPS) ** alpha / np.sum((p + PRIORITY_EPS) ** alpha)
    sigma = np.sqrt(want * (1 - want) / draws.size)
    assert np.all(np.abs(freq - want) < 5 * sigma + 1e-4), (freq, want)


def test_importance_weights_formula():
    """w_i = (N P(i))^(−β) / max_j w_j (Schaul et al. 2016, Algorithm 1)."""
    probs = jnp.array([0.05, 0.2, 0.1, 0.4])
    n, beta = 50, 0.4
    raw = (n * np.asarray(probs)) ** (-beta)
    np.testing.assert_allclose(np.asarray(importance_weights(probs, beta)), raw / raw.max(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(importance_weights(probs, 0.0)), 1.0)


def test_sample_weights_use_the_sampled_probabilities():
    replay = Replay(num_envs=1, capacity=6, batch_size=32, window=1, per=True, alpha=1.0)
    state = jax.jit(replay.update)(fill(replay, 6), jnp.arange(6), jnp.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    sample = jax.jit(replay.sample)(state, jax.random.PRNGKey(0), 0.5)
    p = np.asarray(sample.indices) + 1.0 + PRIORITY_EPS  # α = 1: P(i) ∝ p_i
    want = (p.min() / p) ** 0.5
    np.testing.assert_allclose(np.asarray(sample.weights), want, rtol=1e-5)


def test_priorities_change_after_an_update():
    replay = Replay(num_envs=1, capacity=4, batch_size=512, window=1, per=True, alpha=1.0)
    state = fill(replay, 4)
    # new windows enter with the largest priority so far: all equal at first
    before = np.bincount(np.asarray(jax.jit(replay.sample)(state, jax.random.PRNGKey(0)).indices), minlength=4)
    assert before.min() > 512 / 4 * 0.7
    state = jax.jit(replay.update)(state, jnp.array([0, 1, 2, 3]), jnp.array([0.0, 0.0, 0.0, 5.0]))
    after = np.asarray(jax.jit(replay.sample)(state, jax.random.PRNGKey(1)).indices)
    # |δ| + ε: the others keep a tiny chance (ε / (5 + 4ε) ≈ 2e-7 each), so item 3 is drawn
    assert np.all(after == 3)


def test_window_priority_is_r2d2_mixture():
    abs_td = jnp.array([1.0, 3.0, 2.0])
    assert float(window_priority(abs_td)) == pytest.approx(0.9 * 3.0 + 0.1 * 2.0)
