"""The policy-gradient trainer (plastix.rl.trainer): rollouts with carry resets at episode
starts, losses against independent NumPy computations, BPTT through the rollout against a
replay, determinism, segmented = one call, non-finite inputs, and small learning runs."""

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cores.base import loop_core
from plastix.envs import Environment, TwoArmedBandit, make_env
from plastix.errors import PlastixError
from plastix.rl.agent import ActorCritic, FeedForward, make_agent_core
from plastix.rl.trainer import (
    RLConfig,
    batch_loss,
    build_setup,
    collect_rollout,
    evaluate,
    loss_fn,
    make_trainer,
    rollout_batch,
    run_segments,
    seed_keys,
    train_seeds,
)

BANDIT = RLConfig(task="bandit", core="mlp", hidden=8, batch_size=16, lr=3e-2, gamma=1.0, entropy_coef=0.0,
                  num_updates=120, updates_per_log=40)
SMALL64 = RLConfig(task="bandit", preset="meta", env_settings=(("episode_length", 6),), hidden=5, batch_size=3,
                   lr=1e-2, num_updates=6, updates_per_log=2, dtype="float64")
TINY = RLConfig(task="cue-reward", preset="easy", env_settings=(("episode_length", 7),), hidden=5,
                batch_size=3, lr=1e-2, num_updates=6, updates_per_log=2, dtype="float64")


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def np_log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_returns(r, done, gamma):
    """G_t = r_t + γ (1 − done_t) G_{t+1}, a plain backward loop over one trajectory."""
    g, out = 0.0, np.zeros_like(r)
    for t in reversed(range(len(r))):
        g = r[t] + gamma * (1.0 - done[t]) * g
        out[t] = g
    return out


# ---------------------------------------------------------------- learning
@pytest.mark.learning
@pytest.mark.parametrize("algo, baseline", [("a2c", "value"), ("reinforce", "batch-mean")])
def test_two_armed_bandit_is_solved(algo, baseline):
    """Arms pay 1 w.p. (0.9, 0.1): the best arm's expected reward is 0.9, a uniform policy 0.5."""
    config = dataclasses.replace(BANDIT, algo=algo, baseline=baseline)
    trainer = make_trainer(config)
    state, metrics = jax.jit(trainer.train)(jax.random.PRNGKey(0))
    assert metrics["charts/episodic_return"][-1] > 0.8
    setup = trainer.setup
    obs, _ = setup.env.reset(jax.random.PRNGKey(1), setup.env_params)
    _, out = setup.agent.act(state.params, setup.agent.initial_carry(), obs, jnp.ones((), bool))
    assert jax.nn.softmax(out.logits)[0] > 0.95  # π(best arm) after training
    returns = evaluate(setup, state.params, jax.random.PRNGKey(2), 400, greedy=True)
    assert abs(float(jnp.mean(returns)) - 0.9) < 0.06  # greedy = always the best arm: Bernoulli(0.9)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RecallParams:
    episode_length: int = 4


class RecallState(NamedTuple):
    cue: jax.Array  # () float32, ±1
    t: jax.Array  # () int32


