"""hand-bptt (hand-written backward recursions) against autodiff BPTT and finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastix.cores import make_core, scan_core
from plastix.cores.elman import Elman
from plastix.errors import PlastixError
from plastix.grads import SeqModel, batched_value_and_grad, bptt, make_batch
from plastix.grads.hand import HAND_BPTT_CORES, hand_bptt, hand_scan, supports_hand_bptt

ALPHAS = ("connection", "neuron", "single")
# Every rule × α shape of the plastic RNN, every modulation × squash of the neuromodulated one
# (α cycles through its shapes: its gradient reduction is independent of the trace rule).
CASES = (
    [("elman", {"activation": a}) for a in ("tanh", "sigmoid", "relu")]
    + [("peephole-lstm", {})]
    + [("plastic-rnn", {"rule": r, "alpha": a}) for r in ("clip", "decay", "oja") for a in ALPHAS]
    + [
        ("neuromod-rnn", {"modulation": m, "squash": s, "alpha": ALPHAS[i % 3]})
        for i, (m, s) in enumerate((m, s) for m in ("simple", "retroactive") for s in ("tanh", "sigmoid", "linear"))
    ]
    # both parameterisations of the rate η (θ itself, or sigmoid(θ): ∂θ = ∂η η (1 − η))
    + [("neuromod-rnn", {"modulation": "retroactive", "eta_param": e}) for e in ("raw", "sigmoid")]
    + [("plastic-rnn", {"rule": r, "eta_param": "sigmoid"}) for r in ("clip", "decay")]
)
OUT = 3
DRAWS = 3  # independent parameter/data draws per compiled example (vmapped)


def _setup(name, opts, n, d, T, seed, loss="mse", dtype="float64", draws=None, scale=0.5):
    """Model, non-uniform random params and a batch with random loss weights (some zero) and
    random resets (about one per sequence), drawn with NumPy's seeded Generator (no compile).
    ``draws``: a leading axis of independent draws of params and batch."""
    core = make_core(name, d, n, dtype=dtype, **opts)
    model = SeqModel(core, OUT, loss=loss)
    rng = np.random.default_rng(seed)
    lead = () if draws is None else (draws,)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    params = jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(lead + s.shape), s.dtype), shapes)
    jdt = core.jdtype
    xs = jnp.asarray(rng.standard_normal((*lead, T, d)), jdt)
    if loss == "mse":
        targets = jnp.asarray(rng.standard_normal((*lead, T, OUT)), jdt)
    else:
        targets = jnp.asarray(rng.integers(0, OUT, (*lead, T)))
    weights = jnp.asarray(rng.uniform(size=(*lead, T)) * (rng.uniform(size=(*lead, T)) > 0.2), jdt)
    resets = jnp.asarray(rng.uniform(size=(*lead, T)) < 1.0 / T)
    return model, params, make_batch(xs, targets, weights, resets)


def _assert_trees_close(got, want, rtol):
    """Every leaf within rtol · (largest |gradient entry| over all leaves)."""
    scale = max(float(jnp.max(jnp.abs(v))) for v in jax.tree.leaves(want))
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=rtol * scale)


def _per_draw(method, model, params, batch):
    """(loss, grads) of each draw, jit-compiled, vmapped over params and batch."""
    fn = jax.vmap(method.value_and_grad, in_axes=(None, 0, 0))
    return jax.jit(fn, static_argnums=0)(model, params, batch)


@pytest.mark.parametrize(("i", "name", "opts"), [(i, *c) for i, c in enumerate(CASES)],
                         ids=[f"{n}-{'-'.join(o.values())}" for n, o in CASES])
@settings(max_examples=1, deadline=None)
@given(n=st.integers(1, 6), d=st.integers(1, 4), T=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_hand_bptt_matches_autodiff(i, name, opts, n, d, T, seed):
    """float64, ≤ 1e-10 relative; both losses alternate over the cases; a reset is forced in
    the middle of draw 0 and none in draw 1 (draw 2 has random resets)."""
    loss = ("mse", "xent")[i % 2]
    model, params, batch = _setup(name, opts, n, d, T, seed, loss, draws=DRAWS)
    resets = batch.resets.at[0, T // 2].set(True).at[1].set(False)
    batch = batch._replace(resets=resets)
    loss_ad, g_ad = _per_draw(bptt(), model, params, batch)
    loss_hd, g_hd = _per_draw(hand_bptt(), model, params, batch)
    np.testing.assert_allclose(np.asarray(loss_hd), np.asarray(loss_ad), rtol=1e-12)
    _assert_trees_close(g_hd, g_ad, rtol=1e-10)


def _no_resets_but(batch, t):
    return batch._replace(resets=jnp.zeros_like(batch.resets).at[..., t].set(True))


@pytest.mark.parametrize("opts", [pytest.param({"rule": "clip"}, marks=pytest.mark.slow), {"modulation": "simple"},
                                  pytest.param({"modulation": "retroactive", "eta_param": "raw"}, marks=pytest.mark.slow),
                                  {"modulation": "retroactive", "eta_param": "sigmoid"}])
def test_clipping_is_active_and_gradients_match(opts):
    """Large η / modulator: Hebb saturates at ±1 (checked), so the clip mask is exercised."""
    name = "plastic-rnn" if "rule" in opts else "neuromod-rnn"
    model, params, batch = _setup(name, opts, 5, 3, 12, seed=7, draws=2)
    batch = _no_resets_but(batch, 8)
    theta = np.log(0.9 / 0.1) if opts.get("eta_param") == "sigmoid" else 0.9  # η = 0.9 either way
    core_p = params.core._replace(eta=jnp.full((2,), theta if "modulation" in opts else 3.0))
    if core_p.w_M is not None:
        core_p = core_p._replace(w_M=10.0 * core_p.w_M, b_M=jnp.full((2,), 2.0))
    params = params._replace(core=core_p)
    # Hebb before the reset at t = 8 has saturated and free entries in both draws
    hebb = jax.jit(jax.vmap(lambda p, xs: scan_core(model.core, p, xs)[0].hebb))(core_p, batch.xs[:, :8])
    saturated = jnp.abs(hebb) == 1.0
    assert jnp.all(jnp.any(saturated, axis=(1, 2)) & jnp.any(~saturated, axis=(1, 2)))
    _, g_ad = _per_draw(bptt(), model, params, batch)
    _, g_hd = _per_draw(hand_bptt(), model, params, batch)
    _assert_trees_close(g_hd, g_ad, rtol=1e-10)


@pytest.mark.slow
def test_central_finite_differences():
    """Directional derivative of the loss vs (L(θ+εv) − L(θ−εv)) / 2ε, float64, with a reset."""
    opts = {"modulation": "retroactive", "squash": "tanh", "alpha": "neuron"}
    model, params, batch = _setup("neuromod-rnn", opts, 4, 2, 9, seed=3)
    batch = _no_resets_but(batch, 5)
    loss, grads = jax.jit(hand_bptt().value_and_grad, static_argnums=0)(model, params, batch)
    rng = np.random.default_rng(11)
    v = jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape), x.dtype), params)
    eps = 1e-6
    f = jax.jit(lambda s: model.sequence_loss(jax.tree.map(lambda p, u: p + s * eps * u, params, v), batch))
    fd = (f(1.0) - f(-1.0)) / (2 * eps)
    analytic = sum(jnp.vdot(g, u) for g, u in zip(jax.tree.leaves(grads), jax.tree.leaves(v), strict=True))
    assert abs(float(fd - analytic)) <= 1e-5 * abs(float(analytic))
    assert float(loss) == pytest.approx(float(f(0.0)), rel=1e-12)


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("elman", "float32"), pytest.param("peephole-lstm", "float32", marks=pytest.mark.slow),
     pytest.param("neuromod-rnn", "float32", marks=pytest.mark.slow)],
)
def test_batched_value_and_grad_under_jit(name, dtype):
    """float32 batched_value_and_grad (vmap + mean) under jit; resets in some sequences only
    (float64 under jit + vmap is test_hand_bptt_matches_autodiff)."""
    model, params, batch = _setup(name, {}, 5, 3, 10, seed=2, dtype=dtype, draws=4)
    params = jax.tree.map(lambda v: v[0], params)  # one parameter set for the whole batch
    batch = batch._replace(resets=jnp.zeros_like(batch.resets).at[1, 4].set(True).at[3, 0].set(True))
    run = jax.jit(batched_value_and_grad, static_argnums=(0, 1))
    loss_ad, g_ad = run(bptt(), model, params, batch)
    loss_hd, g_hd = run(hand_bptt(), model, params, batch)
    rtol = 1e-10 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(float(loss_hd), float(loss_ad), rtol=rtol)
    _assert_trees_close(g_hd, g_ad, rtol=rtol)


@pytest.mark.parametrize("name", ["peephole-lstm", "neuromod-rnn"])
def test_input_gradient_matches_autodiff(name):
    """hand_scan's VJP also returns ∂/∂x_t; compare with autodiff through scan_core."""
    model, params, batch = _setup(name, {}, 4, 3, 8, seed=5)
    resets = jnp.zeros((8,), bool).at[3].set(True)
    w = jnp.asarray(np.random.default_rng(9).standard_normal((8, 4)))

    def via(scan):
        return jax.jit(jax.grad(lambda xs: jnp.sum(w * scan(xs))))(batch.xs)

    got = via(lambda xs: hand_scan(model.core, params.core, xs, resets))
    want = via(lambda xs: scan_core(model.core, params.core, xs, resets=resets)[1])
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-12)


