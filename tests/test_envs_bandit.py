"""Two-armed bandit and the shared contract (auto-reset, vmapped params, host-side checks)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.envs import ENVS, TwoArmedBandit, make_env, random_policy, rollout
from plastix.errors import PlastixError


def test_empirical_reward_frequencies_match_probabilities():
    """One pull per episode; 4000 episodes per arm: mean reward p_a within 5 standard errors."""
    env, params = make_env("bandit")
    assert params.probs == (0.9, 0.1) and params.episode_length == 1

    def pull(key, arm):
        k_reset, k_step = jax.random.split(key)
        _, state = env.reset(k_reset, params)
        return env.step(k_step, state, arm, params)[2]

    keys = jax.random.split(jax.random.key(0), 4000)
    for arm, p in enumerate(params.probs):
        rewards = np.asarray(jax.jit(jax.vmap(pull, in_axes=(0, None)))(keys, arm))
        assert set(np.unique(rewards)) == {0.0, 1.0}
        assert abs(rewards.mean() - p) < 5 * np.sqrt(p * (1 - p) / 4000)


def test_deterministic_arms_match_reference_episode_by_episode():
    """probs (1, 0): r_t = [a_t = 0] exactly; obs = [1, t/T, r_{t−1}, onehot(a_{t−1})]."""
    env, params = make_env("bandit", probs=(1.0, 0.0), episode_length=7)
    tr = jax.device_get(jax.jit(rollout, static_argnums=(0, 2, 4))(
        env, params, random_policy(2), jax.random.key(1), 30))
    t, prev_r, prev_a = 0, 0.0, None
    for i in range(30):
        onehot = [0.0, 0.0] if prev_a is None else [float(prev_a == 0), float(prev_a == 1)]
        np.testing.assert_allclose(tr.obs[i], [1.0, t / 7, prev_r] + onehot, atol=1e-6)
        a = int(tr.action[i])
        r = 1.0 if a == 0 else 0.0
        t, prev_r, prev_a = t + 1, r, a
        assert tr.reward[i] == r and bool(tr.truncated[i]) == (t == 7)
        assert bool(tr.terminated[i]) is False
        if t == 7:
            np.testing.assert_allclose(tr.next_obs[i], [1.0, 0.0, 0.0, 0.0, 0.0])
            np.testing.assert_allclose(tr.terminal_obs[i][:3], [1.0, 1.0, r], atol=1e-6)
            t, prev_r, prev_a = 0, 0.0, None


def test_randomized_probabilities_per_episode():
    """dependent: p_1 = 1 − p_0, p_0 ~ U(0, 1); fixed within an episode, redrawn at resets."""
    env, params = make_env("bandit", preset="meta", episode_length=5)
    assert env.randomize == "dependent"
    tr = jax.device_get(jax.jit(rollout, static_argnums=(0, 2, 4))(
        env, params, random_policy(2), jax.random.key(2), 400))
    probs = tr.state.probs.reshape(80, 5, 2)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)
    assert np.all(probs == probs[:, :1])  # constant within each episode
    p0 = probs[:, 0, 0]
    assert len(np.unique(p0)) == 80 and abs(p0.mean() - 0.5) < 5 * np.sqrt(1 / 12 / 80)

    ind = TwoArmedBandit(randomize="independent")
    ps = np.asarray(jax.vmap(lambda k: ind.episode_probs(k, params))(
        jax.random.split(jax.random.key(3), 2000)))
    assert abs(np.corrcoef(ps[:, 0], ps[:, 1])[0, 1]) < 0.1
    assert np.all((ps >= 0) & (ps <= 1)) and abs(ps.mean() - 0.5) < 0.03


@pytest.mark.slow
def test_vmapped_params_truncate_at_their_own_lengths():
    env, params = make_env("bandit")
    many = dataclasses.replace(params, probs=jnp.array([[0.5, 0.5]] * 3),
                               episode_length=jnp.array([2, 3, 5]))
    policy = random_policy(2)
    trs = jax.jit(jax.vmap(lambda p, k: rollout(env, p, policy, k, 15)))(
        many, jax.random.split(jax.random.key(4), 3))
    trunc = np.asarray(trs.truncated)
    for b, T in enumerate([2, 3, 5]):
        np.testing.assert_array_equal(np.flatnonzero(trunc[b]), np.arange(T - 1, 15, T))
    np.testing.assert_array_equal(np.asarray(trs.obs)[:, 0, 1], [0, 0, 0])


def test_info_flags_and_discount():
    env, params = make_env("bandit", episode_length=2)
    obs, state = env.reset(jax.random.key(0), params)
    step = jax.jit(env.step)
    _, state, _, term, trunc, info = step(jax.random.key(1), state, 0, params)
    assert not bool(info["episode_start"]) and not bool(trunc)
    _, state, _, term, trunc, info = step(jax.random.key(2), state, 1, params)
    assert bool(info["episode_start"]) and bool(trunc) and float(info["discount"]) == 1.0
    assert int(state.t) == 0 and int(state.prev_action) == -1
    # no retrace: calling again with new values reuses the compiled step
    step(jax.random.key(3), state, 1, params)
    assert step._cache_size() == 1


def test_check_action():
    env, _ = make_env("bandit")
    assert env.check_action(1) == 1 and env.check_action(np.int64(0)) == 0
    for bad in (2, -1, 0.5, "1", True):
        with pytest.raises(PlastixError):
            env.check_action(bad)


@pytest.mark.parametrize(
    "kwargs",
    [{"randomize": "dependant"}, {"probs": (1.2, 0.0)}, {"probs": (0.5, 0.2, 0.3)},
     {"episode_length": 0}, {"preset": "paper"}],
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(PlastixError):
        make_env("bandit", **kwargs)


def test_registry_names_and_rollout_validation():
    assert set(ENVS) == {"cue-reward", "meta-maze", "bandit", "cartpole"}
    with pytest.raises(PlastixError, match="meta-maze"):
        make_env("meta_maze")
    env, params = make_env("bandit")
    with pytest.raises(PlastixError):
        rollout(env, params, random_policy(2), jax.random.key(0), 0)
