"""Model-free tabular RL: the environment step, Q-learning, SARSA, schedules, cliff walking.

References: Q* and Q^π from the planners (themselves checked against brute force in
test_mdp.py), an independent NumPy fixed-point iteration for the ε-soft Bellman equation, and
the published cliff-walking result of Sutton & Barto (2nd ed., example 6.6 and fig. 6.4).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastix.errors import PlastixError
from plastix.mdp import (
    TabularConfig,
    env_reset,
    env_step,
    epsilon_greedy_probs,
    grid_from_text,
    make_grid,
    mdp_from_arrays,
    policy_evaluation,
    q_backup,
    train,
    train_seeds,
    value_iteration,
)
from plastix.mdp.tabular import epsilon_greedy, greedy_return, linear_schedule, sample_index

SMALL = grid_from_text(["S . .", ". # +1"], slip=0.0, living=-0.1, gamma=0.9)  # deterministic


def test_env_step_samples_the_transition_model():
    task = make_grid("frozenlake-4x4")
    mdp = task.mdp
    state = env_reset(mdp)._replace(s=jnp.asarray(4, jnp.int32))  # row 1, column 0
    keys = jax.random.split(jax.random.key(0), 6000)
    _, tr = jax.vmap(lambda k: env_step(k, mdp, state, jnp.asarray(1), 100))(keys)  # E
    freq = np.bincount(np.asarray(tr.next_s), minlength=mdp.num_states) / 6000
    # slippery: 1/3 each to E (state 5, a hole), N (state 0) and S (state 8); binomial sd ~ 0.006
    np.testing.assert_allclose(freq, np.asarray(mdp.P[4, 1]), atol=0.025)
    assert np.all(np.asarray(tr.terminated) == (np.asarray(tr.next_s) == 5))


def test_env_auto_resets_on_final_state_and_on_the_step_cap():
    mdp = SMALL.mdp
    so = SMALL.layout.state_of
    key = jax.random.key(0)
    st = env_reset(mdp)._replace(s=jnp.asarray(so[0, 2], jnp.int32), t=jnp.asarray(3, jnp.int32))
    st2, tr = env_step(key, mdp, st, jnp.asarray(2), 50)  # S into the +1 cell
    assert bool(tr.terminated) and int(tr.next_s) == so[1, 2]
    assert int(st2.s) == int(mdp.start) and int(st2.t) == 0
    st = env_reset(mdp)._replace(t=jnp.asarray(49, jnp.int32))
    st3, tr = env_step(key, mdp, st, jnp.asarray(1), 50)  # E: an ordinary move, but the 50th step
    assert bool(tr.truncated) and not bool(tr.terminated) and int(st3.s) == int(mdp.start)
    assert float(tr.reward) == pytest.approx(-0.1)


def test_linear_schedule():
    assert float(linear_schedule(jnp.asarray(0), 1.0, 0.1, 100)) == pytest.approx(1.0)
    assert float(linear_schedule(jnp.asarray(50), 1.0, 0.1, 100)) == pytest.approx(0.55)
    assert float(linear_schedule(jnp.asarray(500), 1.0, 0.1, 100)) == pytest.approx(0.1)
    assert float(linear_schedule(jnp.asarray(500), 0.3, None, 100)) == pytest.approx(0.3)


@pytest.mark.learning
def test_q_learning_converges_to_planned_q_star_on_a_deterministic_mdp():
    # Deterministic transitions make every TD target exact given Q, so with all pairs visited
    # (ε = 1: uniform behaviour) Q-learning's fixed point is Q* and it is reached to rounding.
    mdp = SMALL.mdp
    q_star = np.asarray(value_iteration(mdp, tol=1e-12).q)
    cfg = TabularConfig(algo="q-learning", total_steps=20_000, lr=0.5, epsilon=1.0, log_every=1_000,
                        max_episode_steps=50)
    res = train_seeds(jax.random.split(jax.random.key(1), 4), mdp, cfg)
    live = ~np.asarray(mdp.terminal)
    np.testing.assert_allclose(np.asarray(res.q)[:, live], np.broadcast_to(q_star[live], (4, *q_star[live].shape)),
                               atol=1e-8)


def _eps_soft_q(mdp, eps, iters=3000):
    """Independent NumPy fixed point of Q = Σ P (R + γ [(1−ε) max Q + ε mean Q]) (SARSA's limit)."""
    P, R, term, Rf = (np.asarray(x) for x in (mdp.P, mdp.R, mdp.terminal, mdp.R_final))
    Q = np.zeros(P.shape[:2])
    for _ in range(iters):
        U = np.where(term, Rf, (1 - eps) * Q.max(1) + eps * Q.mean(1))
        Q = np.einsum("sat,sat->sa", P, R + float(mdp.gamma) * U[None, None, :])
    return Q


@pytest.mark.learning
def test_sarsa_converges_to_q_of_its_epsilon_greedy_policy():
    mdp, eps = SMALL.mdp, 0.2
    cfg = TabularConfig(algo="sarsa", total_steps=100_000, lr=0.5, lr_visit_power=0.7, epsilon=eps,
                        log_every=10_000, max_episode_steps=50)
    res = train_seeds(jax.random.split(jax.random.key(2), 3), mdp, cfg)
    live = ~np.asarray(mdp.terminal)
    q_soft = _eps_soft_q(mdp, eps)
    q_star = np.asarray(value_iteration(mdp, tol=1e-12).q)
    assert np.abs(q_soft - q_star)[live].max() > 0.1  # the two targets are distinguishable
    for q in np.asarray(res.q):
        q_pi = np.asarray(q_backup(mdp, policy_evaluation(mdp, epsilon_greedy_probs(jnp.asarray(q), eps))))
        assert np.abs(q - q_pi)[live].max() < 0.05  # Q ≈ Q^π of ε-greedy(Q), by a linear solve
        assert np.abs(q - q_soft)[live].max() < 0.05
        assert np.abs(q - q_star)[live].max() > 0.08  # and not Q*


def _greedy_path(task, q):
    """Cells visited by following argmax Q from the start (cliff walking is deterministic)."""
    P = np.asarray(task.mdp.P)
    s, path = int(task.mdp.start), []
    for _ in range(60):
        path.append(task.layout.cells[s])
        if bool(task.mdp.terminal[s]):
            break
        s = int(np.argmax(P[s, int(np.argmax(q[s]))]))
    return path


@pytest.mark.learning
def test_cliff_walking_sarsa_is_safe_and_q_learning_takes_the_edge():
    # Sutton & Barto ex. 6.6 / fig. 6.4 (ε = 0.1): SARSA's online return per episode is higher
    # (about -25 against -50), Q-learning learns the optimal edge path, SARSA the safe path.
    task = make_grid("cliff-walking")
    keys = jax.random.split(jax.random.key(3), 20)
    out = {}
    for algo in ("sarsa", "q-learning"):
        cfg = TabularConfig(algo=algo, total_steps=20_000, lr=0.5, lr_end=0.05, epsilon=0.1, log_every=1_000,
                            max_episode_steps=500)
        out[algo] = train_seeds(keys, task.mdp, cfg)
    online = {a: np.nanmean(np.asarray(r.metrics.episodic_return)[:, 5:]) for a, r in out.items()}
    assert online["sarsa"] > online["q-learning"] + 10
    edge_row = 2  # the row just above the cliff
    q_paths = [_greedy_path(task, q) for q in np.asarray(out["q-learning"].q)]
    s_paths = [_greedy_path(task, q) for q in np.asarray(out["sarsa"].q)]
    edge = [(3, 0)] + [(2, c) for c in range(12)] + [(3, 11)]
    assert np.mean([p == edge for p in q_paths]) >= 0.8
    safe = [p[-1] == (3, 11) and all(r < edge_row for r, c in p if 1 <= c <= 10) for p in s_paths]
    assert np.mean(safe) >= 0.8
    assert np.all(np.asarray(out["q-learning"].metrics.greedy_return)[:, -1] == -13.0)  # = U*(start)


def test_vmapped_seeds_equal_single_runs():
    cfg = TabularConfig(algo="sarsa", total_steps=600, lr=0.3, epsilon=0.3, log_every=200, max_episode_steps=20)
    keys = jax.random.split(jax.random.key(4), 3)
    batch = train_seeds(keys, SMALL.mdp, cfg)
    for i in range(3):
        one = train(keys[i], SMALL.mdp, cfg)
        np.testing.assert_allclose(batch.q[i], one.q, atol=1e-12)
        np.testing.assert_allclose(batch.metrics.greedy_return[i], one.metrics.greedy_return, atol=1e-12)
    # visits add up to the step budget
    np.testing.assert_allclose(np.asarray(batch.visits).sum(axis=(1, 2)), 600)


def test_greedy_return_counts_rewards_and_the_final_utility():
    # "S . .", ". # +1": E, E, S from the start = three -0.1 living rewards, then the +1 utility.
    q = np.zeros((SMALL.mdp.num_states, 4))
    so = SMALL.layout.state_of
    q[so[0, 0], 1] = q[so[0, 1], 1] = q[so[0, 2], 2] = 1.0
    assert float(greedy_return(jax.random.key(0), SMALL.mdp, jnp.asarray(q), 20, 3)) == pytest.approx(-0.3 + 1.0)
    # a policy that walks into the border forever is cut at the cap: 20 living rewards
    q_stuck = np.zeros_like(q)
    q_stuck[:, 0] = 1.0  # always N
    assert float(greedy_return(jax.random.key(0), SMALL.mdp, jnp.asarray(q_stuck), 20)) == pytest.approx(-2.0)


def test_greedy_return_averages_sampled_episodes():
    # "S +1" with slip 0.2 acting E: each step reaches +1 w.p. 0.8, else stays (R = -0.04 per
    # step), so the return is 1 - 0.04·T with T ~ Geometric(0.8): E = 1 - 0.04/0.8 = 0.95.
    task = grid_from_text(["S +1"], slip=0.2, living=-0.04, gamma=1.0)
    q = jnp.asarray([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    got = float(greedy_return(jax.random.key(1), task.mdp, q, 200, 4000))
    assert got == pytest.approx(0.95, abs=0.004)  # sd of the mean ≈ 0.0004


@pytest.mark.parametrize(
    "kwargs, message",
    [({"algo": "dqn"}, "unknown algorithm"), ({"total_steps": 0}, "total_steps must be a positive"),
     ({"total_steps": 1000, "log_every": 300}, "multiple of log_every"), ({"lr": 0.0}, "step size"),
     ({"epsilon": 1.5}, "epsilon must be in"), ({"lr_visit_power": 2.0}, "lr_visit_power")],
)
def test_bad_tabular_config_is_rejected(kwargs, message):
    with pytest.raises(PlastixError, match=message):
        TabularConfig(**kwargs)


def test_epsilon_greedy_action_frequencies():
    # π(a) = ε/A + (1 − ε)/n for the n tied greedy actions, ε/A for the others.
    q_s = jnp.asarray([1.0, 3.0, 3.0, 0.0])
    eps = 0.3
    keys = jax.random.split(jax.random.key(5), 20_000)
    acts = np.asarray(jax.vmap(lambda k: epsilon_greedy(k, q_s, eps))(keys))
    freq = np.bincount(acts, minlength=4) / len(acts)
    want = np.array([eps / 4, eps / 4 + (1 - eps) / 2, eps / 4 + (1 - eps) / 2, eps / 4])
    np.testing.assert_allclose(freq, want, atol=0.015)  # binomial sd <= 0.0036


def test_inverse_cdf_sampling_never_picks_impossible_states():
    probs = jnp.asarray([0.0, 0.5, 0.0, 0.5, 0.0], jnp.float32)
    us = jnp.asarray([0.0, 0.25, 0.4999, 0.5, 0.75, 1.0 - 2.0**-24], jnp.float32)
    got = np.asarray(jax.vmap(lambda u: sample_index(u, probs))(us))
    np.testing.assert_array_equal(got, [1, 1, 1, 3, 3, 3])


@pytest.mark.learning
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_q_learning_on_random_deterministic_mdps_reaches_q_star(seed):
    rng = np.random.default_rng(seed)
    S, A = 5, 2
    P = np.zeros((S, A, S))
    P[np.arange(S)[:, None], np.arange(A)[None, :], rng.integers(0, S, (S, A))] = 1.0
    mdp = mdp_from_arrays(P, rng.normal(size=(S, A, S)), gamma=0.8, dtype=jnp.float64)
    cfg = TabularConfig(algo="q-learning", total_steps=20_000, lr=0.5, epsilon=1.0, log_every=10_000,
                        max_episode_steps=30, eval_episodes=1)
    res = train(jax.random.key(seed % 1000), mdp, cfg)
    q_star = np.asarray(value_iteration(mdp, tol=1e-12).q)
    visits = np.asarray(res.visits)
    # states whose every action was tried often (each visit shrinks the error by <= 1 - α(1 - γ)),
    # closed under their successors; unreachable or rarely tried states are not compared
    seen = visits.min(axis=1) >= 250
    succ = P.argmax(-1)  # (S, A)
    for _ in range(S):  # keep only states whose successors are all kept (a closed, well-tried set)
        seen = seen & seen[succ].all(axis=1)
    assert seen[int(np.argmax(visits.sum(1)))]  # the most visited state's closed set is non-empty
    np.testing.assert_allclose(np.asarray(res.q)[seen], q_star[seen], atol=1e-6)
