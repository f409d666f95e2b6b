"""The DQN family: DQN (Mnih et al. 2015) with Double (van Hasselt et al.
2016), Dueling (Wang et al. 2016), prioritized replay (Schaul et al. 2016), n-step targets and
recurrent Q-networks (R2D2-style burn-in, Kapturowski et al. 2019), on any plastix core, with a
conv torso for image observations. Documentation: docs/dqn.md."""

from plastix.dqn.config import DQNConfig, validate
from plastix.dqn.networks import QNetwork, QParams, Unrolled, conv_torso, dueling_aggregate
from plastix.dqn.replay import Replay, Sample, Step, importance_weights, window_priority
from plastix.dqn.targets import bootstrap_values, linear_schedule, n_step_target, td_loss, window_targets
from plastix.dqn.trainer import Setup, TrainState, build_setup, evaluate, make_trainer

__all__ = [
    "DQNConfig",
    "QNetwork",
    "QParams",
    "Replay",
    "Sample",
    "Setup",
    "Step",
    "TrainState",
    "Unrolled",
    "bootstrap_values",
    "build_setup",
    "conv_torso",
    "dueling_aggregate",
    "evaluate",
    "importance_weights",
    "linear_schedule",
    "make_trainer",
    "n_step_target",
    "td_loss",
    "validate",
    "window_priority",
    "window_targets",
]
