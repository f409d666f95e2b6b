"""The supervised trainer: one jit vmapped over seeds, segmented = one call, NaN skipping,
and a small learning run that beats the task baseline."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.errors import PlastixError
from plastix.grads.base import GradMethod, bptt_value_and_grad
from plastix.train.supervised import (
    SupervisedConfig,
    make_train,
    make_trainer,
    run_segments,
    seed_keys,
    split_logs,
)

TINY = SupervisedConfig(task="adding", core="elman", hidden=6, seq_len=6, batch_size=4, lr=1e-2,
                        num_updates=12, updates_per_log=3, eval_batch_size=8)


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def assert_trees_equal(a, b):
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


TRAIN_SEEDS = jax.jit(jax.vmap(make_train(TINY)))


@pytest.fixture(scope="module")
def one_call():
    return TRAIN_SEEDS(seed_keys([3, 4]))


@pytest.mark.slow
def test_segmented_training_equals_one_call_bitwise(one_call):
    states, metrics = one_call
    trainer = make_trainer(TINY)
    seg_states, seg_metrics = run_segments(trainer, seed_keys([3, 4]), [1, 2, 1])
    assert_trees_equal(states, seg_states)
    assert set(metrics) == set(seg_metrics)
    for k in metrics:
        np.testing.assert_array_equal(np.asarray(metrics[k]), seg_metrics[k], err_msg=k)
    np.testing.assert_array_equal(seg_metrics["step"][0], [12, 24, 36, 48])  # sequences seen


@pytest.mark.slow
def test_vmapped_seeds_equal_seeds_trained_alone(one_call):
    states, metrics = one_call
    train = jax.jit(make_train(TINY))
    for i, seed in enumerate([3, 4]):
        alone, m = train(jax.random.PRNGKey(seed))
        for x, y in zip(leaves(alone.params), leaves(states.params), strict=True):
            np.testing.assert_allclose(x, y[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(m["charts/eval_loss"]), np.asarray(metrics["charts/eval_loss"][i]),
                                   rtol=1e-4)


def test_same_seed_same_result_and_different_seeds_differ(one_call):
    states, _ = one_call
    again, _ = TRAIN_SEEDS(seed_keys([3, 4]))
    assert_trees_equal(states, again)
    a, b = leaves(states.params)[0]
    assert not np.allclose(a, b)


@pytest.mark.slow
def test_trained_params_follow_adam_on_the_same_batches():
    """Independent re-computation of the first update: Adam's first step is −lr·g/(|g|+ε)
    elementwise (bias-corrected m̂ = g, v̂ = g²), after clipping g to global norm 1."""
    cfg = dataclasses.replace(TINY, num_updates=1, updates_per_log=1)
    trainer = make_trainer(cfg)
    state0 = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    state1, _ = jax.jit(trainer.run, static_argnums=1)(state0, 1)
    # the batch of update 1: the trainer splits state.key into (next key, batch key)
    _, k_batch = jax.random.split(state0.key)
    k_data, _ = jax.random.split(k_batch)
    setup = trainer.setup
    batch = setup.task.sample(k_data, cfg.batch_size, cfg.seq_len, jnp.float32)
    grads = jax.grad(lambda p: jnp.mean(jax.vmap(setup.model.sequence_loss, in_axes=(None, 0))(p, batch)))(state0.params)
    norm = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in leaves(grads)))
    scale = min(1.0, cfg.clip_norm / norm)
    for p0, p1, g in zip(leaves(state0.params), leaves(state1.params), leaves(grads), strict=True):
        g = g * scale
        expected = p0 - cfg.lr * g / (np.abs(g) + 1e-8)
        np.testing.assert_allclose(p1, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_non_finite_gradients_are_skipped_and_counted():
    def always_nan(model, params, batch):
        loss, grads = bptt_value_and_grad(model, params, batch)
        return loss * jnp.nan, jax.tree.map(lambda g: g * jnp.nan, grads)

    trainer = make_trainer(TINY, GradMethod("nan", always_nan))
    key = jax.random.PRNGKey(1)
    state, metrics = jax.jit(trainer.train)(key)
    assert_trees_equal(state.params, trainer.init(key).params)  # never moved
    np.testing.assert_array_equal(np.asarray(metrics["losses/skipped_updates"]), [3, 6, 9, 12])

    def sometimes_nan(model, params, batch):  # NaN when the example's first value < 0.2
        loss, grads = bptt_value_and_grad(model, params, batch)
        bad = batch.xs[0, 0] < 0.2
        return loss, jax.tree.map(lambda g: jnp.where(bad, jnp.nan, g), grads)

    trainer = make_trainer(TINY, GradMethod("sometimes", sometimes_nan))
    state, metrics = jax.jit(trainer.train)(key)
    skipped = int(metrics["losses/skipped_updates"][-1])
    assert 0 < skipped < TINY.num_updates
    assert all(np.all(np.isfinite(x)) for x in leaves(state.params))
    assert not np.array_equal(leaves(state.params)[0], leaves(trainer.init(key).params)[0])


@pytest.mark.learning
def test_lstm_learns_short_adding_problem_below_baseline():
    cfg = SupervisedConfig(task="adding", core="lstm", hidden=16, seq_len=8, batch_size=32, lr=1e-2,
                           num_updates=300, updates_per_log=100, eval_batch_size=256)
    _, metrics = jax.jit(make_train(cfg))(jax.random.PRNGKey(0))
    mse = np.asarray(metrics["charts/eval_metric"])
    assert mse[-1] < 0.2 * (1 / 6), mse  # baseline 1/6 (Var of the sum)
    np.testing.assert_allclose(np.asarray(metrics["charts/baseline"]), 1 / 6, rtol=1e-6)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"core": "lstn"}, "Did you mean 'lstm'"),
        ({"task": "copyy"}, "Did you mean 'copy'"),
        ({"grad": "bpt"}, "Did you mean 'bptt'"),
        ({"hidden": 0}, "hidden must be a positive integer"),
        ({"lr": -1.0}, "lr must be a positive"),
        ({"lr": float("nan")}, "lr must be a positive"),
        ({"seq_len": 1}, "seq_len >= 2"),
        ({"core": "esn"}, "ridge regression"),
        ({"p_teacher": 0.5}, "jordan"),
        ({"num_updates": 10}, "multiple of updates_per_log"),
    ],
)
def test_bad_configs_are_refused(change, message):
    with pytest.raises(PlastixError, match=message):
        make_trainer(dataclasses.replace(TINY, **change))


def test_split_logs():
    assert split_logs(50, 10) == [5] * 10
    assert split_logs(7, 3) == [3, 2, 2]
    assert split_logs(2, 10) == [1, 1]


def test_jordan_teacher_forcing_feeds_back_the_previous_target():
    """Training inputs of a teacher-forced Jordan core are [x_t, ŷ_{t-1}, m_t] (p = 1: m_t = 1
    except at t = 0); evaluation batches run free (m_t = 0)."""
    from plastix.train.supervised import sample_batch

    cfg = dataclasses.replace(TINY, core="jordan", p_teacher=1.0)
    setup = make_trainer(cfg).setup
    assert setup.model.readout is False and setup.model.core.teacher_forcing
    key = jax.random.PRNGKey(5)
    train_batch = sample_batch(setup, key, 3, 1.0)
    plain = setup.task.sample(jax.random.split(key)[0], 3, cfg.seq_len, jnp.float32)
    xs, ys = np.asarray(train_batch.xs), np.asarray(plain.targets)
    np.testing.assert_array_equal(xs[:, :, :2], np.asarray(plain.xs))
    np.testing.assert_array_equal(xs[:, 1:, 2], ys[:, :-1, 0])
    np.testing.assert_array_equal(xs[:, :, 3], np.tile(np.arange(cfg.seq_len) > 0, (3, 1)))
    free = sample_batch(setup, key, 3, 0.0)
    assert not np.asarray(free.xs)[:, :, 3].any()
