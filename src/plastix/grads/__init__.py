"""Gradients through time: bptt, hand-bptt, truncated-bptt, rtrl behind one interface.

``make_grad_method(name, window=None, stride=None)`` returns a ``GradMethod`` whose
``value_and_grad(model, params, batch)`` computes the loss and gradient of one sequence.
"""

from __future__ import annotations

from plastix.errors import PlastixError, unknown_name
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
from plastix.grads.check import check_grads
from plastix.grads.clip import clip_by_global_norm, clip_elementwise, global_norm
from plastix.grads.influence import input_influence, plot_influence
from plastix.grads.rtrl import elman_rtrl, rtrl, rtrl_online, sensitivity_size
from plastix.grads.truncated import truncated_bptt, truncated_bptt_online

GRAD_METHODS = ("bptt", "hand-bptt", "truncated-bptt", "rtrl")


def make_grad_method(name: str, *, window: int | None = None, stride: int | None = None) -> GradMethod:
    """The gradient method called ``name`` (one of ``GRAD_METHODS``).

    ``window`` (h) and ``stride`` (h′) apply to "truncated-bptt" only: window None means the
    whole sequence (h = T, known at call time, so the gradient is BPTT's) and stride None
    means h′ = h. Passing them with another method raises a ``PlastixError``.
    """
    if name not in GRAD_METHODS:
        raise unknown_name("gradient method", name, GRAD_METHODS)
    if name == "truncated-bptt":
        return truncated_bptt(window, stride)
    if window is not None or stride is not None:
        raise PlastixError(f"window/stride apply to 'truncated-bptt' only, not to {name!r}.")
    if name == "bptt":
        return bptt()
    if name == "rtrl":
        return rtrl()
    try:
        from plastix.grads.hand import hand_bptt
    except ImportError as err:
        raise PlastixError("gradient method 'hand-bptt' is not available in this build.") from err
    return hand_bptt()


__all__ = [
    "GRAD_METHODS",
    "Batch",
    "GradMethod",
    "ModelParams",
    "SeqModel",
    "batched_value_and_grad",
    "bptt",
    "bptt_value_and_grad",
    "check_grads",
    "clip_by_global_norm",
    "clip_elementwise",
    "elman_rtrl",
    "global_norm",
    "input_influence",
    "make_batch",
    "make_grad_method",
    "plot_influence",
    "rtrl",
    "rtrl_online",
    "sensitivity_size",
    "truncated_bptt",
    "truncated_bptt_online",
]