def test_unsupported_core_raises():
    gru = make_core("gru", 2, 3, dtype="float64")
    model = SeqModel(gru, OUT)
    params = model.init(jax.random.PRNGKey(0))
    batch = make_batch(jnp.ones((4, 2)), jnp.zeros((4, OUT)))
    with pytest.raises(PlastixError, match=r"'GRU'.*elman.*peephole-lstm.*plastic-rnn.*neuromod-rnn"):
        hand_bptt().value_and_grad(model, params, batch)


def test_support_registry():
    class MyElman(Elman):  # a subclass may change the step: not covered by the hand backward
        pass

    assert HAND_BPTT_CORES == ("elman", "peephole-lstm", "plastic-rnn", "neuromod-rnn")
    assert hand_bptt().name == "hand-bptt"
    assert all(supports_hand_bptt(c) for c in HAND_BPTT_CORES)
    assert supports_hand_bptt(make_core("neuromod-rnn", 2, 3)) and supports_hand_bptt(Elman(2, 3))
    assert not supports_hand_bptt("gru") and not supports_hand_bptt(MyElman(2, 3))


def test_segments_cover_the_sequence_in_about_two_root_t_steps():
    """Segment length K: a divisor of T in [√T, 4√T] when there is one (no padded segment),
    nearest 2√T; else ⌈2√T⌉. Checkpoints + buffer stay O(√T)."""
    from plastix.grads.hand_plastic import segments

    assert segments(120) == (20, 6) and segments(256) == (32, 8) and segments(23) == (10, 3)
    for T in range(1, 2000):
        K, nseg = segments(T)
        assert K * (nseg - 1) < T <= K * nseg, T
        root = T**0.5
        divisors = [k for k in range(1, T + 1) if T % k == 0 and root <= k <= 4 * root]
        if divisors:
            assert T % K == 0 and abs(K - 2 * root) == min(abs(k - 2 * root) for k in divisors), T
        assert K + nseg <= 5 * root + 2, T


