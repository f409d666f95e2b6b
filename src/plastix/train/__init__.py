"""The generic trainer machinery (``harness``: the ``Trainer`` contract, segmented runs, seed keys,
the optimizer builder) and the supervised trainer. ``make_train(config)`` returns a pure
``train(key)`` to ``jit(vmap(...))`` over seeds; ``plastix.driver`` runs any trainer with a run
directory."""

from plastix.train.harness import Trainer, assemble_trainer, make_optimizer, run_segments, seed_keys, split_logs
from plastix.train.supervised import SupervisedConfig, TrainState, make_train, make_trainer

__all__ = [
    "SupervisedConfig",
    "TrainState",
    "Trainer",
    "assemble_trainer",
    "make_optimizer",
    "make_train",
    "make_trainer",
    "run_segments",
    "seed_keys",
    "split_logs",
]
