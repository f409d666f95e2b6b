"""Learning from demonstrations: a demonstrations file format, behavioural cloning for any
plastix core (recurrent cores see whole episodes), DAgger (Ross, Gordon & Bagnell 2011) with
the planner or a trained agent as the expert, and action heads for continuous actions that
can hold several modes (a mixture of Gaussians, a discretised head) next to one Gaussian
(docs/imitation.md)."""

from plastix.imitation.bc import (
    BCConfig,
    Policy,
    PolicyParams,
    Sequences,
    bc_loss,
    bc_train,
    behavioural_cloning,
    sequence_log_likelihood,
    to_sequences,
)
from plastix.imitation.dagger import SCHEDULES, DAggerConfig, DAggerResult, beta_schedule, dagger
from plastix.imitation.demos import Demos, concat_demos, episode_bounds, load_demos, make_demos, save_demos
from plastix.imitation.experts import AgentExpert, TableExpert
from plastix.imitation.grid import GridEnv, GridParams, grid_env, planner_policy
from plastix.imitation.heads import HEADS, Categorical, DiagGaussian, Discretised, MixtureGaussian, make_head
from plastix.imitation.rollout import Step, agent_demos, episode_costs, first_episodes, mixed_rollout, mixed_rollouts

__all__ = [
    "HEADS", "SCHEDULES", "AgentExpert", "BCConfig", "Categorical", "DAggerConfig", "DAggerResult", "Demos",
    "DiagGaussian", "Discretised", "GridEnv", "GridParams", "MixtureGaussian", "Policy", "PolicyParams",
    "Sequences", "Step", "TableExpert", "agent_demos", "bc_loss", "bc_train", "behavioural_cloning",
    "beta_schedule", "concat_demos", "dagger", "episode_bounds", "episode_costs", "first_episodes",
    "grid_env", "load_demos", "make_demos", "make_head", "mixed_rollout", "mixed_rollouts",
    "planner_policy", "save_demos", "sequence_log_likelihood", "to_sequences",
]
