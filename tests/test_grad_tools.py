"""Gradient clipping (Pascanu et al. 2013), input influence (Graves 2012, Fig. 4.1), make_grad_method and
check_grads, each against an independent computation."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from plastix.cores import make_core
from plastix.errors import PlastixError
from plastix.grads import (
    GRAD_METHODS,
    Batch,
    GradMethod,
    SeqModel,
    bptt,
    check_grads,
    clip_by_global_norm,
    clip_elementwise,
    input_influence,
    make_grad_method,
    plot_influence,
)

rtrl_module = importlib.import_module("plastix.grads.rtrl")  # the package re-exports a function named rtrl


def _tree():
    return {"a": jnp.array([3.0, -4.0]), "b": jnp.array([[12.0]]), "none": None}


def test_clip_by_global_norm_rescales_above_threshold():
    # ‖g‖ = sqrt(9 + 16 + 144) = 13; clipped to 6.5 the entries halve.
    out = clip_by_global_norm(_tree(), 6.5)
    np.testing.assert_allclose(out["a"], [1.5, -2.0])
    np.testing.assert_allclose(out["b"], [[6.0]])
    assert out["none"] is None


def test_clip_by_global_norm_keeps_small_gradients():
    out = clip_by_global_norm(_tree(), 13.5)
    np.testing.assert_array_equal(out["a"], [3.0, -4.0])
    np.testing.assert_array_equal(out["b"], [[12.0]])


def test_clip_elementwise_matches_numpy():
    g = jax.random.normal(jax.random.PRNGKey(0), (5, 4)) * 3
    out = clip_elementwise({"g": g}, 1.25)["g"]
    np.testing.assert_array_equal(out, np.clip(np.asarray(g), -1.25, 1.25))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_clip_thresholds_must_be_positive_and_finite(bad):
    with pytest.raises(PlastixError, match="> 0"):
        clip_by_global_norm(_tree(), bad)
    with pytest.raises(PlastixError, match="> 0"):
        clip_elementwise(_tree(), bad)


def test_input_influence_equals_product_of_jacobians():
    """∂y_T/∂x_t = V D_T W D_{T−1} ⋯ W D_t U with D_τ = diag(1 − h_τ²), computed in NumPy."""
    core = make_core("elman", 2, 4, dtype="float64")
    model = SeqModel(core, 3)
    params = model.init(jax.random.PRNGKey(1))
    T = 7
    xs = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (T, 2), jnp.float64))
    U, W, b = (np.asarray(a) for a in params.core)
    V = np.asarray(params.readout.V)
    h, ds = np.zeros(4), []
    for t in range(T):
        h = np.tanh(U @ xs[t] + W @ h + b)
        ds.append(np.diag(1.0 - h**2))
    expected = []
    for t in range(T):
        J = ds[t] @ U
        for tau in range(t + 1, T):
            J = ds[tau] @ W @ J
        expected.append(np.linalg.norm(V @ J))
    got = jax.jit(input_influence, static_argnums=0)(model, params, jnp.asarray(xs))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_plot_influence_writes_a_png(tmp_path):
    path = tmp_path / "inf.png"
    plot_influence({"elman": np.geomspace(1e-6, 1, 20), "lstm": np.ones(20)}, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _random_problem():
    model = SeqModel(make_core("elman", 2, 3, dtype="float64"), 2)
    k = jax.random.split(jax.random.PRNGKey(4), 3)
    batch = Batch(jax.random.normal(k[0], (6, 2), jnp.float64), jax.random.normal(k[1], (6, 2), jnp.float64),
                  jnp.ones((6,), jnp.float64), jnp.arange(6) == 3)
    return model, model.init(k[2]), batch


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "bptt" else n for n in GRAD_METHODS])
def test_make_grad_method_gives_bptts_gradient(name):
    model, params, batch = _random_problem()
    method = make_grad_method(name)
    assert method.name == name
    _, g = method.value_and_grad(model, params, batch)
    _, g_ref = bptt().value_and_grad(model, params, batch)
    np.testing.assert_allclose(ravel_pytree(g)[0], ravel_pytree(g_ref)[0], rtol=0, atol=1e-12)


def test_make_grad_method_errors():
    with pytest.raises(PlastixError, match="Did you mean 'rtrl'"):
        make_grad_method("rtr")
    with pytest.raises(PlastixError, match="truncated-bptt' only"):
        make_grad_method("bptt", window=3)
    with pytest.raises(PlastixError, match="h >= stride"):
        make_grad_method("truncated-bptt", window=2, stride=3)


@pytest.mark.slow
def test_check_grads_elman_within_tolerance():
    result = check_grads("elman", hidden=4, steps=6)
    assert result["core"] == "elman" and result["ok"]
    assert set(result["max_rel_err"]) == {"hand-bptt", "rtrl", "truncated-bptt", "finite-diff"}
    for name, err in result["max_rel_err"].items():
        assert err <= result["tolerance"][name]
    assert result["n_params"] == 4 * 3 + 4 * 4 + 4 + 2 * 4 + 2 == result["fd_coords"]  # U W b V c


@pytest.mark.slow
def test_check_grads_catches_a_wrong_gradient(monkeypatch):
    """A method returning 1.5 × the true gradient is off by exactly 0.5 in the reported metric."""
    def scaled(model, params, batch):
        loss, g = bptt().value_and_grad(model, params, batch)
        return loss, jax.tree.map(lambda a: 1.5 * a, g)

    monkeypatch.setattr(rtrl_module, "rtrl", lambda: GradMethod("rtrl", scaled))
    result = check_grads("gru", hidden=3, steps=4)
    assert "hand-bptt" not in result["max_rel_err"]  # gru has no hand-derived backward
    assert result["max_rel_err"]["rtrl"] == pytest.approx(0.5, rel=1e-12)
    assert not result["ok"]


def test_check_grads_rejects_bad_sizes():
    with pytest.raises(PlastixError, match="steps"):
        check_grads("elman", steps=1)
    with pytest.raises(PlastixError, match="Did you mean 'elman'"):
        check_grads("elmn")
