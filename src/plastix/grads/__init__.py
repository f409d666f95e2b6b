"""Gradients through time: bptt, hand-bptt, truncated-bptt, rtrl behind one interface."""

from plastix.grads.base import (
    Batch,
    GradMethod,
    ModelParams,
    SeqModel,
    batched_value_and_grad,
    bptt,
    bptt_value_and_grad,
    make_batch,
)

__all__ = [
    "Batch",
    "GradMethod",
    "ModelParams",
    "SeqModel",
    "batched_value_and_grad",
    "bptt",
    "bptt_value_and_grad",
    "make_batch",
]
