"""Truncated BPTT(h, h′) (Williams & Peng 1990) against BPTT (h = h′ = T)
and against an explicit per-chunk reference written as a Python loop of ``jax.grad`` calls."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax
from jax.flatten_util import ravel_pytree

from plastix.cores import make_core
from plastix.errors import PlastixError
from plastix.grads import Batch, SeqModel, bptt, make_grad_method, truncated_bptt, truncated_bptt_online


def _instance(name, T, resets=(), seed=0, n=3, d=2):
    core = make_core(name, d, n, dtype="float64")
    model = SeqModel(core, 2)
    k_p, k_x, k_y, k_w = jax.random.split(jax.random.PRNGKey(seed), 4)
    xs = jax.random.normal(k_x, (T, d), jnp.float64)
    ys = jax.random.normal(k_y, (T, 2), jnp.float64)
    ws = jax.random.uniform(k_w, (T,), jnp.float64)
    reset_mask = jnp.zeros((T,), bool).at[jnp.asarray(resets, int)].set(True)
    return model, model.init(k_p), Batch(xs, ys, ws, reset_mask)


def _flat(tree):
    return ravel_pytree(tree)[0]


def _step_loss(model, params, h, batch, t):
    y = params.readout.V @ h + params.readout.c
    return batch.weights[t] * 0.5 * jnp.sum((y - batch.targets[t]) ** 2)


def _chunk_loss(model, params, batch, start, lo, hi, carry_start=None):
    """Σ_{lo ≤ t < hi} w_t ℓ_t, the carry entering step ``start`` held constant (a Python loop)."""
    core = model.core
    carry = core.initial_carry()
    if carry_start is not None:
        carry = carry_start
    total = 0.0
    for t in range(start if carry_start is not None else 0, hi):
        if t == start:
            carry = jax.tree.map(lax.stop_gradient, carry)
        if bool(batch.resets[t]):
            carry = core.initial_carry()
        carry, h = core.step(params.core, carry, batch.xs[t])
        if lo <= t:
            total = total + _step_loss(model, params, h, batch, t)
    return total


def _reference(model, params, batch, h, hp):
    """Σ over chunks [k h′, e) of the gradient through steps max(0, e − h) .. e − 1."""
    T = batch.xs.shape[0]
    grads = jax.tree.map(jnp.zeros_like, params)
    for lo in range(0, T, hp):
        e = min(lo + hp, T)
        g = jax.grad(_chunk_loss, argnums=1)(model, params, batch, max(0, e - h), lo, e)
        grads = jax.tree.map(jnp.add, grads, g)
    return grads


def _run(method, model, params, batch):
    return jax.jit(method.value_and_grad, static_argnums=0)(model, params, batch)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["elman", "lstm", "neuromod-rnn"])
def test_full_window_equals_bptt(name):
    model, params, batch = _instance(name, T=9, resets=(4,))
    l_ref, g_ref = bptt().value_and_grad(model, params, batch)
    loss, g = _run(truncated_bptt(9, 9), model, params, batch)
    assert abs(float(loss - l_ref)) < 1e-12
    np.testing.assert_allclose(_flat(g), _flat(g_ref), rtol=0, atol=1e-12)
    # window None means h = T at call time
    _, g_none = _run(make_grad_method("truncated-bptt"), model, params, batch)
    np.testing.assert_allclose(_flat(g_none), _flat(g_ref), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "name,T,h,hp,resets",
    [("elman", 10, 4, 3, (6,)),  # h > h′, T not a multiple of h′, reset inside a window
     ("elman", 9, 3, 3, ()),  # h = h′
     ("elman", 8, 1, 1, (2,)),  # no backpropagation through time at all
     ("neuromod-rnn", 7, 7, 3, (3,)),  # h = T > h′: every chunk sees back to step 0
     pytest.param("peephole-lstm", 9, 5, 2, (5,), marks=pytest.mark.slow)],
)
def test_truncated_matches_per_chunk_reference(name, T, h, hp, resets):
    model, params, batch = _instance(name, T, resets=resets, seed=T + h)
    loss, g = _run(truncated_bptt(h, hp), model, params, batch)
    g_ref = _reference(model, params, batch, h, hp)
    np.testing.assert_allclose(_flat(g), _flat(g_ref), rtol=0, atol=1e-12)
    l_ref, g_full = bptt().value_and_grad(model, params, batch)
    assert abs(float(loss - l_ref)) < 1e-12  # the loss itself is not truncated
    if h < T:  # truncation really changes the core's gradient (the readout's is exact)
        assert float(jnp.max(jnp.abs(_flat(g.core) - _flat(g_full.core)))) > 1e-6


@pytest.mark.parametrize("h,hp,T", [(2, 3, 5), (6, 2, 5), (0, 1, 5), (3, 0, 5)])
def test_bad_windows_raise(h, hp, T):
    model, params, batch = _instance("elman", T)
    with pytest.raises(PlastixError, match="truncated-bptt"):
        truncated_bptt(h, hp).value_and_grad(model, params, batch)


def test_online_zero_lr_keeps_params_and_reports_forward_losses():
    model, params, batch = _instance("elman", T=7, resets=(3,))
    opt = optax.sgd(0.0)
    new, _, losses = truncated_bptt_online(model, opt, params, opt.init(params), batch, window=3, stride=2)
    np.testing.assert_array_equal(_flat(new), _flat(params))
    ys = model.apply(params, batch.xs, batch.resets)
    expected = batch.weights * 0.5 * jnp.sum((ys - batch.targets) ** 2, axis=-1)
    np.testing.assert_allclose(losses, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_online_one_chunk_is_one_bptt_update():
    model, params, batch = _instance("gru", T=4, resets=(2,))
    opt = optax.sgd(0.3)
    new, _, _ = truncated_bptt_online(model, opt, params, opt.init(params), batch, window=4)
    _, g = bptt().value_and_grad(model, params, batch)
    np.testing.assert_allclose(_flat(new), _flat(params) - 0.3 * _flat(g), rtol=0, atol=1e-12)


def test_online_three_chunks_match_the_documented_recursion():
    """T = 6, h = 4, h′ = 2 with SGD: θ_{k+1} = θ_k − lr g_k where chunk k's window is
    recomputed with θ_k from the carry of the previous recomputation (module docstring)."""
    model, params, batch = _instance("elman", T=6)
    lr, core = 0.5, model.core
    sgd = lambda p, g: jax.tree.map(lambda a, b: a - lr * b, p, g)  # noqa: E731
    grad = jax.grad(_chunk_loss, argnums=1)
    th1 = sgd(params, grad(model, params, batch, 0, 0, 2))  # chunk 0: steps 0-1, window [0, 2)
    th2 = sgd(th1, grad(model, th1, batch, 0, 2, 4))  # chunk 1: window [0, 4) from the start
    carry = core.initial_carry()  # carry entering step 2, as recomputed with θ_1 in chunk 1
    for t in range(2):
        carry, _ = core.step(th1.core, carry, batch.xs[t])
    th3 = sgd(th2, grad(model, th2, batch, 2, 4, 6, carry_start=carry))  # chunk 2: window [2, 6)
    opt = optax.sgd(lr)
    new, _, _ = truncated_bptt_online(model, opt, params, opt.init(params), batch, window=4, stride=2)
    np.testing.assert_allclose(_flat(new), _flat(th3), rtol=0, atol=1e-12)


def test_online_validates_window():
    model, params, batch = _instance("elman", T=4)
    opt = optax.sgd(0.1)
    with pytest.raises(PlastixError, match="longer than the sequence"):
        truncated_bptt_online(model, opt, params, opt.init(params), batch, window=5)


def test_truncated_under_jit_and_vmap_equals_per_sequence_reference():
    from plastix.grads import batched_value_and_grad

    model, params, _ = _instance("elman", T=6)
    k = jax.random.split(jax.random.PRNGKey(7), 3)
    batch = Batch(jax.random.normal(k[0], (3, 6, 2), jnp.float64), jax.random.normal(k[1], (3, 6, 2), jnp.float64),
                  jnp.ones((3, 6), jnp.float64), jax.random.bernoulli(k[2], 0.3, (3, 6)))
    _, g = jax.jit(batched_value_and_grad, static_argnums=(0, 1))(truncated_bptt(3, 2), model, params, batch)
    per_seq = [_flat(_reference(model, params, jax.tree.map(lambda a, i=i: a[i], batch), 3, 2)) for i in range(3)]
    np.testing.assert_allclose(_flat(g), np.mean(per_seq, axis=0), rtol=0, atol=1e-12)
