"""RTRL (generic and the explicit Elman recursion) against autodiff BPTT, in float64, and
online RTRL against hand-written references (Williams & Zipser 1989)."""


import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree

from plastix.cores import CORES, make_core
from plastix.errors import PlastixError
from plastix.grads import (
    Batch,
    SeqModel,
    batched_value_and_grad,
    bptt,
    elman_rtrl,
    rtrl,
    rtrl_online,
    sensitivity_size,
)

TOL = 1e-10


def _core(name, d, n, **opts):
    return make_core(name, d, n, dtype="float64", **opts)


def _instance(core, T, out=2, reset_at=None, seed=0):
    model = SeqModel(core, out)
    k_p, k_x, k_y, k_w = jax.random.split(jax.random.PRNGKey(seed), 4)
    params = model.init(k_p)
    xs = jax.random.normal(k_x, (T, core.input_size), jnp.float64)
    ys = jax.random.normal(k_y, (T, out), jnp.float64)
    ws = jax.random.uniform(k_w, (T,), jnp.float64)
    resets = jnp.arange(T) == (T // 2 if reset_at is None else reset_at)
    return model, params, Batch(xs, ys, ws, resets)


def _max_diff(a, b):
    return float(jnp.max(jnp.abs(ravel_pytree(a)[0] - ravel_pytree(b)[0])))


def _both(method, model, params, batch):
    return bptt().value_and_grad(model, params, batch), method.value_and_grad(model, params, batch)


def _assert_same(method, model, params, batch):
    (l_ref, g_ref), (loss, grads) = jax.jit(_both, static_argnums=(0, 1))(method, model, params, batch)
    scale = max(1.0, float(jnp.max(jnp.abs(ravel_pytree(g_ref)[0]))))
    assert abs(float(loss - l_ref)) <= TOL * max(1.0, abs(float(l_ref)))
    assert _max_diff(grads, g_ref) <= TOL * scale


# a smaller instance where the default one compiles slowly (the transformer's window of cached keys)
SMALL_OPTIONS = {"transformer": {"heads": 1, "layers": 2, "context": 2, "ffn": 3}}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CORES))
def test_rtrl_equals_bptt_every_core(name):
    core = _core(name, 2, 3, **SMALL_OPTIONS.get(name, {}))
    _assert_same(rtrl(), *_instance(core, T=7, reset_at=3))


@pytest.mark.parametrize(
    "name,opts",
    [("neuromod-rnn", {"modulation": "simple", "alpha": "single"})],
)
def test_rtrl_equals_bptt_core_options(name, opts):
    _assert_same(rtrl(), *_instance(make_core(name, 2, 3, dtype="float64", **opts), T=6, reset_at=2))


@pytest.mark.slow
@settings(max_examples=3, deadline=None)
@given(
    name=st.sampled_from(["elman", "neuromod-rnn"]),
    n=st.integers(1, 4), d=st.integers(1, 3), T=st.integers(1, 6), reset_at=st.integers(0, 5),
    seed=st.integers(0, 100),
)
def test_rtrl_equals_bptt_random_sizes(name, n, d, T, reset_at, seed):
    core = make_core(name, d, n, dtype="float64")
    _assert_same(rtrl(), *_instance(core, T, reset_at=reset_at, seed=seed))


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_elman_rtrl_equals_bptt(activation):
    core = make_core("elman", 3, 4, dtype="float64", activation=activation)
    _assert_same(elman_rtrl(), *_instance(core, T=8, reset_at=5, seed=1))


def test_elman_rtrl_rejects_other_cores():
    model, params, batch = _instance(make_core("peephole-lstm", 2, 3, dtype="float64"), T=3)
    with pytest.raises(PlastixError, match="Elman"):
        elman_rtrl().value_and_grad(model, params, batch)


def test_rtrl_under_vmap_equals_batched_bptt():
    core = make_core("elman", 2, 3, dtype="float64")
    model, params, _ = _instance(core, T=5)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    xs = jax.random.normal(keys[0], (4, 5, 2), jnp.float64)
    ys = jax.random.normal(keys[1], (4, 5, 2), jnp.float64)
    resets = jax.random.bernoulli(keys[2], 0.3, (4, 5))
    batch = Batch(xs, ys, jnp.ones((4, 5), jnp.float64), resets)
    l_ref, g_ref = batched_value_and_grad(bptt(), model, params, batch)
    loss, grads = jax.jit(batched_value_and_grad, static_argnums=(0, 1))(rtrl(), model, params, batch)
    assert abs(float(loss - l_ref)) < TOL
    assert _max_diff(grads, g_ref) < TOL


