"""Action distributions (plastix.rl.distributions): log-densities against scipy.stats with the
change-of-variables Jacobian written by hand (float64), Monte-Carlo means and entropies,
gradients against central finite differences, bounds, and Categorical = plastix.rl.losses."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from plastix.envs import make_env
from plastix.envs.base import ContinuousActions
from plastix.errors import PlastixError
from plastix.rl import losses
from plastix.rl.distributions import Beta, Categorical, TanhGaussian, make_distribution

F64 = jnp.float64


def gaussian_params():
    # u, s for d = 3 (s = log-std; the last one beyond the clip at 2 to test the clip)
    return np.array([0.3, -0.8, 1.1, -0.4, 0.2, 2.5])


# ---------------------------------------------------------------- Categorical
def test_categorical_equals_losses_functions():
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(7, 5)), F64)
    a = jnp.asarray(rng.integers(0, 5, size=7), jnp.int32)
    dist = Categorical(5)
    np.testing.assert_array_equal(jax.vmap(dist.log_prob)(logits, a), losses.log_prob(logits, a))
    np.testing.assert_array_equal(jax.vmap(dist.entropy)(logits), losses.entropy(logits))
    np.testing.assert_array_equal(jax.vmap(dist.mode)(logits), np.argmax(np.asarray(logits), axis=1))
    keys = jax.random.split(jax.random.PRNGKey(3), 7)
    np.testing.assert_array_equal(jax.vmap(dist.sample)(keys, logits),
                                  jax.vmap(jax.random.categorical)(keys, logits))
    assert dist.param_size == 5 and dist.action_shape == () and dist.action_dtype == jnp.int32


# ---------------------------------------------------------------- TanhGaussian
def tanh_gaussian_reference(params, action, low, high):
    """log π(a) by hand in NumPy float64: x = artanh(y), norm.logpdf(x) − log(1 − tanh² x) − log(c/2)."""
    d = len(low)
    u, s = params[:d], np.clip(params[d:], -5.0, 2.0)
    y = 2.0 * (action - low) / (high - low) - 1.0
    x = np.arctanh(y)
    return np.sum(stats.norm.logpdf(x, u, np.exp(s)) - np.log(1.0 - np.tanh(x) ** 2) - np.log((high - low) / 2.0))


def test_tanh_gaussian_log_prob_matches_scipy_with_jacobian():
    low, high = np.array([-2.0, 0.0, -1.0]), np.array([2.0, 1.0, 3.0])
    dist = TanhGaussian(3, tuple(low), tuple(high))
    params = gaussian_params()
    for action in (np.array([0.5, 0.2, 2.9]), np.array([-1.9, 0.99, -0.5]), np.array([0.0, 0.5, 1.0])):
        got = float(dist.log_prob(jnp.asarray(params, F64), jnp.asarray(action, F64)))
        assert got == pytest.approx(tanh_gaussian_reference(params, action, low, high), rel=1e-10)
    # entropy: the pre-squash Gaussian's closed form (scipy's norm.entropy), log-std clipped at 2
    want = np.sum(stats.norm(0.0, np.exp(np.clip(params[3:], -5, 2))).entropy())
    assert float(dist.entropy(jnp.asarray(params, F64))) == pytest.approx(want, rel=1e-12)
    # mode: the squashed mean
    np.testing.assert_allclose(dist.mode(jnp.asarray(params, F64)), low + (high - low) * (np.tanh(params[:3]) + 1) / 2)


def test_tanh_gaussian_monte_carlo_mean_and_presquash_entropy():
    """Sample mean of a vs E[low + c (tanh x + 1)/2] by Gauss–Hermite quadrature (x ~ N(u, σ²)); the
    pre-squash Gaussian's entropy vs −E[log N(x)] = −E[log π(a) + log(1 − tanh² x) + log(c/2)]."""
    low, high = np.array([-2.0, 0.0, -1.0]), np.array([2.0, 1.0, 3.0])
    dist = TanhGaussian(3, tuple(low), tuple(high))
    raw = np.array([0.3, -0.8, 1.1, -0.4, 0.2, 0.0])  # σ ≤ e^0.2: x stays far from the artanh clip (7.25)
    params = jnp.asarray(raw, F64)
    n = 100_000
    a = jax.vmap(dist.sample, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(0), n), params)
    u, sigma = raw[:3], np.exp(raw[3:])
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)  # ∫ f(z) e^{−z²/2} dz
    e_tanh = np.array([np.sum(weights * np.tanh(ui + si * nodes)) / math.sqrt(2 * math.pi) for ui, si in zip(u, sigma)])
    want_mean = low + (high - low) * (e_tanh + 1) / 2
    a_np = np.asarray(a)
    stderr = a_np.std(axis=0) / math.sqrt(n)
    assert np.all(np.abs(a_np.mean(axis=0) - want_mean) < 4 * stderr)
    # −log N(x) recovered through log_prob and the hand Jacobian, x = artanh(y) from the action
    logp = np.asarray(jax.vmap(dist.log_prob, in_axes=(None, 0))(params, a))
    x = np.arctanh(2.0 * (a_np - low) / (high - low) - 1.0)
    assert np.all(np.abs(x) < 7.0)
    neg_log_normal = -(logp + np.sum(np.log(1 - np.tanh(x) ** 2) + np.log((high - low) / 2), axis=1))
    np.testing.assert_allclose(neg_log_normal, -np.sum(stats.norm.logpdf(x, u, sigma), axis=1), rtol=1e-7)
    ent = float(dist.entropy(params))
    assert abs(neg_log_normal.mean() - ent) < 4 * neg_log_normal.std() / math.sqrt(n)


