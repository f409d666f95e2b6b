"""Plasticity diagnostics (plastix.rl.diagnostics) against a Python loop, and the bounded rate η."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cores import make_core
from plastix.errors import PlastixError
from plastix.rl.diagnostics import DIAGNOSTICS, batch_statistics, trace_statistics
from plastix.rl.trainer import RLConfig, make_trainer


def _loop_statistics(core, params, obs, start):
    """The same statistics by a plain Python loop over core.step, in NumPy."""
    carry, abs_M, at_clip, max_E = core.initial_carry(), [], [], []
    for x, s in zip(obs, start, strict=True):
        if s:
            carry = core.initial_carry()
        carry, _ = core.step(params, carry, x)
        hebb = np.asarray(carry.hebb)
        at_clip.append(np.mean(np.abs(hebb) >= 1.0 - 1e-6))
        if core.modulated:
            abs_M.append(abs(float(np.tanh(np.asarray(params.w_M) @ np.asarray(carry.h) + float(params.b_M)))))
        if carry.E is not None:
            max_E.append(np.max(np.abs(np.asarray(carry.E))))
    return np.mean(abs_M) if abs_M else np.nan, np.mean(at_clip), max(max_E) if max_E else np.nan


@pytest.mark.parametrize("opts", [{"modulation": "retroactive"}, {"modulation": "simple"}])
def test_trace_statistics_equal_a_python_loop(opts):
    core = make_core("neuromod-rnn", 3, 5, dtype="float64", **opts)
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda p: jnp.asarray(2.0 * rng.standard_normal(p.shape)), core.init(jax.random.PRNGKey(0)))
    obs = jnp.asarray(rng.standard_normal((14, 3)))
    start = jnp.zeros(14, bool).at[0].set(True).at[9].set(True)
    got = jax.jit(lambda p, o, s: trace_statistics(core, p, o, s))(params, obs, start)
    mean_M, clip, max_E = _loop_statistics(core, params, np.asarray(obs), np.asarray(start))
    np.testing.assert_allclose(float(got["diagnostics/mean_abs_M"]), mean_M, rtol=1e-10)
    np.testing.assert_allclose(float(got["diagnostics/hebb_at_clip"]), clip, rtol=1e-10)
    assert 0.0 < clip < 1.0  # large weights: some entries pinned, some not
    if opts["modulation"] == "retroactive":
        np.testing.assert_allclose(float(got["diagnostics/max_abs_E"]), max_E, rtol=1e-10)
        # eta_param "raw" (the default of make_core here is whatever the core says): η read as reported
        assert float(got["diagnostics/eta"]) == pytest.approx(float(core.rate(params)))
    else:
        assert np.isnan(float(got["diagnostics/max_abs_E"]))


def test_eligibility_overshoots_past_one_only_with_eta_above_one():
    """E' = (1 − η) E + η h h̃ᵀ: a convex combination for η ∈ [0, 1] (|E| ≤ max |h h̃ᵀ| ≤ 1), an
    alternating overshoot for η > 1 (E_1 = η h h̃ᵀ already exceeds 1 where |h h̃ᵀ| ≈ 1)."""
    out = {}
    for eta_param, theta in (("raw", 1.9), ("sigmoid", 30.0)):  # η = 1.9, and η = sigmoid(30) < 1
        core = make_core("neuromod-rnn", 2, 4, dtype="float64", modulation="retroactive", eta_param=eta_param)
        params = core.init(jax.random.PRNGKey(1))
        params = params._replace(W_in=10.0 * params.W_in, eta=jnp.asarray(theta, jnp.float64))
        obs = jnp.ones((12, 2))
        out[eta_param] = float(trace_statistics(core, params, obs, jnp.zeros(12, bool).at[0].set(True))[
            "diagnostics/max_abs_E"])
    assert out["raw"] > 1.5 and out["sigmoid"] <= 1.0


def test_sigmoid_rate_starts_at_eta_init_and_rejects_out_of_range():
    core = make_core("neuromod-rnn", 2, 3, modulation="retroactive", eta_param="sigmoid", eta_init=0.2)
    params = core.init(jax.random.PRNGKey(0))
    assert float(params.eta) == pytest.approx(np.log(0.2 / 0.8), rel=1e-6)  # θ = logit(0.2)
    assert float(core.rate(params)) == pytest.approx(0.2, rel=1e-6)
    with pytest.raises(PlastixError, match=r"eta_init must be in \(0, 1\)"):
        make_core("neuromod-rnn", 2, 3, eta_param="sigmoid", eta_init=1.5)
    with pytest.raises(PlastixError, match="eta_param must be one of"):
        make_core("neuromod-rnn", 2, 3, eta_param="clamp")


@pytest.mark.slow
def test_trainer_logs_diagnostics_for_plastic_cores_and_nan_otherwise():
    base = RLConfig(preset="easy", env_settings=(("episode_length", 8),), hidden=4, batch_size=2, num_updates=2,
                    updates_per_log=1)
    metrics = {}
    for core in ("neuromod-rnn", "elman"):
        trainer = make_trainer(dataclasses.replace(base, core=core))
        _, metrics[core] = jax.jit(trainer.train)(jax.random.PRNGKey(0))
    m = metrics["neuromod-rnn"]
    assert set(DIAGNOSTICS) <= set(m)
    assert np.all(np.isfinite(np.stack([m[name] for name in DIAGNOSTICS])))
    assert np.all((0 <= m["diagnostics/hebb_at_clip"]) & (m["diagnostics/hebb_at_clip"] <= 1))
    assert np.all(np.isnan(np.stack([metrics["elman"][name] for name in DIAGNOSTICS])))


def test_batch_statistics_average_and_max_over_trajectories():
    core = make_core("neuromod-rnn", 3, 4, dtype="float64", modulation="retroactive")
    params = core.init(jax.random.PRNGKey(2))
    obs = jax.random.normal(jax.random.PRNGKey(3), (3, 6, 3), jnp.float64)
    start = jnp.zeros((3, 6), bool).at[:, 0].set(True)
    each = [trace_statistics(core, params, obs[b], start[b]) for b in range(3)]
    got = batch_statistics(core, params, obs, start)
    assert float(got["diagnostics/max_abs_E"]) == pytest.approx(max(float(e["diagnostics/max_abs_E"]) for e in each))
    assert float(got["diagnostics/mean_abs_M"]) == pytest.approx(np.mean([float(e["diagnostics/mean_abs_M"])
                                                                          for e in each]))
