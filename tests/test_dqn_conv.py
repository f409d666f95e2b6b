"""The conv torso (MinAtar's 3×3, 16-filter convolution) against a NumPy loop, and DQN on
gymnax:Breakout-MinAtar through it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.dqn import DQNConfig, make_trainer
from plastix.dqn.networks import ConvParams, conv_torso


def numpy_conv(image, kernel, bias):
    """relu(SAME 3×3 convolution + b) flattened in (H, W, F) order, by explicit loops."""
    h, w, _ = image.shape
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, kernel.shape[-1]))
    for i in range(h):
        for j in range(w):
            patch = padded[i:i + 3, j:j + 3, :]  # (3, 3, C)
            out[i, j] = np.einsum("abc,abcf->f", patch, kernel) + bias
    return np.maximum(out, 0.0).reshape(-1)


def test_conv_torso_matches_numpy_loop():
    rng = np.random.default_rng(0)
    image, kernel, bias = rng.normal(size=(5, 6, 4)), rng.normal(size=(3, 3, 4, 16)), rng.normal(size=16)
    got = jax.jit(conv_torso)(ConvParams(jnp.asarray(kernel), jnp.asarray(bias)), jnp.asarray(image))
    np.testing.assert_allclose(np.asarray(got), numpy_conv(image, kernel, bias), rtol=1e-10)


@pytest.mark.slow
def test_dqn_trains_through_the_conv_torso_on_minatar():
    config = DQNConfig(task="gymnax:Breakout-MinAtar", hidden=16, buffer_size=400, batch_size=8, learning_starts=100,
                       train_every=4, target_every=100, total_steps=400, steps_per_log=200)
    trainer = make_trainer(config)
    net = trainer.setup.network
    assert net.image_shape == (10, 10, 4) and net.core.input_size == 10 * 10 * 16
    init = trainer.init(jax.random.PRNGKey(0))
    state, metrics = jax.jit(trainer.run, static_argnums=1)(init, 2)
    assert np.all(np.isfinite(np.asarray(metrics["losses/td_loss"])))
    assert int(state.updates) == (400 - 100) // 4 + 1
    # the gradient reached the convolution: its kernel moved
    assert float(jnp.max(jnp.abs(state.params.conv.kernel - init.params.conv.kernel))) > 0