@pytest.mark.slow
def test_long_sequence_many_segments():
    """T = 23 (prime): 10-step segments, the last one padded; resets in two segments."""
    model, params, batch = _setup("plastic-rnn", {"rule": "clip"}, 4, 2, 23, seed=4, draws=1)
    batch = batch._replace(resets=jnp.zeros_like(batch.resets).at[0, 7].set(True).at[0, 15].set(True))
    _, g_ad = _per_draw(bptt(), model, params, batch)
    _, g_hd = _per_draw(hand_bptt(), model, params, batch)
    _assert_trees_close(g_hd, g_ad, rtol=1e-10)


@pytest.mark.slow
def test_plastic_backward_keeps_no_trace_per_step():
    """XLA's compiled scratch memory: hand-bptt stores Hebb/E only at √T checkpoints, so it
    needs far less than autodiff BPTT, which keeps (n, n) traces at every step."""
    model, params, batch = _setup("neuromod-rnn", {"modulation": "retroactive"}, 16, 2, 256, seed=0, draws=1)

    def temp(method):
        f = jax.jit(lambda p, b: _per_draw(method, model, p, b))
        return f.lower(params, batch).compile().memory_analysis().temp_size_in_bytes

    per_step_traces = 256 * 2 * 16 * 16 * 8  # T · (Hebb, E) · n² · 8 bytes
    hand, auto = temp(hand_bptt()), temp(bptt())
    assert hand < 0.4 * per_step_traces <= 0.4 * auto, (hand, auto)
