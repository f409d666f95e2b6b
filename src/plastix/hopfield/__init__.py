"""Hopfield networks: the classical binary network (Hopfield 1982) with Hebbian, pseudo-inverse
and Storkey storage, and the modern continuous network (Ramsauer et al. 2021), with the storage
capacity experiment (Amit, Gutfreund & Sompolinsky 1985). See docs/hopfield.md.

The figure of the capacity experiment is drawn by ``plastix.hopfield.plots`` (matplotlib,
imported on use).
"""

from plastix.hopfield import classical, modern
from plastix.hopfield.capacity import (
    CLASSICAL_LOADS,
    MODELS,
    MODERN_LOADS,
    CapacitySettings,
    capacity_curve,
    collapse_load,
    default_loads,
)
from plastix.hopfield.classical import (
    RULES,
    AsyncResult,
    async_sweep,
    energy,
    flip_bits,
    hebbian,
    overlap,
    pseudo_inverse,
    random_patterns,
    run_async,
    store,
    storkey,
    sync_update,
)

__all__ = [
    "CLASSICAL_LOADS",
    "MODELS",
    "MODERN_LOADS",
    "RULES",
    "AsyncResult",
    "CapacitySettings",
    "async_sweep",
    "capacity_curve",
    "classical",
    "collapse_load",
    "default_loads",
    "energy",
    "flip_bits",
    "hebbian",
    "modern",
    "overlap",
    "pseudo_inverse",
    "random_patterns",
    "run_async",
    "store",
    "storkey",
    "sync_update",
]
