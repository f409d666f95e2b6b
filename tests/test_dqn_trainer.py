"""The DQN training loop: target-network lag, schedules, vmapped seeds, bad input, and learning
CartPole-v1 (plastix's native ``cartpole``)."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.dqn import DQNConfig, evaluate, make_trainer
from plastix.dqn.trainer import cycle
from plastix.envs import make_env
from plastix.errors import PlastixError
from plastix.train.supervised import run_segments, seed_keys

TINY = DQNConfig(task="cartpole", hidden=8, buffer_size=200, batch_size=8, learning_starts=20, train_every=2,
                 target_every=6, total_steps=80, steps_per_log=20)

# The CartPole setting of docs/dqn.md (measured there): 100k steps, Adam 1e-3 decayed linearly to
# 0, buffer 100k, batch 64, an update every 2 steps, θ⁻ ← θ every 500 steps, ε 1 → 0.05 over 10 %.
CARTPOLE = DQNConfig(task="cartpole", buffer_size=100_000, lr=1e-3, lr_end=0.0, exploration_fraction=0.1,
                     total_steps=100_000, steps_per_log=10_000)


def leaves_equal(a, b) -> bool:
    return all(bool(jnp.array_equal(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


@pytest.mark.slow
def test_target_network_lags_and_is_copied_every_c_steps():
    trainer = make_trainer(TINY)
    step_fn = jax.jit(functools.partial(cycle, trainer.setup))
    state = trainer.init(jax.random.PRNGKey(0))
    seen_equal, seen_lag = 0, 0
    for _ in range(30):
        old_target = state.target_params
        state, _ = step_fn(state)
        step = int(state.step)
        if step <= TINY.learning_starts:
            continue  # θ has not moved yet
        equal = leaves_equal(state.params, state.target_params)
        assert equal == (step % TINY.target_every == 0), step
        if not equal:  # between copies θ⁻ stays exactly what it was
            assert leaves_equal(state.target_params, old_target) or (step - TINY.train_every) % TINY.target_every == 0
        seen_equal += equal
        seen_lag += not equal
    assert seen_equal >= 5 and seen_lag >= 10
    assert int(state.target_updates) == int(state.step) // TINY.target_every
    assert int(state.updates) == (int(state.step) - TINY.learning_starts) // TINY.train_every + 1


@pytest.mark.slow
def test_metrics_and_schedule_over_vmapped_seeds():
    trainer = make_trainer(dataclasses.replace(TINY, learning_starts=40))
    _, whole = run_segments(trainer, seed_keys([0, 1]), [2, 2])
    np.testing.assert_array_equal(whole["step"][0], [20, 40, 60, 80])
    # ε = 1 + (0.05 − 1) · min(step / (0.2 · 80), 1)
    want = 1 + (0.05 - 1) * np.minimum(np.array([20, 40, 60, 80]) / 16, 1)
    np.testing.assert_allclose(np.asarray(whole["charts/epsilon"][0]), want, rtol=1e-6)
    assert np.all(np.isnan(whole["losses/td_loss"][:, :1])) and np.all(np.isfinite(whole["losses/td_loss"][:, 1:]))
    assert not np.array_equal(whole["losses/td_loss"][0], whole["losses/td_loss"][1])  # seeds differ


class ContinuousEnv:
    """An environment with a continuous action space (a Box, no action count)."""

    name = "continuous"
    observation_size = 3
    num_actions = None


@pytest.mark.parametrize("change, match", [
    (dict(buffer_size=7, batch_size=8), "smaller than a batch"),
    (dict(n_step=3, buffer_size=9, batch_size=8), "smaller than a batch"),
    (dict(epsilon_start=1.5), "epsilon_start"),
    (dict(epsilon_start=0.1, epsilon_end=0.5), "must not increase"),
    (dict(exploration_fraction=0.0), "exploration_fraction"),
    (dict(epsilon_end=float("nan")), "epsilon_end"),
    (dict(loss="l1"), "loss"),
    (dict(optimizer="sgd"), "optimizer"),
    (dict(target_every=5), "multiple of train_every"),
    (dict(gamma=1.5), "gamma"),
    (dict(n_step=0), "n_step"),
])
def test_bad_configs_raise_before_tracing(change, match):
    with pytest.raises(PlastixError, match=match):
        make_trainer(dataclasses.replace(TINY, **change))


def test_continuous_action_space_is_refused():
    with pytest.raises(PlastixError, match="discrete action space"):
        make_trainer(TINY, env_and_params=(ContinuousEnv(), None))


@pytest.mark.learning
def test_dqn_learns_cartpole_fast():
    """A short budget (15k steps, 2 seeds): the greedy policy already balances far longer than a
    random one (≈ 22 steps). Measured 92 and 207 (AMD EPYC, 2 cores); the outcome of one seed
    varies between CPUs (XLA's code differs), so the bound keeps a margin."""
    config = dataclasses.replace(CARTPOLE, total_steps=15_000, buffer_size=15_000, steps_per_log=5_000,
                                 exploration_fraction=0.2)
    trainer = make_trainer(config)
    states, _ = jax.jit(jax.vmap(trainer.train))(seed_keys([0, 1]))
    returns = jax.jit(jax.vmap(lambda p: evaluate(trainer.setup, p, jax.random.PRNGKey(7), 10)))(states.params)
    assert float(jnp.mean(returns)) >= 100


def cartpole_default(**flags) -> DQNConfig:
    """The config ``plastix train cartpole --algo dqn [flags]`` resolves to (PureJaxRL's settings)."""
    from plastix.cli.args import TrainArgs
    from plastix.dqn.resolve import resolve_dqn_config

    return resolve_dqn_config(TrainArgs(task="cartpole", algo="dqn", **flags))


def greedy_means(config: DQNConfig, seeds: list[int]) -> tuple[np.ndarray, dict]:
    """Train ``seeds`` vmapped; the mean greedy return (ε = 0, 10 episodes, key 7) of each."""
    trainer = make_trainer(config)
    states, metrics = jax.jit(jax.vmap(trainer.train))(seed_keys(seeds))
    returns = jax.jit(jax.vmap(lambda p: evaluate(trainer.setup, p, jax.random.PRNGKey(7), 10)))(states.params)
    return np.asarray(jnp.mean(returns, axis=1)), metrics


@pytest.mark.learning
@pytest.mark.slow
def test_dqn_solves_cartpole():
    """``plastix train cartpole --algo dqn --seeds 4`` at its defaults (PureJaxRL's settings: 10
    environments per seed, 500k env steps): a mean greedy return ≥ 475 (10 episodes; CartPole-v1
    caps it at 500) for at least 3 of seeds 0–3. Measured 4 of 4 at 500, and 15 of 16 of seeds
    0–15 at ≥ 475 (docs/dqn.md; AMD EPYC). Which seeds succeed depends on the CPU (XLA's code
    differs), hence the margin of one seed."""
    means, _ = greedy_means(cartpole_default(), [0, 1, 2, 3])
    assert np.sum(means >= 475) >= 3, means


@pytest.mark.slow
def test_evaluate_counts_one_episode_each():
    """evaluate: ε = 1 acts at random; on CartPole-v1 an episode of a random policy lasts ≈ 22
    steps (≥ 8 always: the pole needs that long to fall past 12°), never the 500 cap."""
    trainer = make_trainer(TINY)
    params = trainer.setup.network.init(jax.random.PRNGKey(0))
    ret = evaluate(trainer.setup, params, jax.random.PRNGKey(1), 64, epsilon=1.0)
    assert 8 <= float(jnp.min(ret)) and float(jnp.max(ret)) < 200 and 15 < float(jnp.mean(ret)) < 35
    assert make_env("cartpole")[1].episode_length == 500
