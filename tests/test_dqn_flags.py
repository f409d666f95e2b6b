"""Each DQN improvement flag, the optimizer and loss options, and all flags at once run and learn
CartPole-v1: after 10k environment steps the greedy policy's mean return over 10 episodes is
≥ 100, far longer than a random policy balances (≈ 22 steps)."""

import dataclasses

import jax
import jax.numpy as jnp
import pytest

from plastix.dqn import DQNConfig, evaluate, make_trainer
from plastix.train.supervised import seed_keys

BASE = DQNConfig(task="cartpole", hidden=64, buffer_size=10_000, batch_size=64, lr=1e-3, target_every=500,
                 learning_starts=1_000, train_every=2, exploration_fraction=0.2, total_steps=10_000,
                 steps_per_log=5_000)

FLAGS = {
    "double": dict(double=True),
    "dueling": dict(dueling=True),
    "per": dict(per=True),
    "n-step 3": dict(n_step=3),
}

OPTIONS = {
    # RMSProp as Mnih et al. 2015 (centered, decay 0.95, ε = 0.01 inside the square root): ε floors
    # the denominator at 0.1, so with CartPole's small gradients it needs a larger step size
    "rmsprop": dict(optimizer="rmsprop", lr=1e-2),
    "mse": dict(loss="mse"),
    "all combined": dict(double=True, dueling=True, per=True, n_step=3),
}


def greedy_mean(config: DQNConfig, seed: int = 0) -> float:
    trainer = make_trainer(config)
    state, _ = jax.jit(trainer.train)(seed_keys([seed])[0])
    return float(jnp.mean(jax.jit(lambda p: evaluate(trainer.setup, p, jax.random.PRNGKey(3), 10))(state.params)))


@pytest.mark.learning
@pytest.mark.parametrize("name", list(FLAGS))
def test_flag_learns(name):
    ret = greedy_mean(dataclasses.replace(BASE, **FLAGS[name]))
    assert ret >= 100, (name, ret)


@pytest.mark.learning
@pytest.mark.parametrize("name", list(OPTIONS))
def test_option_learns(name):
    ret = greedy_mean(dataclasses.replace(BASE, **OPTIONS[name]))
    assert ret >= 100, (name, ret)