@dataclasses.dataclass(frozen=True)
class DelayedRecall(Environment):
    """A memory task written for this test: step 0 shows a random cue ±1, later steps show 0;
    at the last step action 1 (cue +1) or 0 (cue −1) earns +1, the other −1; other steps pay 0.
    Observation [cue or 0, bias 1]. A memoryless policy sees nothing at the last step, so its
    expected episode reward is exactly 0; remembering one bit for T − 1 steps earns 1."""

    name = "recall"
    params_class = RecallParams

    @property
    def num_actions(self):
        return 2

    @property
    def observation_size(self):
        return 2

    def reset_env(self, key, params):
        cue = jnp.where(jax.random.bernoulli(key), 1.0, -1.0).astype(jnp.float32)
        return jnp.stack([cue, jnp.ones((), jnp.float32)]), RecallState(cue, jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        last = state.t == params.episode_length - 1
        right = (action == 1) == (state.cue > 0)
        reward = jnp.where(last, jnp.where(right, 1.0, -1.0), 0.0).astype(jnp.float32)
        obs = jnp.array([0.0, 1.0], jnp.float32)
        return obs, RecallState(state.cue, state.t + 1), reward, jnp.zeros((), bool), last


@pytest.mark.learning
def test_recurrent_agent_beats_a_feed_forward_one_on_a_memory_task():
    env_and_params = (DelayedRecall(), RecallParams(episode_length=4))
    base = RLConfig(task="bandit", hidden=8, batch_size=32, lr=3e-2, gamma=1.0, entropy_coef=0.0,
                    num_updates=150, updates_per_log=50)
    final = {}
    for core in ("neuromod-rnn", "mlp"):
        trainer = make_trainer(dataclasses.replace(base, core=core), env_and_params)
        state, _ = jax.jit(trainer.train)(jax.random.PRNGKey(0))
        returns = evaluate(trainer.setup, state.params, jax.random.PRNGKey(1), 2000, greedy=True)
        final[core] = float(jnp.mean(returns))
    assert final["neuromod-rnn"] > 0.9, final
    assert abs(final["mlp"]) < 0.1, final  # 2000 episodes of ±1: standard error 0.022


# ---------------------------------------------------------------- rollouts and carries
def test_carry_is_fresh_exactly_after_an_episode_boundary():
    config = RLConfig(task="bandit", preset="meta", env_settings=(("episode_length", 3),), hidden=4,
                      batch_size=1, dtype="float64")
    setup = build_setup(config)
    params = setup.agent.init(jax.random.PRNGKey(3))
    core, fresh = setup.agent.core, setup.agent.initial_carry()
    key = jax.random.PRNGKey(4)
    end3, ro = collect_rollout(setup, params, key, 7)
    np.testing.assert_array_equal(np.asarray(ro.start), [1, 0, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(np.asarray(ro.done), [0, 0, 1, 0, 0, 1, 0])
    # after 3 steps the carry holds traces of episode 1, and the next obs opens episode 2
    end_a, _ = collect_rollout(setup, params, key, 3)
    assert bool(end_a.start) and float(jnp.max(jnp.abs(end_a.agent_carry.hebb))) > 0
    # the carry after step 3 (the first of episode 2) is one core step from a FRESH carry
    end_b, _ = collect_rollout(setup, params, key, 4)
    expected, _ = core.step(params.core, fresh, ro.obs[3])
    for got, want in zip(leaves(end_b.agent_carry), leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # logits/values = an independent Python-loop replay with resets at the recorded starts
    _, hs = loop_core(core, params.core, ro.obs, resets=np.asarray(ro.start))
    logits = np.asarray(hs) @ np.asarray(params.policy.V).T + np.asarray(params.policy.c)
    np.testing.assert_allclose(np.asarray(ro.logits), logits, rtol=1e-10)


@pytest.mark.slow
def test_a2c_loss_in_trainer_equals_numpy_on_a_recorded_rollout():
    setup = build_setup(SMALL64)
    params = setup.agent.init(jax.random.PRNGKey(0))
    ro = rollout_batch(setup, params, jax.random.PRNGKey(1))
    parts = batch_loss(SMALL64, ro)
    B, T = ro.reward.shape
    logits, a, v = np.asarray(ro.logits), np.asarray(ro.action), np.asarray(ro.value)
    pol = val = ent = 0.0
    for b in range(B):
        g = np_returns(np.asarray(ro.reward[b]), np.asarray(ro.done[b], float), SMALL64.gamma)
        logp_all = np_log_softmax(logits[b])
        pol += -np.sum(logp_all[np.arange(T), a[b]] * (g - v[b]))
        val += 0.5 * np.sum((g - v[b]) ** 2)
        ent += -np.sum(np.exp(logp_all) * logp_all)
    pol, val, ent = pol / (B * T), val / (B * T), ent / (B * T)
    np.testing.assert_allclose(float(parts.policy), pol, rtol=1e-10)
    np.testing.assert_allclose(float(parts.value), val, rtol=1e-10)
    np.testing.assert_allclose(float(parts.entropy), ent, rtol=1e-10)
    np.testing.assert_allclose(float(parts.total), pol + SMALL64.value_coef * val - SMALL64.entropy_coef * ent, rtol=1e-10)
    assert np.any(np.asarray(ro.reward) != 0)  # some arm paid
    total, _ = loss_fn(setup, params, jax.random.PRNGKey(1))  # the same key: the same rollout
    np.testing.assert_allclose(float(total), float(parts.total), rtol=1e-12)


def test_reinforce_batch_mean_loss_equals_numpy():
    config = dataclasses.replace(SMALL64, algo="reinforce", baseline="batch-mean", entropy_coef=0.0)
    setup = build_setup(config)
    params = setup.agent.init(jax.random.PRNGKey(5))
    ro = rollout_batch(setup, params, jax.random.PRNGKey(6))
    B, T = ro.reward.shape
    g = np.stack([np_returns(np.asarray(ro.reward[b]), np.asarray(ro.done[b], float), config.gamma) for b in range(B)])
    adv = g - g.mean(axis=0, keepdims=True)
    logp = np_log_softmax(np.asarray(ro.logits))[np.arange(B)[:, None], np.arange(T)[None], np.asarray(ro.action)]
    np.testing.assert_allclose(float(batch_loss(config, ro).total), -np.sum(logp * adv) / (B * T), rtol=1e-10)


@pytest.mark.slow
def test_bptt_through_the_rollout_equals_gradient_of_a_replay():
    """∇ of the trainer's loss (grad through the rollout scan) = ∇ of the same loss recomputed
    by replaying the recorded observations through the core in a Python loop."""
    config = dataclasses.replace(SMALL64, batch_size=2)
    setup = build_setup(config)
    params = setup.agent.init(jax.random.PRNGKey(2))
    key = jax.random.PRNGKey(3)
    grads = jax.grad(lambda p: loss_fn(setup, p, key)[0])(params)
    ro = rollout_batch(setup, params, key)

    def replay(p):
        def one(b):
            _, hs = loop_core(setup.agent.core, p.core, ro.obs[b], resets=np.asarray(ro.start[b]))
            return hs @ p.policy.V.T + p.policy.c[None, :], (hs @ p.value.V.T + p.value.c[None, :])[:, 0]

        outs = [one(b) for b in range(ro.reward.shape[0])]
        replayed = ro._replace(logits=jnp.stack([o[0] for o in outs]), value=jnp.stack([o[1] for o in outs]))
        return batch_loss(config, replayed).total

    for got, want in zip(leaves(grads), leaves(jax.grad(replay)(params)), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert max(float(np.max(np.abs(x))) for x in leaves(grads.core)) > 0


# ---------------------------------------------------------------- determinism, segments
META = RLConfig(task="bandit", preset="meta", env_settings=(("episode_length", 5),), hidden=4, batch_size=3,
                lr=1e-2, num_updates=6, updates_per_log=2)


@pytest.fixture(scope="module")
def one_call():
    trainer = make_trainer(META)
    return trainer, jax.jit(jax.vmap(trainer.train))(seed_keys([3, 3, 4]))


@pytest.mark.slow
def test_same_seed_same_metrics_different_seed_different(one_call):
    _, (_, metrics) = one_call
    ret = np.asarray(metrics["charts/episodic_return"])
    pol = np.asarray(metrics["losses/policy_loss"])
    np.testing.assert_array_equal(pol[0], pol[1])
    np.testing.assert_array_equal(ret[0], ret[1])
    assert not np.array_equal(pol[0], pol[2])
    np.testing.assert_array_equal(metrics["step"][0], [2 * 3 * 5, 4 * 3 * 5, 6 * 3 * 5])  # env steps


@pytest.mark.slow
def test_segmented_training_equals_one_call_bitwise(one_call):
    trainer, (states, metrics) = one_call
    seg_states, seg_metrics = run_segments(trainer, seed_keys([3, 3, 4]), [1, 1, 1])
    for x, y in zip(leaves(states), leaves(seg_states), strict=True):
        np.testing.assert_array_equal(x, y)
    for k in metrics:
        np.testing.assert_array_equal(np.asarray(metrics[k]), seg_metrics[k], err_msg=k)


# ---------------------------------------------------------------- non-finite inputs, validation
@dataclasses.dataclass(frozen=True)
class NaNBandit(TwoArmedBandit):
    """A bandit whose observation at step 2 of every episode is NaN in its first entry."""

    def observation(self, state, params):
        obs = super().observation(state, params)
        return jnp.where(state.t == 2, obs.at[0].set(jnp.nan), obs)


@pytest.mark.slow
def test_non_finite_observation_raises_naming_update_step_seed_and_field():
    env = NaNBandit()
    env_params = make_env("bandit", episode_length=4)[1]
    config = dataclasses.replace(BANDIT, num_updates=4, updates_per_log=2)
    trainer = make_trainer(config, (env, env_params))
    _, metrics = jax.jit(trainer.train)(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(metrics["losses/skipped_updates"], [2, 4])  # every gradient is NaN
    with pytest.raises(PlastixError, match=r"non-finite observation \(field 'obs'\) at update 0, step 2 .*seed 7"):
        train_seeds(trainer, [7], [1, 1])


@pytest.mark.parametrize("change, message", [
    ({"algo": "ppo"}, "unknown RL algorithm 'ppo'"),
    ({"core": "lstmm"}, "Did you mean 'lstm'"),
    ({"gamma": 1.5}, r"gamma must lie in \[0, 1\]"),
    ({"task": "cue_reward"}, "Did you mean 'cue-reward'"),
    ({"baseline": "mean"}, "REINFORCE baseline"),
    ({"num_updates": 7}, "multiple of updates_per_log"),
])
def test_bad_config_raises(change, message):
    with pytest.raises(PlastixError, match=message):
        make_trainer(dataclasses.replace(TINY, **change))


def test_feed_forward_core_has_no_memory():
    core = make_agent_core("mlp", 3, 4)
    assert isinstance(core, FeedForward)
    agent = ActorCritic(core, 2)
    params = agent.init(jax.random.PRNGKey(0))
    x = jnp.array([0.5, -1.0, 2.0], jnp.float32)
    _, out = agent.act(params, agent.initial_carry(), x, jnp.zeros((), bool))
    h = np.tanh(np.asarray(params.core.W) @ np.asarray(x) + np.asarray(params.core.b))
    np.testing.assert_allclose(np.asarray(out.logits), np.asarray(params.policy.V) @ h + np.asarray(params.policy.c),
                               rtol=1e-5)
