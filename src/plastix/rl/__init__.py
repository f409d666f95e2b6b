"""Policy gradients (Williams 1992; Sutton et al. 2000): returns and advantages, REINFORCE,
advantage actor-critic with an entropy bonus, off-policy importance-sampled policy gradients.
Every loss is a pure function of ONE trajectory; batch with ``jax.vmap``. See
docs/policy-gradients.md. The actor-critic agent (any core + policy and value heads) and the
a2c / reinforce trainer: ``agent.py``, ``trainer.py``, docs/rl-training.md. The score-function
exercises are in ``plastix.exercises``. Action distributions of the policy head (discrete,
tanh-squashed Gaussian, Beta): ``distributions.py``."""

from plastix.rl.agent import ActorCritic, AgentOut, AgentParams, FeedForward, agent_core_names, make_agent_core
from plastix.rl.distributions import Beta, Categorical, TanhGaussian, make_distribution
from plastix.rl.losses import (
    LossParts,
    a2c_loss,
    batch_mean_baseline,
    concentration_penalty,
    entropy,
    is_first_order_loss,
    is_per_decision_loss,
    is_trajectory_loss,
    log_prob,
    policy_gradient_loss,
    reinforce_loss,
    value_loss,
)
from plastix.rl.returns import (
    discount_from_done,
    discounted_returns,
    episode_cumsum,
    episode_returns,
    gae_advantages,
    lambda_returns,
    n_step_returns,
    reward_to_go,
    td_errors,
)
from plastix.rl.trainer import (
    RLConfig,
    Rollout,
    batch_loss,
    build_setup,
    collect_rollout,
    evaluate,
    make_trainer,
    rollout_batch,
    train_seeds,
)

__all__ = [
    "ActorCritic", "AgentOut", "AgentParams", "FeedForward", "RLConfig", "Rollout",
    "agent_core_names", "batch_loss", "build_setup", "collect_rollout", "evaluate",
    "make_agent_core", "make_trainer", "rollout_batch", "train_seeds", "LossParts", "a2c_loss",
    "batch_mean_baseline", "concentration_penalty", "discount_from_done", "discounted_returns",
    "entropy", "episode_cumsum", "episode_returns", "gae_advantages", "is_first_order_loss",
    "is_per_decision_loss", "is_trajectory_loss", "lambda_returns", "log_prob", "n_step_returns",
    "policy_gradient_loss", "reinforce_loss", "reward_to_go", "td_errors", "value_loss",
    "Beta", "Categorical", "TanhGaussian", "make_distribution",
]