def test_sensitivity_size_counts_state_times_params():
    core = make_core("peephole-lstm", 3, 5, dtype="float64")
    params = core.init(jax.random.PRNGKey(0))
    n_s = sum(np.size(leaf) for leaf in jax.tree.leaves(core.initial_carry()))
    n_theta = sum(np.size(leaf) for leaf in jax.tree.leaves(params))
    assert sensitivity_size(core, params) == n_s * n_theta
    # Elman, counted by hand: s = h (5), θ = U (5×3) + W (5×5) + b (5) = 45.
    elman = make_core("elman", 3, 5, dtype="float64")
    assert sensitivity_size(elman, elman.init(jax.random.PRNGKey(0))) == 5 * 45


def _step_losses(model, params, batch):
    ys = model.apply(params, batch.xs, batch.resets)
    return batch.weights * 0.5 * jnp.sum((ys - batch.targets) ** 2, axis=-1)


def test_rtrl_online_zero_lr_keeps_params_and_reports_forward_losses():
    model, params, batch = _instance(make_core("plastic-rnn", 2, 3, dtype="float64"), T=7, reset_at=4)
    opt = optax.sgd(0.0)
    new, _, losses = rtrl_online(model, opt, params, opt.init(params), batch)
    assert _max_diff(new, params) == 0.0
    np.testing.assert_allclose(losses, _step_losses(model, params, batch), rtol=1e-12, atol=1e-14)


def test_rtrl_online_one_step_is_one_sgd_update():
    model, params, batch = _instance(make_core("gru", 2, 3, dtype="float64"), T=1, reset_at=0)
    opt = optax.sgd(0.3)
    new, _, _ = jax.jit(rtrl_online, static_argnums=(0, 1))(model, opt, params, opt.init(params), batch)
    _, g = jax.jit(bptt().value_and_grad, static_argnums=0)(model, params, batch)
    expected = jax.tree.map(lambda p, gi: p - 0.3 * gi, params, g)
    assert _max_diff(new, expected) < 1e-12


def test_rtrl_online_two_steps_match_the_documented_approximation():
    """Step 2 uses P_1 from θ_0 and the state s_1 from θ_0, differentiated at θ_1."""
    core = make_core("elman", 2, 3, dtype="float64")
    model, params, batch = _instance(core, T=2, reset_at=0)
    lr = 0.2
    theta0, unravel = ravel_pytree(params)

    def loss_t(theta, carry, t):
        p = unravel(theta)
        carry, h = core.step(p.core, carry, batch.xs[t])
        y = p.readout.V @ h + p.readout.c
        return batch.weights[t] * 0.5 * jnp.sum((y - batch.targets[t]) ** 2), carry

    fresh = core.initial_carry()
    g1 = jax.grad(lambda th: loss_t(th, fresh, 0)[0])(theta0)
    theta1 = theta0 - lr * g1
    s1 = loss_t(theta0, fresh, 0)[1].h
    J1 = jax.jacrev(lambda th: loss_t(th, fresh, 0)[1].h)(theta0)  # ∂s_1/∂θ at θ_0

    def loss2(th):
        carry = fresh._replace(h=s1 + J1 @ (th - theta1))
        return loss_t(th, carry, 1)[0]

    theta2 = theta1 - lr * jax.jit(jax.grad(loss2))(theta1)
    opt = optax.sgd(lr)
    new, _, _ = jax.jit(rtrl_online, static_argnums=(0, 1))(model, opt, params, opt.init(params), batch)
    np.testing.assert_allclose(ravel_pytree(new)[0], theta2, rtol=0, atol=1e-12)


@pytest.mark.learning
def test_rtrl_online_learns_to_recall_the_previous_input():
    """Target y_t = x_{t−1}, x_t ~ N(0, 1): the untrained net costs ≈ 0.5 per step (as predicting
    0 would); after a few hundred online RTRL updates the loss is a fraction of that."""
    core = make_core("elman", 1, 6, dtype="float64")
    model = SeqModel(core, 1)
    k_p, k_x = jax.random.split(jax.random.PRNGKey(0))
    params = model.init(k_p)
    T = 300
    xs = jax.random.normal(k_x, (T, 1), jnp.float64)
    targets = jnp.concatenate([jnp.zeros((1, 1)), xs[:-1]], axis=0)
    batch = Batch(xs, targets, jnp.ones((T,), jnp.float64), jnp.zeros((T,), bool))
    opt = optax.adam(0.01)
    _, _, losses = jax.jit(rtrl_online, static_argnums=(0, 1))(model, opt, params, opt.init(params), batch)
    untrained = float(jnp.mean(_step_losses(model, params, batch)[-100:]))
    last = float(jnp.mean(losses[-100:]))
    assert untrained > 0.3
    assert last < 0.2 * untrained
