"""The public boundary checks of plastix.errors shared by the algorithms (trajectory shapes,
clip_norm) and the common base of the dense and sparse MDP."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from plastix.dqn.config import DQNConfig, validate as validate_dqn
from plastix.errors import PlastixError, check_clip_norm, check_trajectory, check_vector
from plastix.mdp.mdp import MDP, FiniteMDP, SparseMDP, mdp_from_arrays, sparse_mdp_from_arrays, to_dense
from plastix.rl.trainer import RLConfig, validate as validate_rl


def test_check_trajectory_returns_T_and_names_the_bad_array():
    assert check_trajectory(jnp.zeros(5), ("discount_t", jnp.ones(5)), ("v_t", jnp.ones(5))) == 5
    with pytest.raises(PlastixError, match=r"v_t must have shape \(5,\) .* got shape \(6,\)"):
        check_trajectory(jnp.zeros(5), ("discount_t", jnp.ones(5)), ("v_t", jnp.ones(6)))
    with pytest.raises(PlastixError, match=r"r_t must have shape \(T,\) with T >= 1 .* got shape \(0,\)"):
        check_trajectory(jnp.zeros(0))
    with pytest.raises(PlastixError, match=r"x must have shape \(3,\) .* got shape \(1, 3\)"):
        check_vector("x", jnp.zeros((1, 3)), 3)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_clip_norm_rejected_alike_by_every_trainer(bad):
    with pytest.raises(PlastixError, match="clip_norm must be positive"):
        check_clip_norm(bad)
    with pytest.raises(PlastixError, match="clip_norm must be positive"):
        validate_rl(RLConfig(task="bandit", clip_norm=bad))
    with pytest.raises(PlastixError, match="clip_norm must be positive"):
        validate_dqn(DQNConfig(clip_norm=bad))
    check_clip_norm(None)
    check_clip_norm(0.5)


def test_dense_and_sparse_mdp_share_their_fields_and_sizes():
    # 2 states, 3 actions, 2 successors: state 1 final, every action from 0 goes to 0 or 1.
    succ = np.array([[[0, 1]] * 3, [[1, 1]] * 3])
    prob = np.array([[[0.25, 0.75]] * 3, [[0.5, 0.5]] * 3])
    sparse = sparse_mdp_from_arrays(succ, prob, np.ones((2, 3, 2)), gamma=0.9, terminal=[False, True],
                                    R_final=[0.0, 2.0], dtype=jnp.float64)
    dense = to_dense(sparse)
    for m in (sparse, dense):
        assert isinstance(m, FiniteMDP) and (m.num_states, m.num_actions) == (2, 3)
        np.testing.assert_array_equal(m.terminal, [False, True])
        np.testing.assert_array_equal(m.R_final, [0.0, 2.0])
        assert int(m.start) == 0 and float(m.gamma) == pytest.approx(0.9)
    assert isinstance(sparse, SparseMDP) and isinstance(dense, MDP)
    np.testing.assert_allclose(dense.P[0, 1], [0.25, 0.75])  # merged from the sparse table
    again = mdp_from_arrays(np.asarray(dense.P), np.asarray(dense.R), gamma=0.9, terminal=[False, True],
                            R_final=[0.0, 2.0], dtype=jnp.float64)
    assert again.replace(gamma=jnp.asarray(0.5)).gamma == 0.5 and float(again.gamma) == pytest.approx(0.9)
