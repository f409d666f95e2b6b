"""The hand-derived RL gradient from residuals the rollout recorded (hidden vectors and trace
checkpoints, ``plastix.grads.hand.hand_scan_recorded``) against a second forward pass over the
stored trajectory (``hand_scan``): same residuals, same gradient, in float64."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.grads import hand_plastic
from plastix.rl.trainer import RLConfig, build_setup, recording, rollout_batch, rollout_loss


def flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(tree)])


# cartpole at T = 37 (prime: segments of 13, the last padded) ends episodes mid-rollout, so the
# recorded checkpoints and the backward both cross resets; cue-reward's episodes fill the rollout
@pytest.mark.parametrize("task,T,core,options", [
    ("cartpole", 37, "neuromod-rnn", {"modulation": "retroactive"}),
    ("cartpole", 37, "plastic-rnn", {"rule": "oja"}),
    pytest.param("cue-reward", 24, "neuromod-rnn", {"modulation": "simple"}, marks=pytest.mark.slow),
])
def test_recorded_residuals_and_gradient_equal_a_second_forward_pass(task, T, core, options):
    config = RLConfig(task=task, core=core, core_options=tuple(sorted(options.items())), hidden=5, batch_size=3,
                      grad="hand-bptt", dtype="float64", env_settings=(("episode_length", T),))
    setup = build_setup(config)
    assert recording(setup)
    params = setup.agent.init(jax.random.key(3))
    key = jax.random.key(4)
    plain = jax.jit(functools.partial(rollout_batch, setup))(params, key)
    ro, (hs, saved) = jax.jit(functools.partial(rollout_batch, setup, record=True))(params, key)
    np.testing.assert_array_equal(ro.action, plain.action)  # recording changes nothing in the rollout
    np.testing.assert_array_equal(ro.start, plain.start)
    np.testing.assert_allclose(ro.logits, plain.logits, rtol=1e-13, atol=1e-13)
    if task == "cartpole":
        assert bool(jnp.any(ro.start[:, 1:]))  # an episode ended inside the rollout
    xs = ro.obs.astype(setup.agent.core.jdtype)
    hs_ref, saved_ref = jax.vmap(lambda x, r: hand_plastic.plastic_forward(setup.agent.core, params.core, x, r))(xs, ro.start)
    K, nseg = hand_plastic.segments(T)
    assert saved[0].shape == (3, nseg, 5, 5) and K * (nseg - 1) < T <= K * nseg
    np.testing.assert_allclose(hs, hs_ref, rtol=1e-12, atol=1e-13)
    for a, b in zip(saved, saved_ref, strict=True):
        if a is None:
            assert b is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    loss = functools.partial(rollout_loss, setup)
    g_rec = jax.jit(jax.grad(lambda p: loss(p, ro, (hs, saved))[0]))(params)
    g_two = jax.jit(jax.grad(lambda p: loss(p, ro)[0]))(params)
    assert np.linalg.norm(flat(g_two)) > 1e-6
    np.testing.assert_allclose(flat(g_rec), flat(g_two), rtol=1e-10, atol=1e-13)
