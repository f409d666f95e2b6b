"""Known-model planning: grids, value iteration, policy iteration, exact evaluation.

References are independent: a plain-Python transcription of the value-iteration loop
(R&N Fig. 17.4) on a grid built here by hand, brute force over every deterministic policy with
NumPy linear solves, published numbers (R&N fig. 17.3, S&B example 6.6) and hand derivations.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastix.errors import PlastixError
from plastix.mdp import (
    GRID_TASKS,
    grid_from_text,
    make_grid,
    mdp_from_arrays,
    policy_evaluation,
    policy_iteration,
    q_backup,
    random_sparse_mdp,
    sparse_mdp_from_arrays,
    to_dense,
    value_iteration,
)


@pytest.mark.parametrize("name", [n if n == "lecture-grid" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in GRID_TASKS])
@pytest.mark.parametrize("gamma", [None, 0.9])
def test_solvers_agree_on_builtin_grids(name, gamma):
    task = make_grid(name, gamma)
    vi = value_iteration(task.mdp, tol=1e-9)
    pi = policy_iteration(task.mdp)
    exact_vi_policy = policy_evaluation(task.mdp, vi.policy)
    np.testing.assert_allclose(vi.values, pi.values, atol=1e-8)
    np.testing.assert_allclose(exact_vi_policy, pi.values, atol=1e-8)
    assert float(pi.residual) < 1e-9
    # Both policies are greedy w.r.t. U*: each chosen action attains max_a Q*(s, a).
    q = np.asarray(q_backup(task.mdp, pi.values))
    live = ~np.asarray(task.mdp.terminal)
    for pol in (vi.policy, pi.policy):
        chosen = q[np.arange(len(q)), np.asarray(pol)]
        np.testing.assert_allclose(chosen[live], q.max(1)[live], atol=1e-8)


def test_aima_4x3_matches_published_utilities():
    # Russell & Norvig, AIMA 3rd ed., fig. 17.3: utilities with γ = 1 and R(s) = -0.04.
    published = [[0.812, 0.868, 0.918, 1.0], [0.762, None, 0.660, -1.0], [0.705, 0.655, 0.611, 0.388]]
    task = make_grid("aima-4x3")
    got = task.layout.to_grid(np.asarray(value_iteration(task.mdp).values).tolist())
    for row_p, row_g in zip(published, got):
        for p, g in zip(row_p, row_g):
            assert (p is None) == (g is None)
            if p is not None:
                assert abs(p - g) < 5e-4


def test_cliff_walking_optimal_value_is_minus_13():
    # Sutton & Barto ex. 6.6: the optimal path walks 13 steps along the cliff edge at -1 each.
    task = make_grid("cliff-walking")
    assert float(value_iteration(task.mdp).values[task.mdp.start]) == pytest.approx(-13.0)
    assert task.mdp.num_states == 4 * 12 - 10  # the 10 cliff cells are not states


def test_hand_derived_value_on_two_cell_grid():
    # Grid "S +1", R(S) = 0, slip 0.2, γ = 0.9. Acting E from S: 0.8 to the +1 cell, 0.1 N and
    # 0.1 S bump the border and stay. So U(S) = 0 + γ (0.8·1 + 0.2·U(S)), i.e.
    # U(S) = 0.8γ / (1 − 0.2γ) = 0.72 / 0.82 = 0.87804878...; acting W/N/S only stays (U = γU).
    task = grid_from_text(["S +1"], slip=0.2, gamma=0.9)
    vi = value_iteration(task.mdp, tol=1e-12)
    assert float(vi.values[0]) == pytest.approx(0.72 / 0.82, abs=1e-10)
    assert int(vi.policy[0]) == 1  # E
    assert float(policy_evaluation(task.mdp, vi.policy)[0]) == pytest.approx(0.72 / 0.82, abs=1e-12)


def _lecture_reference(gamma, eps=1e-12):
    """Value iteration (R&N Fig. 17.4) in plain Python on a hand-built model."""
    rewards = [[0, 0, 0], [0, -10, 10]]
    final = {(1, 1), (1, 2)}
    moves = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}

    def outcomes(r, c, a):  # intended 0.8, perpendicular 0.1 each, bumping stays put
        out = []
        for d, p in ((a, 0.8), ((a + 1) % 4, 0.1), ((a - 1) % 4, 0.1)):
            nr, nc = r + moves[d][0], c + moves[d][1]
            out.append(((nr, nc) if 0 <= nr < 2 and 0 <= nc < 3 else (r, c), p))
        return out

    U = [[0.0] * 3 for _ in range(2)]
    while True:
        old = [row[:] for row in U]
        for r in range(2):
            for c in range(3):
                if (r, c) in final:
                    U[r][c] = rewards[r][c]
                    continue
                best = max(sum(p * old[x][y] for (x, y), p in outcomes(r, c, a)) for a in range(4))
                U[r][c] = rewards[r][c] + gamma * best
        if max(abs(U[r][c] - old[r][c]) for r in range(2) for c in range(3)) < eps:
            return U


def test_lecture_grid_matches_plain_python_value_iteration():
    task = make_grid("lecture-grid", 0.9)
    got = task.layout.to_grid(np.asarray(value_iteration(task.mdp, tol=1e-11).values).tolist())
    np.testing.assert_allclose(got, _lecture_reference(0.9), atol=1e-9)


def test_value_iteration_residuals_contract_and_stop_with_guarantee():
    task = make_grid("lecture-grid", 0.9)
    tol = 1e-6
    vi = value_iteration(task.mdp, tol=tol)
    k = int(vi.iterations)
    hist = np.asarray(vi.residuals)
    assert np.all(np.isnan(hist[k:])) and not np.any(np.isnan(hist[:k]))
    # Contraction: δ_{k+1} <= γ δ_k (max norm), from the second sweep on.
    assert np.all(hist[1:k] <= 0.9 * hist[: k - 1] + 1e-12)
    assert hist[k - 1] < tol * (1 - 0.9) / 0.9 <= hist[k - 2]
    exact = np.asarray(policy_evaluation(task.mdp, policy_iteration(task.mdp).policy))
    assert np.max(np.abs(np.asarray(vi.values) - exact)) < tol


def _random_mdp(rng, S, A, gamma):
    P = rng.dirichlet(np.ones(S) * 0.5, size=(S, A))
    R = rng.normal(size=(S, A, S))
    terminal = rng.random(S) < 0.3
    terminal[0] = False
    return mdp_from_arrays(P, R, gamma=gamma, terminal=terminal, R_final=rng.normal(size=S) * terminal,
                           dtype=jnp.float64)


def _brute_force_optimum(P, R, term, R_final, gamma):
    """max over all A^S deterministic policies of U^π, each by a NumPy linear solve."""
    S, A, _ = P.shape
    best = np.full(S, -np.inf)
    for pol in itertools.product(range(A), repeat=S):
        P_pi = P[np.arange(S), pol]
        r_pi = np.sum(P_pi * R[np.arange(S), pol], axis=1)
        M = np.eye(S) - gamma * (~term)[:, None] * P_pi
        U = np.linalg.solve(M, np.where(term, R_final, r_pi))
        best = np.maximum(best, U)
    return best


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), S=st.sampled_from([3, 5]), A=st.sampled_from([2, 3]),
       gamma=st.floats(0.3, 0.95))
@pytest.mark.slow
def test_random_mdps_value_iteration_policy_iteration_and_brute_force_agree(seed, S, A, gamma):
    mdp = _random_mdp(np.random.default_rng(seed), S, A, gamma)
    ref = _brute_force_optimum(*(np.asarray(x) for x in (mdp.P, mdp.R, mdp.terminal, mdp.R_final)), gamma)
    vi = value_iteration(mdp, tol=1e-10)
    pi = policy_iteration(mdp)
    np.testing.assert_allclose(vi.values, ref, atol=1e-8)
    np.testing.assert_allclose(pi.values, ref, atol=1e-8)
    np.testing.assert_allclose(policy_evaluation(mdp, vi.policy), ref, atol=1e-8)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
@pytest.mark.slow
def test_sparse_and_dense_forms_give_the_same_plan(seed):
    sparse = random_sparse_mdp(jax.random.key(seed), 7, 3, 3, gamma=0.8, dtype=jnp.float64)
    dense = to_dense(sparse)
    # the dense form is a valid MDP (rows sum to 1) built independently of q_backup's gather
    np.testing.assert_allclose(np.asarray(dense.P).sum(-1), 1.0, atol=1e-12)
    v_s = value_iteration(sparse, tol=1e-10).values
    np.testing.assert_allclose(v_s, value_iteration(dense, tol=1e-10).values, atol=1e-9)
    np.testing.assert_allclose(v_s, policy_iteration(dense).values, atol=1e-9)


def test_solvers_under_jit_and_vmap_over_a_batch_of_mdps():
    rng = np.random.default_rng(0)
    mdps = [_random_mdp(rng, 4, 2, 0.9) for _ in range(5)]
    batch = jax.tree.map(lambda *xs: jnp.stack(xs), *mdps)
    vi_b = jax.jit(jax.vmap(lambda m: value_iteration(m, tol=1e-10).values))(batch)
    pi_b = jax.vmap(lambda m: policy_iteration(m).values)(batch)
    ev_b = jax.vmap(lambda m, p: policy_evaluation(m, p))(batch, jax.vmap(lambda m: policy_iteration(m).policy)(batch))
    for i, m in enumerate(mdps):
        one = value_iteration(m, tol=1e-10).values
        np.testing.assert_allclose(vi_b[i], one, atol=1e-9)
        np.testing.assert_allclose(pi_b[i], one, atol=1e-9)
        np.testing.assert_allclose(ev_b[i], one, atol=1e-9)


def test_stochastic_policy_evaluation_matches_iterated_expectation():
    task = make_grid("frozenlake-4x4")
    mdp = task.mdp
    pi = np.full((mdp.num_states, 4), 0.25)
    U = np.zeros(mdp.num_states)
    P, R, term, Rf = (np.asarray(x) for x in (mdp.P, mdp.R, mdp.terminal, mdp.R_final))
    for _ in range(5000):  # independent fixed-point iteration of U = r_π + γ P_π U
        U = np.where(term, Rf, np.einsum("sa,sat,sat->s", pi, P, R + 0.99 * U[None, None, :]))
    np.testing.assert_allclose(policy_evaluation(mdp, jnp.asarray(pi)), U, atol=1e-9)


def test_grid_transitions_follow_the_slip_model():
    task = make_grid("aima-4x3")
    so = task.layout.state_of
    P = np.asarray(task.mdp.P)
    s = so[2, 0]  # bottom-left (1,1) in R&N coordinates, acting N
    assert P[s, 0, so[1, 0]] == pytest.approx(0.8)
    assert P[s, 0, so[2, 1]] == pytest.approx(0.1)
    assert P[s, 0, s] == pytest.approx(0.1)  # the W slip bumps the border
    s = so[1, 2]  # next to the wall, acting W: 0.8 bumps the wall and stays
    assert P[s, 3, s] == pytest.approx(0.8)
    cliff = make_grid("cliff-walking")
    start = int(cliff.mdp.start)
    assert int(np.argmax(np.asarray(cliff.mdp.P)[start, 1])) == start  # E from start: into the cliff
    assert float(cliff.mdp.R[start, 1, start]) == -100.0


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        (["S . X"], {}, "unknown map symbol 'X' at row 0, column 2"),
        (["# . +1"], {"start": (0, 0)}, "is on a wall"),
        (["S . .", ". ."], {}, "same number of cells"),
        ([". . +1"], {}, "exactly one start"),
        (["S +1"], {"slip": 1.5}, "slip must be in [0, 1]"),
        (["S +1"], {"reward_on": "exit"}, "unknown reward convention"),
    ],
)
def test_bad_maps_are_rejected_with_the_cell_named(text, kwargs, message):
    with pytest.raises(PlastixError, match=__import__("re").escape(message)):
        grid_from_text(text, **kwargs)


def test_bad_arrays_are_rejected_naming_the_state():
    P = np.full((3, 2, 3), 1 / 3)
    P[1, 0] = [0.5, 0.4, 0.0]
    with pytest.raises(PlastixError, match="state 1, action 0 sum to 0.9"):
        mdp_from_arrays(P, np.zeros(3), gamma=0.9)
    with pytest.raises(PlastixError, match="gamma must be in"):
        mdp_from_arrays(np.full((3, 2, 3), 1 / 3), np.zeros(3), gamma=1.5)
    with pytest.raises(PlastixError, match="start state 2 is a final state"):
        mdp_from_arrays(np.full((3, 2, 3), 1 / 3), np.zeros(3), gamma=0.9, start=2, terminal=[0, 0, 1])
    with pytest.raises(PlastixError, match="R must have shape"):
        mdp_from_arrays(np.full((3, 2, 3), 1 / 3), np.zeros(4), gamma=0.9)
    with pytest.raises(PlastixError, match="sum to"):
        sparse_mdp_from_arrays(np.zeros((2, 1, 2), int), np.full((2, 1, 2), 0.4), np.zeros((2, 1, 2)), gamma=0.9)
    with pytest.raises(PlastixError, match="unknown grid task"):
        make_grid("lecture_grid")
