"""Unknown model: counts, the maximum-likelihood estimate, and planning on it (R&N 2010, §21.2.2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.mdp import estimate_mdp, init_counts, make_grid, model_based, update_counts, value_iteration


def test_estimate_from_counts_matches_numpy_bookkeeping():
    mdp = make_grid("lecture-grid").mdp
    rng = np.random.default_rng(0)
    S = mdp.num_states
    trans = [(rng.integers(3), rng.integers(4), rng.integers(S), rng.normal()) for _ in range(40)]
    counts = init_counts(mdp)
    N, Rs = np.zeros((S, 4, S)), np.zeros((S, 4, S))
    for s, a, s2, r in trans:
        counts = update_counts(counts, s, a, s2, r)
        N[s, a, s2] += 1
        Rs[s, a, s2] += r
    est = estimate_mdp(counts, mdp)
    for s in range(S):
        for a in range(4):
            n = N[s, a].sum()
            want = N[s, a] / n if n else np.full(S, 1 / S)  # uniform for unseen (s, a)
            np.testing.assert_allclose(est.P[s, a], want, atol=1e-12)
            for s2 in range(S):
                want_r = Rs[s, a, s2] / N[s, a, s2] if N[s, a, s2] else 0.0
                assert abs(float(est.R[s, a, s2]) - want_r) < 1e-12
    assert bool(jnp.all(est.terminal == mdp.terminal)) and float(est.gamma) == float(mdp.gamma)


def test_counts_proportional_to_the_true_model_recover_its_plan():
    mdp = make_grid("aima-4x3", 0.95).mdp
    counts = init_counts(mdp)._replace(n=1000 * mdp.P, r_sum=1000 * mdp.P * mdp.R)
    est = estimate_mdp(counts, mdp)
    np.testing.assert_allclose(value_iteration(est).values, value_iteration(mdp).values, atol=1e-9)


@pytest.mark.learning
def test_plan_on_estimated_model_approaches_the_true_optimum():
    task = make_grid("lecture-grid", 0.9)
    mdp = task.mdp
    v_star = float(value_iteration(mdp, tol=1e-10).values[mdp.start])
    keys = jax.random.split(jax.random.key(0), 8)
    run = jax.vmap(model_based, in_axes=(0, None, None, None, None, None))
    _, m = run(keys, mdp, 50, 30, 0.2, task.max_episode_steps)
    gap = v_star - np.asarray(m.plan_value)  # (seeds, phases), >= 0 up to rounding
    assert np.all(gap > -1e-8)
    assert gap[:, 0].mean() > 0.5  # after 50 steps the plan is poor ...
    assert gap[:, -1].mean() < 0.05  # ... after 1500 steps it is nearly optimal
    err = np.asarray(m.model_error).mean(0)
    assert err[-1] < 0.5 * err[0]  # the estimated P̂ approaches P
    np.testing.assert_allclose(np.asarray(m.steps)[0], 50 * np.arange(1, 31))
