"""The score-function (REINFORCE, Williams 1992) exercises, checked numerically
(plastix.exercises.score_function).

The policy is the softmax MLP with one hidden layer; the problem is a small contextual bandit
(3 states with fixed input vectors, 3 actions), small enough to sum over every (s, a) exactly."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from plastix.errors import PlastixError
from plastix.exercises.score_function import (
    DiscreteProblem,
    eligibility_mean,
    eligibility_table,
    exact_gradient,
    expected_reward,
    init_mlp_policy,
    mlp_eligibility,
    mlp_forward,
    mlp_log_prob,
    reinforce_backprop_step,
    reinforce_estimate,
    reinforce_samples,
    reward_eligibility_cov,
)

D, H, A, S = 4, 5, 3, 3
PARAMS = init_mlp_policy(jax.random.PRNGKey(0), D, H, A, dtype=jnp.float64, scale=1.5)
XS = jax.random.normal(jax.random.PRNGKey(1), (S, D), jnp.float64)
PROBLEM = DiscreteProblem(p_s=jnp.array([0.5, 0.3, 0.2]),
                          R=jnp.array([[1.0, 0.0, -1.0], [0.0, 2.0, 0.5], [-1.0, 0.0, 3.0]]))
THETA0, UNRAVEL = ravel_pytree(PARAMS)


def logp_fn(theta):
    """θ (P,) -> log π(a|s) table (S, A) of the MLP policy on the 3 fixed inputs."""
    params = UNRAVEL(theta)
    return jax.vmap(lambda x: jax.nn.log_softmax(mlp_forward(params, x).logits))(XS)


def hand_eligibility_flat(s, a):
    return ravel_pytree(mlp_eligibility(PARAMS, XS[s], jnp.asarray(a)))[0]


@pytest.mark.slow
def test_hand_eligibility_equals_autodiff():
    for s in range(S):
        for a in range(A):
            hand = mlp_eligibility(PARAMS, XS[s], jnp.asarray(a))
            auto = jax.grad(mlp_log_prob)(PARAMS, XS[s], jnp.asarray(a))
            for h, g in zip(hand, auto):
                np.testing.assert_allclose(h, g, rtol=1e-12, atol=1e-14)
    # Batched with jit(vmap) as well.
    acts = jnp.array([0, 2, 1])
    hand = jax.jit(jax.vmap(mlp_eligibility, (None, 0, 0)))(PARAMS, XS, acts)
    auto = jax.vmap(jax.grad(mlp_log_prob), (None, 0, 0))(PARAMS, XS, acts)
    for h, g in zip(hand, auto):
        np.testing.assert_allclose(h, g, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_eligibility_has_zero_mean_exactly():
    # Exercise 2: E[e] = Σ_a π(a|s) ∇log π(a|s) = ∇ Σ_a π(a|s) = 0, per state.
    np.testing.assert_allclose(eligibility_mean(logp_fn, THETA0, PROBLEM), 0.0, atol=1e-13)
    probs = np.exp(np.asarray(logp_fn(THETA0)))
    for s in range(S):  # independently, with the hand eligibilities
        mean_s = sum(probs[s, a] * hand_eligibility_flat(s, a) for a in range(A))
        np.testing.assert_allclose(mean_s, 0.0, atol=1e-13)
    assert np.max(np.abs(eligibility_table(logp_fn, THETA0))) > 0.1  # not trivially zero


def test_eligibility_has_zero_mean_monte_carlo():
    # With R ≡ 1 the REINFORCE samples are the eligibilities themselves; their mean is within
    # 4.5 standard errors of 0 in every component (P = 43 components).
    ones = DiscreteProblem(PROBLEM.p_s, jnp.ones((S, A)))
    e = np.asarray(reinforce_samples(jax.random.PRNGKey(2), logp_fn, THETA0, ones, 20000))
    se = e.std(0, ddof=1) / math.sqrt(e.shape[0])
    assert np.all(np.abs(e.mean(0)) <= 4.5 * se + 1e-15)
    assert np.max(se) < 0.02  # and the test resolves small means


def test_gradient_equals_expected_reward_times_eligibility_and_covariance():
    grad = np.asarray(exact_gradient(logp_fn, THETA0, PROBLEM))
    # Finite differences of the exact J (no score function, no autodiff of log π).
    J = lambda th: float(expected_reward(logp_fn(th), PROBLEM))  # noqa: E731
    fd = np.array([(J(THETA0 + 1e-6 * u) - J(THETA0 - 1e-6 * u)) / 2e-6 for u in np.eye(THETA0.shape[0])])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    # Exercise 1: ∇J = E[R e], summed exactly with the hand eligibilities.
    probs = np.exp(np.asarray(logp_fn(THETA0)))
    e_R = sum(PROBLEM.p_s[s] * probs[s, a] * PROBLEM.R[s, a] * hand_eligibility_flat(s, a)
              for s in range(S) for a in range(A))
    np.testing.assert_allclose(e_R, grad, rtol=1e-10, atol=1e-13)
    # Exercise 3: ∇J = Cov(R, e).
    np.testing.assert_allclose(reward_eligibility_cov(logp_fn, THETA0, PROBLEM), grad, rtol=1e-10, atol=1e-13)
    assert np.linalg.norm(grad) > 0.1


def test_reinforce_estimate_error_shrinks_like_one_over_sqrt_n():
    grad = np.asarray(exact_gradient(logp_fn, THETA0, PROBLEM))
    # Exact per-sample variance: tr Cov[R e] = E[R² ‖e‖²] − ‖∇J‖², so E‖ĝ_N − ∇J‖² = tr Cov / N.
    w = np.asarray(PROBLEM.p_s)[:, None] * np.exp(np.asarray(logp_fn(THETA0)))
    e2 = np.sum(np.asarray(eligibility_table(logp_fn, THETA0)) ** 2, axis=-1)
    tr_cov = float(np.sum(w * np.asarray(PROBLEM.R) ** 2 * e2) - grad @ grad)
    keys = jax.random.split(jax.random.PRNGKey(3), 64)
    rmse = {}
    for n in (100, 10000):
        est = jax.jit(jax.vmap(lambda k, n=n: reinforce_estimate(k, logp_fn, THETA0, PROBLEM, n)))(keys)
        mse = float(np.mean(np.sum((np.asarray(est) - grad) ** 2, axis=-1)))
        # 64 repetitions of a sum over 43 components: the ratio is ≈ 1 within ~20 %.
        assert 0.6 < mse * n / tr_cov < 1.5, (n, mse * n / tr_cov)
        rmse[n] = math.sqrt(mse)
    assert 6.0 < rmse[100] / rmse[10000] < 16.0  # √(10000/100) = 10
    assert rmse[10000] < 0.05 * np.linalg.norm(grad)


@pytest.mark.learning
def test_reinforce_backprop_step_is_the_seed_update_and_learns():
    x, key = XS[1], jax.random.PRNGKey(4)
    reward_fn = lambda x, a: PROBLEM.R[1, a]  # noqa: E731
    out = reinforce_backprop_step(key, PARAMS, x, reward_fn, lr=0.1, baseline=0.5)
    a = jax.random.categorical(key, mlp_forward(PARAMS, x).logits)  # the same draw
    assert int(out.action) == int(a)
    g = jax.grad(mlp_log_prob)(PARAMS, x, a)
    for new, p, gg in zip(out.params, PARAMS, g):
        np.testing.assert_allclose(new, p + 0.1 * (PROBLEM.R[1, a] - 0.5) * gg, rtol=1e-12)

    # 600 steps on the contextual bandit, states drawn from p_s: J rises towards max_a R (= 1.6).
    def body(params, k):
        k_s, k_step = jax.random.split(k)
        s = jax.random.categorical(k_s, jnp.log(PROBLEM.p_s))
        step = reinforce_backprop_step(k_step, params, XS[s], lambda x, a: PROBLEM.R[s, a], lr=0.2)
        return step.params, step.reward

    final, _ = jax.jit(lambda p: jax.lax.scan(body, p, jax.random.split(jax.random.PRNGKey(5), 600)))(PARAMS)
    J0 = float(expected_reward(logp_fn(THETA0), PROBLEM))
    J1 = float(expected_reward(logp_fn(ravel_pytree(final)[0]), PROBLEM))
    j_max = float(np.sum(np.asarray(PROBLEM.p_s) * np.max(np.asarray(PROBLEM.R), axis=1)))
    assert J1 > J0 + 0.5 and J1 > 0.85 * j_max, (J0, J1, j_max)


def test_bad_inputs_raise():
    with pytest.raises(PlastixError, match="n_hidden"):
        init_mlp_policy(jax.random.PRNGKey(0), 3, 0, 2)
    with pytest.raises(PlastixError, match="p_s"):
        expected_reward(jnp.zeros((2, 3)), PROBLEM)
    with pytest.raises(PlastixError, match="n must be a positive integer"):
        reinforce_estimate(jax.random.PRNGKey(0), logp_fn, THETA0, PROBLEM, 0)
