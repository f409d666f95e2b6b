"""The optimizer and loss options, and all improvement flags at once, run and learn CartPole-v1
(as in tests/test_dqn_flags.py: greedy mean return ≥ 100 after 10k steps; random ≈ 22)."""

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


@pytest.mark.parametrize("name", list(FLAGS))
def test_option_learns(name):
    ret = greedy_mean(dataclasses.replace(BASE, **FLAGS[name]))
    assert ret >= 100, (name, ret)
