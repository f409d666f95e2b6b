"""Markov decision processes: known models (value iteration, policy iteration, exact policy
evaluation), unknown models (estimating P from counts), and tabular TD learning (Q-learning,
SARSA) on grid worlds (Russell & Norvig 2010, ch. 17 and 21; Sutton & Barto 2018, ch. 4 and 6)."""

from plastix.mdp.estimate import Counts, ModelBasedMetrics, estimate_mdp, init_counts, model_based, update_counts
from plastix.mdp.grids import ACTIONS, GRID_TASKS, GridLayout, GridTask, grid_from_text, make_grid
from plastix.mdp.mdp import (
    MDP,
    SparseMDP,
    bellman_optimality,
    mdp_from_arrays,
    q_backup,
    random_sparse_mdp,
    sparse_mdp_from_arrays,
    to_dense,
    values_from_q,
)
from plastix.mdp.planning import (
    PIResult,
    VIResult,
    epsilon_greedy_probs,
    greedy_policy,
    policy_evaluation,
    policy_iteration,
    value_iteration,
)
from plastix.mdp.tabular import (
    ALGOS,
    EnvState,
    TabularConfig,
    TrainMetrics,
    TrainResult,
    env_reset,
    env_step,
    epsilon_greedy,
    train,
    train_seeds,
)

__all__ = [
    "ACTIONS", "ALGOS", "GRID_TASKS", "MDP", "Counts", "EnvState", "GridLayout", "GridTask",
    "ModelBasedMetrics", "PIResult", "SparseMDP", "TabularConfig", "TrainMetrics", "TrainResult",
    "VIResult", "bellman_optimality", "env_reset", "env_step", "epsilon_greedy", "epsilon_greedy_probs",
    "estimate_mdp", "greedy_policy", "grid_from_text", "init_counts", "make_grid", "mdp_from_arrays",
    "model_based", "policy_evaluation", "policy_iteration", "q_backup", "random_sparse_mdp",
    "sparse_mdp_from_arrays", "to_dense", "train", "train_seeds", "update_counts", "value_iteration",
    "values_from_q",
]