@pytest.mark.slow
def test_tanh_gaussian_bounds_and_finite_at_edges():
    dist = TanhGaussian(2, -2.0, 2.0)
    for params in (jnp.array([50.0, -50.0, 2.0, 2.0]), jnp.array([0.0, 0.0, 0.0, 0.0])):
        a = jax.vmap(dist.sample, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(1), 2000), params)
        assert bool(jnp.all((a >= -2.0) & (a <= 2.0)))
    edge = jnp.array([2.0, -2.0])
    for dtype in (jnp.float32, F64):
        params = jnp.array([0.1, -0.2, 0.0, 0.5], dtype)
        lp = dist.log_prob(params, edge.astype(dtype))
        g = jax.grad(dist.log_prob)(params, edge.astype(dtype))
        assert bool(jnp.isfinite(lp)) and bool(jnp.all(jnp.isfinite(g)))
    a = dist.sample(jax.random.PRNGKey(0), jnp.array([50.0, -50.0, -5.0, -5.0], jnp.float32))
    assert a.dtype == jnp.float32 and np.asarray(a).tolist() == [2.0, -2.0]  # saturated exactly at the bounds


# ---------------------------------------------------------------- Beta
def beta_alpha_beta(params, d):
    softplus = np.logaddexp(0.0, params)
    return 1.0 + softplus[:d], 1.0 + softplus[d:]


def test_beta_log_prob_and_entropy_match_scipy():
    low, high = np.array([-2.0, 0.0, -1.0]), np.array([2.0, 1.0, 3.0])
    dist = Beta(3, tuple(low), tuple(high))
    params = np.array([0.3, -0.8, 1.1, -0.4, 0.2, 2.5])
    alpha, beta = beta_alpha_beta(params, 3)
    ref = stats.beta(alpha, beta, loc=low, scale=high - low)  # the rescaled density: Jacobian 1/c inside
    for action in (np.array([0.5, 0.2, 2.9]), np.array([-1.9, 0.99, -0.5])):
        got = float(dist.log_prob(jnp.asarray(params, F64), jnp.asarray(action, F64)))
        assert got == pytest.approx(np.sum(ref.logpdf(action)), rel=1e-10)
        # the same by hand: Beta log-density of y minus log c
        y = (action - low) / (high - low)
        hand = np.sum(stats.beta.logpdf(y, alpha, beta) - np.log(high - low))
        assert got == pytest.approx(hand, rel=1e-10)
    assert float(dist.entropy(jnp.asarray(params, F64))) == pytest.approx(np.sum(ref.entropy()), rel=1e-10)
    np.testing.assert_allclose(dist.mode(jnp.asarray(params, F64)), ref.mean(), rtol=1e-12)


