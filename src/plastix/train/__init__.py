"""Trainers. ``make_train(config)`` returns a pure ``train(key)`` to ``jit(vmap(...))`` over seeds."""

from plastix.train.supervised import (
    SupervisedConfig,
    Trainer,
    TrainState,
    make_train,
    make_trainer,
    run_segments,
    seed_keys,
    split_logs,
)

__all__ = [
    "SupervisedConfig",
    "TrainState",
    "Trainer",
    "make_train",
    "make_trainer",
    "run_segments",
    "seed_keys",
    "split_logs",
]
