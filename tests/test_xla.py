"""plastix.xla.unroll_threefry: the unrolled Threefry lowering draws exactly the bits of JAX's
rolled CPU loop (the same hash), in the raw primitive, in every jax.random function plastix
uses, and through a whole jitted DQN training run; and switching back restores the loop."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from plastix import xla


@pytest.fixture
def restore():
    before = xla.threefry_unrolled()
    yield
    xla.unroll_threefry(before)


def draws(key):
    """Every jax.random call plastix makes, in one jitted program (a fresh function each call,
    so each call compiles under the lowering in effect)."""
    k = jax.random.split(key, 4)
    return {
        "split": jax.random.split(k[0], 7),
        "fold_in": jax.random.fold_in(k[0], 3),
        "uniform": jax.random.uniform(k[1], (5, 3)),
        "normal": jax.random.normal(k[1], (4,)),
        "randint": jax.random.randint(k[2], (9,), 0, 1000),
        "categorical": jax.random.categorical(k[3], jnp.log(jnp.array([0.1, 0.2, 0.7])), shape=(16,)),
        "bernoulli": jax.random.bernoulli(k[3], 0.3, (11,)),
        "bits": jax.random.bits(k[0], (6,), jnp.uint32),
    }


def compiled(fn, *args):
    return jax.jit(lambda *a: fn(*a))(*args)  # a new lambda: compiled under the current lowering


def is_rolled(fn, *args) -> bool:
    """Whether the compiled CPU program still holds Threefry's loop (a while of 5 trips)."""
    text = jax.jit(lambda *a: fn(*a)).lower(*args).compile().as_text()
    return '"known_trip_count":{"n":"5"}' in text


def test_unrolled_threefry_draws_the_same_bits(restore):
    key = jax.random.PRNGKey(42)
    xla.unroll_threefry(False)
    assert is_rolled(draws, key)
    rolled = jax.tree.map(np.asarray, compiled(draws, key))
    assert xla.unroll_threefry(True) and xla.threefry_unrolled()
    assert not is_rolled(draws, key)
    unrolled = jax.tree.map(np.asarray, compiled(draws, key))
    for name in rolled:
        np.testing.assert_array_equal(unrolled[name], rolled[name], err_msg=name)
    # and a hash known independently of either lowering: the Threefry-2x32 known-answer vector of
    # Salmon et al.'s Random123 (kat_vectors: threefry2x32_20, key and counter all ones)
    from jax._src.random.threefry2x32 import threefry_2x32

    ones = np.uint32(0xFFFFFFFF)
    out = compiled(threefry_2x32, jnp.array([ones, ones]), jnp.array([ones, ones]))
    np.testing.assert_array_equal(np.asarray(out), np.array([0x1CB996FC, 0xBB002BE7], np.uint32))
    xla.unroll_threefry(False)
    assert is_rolled(draws, key)


@pytest.mark.slow
def test_dqn_run_is_bitwise_the_same_unrolled(restore):
    from plastix.cli.args import TrainArgs
    from plastix.dqn import trainer as T
    from plastix.dqn.resolve import resolve_dqn_config

    config = resolve_dqn_config(TrainArgs(task="cartpole", algo="dqn", total_steps=4_000, buffer_size=1_000,
                                          learning_starts=1_000, batch_size=32, hidden=16))
    setup = T.build_setup(config)
    state = T.init_state(setup, jax.random.PRNGKey(3))

    def run(s):
        return lax.scan(functools.partial(T.cycle, setup), s, None, 300)

    results = []
    for unrolled in (False, True):
        xla.unroll_threefry(unrolled)
        final, out = compiled(run, state)
        results.append(jax.tree.map(np.asarray, (final.params, final.buffer.experience.obs, out)))
    assert np.any(np.isfinite(results[0][2][:, 4]))  # updates happened (a td_loss was logged)
    jax.tree.map(np.testing.assert_array_equal, results[0], results[1])