@pytest.mark.slow
def test_beta_monte_carlo_mean_and_entropy():
    low, high = np.array([-2.0, 0.0]), np.array([2.0, 1.0])
    dist = Beta(2, tuple(low), tuple(high))
    params = np.array([0.3, 1.5, -0.4, 0.2])
    alpha, beta = beta_alpha_beta(params, 2)
    n = 100_000
    a = jax.vmap(dist.sample, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(2), n), jnp.asarray(params, F64))
    a_np = np.asarray(a)
    assert np.all((a_np >= low) & (a_np <= high))
    want = stats.beta(alpha, beta, loc=low, scale=high - low)
    assert np.all(np.abs(a_np.mean(axis=0) - want.mean()) < 4 * want.std() / math.sqrt(n))
    neg_logp = -np.asarray(jax.vmap(dist.log_prob, in_axes=(None, 0))(jnp.asarray(params, F64), a))
    ent = float(dist.entropy(jnp.asarray(params, F64)))
    assert abs(neg_logp.mean() - ent) < 4 * neg_logp.std() / math.sqrt(n)


def test_beta_finite_at_bounds():
    dist = Beta(2, -1.0, 1.0)
    params = jnp.array([3.0, 0.5, 0.2, 4.0])
    for action in (jnp.array([1.0, -1.0]), jnp.array([-1.0, 1.0])):
        assert bool(jnp.isfinite(dist.log_prob(params, action)))
        assert bool(jnp.all(jnp.isfinite(jax.grad(dist.log_prob)(params, action))))


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("dist", [TanhGaussian(3, (-2.0, 0.0, -1.0), (2.0, 1.0, 3.0)),
                                  Beta(3, (-2.0, 0.0, -1.0), (2.0, 1.0, 3.0))], ids=["tanh-gaussian", "beta"])
def test_log_prob_and_entropy_gradients_match_finite_differences(dist):
    params = jnp.asarray([0.3, -0.8, 1.1, -0.4, 0.2, 1.5], F64)  # log-stds inside the clip
    action = jnp.asarray([0.5, 0.2, 2.9], F64)
    for fn in (lambda p: dist.log_prob(p, action), dist.entropy):
        grad = np.asarray(jax.grad(fn)(params))
        eps = 1e-6
        fd = np.array([(float(fn(params.at[i].add(eps))) - float(fn(params.at[i].add(-eps)))) / (2 * eps)
                       for i in range(6)])
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- building
def test_make_distribution_from_env():
    env, _ = make_env("cue-reward")
    assert make_distribution(env) == Categorical(env.num_actions)
    env, _ = make_env("gymnax:Pendulum-v1")
    assert env.action_spec == ContinuousActions(1, (-2.0,), (2.0,))
    assert make_distribution(env) == TanhGaussian(1, -2.0, 2.0)
    assert make_distribution(env, "beta") == Beta(1, -2.0, 2.0)
    assert make_distribution(env, log_std_init=-0.5).log_std_init == -0.5
    with pytest.raises(PlastixError, match="action distribution"):
        make_distribution(env, "cauchy")


def test_bad_settings_are_refused():
    with pytest.raises(PlastixError, match="low must be below"):
        TanhGaussian(2, 1.0, 1.0)
    with pytest.raises(PlastixError, match="2 finite numbers"):
        Beta(2, (0.0, 0.0, 0.0), 1.0)
    with pytest.raises(PlastixError, match="action_dim"):
        Beta(0)
    with pytest.raises(PlastixError, match="log_std_init"):
        TanhGaussian(1, log_std_init=3.0)


def test_under_jit_and_vmap():
    dist = TanhGaussian(2, -1.0, 1.0)
    params = jnp.asarray(np.random.default_rng(1).normal(size=(5, 4)), F64)
    keys = jax.random.split(jax.random.PRNGKey(0), 5)
    a = jax.jit(jax.vmap(dist.sample))(keys, params)
    np.testing.assert_allclose(a, jnp.stack([dist.sample(k, p) for k, p in zip(keys, params)]), rtol=1e-13)
    np.testing.assert_allclose(jax.jit(jax.vmap(dist.log_prob))(params, a),
                               [float(dist.log_prob(p, x)) for p, x in zip(params, a)], rtol=1e-12)
