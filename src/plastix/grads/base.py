"""A sequence model (core + linear readout + per-step loss) and the gradient-method interface.

A gradient method is a small named pair of pure functions, in the manner of optax's
``GradientTransformation``: all of them compute the gradient of the *same* loss

    L(θ) = Σ_t w_t ℓ(y_t, target_t),   y_t = V h_t + c,   h_t from the core

for one unbatched sequence, so a trainer can swap them (``make_grad_method``) and tests can
hold them to each other. Batches come from ``vmap`` (``batched_value_and_grad``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.adapter import as_core
from plastix.cores.base import Core, Readout, init_readout, sequence_outputs
from plastix.errors import PlastixError

PyTree = Any
LOSSES = ("mse", "xent")


class ModelParams(NamedTuple):
    core: PyTree
    readout: Readout | None  # None when the core's output already is y_t (Jordan)


class Batch(NamedTuple):
    """One sequence (add a leading batch axis for a batch).

    xs: (T, d) inputs; targets: (T, out) floats for "mse" or (T,) int labels for "xent";
    weights: (T,) loss weight w_t of each step (0 where no target);
    resets: (T,) bool, an episode starts at t (carry back to its initial value before step t).
    """

    xs: jax.Array
    targets: jax.Array
    weights: jax.Array
    resets: jax.Array


@dataclasses.dataclass(frozen=True)
class SeqModel:
    """Core + linear readout + per-step loss ℓ.

    loss "mse": ℓ = ½‖y_t − target_t‖²; "xent": ℓ = −log softmax(y_t)[label_t]
    (eq. for sequence labelling). ``readout=False`` uses the core's output as y_t.
    """

    core: Core
    output_size: int
    loss: str = "mse"
    readout: bool = True

    def __post_init__(self):
        if not isinstance(self.core, Core):  # bring-your-own core: any object with the core protocol
            object.__setattr__(self, "core", as_core(self.core))
        if self.loss not in LOSSES:
            raise PlastixError(f"loss must be one of {list(LOSSES)}, got {self.loss!r}.")
        if not self.readout and self.core.output_size != self.output_size:
            raise PlastixError(
                f"without a readout the core's output size ({self.core.output_size}) must equal "
                f"output_size ({self.output_size})."
            )

    def init(self, key: jax.Array) -> ModelParams:
        k_core, k_out = jax.random.split(key)
        readout = None
        if self.readout:
            readout = init_readout(k_out, self.core.output_size, self.output_size, self.core.jdtype)
        return ModelParams(self.core.init(k_core), readout)

    def output(self, params: ModelParams, h: jax.Array) -> jax.Array:
        """y_t = V h_t + c for one step: h (n,) -> y (out,)."""
        if params.readout is None:
            return h
        return params.readout.V @ h + params.readout.c

    def step_loss(self, y: jax.Array, target: jax.Array) -> jax.Array:
        """ℓ(y_t, target_t) for one step."""
        if self.loss == "mse":
            return 0.5 * jnp.sum((y - target) ** 2)
        return -jax.nn.log_softmax(y)[target]

    def loss_from_hidden(self, params: ModelParams, hs: jax.Array, batch: Batch) -> jax.Array:
        """Σ_t w_t ℓ(V h_t + c, target_t) given all hidden outputs hs (T, n)."""
        ys = jax.vmap(self.output, in_axes=(None, 0))(params, hs)
        losses = jax.vmap(self.step_loss)(ys, batch.targets)
        return jnp.sum(batch.weights * losses)

    def apply(self, params: ModelParams, xs: jax.Array, resets: jax.Array | None = None) -> jax.Array:
        """Outputs y_t (T, out) for one sequence."""
        hs = sequence_outputs(self.core, params.core, xs, resets)
        return jax.vmap(self.output, in_axes=(None, 0))(params, hs)

    def sequence_loss(self, params: ModelParams, batch: Batch) -> jax.Array:
        hs = sequence_outputs(self.core, params.core, batch.xs, batch.resets)
        return self.loss_from_hidden(params, hs, batch)


class GradMethod(NamedTuple):
    """``value_and_grad(model, params, batch) -> (loss, grads)`` for one unbatched sequence."""

    name: str
    value_and_grad: Callable[[SeqModel, ModelParams, Batch], tuple[jax.Array, ModelParams]]


def bptt_value_and_grad(model: SeqModel, params: ModelParams, batch: Batch):
    """Epochwise BPTT: reverse-mode autodiff through the ``lax.scan`` of the whole sequence."""
    return jax.value_and_grad(model.sequence_loss)(params, batch)


def bptt() -> GradMethod:
    return GradMethod("bptt", bptt_value_and_grad)


def batched_value_and_grad(method: GradMethod, model: SeqModel, params: ModelParams, batch: Batch):
    """Mean loss and mean gradient over a batch (leading axis of every field of ``batch``)."""
    losses, grads = jax.vmap(method.value_and_grad, in_axes=(None, None, 0))(model, params, batch)
    return jnp.mean(losses), jax.tree.map(lambda g: jnp.mean(g, axis=0), grads)


def make_batch(xs, targets, weights=None, resets=None) -> Batch:
    """A ``Batch`` with default weights (1 everywhere) and resets (none)."""
    T = xs.shape[-2]
    lead = xs.shape[:-1]
    if weights is None:
        weights = jnp.ones(lead, xs.dtype)
    if resets is None:
        resets = jnp.zeros(lead, bool)
    if weights.shape != lead or resets.shape != lead:
        raise PlastixError(f"weights and resets must have shape {lead} (T={T}), got {weights.shape} and {resets.shape}.")
    return Batch(xs, targets, weights.astype(xs.dtype), resets)
