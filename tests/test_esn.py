"""Echo state network (plastix.cores.esn) and the Mackey–Glass generator (plastix.tasks.mackey_glass).

References are independent: plain NumPy loops of the reservoir equations, numpy.linalg.eig /
lstsq / the augmented normal equations for the readout, a finer-step integration and a NumPy
loop of Jaeger's Euler recurrence for Mackey–Glass.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cores import make_core, scan_core
from plastix.cores.base import Readout
from plastix.cores.esn import (
    ESN,
    ESNCarry,
    esn_predict,
    fit_ridge_readout,
    generate,
    teacher_force,
)
from plastix.errors import PlastixError
from plastix.tasks.mackey_glass import jaeger_squash, jaeger_unsquash, mackey_glass, nrmse

KEY = jax.random.PRNGKey(0)


def small_core(dtype="float64", **kw):
    opts = dict(input_size=3, hidden_size=8, dtype=dtype, spectral_radius=0.9, leak_rate=0.3, density=0.5,
                bias_scale=0.5, input_scale=0.7)
    opts.update(kw)
    return ESN(**opts)


def np_update(p, x, u, y, a, nu=0.0):
    """x_t = (1 − a) x_{t-1} + a tanh(W_in u + W x + W_fb y + b + ν), in NumPy."""
    pre = p["W_in"] @ u + p["W"] @ x + p["W_fb"] @ y + p["b"] + nu
    return (1 - a) * x + a * np.tanh(pre)


def np_params(params):
    return {k: np.asarray(v) for k, v in params._asdict().items()}


# ---------------------------------------------------------------- reservoir step


def test_scan_matches_numpy_loop():
    core = small_core()
    params = core.init(KEY)
    us = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (20, 3)))
    _, hs = scan_core(core, params, jnp.asarray(us))
    p, x, ref = np_params(params), np.zeros(8), []
    for t in range(20):
        x = np_update(p, x, us[t], np.zeros(0), 0.3)
        ref.append(x)
    np.testing.assert_allclose(np.asarray(hs), np.stack(ref), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("noise", [pytest.param(0.0, marks=pytest.mark.slow), 0.1])
def test_teacher_force_matches_numpy_loop(noise):
    core = small_core(feedback_size=2, feedback_scale=0.8)
    params = core.init(KEY)
    us = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (15, 3)))
    ys = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (15, 2)))
    k_noise = jax.random.PRNGKey(3)
    carry, hs = teacher_force(core, params, jnp.asarray(us), jnp.asarray(ys), noise=noise, key=k_noise)
    nus = np.zeros((15, 8))
    if noise > 0:  # the same draw teacher_force makes from its key
        nus = np.asarray(jax.random.uniform(k_noise, (15, 8), jnp.float64, -noise, noise))
    p, x, y_prev, ref = np_params(params), np.zeros(8), np.zeros(2), []
    for t in range(15):
        x = np_update(p, x, us[t], y_prev, 0.3, nus[t])
        y_prev = ys[t]  # the teacher, not the network, is fed back
        ref.append(x)
    np.testing.assert_allclose(np.asarray(hs), np.stack(ref), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(carry.y), ys[-1])


@pytest.mark.slow
def test_generate_matches_numpy_closed_loop():
    core = small_core(feedback_size=2)
    params = core.init(KEY)
    readout = Readout(jax.random.normal(jax.random.PRNGKey(4), (2, 11)) * 0.3, jnp.array([0.1, -0.2]))
    us = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (12, 3)))
    x0, y0 = np.linspace(-0.5, 0.5, 8), np.array([0.3, -0.1])
    carry = ESNCarry(jnp.asarray(x0), jnp.zeros(2))
    _, ys = generate(core, params, readout, carry, jnp.asarray(y0), 12, jnp.asarray(us))
    p, V, c = np_params(params), np.asarray(readout.V), np.asarray(readout.c)
    x, y, ref = x0, y0, []
    for t in range(12):
        x = np_update(p, x, us[t], y, 0.3)
        y = V @ np.concatenate([x, us[t]]) + c  # V has n + d columns: features [x_t; u_t]
        ref.append(y)
    np.testing.assert_allclose(np.asarray(ys), np.stack(ref), rtol=1e-12, atol=1e-12)


def test_leak_one_is_the_plain_update():
    core = small_core(leak_rate=1.0)
    params = core.init(KEY)
    x = jax.random.normal(jax.random.PRNGKey(6), (8,))
    u = jax.random.normal(jax.random.PRNGKey(7), (3,))
    _, h = core.step(params, ESNCarry(x, jnp.zeros(0)), u)
    p = np_params(params)
    plain = np.tanh(p["W_in"] @ np.asarray(u) + p["W"] @ np.asarray(x) + p["b"])
    np.testing.assert_allclose(np.asarray(h), plain, rtol=1e-13, atol=1e-13)
    _, h_leaky = small_core(leak_rate=0.5).step(params, ESNCarry(x, jnp.zeros(0)), u)
    np.testing.assert_allclose(np.asarray(h_leaky), 0.5 * np.asarray(x) + 0.5 * plain, rtol=1e-13, atol=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["dense", "arnoldi"])
@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 1e-5)])
def test_spectral_radius_is_the_requested_one(solver, dtype, rtol):
    core = ESN(input_size=2, hidden_size=60, dtype=dtype, spectral_radius=0.73, density=0.2, radius_solver=solver)
    w = np.asarray(core.init(KEY).W, np.float64)
    assert np.mean(w != 0) == pytest.approx(0.2, abs=0.05)  # Bernoulli(0.2) mask over 3600 entries
    np.testing.assert_allclose(np.max(np.abs(np.linalg.eig(w)[0])), 0.73, rtol=rtol)


@pytest.mark.slow
def test_echo_state_property():
    """Two different initial states under the same input forget where they started (ρ < 1)."""
    core = ESN(input_size=1, hidden_size=50, spectral_radius=0.8, density=0.2, dtype="float64")
    params = core.init(KEY)
    us = jax.random.uniform(jax.random.PRNGKey(8), (300, 1), jnp.float64, -1, 1)
    x_a, x_b = jax.random.uniform(jax.random.PRNGKey(9), (2, 50), jnp.float64, -1, 1)
    _, h_a = scan_core(core, params, us, ESNCarry(x_a, jnp.zeros(0)))
    _, h_b = scan_core(core, params, us, ESNCarry(x_b, jnp.zeros(0)))
    dist = np.linalg.norm(np.asarray(h_a - h_b), axis=1)
    assert np.linalg.norm(np.asarray(x_a - x_b)) > 1.0
    assert dist[-1] < 1e-6
    assert dist[-1] < dist[50] < dist[0]


# ---------------------------------------------------------------- ridge readout


def test_ridge_readout_equals_augmented_normal_equations():
    rng = np.random.default_rng(0)
    x, u, y = rng.normal(size=(60, 5)), rng.normal(size=(60, 2)), rng.normal(size=(60, 3))
    lam, wash = 0.7, 6
    out = fit_ridge_readout(jnp.asarray(x), jnp.asarray(y), ridge=lam, washout=wash, inputs=jnp.asarray(u))
    # Independent form: [F 1] w = Y with the bias column left out of the penalty.
    a = np.concatenate([x, u, np.ones((60, 1))], axis=1)[wash:]
    pen = lam * np.diag(np.r_[np.ones(7), 0.0])
    w = np.linalg.solve(a.T @ a + pen, a.T @ y[wash:])
    np.testing.assert_allclose(np.asarray(out.V), w[:7].T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out.c), w[7], rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_ridge_zero_equals_lstsq_and_recovers_linear_map():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(40, 2))
    out = fit_ridge_readout(jnp.asarray(x), jnp.asarray(y), ridge=0.0)
    w = np.linalg.lstsq(np.concatenate([x, np.ones((40, 1))], axis=1), y, rcond=None)[0]
    np.testing.assert_allclose(np.asarray(out.V), w[:6].T, rtol=1e-9, atol=1e-11)
    A, c = rng.normal(size=(2, 6)), np.array([0.5, -1.5])
    exact = fit_ridge_readout(jnp.asarray(x), jnp.asarray(x @ A.T + c), ridge=1e-12, washout=3)
    np.testing.assert_allclose(np.asarray(exact.V), A, atol=1e-9)
    np.testing.assert_allclose(np.asarray(exact.c), c, atol=1e-9)
    pred = esn_predict(exact, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(pred), x @ A.T + c, atol=1e-9)


# ---------------------------------------------------------------- Mackey–Glass


def test_mackey_glass_rk4_converges_at_fourth_order():
    ref = np.asarray(mackey_glass(300, dt=0.0125))
    err = {dt: np.max(np.abs(np.asarray(mackey_glass(300, dt=dt)) - ref)) for dt in (0.1, 0.05)}
    assert err[0.1] < 1e-6  # measured 4.4e-8 over t ∈ [0, 300]
    assert err[0.1] / err[0.05] > 10  # 2⁴ = 16 for a fourth-order scheme (2nd order would give 4)


def test_mackey_glass_is_chaotic_in_the_known_range():
    x = np.asarray(mackey_glass(2500, discard=500))
    assert 0.2 < x.min() < 0.5 and 1.2 < x.max() < 1.4  # the τ = 17 attractor spans ≈ [0.2, 1.4]
    x_eps = np.asarray(mackey_glass(2500, discard=500, x0=1.2 + 1e-7))
    assert np.abs(x_eps[:100] - x[:100]).max() < 1e-5  # close at first ...
    assert np.abs(x_eps[-500:] - x[-500:]).max() > 0.05  # ... then separated: sensitive dependence


def test_mackey_glass_euler_is_jaegers_recurrence():
    xs = np.asarray(mackey_glass(60, scheme="euler", dt=0.1, sample_every=1.0))
    hist = [1.2] * 171  # x(t ≤ 0) = 1.2 on the grid, delay 17 / 0.1 = 170 steps
    for _ in range(590):
        xd = hist[-171]
        hist.append(hist[-1] + 0.1 * (0.2 * xd / (1 + xd**10) - 0.1 * hist[-1]))
    np.testing.assert_allclose(xs, np.asarray(hist[170::10]), rtol=1e-12)


def test_squash_round_trip():
    x = mackey_glass(50)
    np.testing.assert_allclose(np.asarray(jaeger_unsquash(jaeger_squash(x))), np.asarray(x), rtol=1e-12)


@pytest.mark.learning
def test_esn_predicts_mackey_glass_one_step():
    """200 units, 1000 teacher-forced steps: one-step NRMSE on 500 unseen steps.

    Threshold 1e-3: Jaeger & Haas (2004) report 10^-4.2 at horizon 84 with 1000 units; one step
    ahead with 200 units we measure 1.6e-4 to 2.0e-4 (reservoir seeds 0-2), so 1e-3 leaves a 5x
    margin while staying > 100x below the last-value predictor (NRMSE 0.145 at one sample per
    time unit). The 20-step free run measures 0.004-0.011 (seeds 0-2); 0.05 still fails a
    loop that drifts off (holding the last value gives ≈ 1.1 over these 20 steps).
    """
    ys = jaeger_squash(mackey_glass(1500, discard=500))[:, None]
    us = jnp.full((1500, 1), 0.02)
    core = ESN(input_size=1, hidden_size=200, spectral_radius=0.8, density=0.05, feedback_size=1, dtype="float64")
    params = core.init(KEY)
    carry, states = teacher_force(core, params, us[:1000], ys[:1000])
    readout = fit_ridge_readout(states, ys[:1000], ridge=1e-9, washout=100)
    _, test_states = teacher_force(core, params, us[1000:], ys[1000:], carry0=carry)
    err = float(nrmse(esn_predict(readout, test_states)[:, 0], ys[1000:, 0]))
    naive = float(nrmse(ys[999:-1, 0], ys[1000:, 0]))
    assert err < 1e-3
    assert err < naive / 100
    _, free = generate(core, params, readout, ESNCarry(states[-1], ys[999]), ys[999], 20, us[1000:1020])
    assert float(nrmse(free[:, 0], ys[1000:1020, 0], jnp.var(ys))) < 0.05  # closed loop stays on track


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "opts",
    [
        {"spectral_radius": 0.0}, {"spectral_radius": -1.0}, {"spectral_radius": float("nan")},
        {"leak_rate": 0.0}, {"leak_rate": 1.5}, {"density": 0.0}, {"density": 1.01},
        {"input_scale": -1.0}, {"feedback_size": -1}, {"feedback_size": 1.5}, {"radius_solver": "qr"},
        {"hidden_size": 0},
    ],
)
def test_invalid_options_raise(opts):
    with pytest.raises(PlastixError):
        small_core(**opts)


def test_invalid_calls_raise():
    core = small_core(feedback_size=1)
    params = core.init(KEY)
    with pytest.raises(PlastixError):
        fit_ridge_readout(jnp.zeros((10, 3)), jnp.zeros((9, 1)))
    with pytest.raises(PlastixError):
        fit_ridge_readout(jnp.zeros((10, 3)), jnp.zeros((10, 1)), washout=10)
    with pytest.raises(PlastixError):
        fit_ridge_readout(jnp.zeros((10, 3)), jnp.zeros((10, 1)), ridge=-1.0)
    with pytest.raises(PlastixError):
        teacher_force(core, params, jnp.zeros((5, 3)), jnp.zeros((5, 2)))
    with pytest.raises(PlastixError):
        teacher_force(core, params, jnp.zeros((5, 3)), jnp.zeros((5, 1)), noise=-0.1, key=KEY)
    with pytest.raises(PlastixError):
        teacher_force(core, params, jnp.zeros((5, 3)), jnp.zeros((5, 1)), noise=0.1)  # no key
    with pytest.raises(PlastixError):
        generate(core, params, Readout(jnp.zeros((2, 8)), jnp.zeros(2)), core.initial_carry(), jnp.zeros(1), 5)
    with pytest.raises(PlastixError):
        mackey_glass(10, scheme="rk5")
    with pytest.raises(PlastixError):
        mackey_glass(10, dt=0.3)  # 17 / 0.3 is not an integer


# ---------------------------------------------------------------- jit / vmap / grad / dtypes


@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=pytest.mark.slow)])
def test_jit_vmap_and_dtypes(dtype):
    core = make_core("esn", 3, 8, dtype=dtype, spectral_radius=0.9, leak_rate=0.3, density=0.5)
    keys = jax.random.split(KEY, 3)
    batched = jax.jit(jax.vmap(core.init))(keys)
    for i in range(3):
        np.testing.assert_allclose(np.asarray(batched.W[i]), np.asarray(core.init(keys[i]).W), rtol=1e-6)
    params = core.init(KEY)
    xs = jax.random.normal(jax.random.PRNGKey(1), (4, 10, 3), core.jdtype)
    hs = jax.jit(jax.vmap(lambda x: scan_core(core, params, x)[1]))(xs)
    assert hs.dtype == core.jdtype and params.W.dtype == core.jdtype
    p, xs_np = np_params(params), np.asarray(xs, np.float64)
    for b in range(4):  # against the NumPy loop, in float64
        x, ref = np.zeros(8), []
        for t in range(10):
            x = np_update(p, x, xs_np[b, t], np.zeros(0), 0.3)
            ref.append(x)
        np.testing.assert_allclose(np.asarray(hs[b], np.float64), np.stack(ref), rtol=1e-5, atol=1e-5)
    readout = jax.jit(fit_ridge_readout, static_argnames="washout")(hs[0], hs[0][:, :2], 1e-3, washout=2)
    assert readout.V.dtype == core.jdtype


def test_grad_matches_finite_differences():
    core = small_core()
    params = core.init(KEY)
    xs = jax.random.normal(jax.random.PRNGKey(1), (12, 3))

    def loss(w_in):
        return jnp.sum(scan_core(core, params._replace(W_in=w_in), xs)[1] ** 2)

    g = jax.grad(loss)(params.W_in)
    eps, (i, j) = 1e-6, (2, 1)
    e = jnp.zeros_like(params.W_in).at[i, j].set(eps)
    fd = (loss(params.W_in + e) - loss(params.W_in - e)) / (2 * eps)
    np.testing.assert_allclose(float(g[i, j]), float(fd), rtol=1e-6)
