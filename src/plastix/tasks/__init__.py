"""Supervised sequence tasks: ``get_task(name) -> TaskSpec`` (see ``SEQUENCE_TASKS``).

A ``TaskSpec`` says what a trainer needs to know: sizes, the SeqModel loss, defaults
(sequence length T, budget in training sequences, learning rate), the metric and the
metric's baseline (the number a model without long-lag memory reaches). The maths of each
task is in ``plastix.tasks.sequence`` and ``plastix.tasks.reber``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from plastix.errors import PlastixError, unknown_name
from plastix.grads.base import Batch
from plastix.tasks.reber import reber_all_correct, reber_baseline, sample_reber
from plastix.tasks.sequence import (
    adding_baseline,
    copy_accuracy,
    copy_loss_baseline,
    last_step_accuracy,
    sample_adding,
    sample_copy,
    sample_temporal_order,
    weighted_mse,
)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A supervised sequence task.

    sampler(key, batch_size, T, dtype) -> Batch with a leading batch axis; metric_fn(ys, batch)
    -> scalar with ys (B, L, output_size); baseline_fn(T) -> the metric's baseline.
    """

    name: str
    input_size: int
    output_size: int
    loss: str  # SeqModel loss: "mse" or "xent"
    default_T: int
    min_T: int
    default_budget: int  # training sequences per seed
    default_lr: float
    metric: str
    higher_is_better: bool
    sampler: Callable[..., Batch]
    metric_fn: Callable[[jax.Array, Batch], jax.Array]
    baseline_fn: Callable[[int], float]
    description: str
    # --- tasks from data (plastix.tasks.data): a longest T, and a held-out sampler for evaluation
    max_T: int | None = None  # None: no upper bound on seq_len
    eval_sampler: Callable[..., Batch] | None = None  # None: evaluate on fresh ``sampler`` batches

    def sample(self, key: jax.Array, batch_size: int, T: int, dtype=jnp.float32) -> Batch:
        return self.sampler(key, batch_size, T, dtype)

    def sample_eval(self, key: jax.Array, batch_size: int, T: int, dtype=jnp.float32) -> Batch:
        """An evaluation batch: from the held-out sampler if the task has one."""
        return (self.eval_sampler or self.sampler)(key, batch_size, T, dtype)

    def baseline(self, T: int) -> float:
        return float(self.baseline_fn(T))

    def check_T(self, T: int) -> int:
        if self.max_T is not None and self.max_T == self.min_T and T != self.min_T:
            raise PlastixError(f"task {self.name!r} has sequences of {self.min_T} steps: seq_len must be "
                               f"{self.min_T}, got {T!r}.")
        if isinstance(T, bool) or not isinstance(T, int) or T < self.min_T:
            raise PlastixError(f"task {self.name!r} needs seq_len >= {self.min_T}, got {T!r}.")
        if self.max_T is not None and T > self.max_T:
            raise PlastixError(f"task {self.name!r} needs seq_len <= {self.max_T}, got {T!r}.")
        return T


SEQUENCE_TASKS: dict[str, TaskSpec] = {
    "adding": TaskSpec(
        "adding", 2, 1, "mse", default_T=100, min_T=2, default_budget=128_000, default_lr=3e-3,
        metric="mse", higher_is_better=False, sampler=sample_adding, metric_fn=weighted_mse,
        baseline_fn=adding_baseline,
        description="sum of the two marked values (Arjovsky et al. 2016); baseline MSE 1/6",
    ),
    "copy": TaskSpec(
        "copy", 10, 9, "xent", default_T=10, min_T=1, default_budget=256_000, default_lr=1e-2,
        metric="accuracy", higher_is_better=True, sampler=sample_copy, metric_fn=copy_accuracy,
        baseline_fn=lambda T: 1.0 / 8.0,
        description="copy 10 symbols after a lag T (Arjovsky et al. 2016); chance accuracy 1/8",
    ),
    "temporal-order": TaskSpec(
        "temporal-order", 8, 4, "xent", default_T=50, min_T=10, default_budget=32_000,
        default_lr=1e-3, metric="accuracy", higher_is_better=True, sampler=sample_temporal_order,
        metric_fn=last_step_accuracy, baseline_fn=lambda T: 0.25,
        description="order of X/Y at two random times (H&S 1997 exp. 6a); chance 1/4",
    ),
    "reber": TaskSpec(
        "reber", 7, 7, "mse", default_T=40, min_T=9, default_budget=32_000, default_lr=3e-3,
        metric="strings_correct", higher_is_better=True, sampler=sample_reber,
        metric_fn=reber_all_correct, baseline_fn=reber_baseline,
        description="embedded Reber grammar, next legal symbols (H&S 1997 exp. 1); baseline 1/2",
    ),
}


def get_task(name: str) -> TaskSpec:
    """The task called ``name`` (raises with the closest valid name if unknown).

    ``"data:<path>"`` is a task from a ``.npz`` or ``.csv`` file (``plastix.tasks.data``)."""
    if name.startswith(DATA_PREFIX):
        from plastix.tasks.data import load_data_task

        return load_data_task(name[len(DATA_PREFIX):])
    if name not in SEQUENCE_TASKS:
        raise unknown_name("task", name, SEQUENCE_TASKS)
    return SEQUENCE_TASKS[name]


from plastix.tasks.mackey_glass import MackeyGlassParams, jaeger_squash, jaeger_unsquash, mackey_glass, nrmse  # noqa: E402
from plastix.tasks.data import PREFIX as DATA_PREFIX  # noqa: E402  "data:<path>": a task from your own arrays
from plastix.tasks.data import SequenceData, as_data_task, data_task, load_data, make_sequence_data  # noqa: E402

__all__ = [
    "DATA_PREFIX",
    "SEQUENCE_TASKS",
    "MackeyGlassParams",
    "SequenceData",
    "TaskSpec",
    "as_data_task",
    "data_task",
    "load_data",
    "make_sequence_data",
    "copy_loss_baseline",
    "get_task",
    "jaeger_squash",
    "jaeger_unsquash",
    "mackey_glass",
    "nrmse",
]
