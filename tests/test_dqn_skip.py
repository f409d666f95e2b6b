"""The DQN loop's skip of non-finite updates, made by its own select instead of optax's
``apply_if_finite``: the same parameters, optimizer state and counters as ``apply_if_finite``
around the same clip and Adam, for finite and non-finite gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from plastix.dqn import DQNConfig, make_trainer
from plastix.dqn.trainer import batch_loss, cycle, gradient_is_finite, learn, select_learned
from plastix.dqn.targets import linear_schedule
from plastix.train.harness import make_optimizer

TINY = DQNConfig(task="cartpole", hidden=8, buffer_size=200, batch_size=8, learning_starts=20, train_every=2,
                 target_every=6, total_steps=400, steps_per_log=20, clip_norm=1.0)


def tree_equal(a, b) -> bool:
    return all(bool(jnp.array_equal(x, y, equal_nan=True))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def filled(trainer, cycles=40):
    """A state past learning_starts, its buffer holding 80 steps."""
    step = jax.jit(functools.partial(cycle, trainer.setup))
    state = trainer.init(jax.random.PRNGKey(3))
    for _ in range(cycles):
        state, _ = step(state)
    return state, step


def with_rewards(state, value):
    exp = state.buffer.experience
    return state._replace(buffer=state.buffer.replace(experience=exp._replace(reward=jnp.full_like(exp.reward, value))))


def reference_update(setup, state, key):
    """optax.apply_if_finite(clip, Adam) on the gradient ``learn`` computes from the same sample."""
    cfg = setup.config
    sample = setup.replay.sample(state.buffer, key, linear_schedule(cfg.per_beta, 1.0, cfg.total_steps, state.step))
    grads, _ = jax.grad(functools.partial(batch_loss, setup), has_aux=True)(
        state.params, state.target_params, sample.steps, sample.weights)
    optimizer = make_optimizer(cfg.optimizer, cfg.lr, cfg.lr_end, cfg.clip_norm, 10**6)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return optax.apply_updates(state.params, updates), opt_state, grads


def ours(setup, state, key):
    learned, _, finite = learn(setup, state, key)
    return select_learned(setup, jnp.array(True), finite, learned, state), finite


def test_gradient_is_finite_flags_any_nan_or_inf_and_an_overflowing_norm():
    tree = {"a": jnp.ones((3, 4)), "b": jnp.zeros(5)}
    assert bool(gradient_is_finite(tree))
    for bad in (jnp.nan, jnp.inf, -jnp.inf):
        for name, index in (("a", (2, 3)), ("b", (0,))):
            t = dict(tree)
            t[name] = t[name].at[index].set(bad)
            assert not bool(gradient_is_finite(t)), (bad, name)
    # finite, but ‖g‖² beyond float32's range (3.4e38): the clip would scale it to zero; skipped
    assert not bool(gradient_is_finite({"a": jnp.full((2,), 2e19, jnp.float32)}))
    assert bool(gradient_is_finite({"a": jnp.full((2,), 1e18, jnp.float32)}))


def test_a_finite_update_equals_optax_apply_if_finite():
    trainer = make_trainer(TINY)
    setup = trainer.setup
    state, _ = filled(trainer)
    key = jax.random.PRNGKey(11)
    new, finite = jax.jit(functools.partial(ours, setup))(state, key)
    params, opt_state, grads = jax.jit(functools.partial(reference_update, setup))(state, key)
    assert bool(finite)
    assert float(optax.tree.norm(grads)) > TINY.clip_norm  # the clip is active in this comparison
    for got, want in zip(jax.tree.leaves(new.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert not tree_equal(new.params, state.params)
    for got, want in zip(jax.tree.leaves(new.opt_state), jax.tree.leaves(opt_state), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)
    assert int(new.updates) == int(state.updates) + 1


def test_a_non_finite_update_is_skipped_as_apply_if_finite_skips_it_and_counted():
    trainer = make_trainer(TINY)
    setup = trainer.setup
    state, step = filled(trainer)
    bad = with_rewards(state, jnp.inf)  # every target infinite: the gradient is not finite
    key = jax.random.PRNGKey(12)
    new, finite = jax.jit(functools.partial(ours, setup))(bad, key)
    params, opt_state, grads = jax.jit(functools.partial(reference_update, setup))(bad, key)
    assert not bool(finite) and not all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert tree_equal(new.params, bad.params) and tree_equal(params, bad.params)
    assert tree_equal(new.opt_state.inner_state, bad.opt_state.inner_state)
    assert tree_equal(new.opt_state, opt_state)  # counters and the untouched inner state, as optax keeps them
    assert int(new.opt_state.total_notfinite) == int(bad.opt_state.total_notfinite) + 1
    assert int(new.opt_state.notfinite_count) == 1 and not bool(new.opt_state.last_finite)

    # through the whole cycle: parameters kept, the skip counted, the update counted as made
    after, _ = step(bad)
    assert tree_equal(after.params, bad.params)
    assert int(after.opt_state.total_notfinite) == 1 and int(after.updates) == int(bad.updates) + 1
    # finite again: the next update moves the parameters and resets the run of skips, not the total
    again, _ = step(with_rewards(after, 1.0))
    assert not tree_equal(again.params, after.params)
    assert int(again.opt_state.notfinite_count) == 0 and int(again.opt_state.total_notfinite) == 1


def test_before_learning_starts_nothing_moves_even_for_a_non_finite_gradient():
    trainer = make_trainer(TINY)
    setup = trainer.setup
    state = with_rewards(trainer.init(jax.random.PRNGKey(4)), jnp.inf)
    learned, _, finite = learn(setup, state, jax.random.PRNGKey(5))
    kept = select_learned(setup, jnp.array(False), finite, learned, state)
    assert not bool(finite)
    assert tree_equal(kept.params, state.params) and tree_equal(kept.opt_state, state.opt_state)
    assert int(kept.updates) == 0
