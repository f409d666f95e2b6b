"""Stacked (multi-layer) cores and the Bidirectional sequence wrapper."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cores import Bidirectional, Stacked, make_core, make_stack, scan_core
from plastix.errors import PlastixError

T = 9
RESETS = np.zeros(T, bool)
RESETS[[4, 7]] = True  # episodes [0, 4), [4, 7), [7, 9)


def episodes(resets):
    starts = [0, *np.flatnonzero(resets[1:]) + 1, len(resets)]
    return [(a, b) for a, b in zip(starts[:-1], starts[1:])]


def test_episodes_helper():
    assert episodes(RESETS) == [(0, 4), (4, 7), (7, 9)]


@pytest.mark.parametrize("resets", [pytest.param(None, marks=pytest.mark.slow), RESETS])
def test_bidirectional_equals_two_manual_passes(resets):
    """Forward core on each episode; backward core on each episode reversed, reversed back."""
    fwd = make_core("gru", 2, 3, dtype="float64")
    bwd = make_core("neuromod-lstm", 2, 4, dtype="float64")
    bi = Bidirectional(fwd, bwd)
    params = bi.init(jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (T, 2), jnp.float64)
    hs = bi.apply(params, xs, None if resets is None else jnp.asarray(resets))
    assert bi.output_size == 7 and hs.shape == (T, 7)
    spans = episodes(RESETS if resets is not None else np.zeros(T, bool))
    h_f = np.concatenate([scan_core(fwd, params.forward, xs[a:b])[1] for a, b in spans])
    h_b = np.concatenate([scan_core(bwd, params.backward, xs[a:b][::-1])[1][::-1] for a, b in spans])
    np.testing.assert_allclose(hs[:, :3], h_f, rtol=0, atol=1e-14)
    np.testing.assert_allclose(hs[:, 3:], h_b, rtol=0, atol=1e-14)


@pytest.mark.slow
def test_bidirectional_jit_vmap_and_grad():
    bi = Bidirectional(make_core("lstm", 2, 3, dtype="float64"), make_core("elman", 2, 2, dtype="float64"))
    params = bi.init(jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (2, T, 2), jnp.float64)
    resets = jnp.asarray(np.stack([RESETS, np.zeros(T, bool)]))
    hs = jax.jit(jax.vmap(bi.apply, in_axes=(None, 0, 0)))(params, xs, resets)
    for b in range(2):
        np.testing.assert_allclose(hs[b], bi.apply(params, xs[b], resets[b]), rtol=0, atol=1e-14)

    def loss(p):
        return jnp.sum(bi.apply(p, xs[0], resets[0]) ** 2)

    rev, fwd = jax.grad(loss)(params), jax.jacfwd(loss)(params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12), rev, fwd)


def test_stacked_equals_layer_by_layer_runs():
    """Running each layer over the whole sequence in turn equals the stacked step core."""
    stack = make_stack("plastic-rnn", 2, (3, 4), dtype="float64", rule="oja")
    assert (stack.input_size, stack.hidden_size, stack.output_size) == (2, 4, 4)
    assert [c.input_size for c in stack.cores] == [2, 3] and stack.cores[0].rule == "oja"
    params = stack.init(jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (T, 2), jnp.float64)
    resets = jnp.asarray(RESETS)
    carry, hs = scan_core(stack, params, xs, resets=resets)
    h = xs
    for core, p, c in zip(stack.cores, params.layers, carry.layers):
        c_ref, h = scan_core(core, p, h, resets=resets)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-14), c, c_ref)
    np.testing.assert_allclose(hs, h, rtol=0, atol=1e-14)


def test_stacked_validation():
    a, b = make_core("lstm", 2, 3), make_core("gru", 3, 5)
    stack = Stacked((a, b))
    assert stack == Stacked([a, b], input_size=2, hidden_size=5, dtype="float32")
    assert dataclasses.replace(stack) == stack and hash(stack) == hash(Stacked((a, b)))
    with pytest.raises(PlastixError, match="layer 1 expects inputs of size 4"):
        Stacked((a, make_core("gru", 4, 5)))
    with pytest.raises(PlastixError, match="dtype"):
        Stacked((a, make_core("gru", 3, 5, dtype="float64")))
    with pytest.raises(PlastixError, match="hidden_size"):
        Stacked((a, b), hidden_size=3)
    with pytest.raises(PlastixError, match="non-empty"):
        Stacked(())
    with pytest.raises(PlastixError, match="teacher"):
        Stacked((make_core("jordan", 2, 3, teacher_forcing=True),))
    with pytest.raises(PlastixError, match="at least one"):
        make_stack("lstm", 2, ())
    with pytest.raises(PlastixError, match="hidden_size"):
        make_stack("lstm", 2, (3, 0))
    with pytest.raises(PlastixError, match=r"\(T, 2\)"):
        stack.check_input(jnp.zeros((4, 3)))
    with pytest.raises(PlastixError, match="share input_size"):
        Bidirectional(a, b)
    with pytest.raises(PlastixError, match="two cores"):
        Bidirectional(a, "gru")
