"""The RL gradient paths agree: autodiff through the rollout (Backpropamine's way), autodiff
over the stored trajectory, and the hand-derived backward over it (float64)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.errors import PlastixError
from plastix.rl.trainer import RLConfig, apply_update, build_setup, gradients, init_state

SMALL = dict(task="cue-reward", preset="easy", env_settings=(("episode_length", 24),), hidden=6, batch_size=3,
             dtype="float64")


def grads_of(grad: str, core: str, algo: str = "a2c", **options):
    config = RLConfig(core=core, grad=grad, algo=algo, core_options=tuple(sorted(options.items())), **SMALL)
    setup = build_setup(config)
    params = setup.agent.init(jax.random.key(3))
    g, parts, ro = jax.jit(functools.partial(gradients, setup))(params, jax.random.key(4))
    return g, parts, ro


def flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(tree)])


@pytest.mark.parametrize("core,options,algo", [
    # every core and algorithm: ~25 CPU-s each (three rollout compilations), slow tier
    pytest.param("neuromod-rnn", {"modulation": "retroactive"}, "a2c", marks=pytest.mark.slow),
    pytest.param("neuromod-rnn", {"modulation": "simple"}, "reinforce", marks=pytest.mark.slow),
    pytest.param("plastic-rnn", {}, "a2c", marks=pytest.mark.slow),
    pytest.param("elman", {}, "reinforce", marks=pytest.mark.slow),
])
def test_stored_trajectory_gradients_equal_gradients_through_the_rollout(core, options, algo):
    ref, ref_parts, ref_ro = grads_of("rollout", core, algo, **options)
    assert np.linalg.norm(flat(ref)) > 1e-6  # a real gradient, not zeros
    for grad in ("bptt", "hand-bptt"):
        g, parts, ro = grads_of(grad, core, algo, **options)
        np.testing.assert_array_equal(ro.action, ref_ro.action)  # same trajectory
        np.testing.assert_allclose(flat(g), flat(ref), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(parts.total, ref_parts.total, rtol=1e-12)


@pytest.mark.slow
def test_lstm_uses_autodiff_over_the_trajectory_and_agrees():
    ref, _, _ = grads_of("rollout", "lstm")
    g, _, _ = grads_of("auto", "lstm")
    np.testing.assert_allclose(flat(g), flat(ref), rtol=1e-10, atol=1e-13)


@pytest.mark.slow
def test_apply_update_on_a_stored_rollout_equals_the_in_graph_update():
    config = RLConfig(core="neuromod-rnn", **SMALL)
    setup = build_setup(config)
    state = init_state(setup, jax.random.key(0))
    from plastix.rl.trainer import update_step

    in_graph, m1 = jax.jit(functools.partial(update_step, setup))(state)
    key, k_roll = jax.random.split(state.key)
    from plastix.rl.trainer import rollout_batch

    ro = rollout_batch(setup, state.params, k_roll)
    zeroed = ro._replace(logits=jnp.zeros_like(ro.logits), value=jnp.zeros_like(ro.value))
    host, m2 = jax.jit(functools.partial(apply_update, setup))(state, zeroed)
    np.testing.assert_array_equal(jax.random.key_data(in_graph.key), jax.random.key_data(host.key))
    for a, b in zip(jax.tree_util.tree_leaves(in_graph._replace(key=0)), jax.tree_util.tree_leaves(host._replace(key=0)),
                    strict=True):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12, atol=1e-15)
    assert not np.allclose(flat(in_graph.params), flat(state.params))  # it did update
    np.testing.assert_allclose(m1["losses/policy_loss"], m2["losses/policy_loss"], rtol=1e-12)


def test_hand_bptt_on_a_core_without_a_hand_backward_is_an_error():
    with pytest.raises(PlastixError, match="hand-bptt.*lstm"):
        build_setup(RLConfig(core="lstm", grad="hand-bptt", **SMALL))
    with pytest.raises(PlastixError, match="Valid choices"):
        build_setup(RLConfig(core="lstm", grad="rtrl", **SMALL))


def test_episode_masks_and_returns_against_a_python_loop():
    from plastix.rl.trainer import Rollout, completed, episodic_return, first_episode

    rng = np.random.default_rng(0)
    done = rng.random((5, 12)) < 0.25
    done[0] = False  # a window where no episode ends
    reward = rng.normal(size=(5, 12))
    total, count = 0.0, 0
    for b in range(5):
        last_done = max([t for t in range(12) if done[b, t]], default=-1)
        total += reward[b, : last_done + 1].sum()
        count += int(done[b].sum())
        first_end = min([t for t in range(12) if done[b, t]], default=11)
        np.testing.assert_array_equal(first_episode(jnp.asarray(done[b])), np.arange(12) <= first_end)
        np.testing.assert_array_equal(completed(jnp.asarray(done[b])), np.arange(12) <= last_done)
    zeros = jnp.zeros((5, 12))
    ro = Rollout(zeros, zeros, zeros, jnp.asarray(reward), jnp.asarray(done), zeros, zeros)
    np.testing.assert_allclose(episodic_return(ro), total / count, rtol=1e-12)
    assert np.isnan(episodic_return(ro._replace(done=jnp.zeros_like(ro.done))))
