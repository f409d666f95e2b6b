"""Policy gradients (SPEC §3; seeds 000 and 004 §7.3): returns and advantages, REINFORCE,
advantage actor-critic with an entropy bonus, off-policy importance-sampled policy gradients,
and seed 000's score-function exercises. Every loss is a pure function of ONE trajectory;
batch with ``jax.vmap``. See docs/policy-gradients.md."""

from plastix.rl.losses import (
    A2CLoss,
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
from plastix.rl.score_function import (
    DiscreteProblem,
    MLPActivations,
    MLPPolicy,
    ReinforceStep,
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

__all__ = [
    "A2CLoss", "DiscreteProblem", "MLPActivations", "MLPPolicy", "ReinforceStep", "a2c_loss",
    "batch_mean_baseline", "concentration_penalty", "discount_from_done", "discounted_returns",
    "eligibility_mean",
    "eligibility_table", "entropy", "episode_cumsum", "episode_returns", "exact_gradient",
    "expected_reward", "gae_advantages", "init_mlp_policy", "is_first_order_loss",
    "is_per_decision_loss", "is_trajectory_loss", "lambda_returns", "log_prob", "mlp_eligibility",
    "mlp_forward", "mlp_log_prob", "n_step_returns", "policy_gradient_loss", "reinforce_backprop_step",
    "reinforce_estimate", "reinforce_samples", "reinforce_loss", "reward_eligibility_cov",
    "reward_to_go", "td_errors", "value_loss",
]
