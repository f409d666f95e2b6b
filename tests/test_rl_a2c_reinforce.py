"""The trainer's a2c is REINFORCE with a learned value baseline (Monte-Carlo returns, Mnih et al.
2016's loss with n = T): on the same rollout the two losses and their gradients agree, so the same
seed trains the same parameters. Bootstrapped n-step returns and GAE are PPO's (plastix.ppo)."""

import functools

import jax
import numpy as np
import pytest

from plastix.rl.trainer import RLConfig, batch_loss, build_setup, rollout_batch, rollout_loss

SMALL = dict(task="cue-reward", preset="easy", env_settings=(("episode_length", 16),), core="elman", hidden=6,
             batch_size=3, dtype="float64", value_coef=0.3, entropy_coef=0.05, grad="bptt")


@pytest.mark.slow
def test_a2c_loss_and_gradient_equal_reinforce_with_a_value_baseline():
    a2c = build_setup(RLConfig(algo="a2c", **SMALL))
    rf = build_setup(RLConfig(algo="reinforce", baseline="value", **SMALL))
    params = a2c.agent.init(jax.random.key(0))
    ro = jax.jit(functools.partial(rollout_batch, a2c))(params, jax.random.key(1))
    assert float(np.abs(np.asarray(ro.reward)).sum()) > 0  # some reward, so the returns are not all zero
    la, lr = batch_loss(a2c.config, ro), batch_loss(rf.config, ro)
    for a, r in zip(la, lr, strict=True):
        np.testing.assert_allclose(float(a), float(r), rtol=1e-12, atol=1e-14)
    ga, _ = jax.grad(functools.partial(rollout_loss, a2c), has_aux=True)(params, ro)
    gr, _ = jax.grad(functools.partial(rollout_loss, rf), has_aux=True)(params, ro)
    flat = [np.concatenate([np.ravel(x) for x in jax.tree.leaves(g)]) for g in (ga, gr)]
    assert np.linalg.norm(flat[0]) > 1e-8
    np.testing.assert_allclose(flat[0], flat[1], rtol=1e-10, atol=1e-13)
    # a different baseline gives a different gradient: the comparison can fail
    rb = build_setup(RLConfig(algo="reinforce", baseline="batch-mean", **SMALL))
    gb, _ = jax.grad(functools.partial(rollout_loss, rb), has_aux=True)(params, ro)
    assert not np.allclose(np.concatenate([np.ravel(x) for x in jax.tree.leaves(gb)]), flat[0], rtol=1e-6)
