"""Gradient clipping (Mikolov 2012; Pascanu, Mikolov & Bengio 2013), as plastix names over optax.

* elementwise:  ḡ_i = max(min(g_i, c), −c)                       (``optax.clip``)
* global norm:  ḡ = g · min(‖g‖, c) / ‖g‖,  ‖g‖² = Σ over all leaves of Σ g_i²
                                                                  (``optax.clip_by_global_norm``)

Both take and return a gradient pytree (``None`` leaves, e.g. a missing readout, pass through).
In a trainer, prefer chaining the optax transform itself: ``optax.chain(optax.clip_by_global_norm(c),
optax.adam(lr))``.
"""

from __future__ import annotations

import math
from typing import Any

import optax

from plastix.errors import PlastixError

PyTree = Any


def _check_threshold(name: str, value) -> None:
    """Reject non-positive or non-finite Python thresholds (traced values pass unchecked)."""
    if isinstance(value, (int, float)) and not (math.isfinite(value) and value > 0):
        raise PlastixError(f"{name} must be a finite number > 0, got {value!r}.")


def clip_by_global_norm(grads: PyTree, max_norm: float) -> PyTree:
    """Rescale ``grads`` so that their global L2 norm is at most ``max_norm``.

    ḡ = g if ‖g‖ < c else g c / ‖g‖ (the direction is kept; Pascanu et al. 2013, Algorithm 1).
    """
    _check_threshold("max_norm", max_norm)
    clipped, _ = optax.clip_by_global_norm(max_norm).update(grads, optax.EmptyState())
    return clipped


def clip_elementwise(grads: PyTree, limit: float) -> PyTree:
    """Clip every gradient entry to [−limit, limit] (Mikolov 2012's per-element clipping)."""
    _check_threshold("limit", limit)
    clipped, _ = optax.clip(limit).update(grads, optax.EmptyState())
    return clipped


def global_norm(grads: PyTree):
    """‖g‖ = sqrt(Σ_leaves Σ_i g_i²)."""
    return optax.global_norm(grads)
