"""Scale-out of vmapped seeds across the local JAX devices (docs/scaling.md).

Every plastix trainer runs S seeds at once as ``jax.vmap`` over a leading seed axis
(``plastix.train.harness.run_segments``). Seeds never interact, so that axis can be split
across D devices with no communication: a 1-D ``Mesh`` of the devices with axis name
``"seeds"`` and ``NamedSharding(mesh, P("seeds"))`` on every leaf puts seeds
``[i b, (i+1) b)`` on device i (b = S'/D seeds per device). Each device runs ``jit(vmap(trainer.run))`` on its own
block of seeds, all blocks dispatched before any result is awaited::

    keys (S, 2) ──pad to S' = D b──▶ shard ──▶ per device: jit(vmap(init)), jit(vmap(run)) × segments
                                                   └─▶ global arrays (NamedSharding) ─▶ drop the S'−S pads

Why per-device dispatch and not ``shard_map`` / ``jit`` of the sharded arrays: XLA compiles an
SPMD-partitioned module with different fusions, and on CPU the Adam update then differed from
the single-device run in the last float32 ulp (measured, 7e-10 on one leaf after one update).
The same jitted program placed on each device gives results bitwise equal to one device (a
vmapped seed's result does not depend on how many seeds share its batch, as long as that batch
has at least 2: a batch of 1 is compiled differently). The cost: the program is compiled once
per device.

When S is not a multiple of D the key array is padded with copies of its last key (those
padded seeds are computed and thrown away), so any seed count works:
b = max(⌈S/D⌉, min(S, min_block)), where by default every device gets at least 2 seeds
(``min_block=2``) so that results stay bitwise equal.
The results equal the single-device ``run_segments`` bitwise (tests/test_parallel.py).

On CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=D`` (set before ``import jax``)
splits the host into D devices; on a multi-GPU machine the GPUs are the devices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from plastix.errors import PlastixError

SEED_AXIS = "seeds"


def seed_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: all local devices) with axis name ``"seeds"``."""
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise PlastixError("seed_mesh needs at least one device, got an empty list.")
    return Mesh(np.asarray(devices, dtype=object), (SEED_AXIS,))


def seed_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over the mesh's ``"seeds"`` axis, all other axes replicated."""
    return NamedSharding(mesh, PartitionSpec(SEED_AXIS))


def padded_size(num_seeds: int, num_devices: int, min_block: int = 1) -> int:
    """S' = D · b with b = max(⌈S / D⌉, min(S, min_block)) seeds per device."""
    return max(-(-num_seeds // num_devices), min(num_seeds, min_block)) * num_devices


def pad_seeds(tree: Any, size: int) -> Any:
    """Pad the leading (seed) axis of every leaf to ``size`` with copies of its last entry."""

    def pad(leaf):
        leaf = jax.numpy.asarray(leaf)
        extra = size - leaf.shape[0]
        if extra < 0:
            raise PlastixError(f"cannot pad a seed axis of {leaf.shape[0]} down to {size}.")
        if extra == 0:
            return leaf
        return jax.numpy.concatenate([leaf, jax.numpy.repeat(leaf[-1:], extra, axis=0)], axis=0)

    return jax.tree.map(pad, tree)


def unpad_seeds(tree: Any, num_seeds: int) -> Any:
    """The first ``num_seeds`` entries of the leading axis of every leaf."""
    return jax.tree.map(lambda leaf: leaf[:num_seeds], tree)


def shard_seeds(tree: Any, mesh: Mesh | None = None) -> Any:
    """Place every leaf (leading axis = seeds, a multiple of the device count) split over ``mesh``."""
    mesh = seed_mesh() if mesh is None else mesh
    num_devices = mesh.devices.size
    for leaf in jax.tree.leaves(tree):
        if np.ndim(leaf) == 0 or np.shape(leaf)[0] % num_devices:
            raise PlastixError(f"shard_seeds needs a leading seed axis divisible by the {num_devices} devices, "
                               f"got a leaf of shape {np.shape(leaf)}; pad it first (pad_seeds).")
    return jax.device_put(tree, seed_sharding(mesh))


def seed_devices(tree: Any) -> set[jax.Device]:
    """The devices holding the leaves of ``tree`` (to check how a state is spread)."""
    return {d for leaf in jax.tree.leaves(tree) for d in leaf.sharding.device_set}


def device_blocks(tree: Any, mesh: Mesh) -> list[Any]:
    """Split a seed-sharded tree into one tree per mesh device (that device's block of seeds)."""
    leaves, treedef = jax.tree.flatten(tree)
    shards = [{s.device: s.data for s in leaf.addressable_shards} for leaf in leaves]
    return [treedef.unflatten([by_device[d] for by_device in shards]) for d in mesh.devices.flat]


def assemble_blocks(blocks: Sequence[Any], mesh: Mesh) -> Any:
    """Inverse of ``device_blocks``: global arrays (NamedSharding over ``"seeds"``) from blocks."""
    sharding = seed_sharding(mesh)

    def join(*parts):
        shape = (sum(p.shape[0] for p in parts), *parts[0].shape[1:])
        return jax.make_array_from_single_device_arrays(shape, sharding, list(parts))

    return jax.tree.map(join, *blocks)


def init_sharded(trainer, keys: jax.Array, mesh: Mesh) -> Any:
    """Stacked TrainStates (S', ...) from seed-sharded keys (S', 2), each block on its device."""
    init = jax.jit(jax.vmap(trainer.init))
    return assemble_blocks([init(block) for block in device_blocks(keys, mesh)], mesh)


def run_sharded(run, states: Any, num_logs: int, mesh: Mesh) -> tuple[Any, dict]:
    """``run = jit(vmap(trainer.run))`` on every device's block of ``states`` (dispatched to all
    devices before any result is awaited, so the devices work concurrently). Returns the new
    sharded states and host metrics {name: (S', num_logs)}."""
    outs = [run(block, num_logs) for block in device_blocks(states, mesh)]
    metrics = jax.device_get([m for _, m in outs])
    merged = {k: np.concatenate([m[k] for m in metrics], axis=0) for k in metrics[0]}
    return assemble_blocks([s for s, _ in outs], mesh), merged


def run_segments_sharded(trainer, keys: jax.Array, segments: Sequence[int],
                         on_segment: Callable[[int, dict], None] | None = None,
                         devices: Sequence[jax.Device] | None = None, min_block: int = 2, states: Any = None,
                         done: int = 0, after_segment: Callable[[int, Any, dict], None] | None = None):
    """``run_segments`` with the seeds split across ``devices`` (default: all local devices).

    trainer: a ``plastix.train.harness.Trainer`` (pure ``init(key)``, ``run(state, n)``);
    keys (S, 2); segments: log points per jitted segment. ``on_segment(done_logs, metrics)``
    gets host metrics of the segment, each (S, n). Returns (states, metrics) as
    ``run_segments`` does: states with a leading axis S (NamedSharding over the devices; the
    padding dropped) and metrics {name: (S, sum(segments))} NumPy arrays, bitwise equal to
    ``run_segments(trainer, keys, segments)`` on one device.

    states: stacked TrainStates (S, ...) to continue (e.g. restored from a checkpoint) instead of
    ``init(keys)``; done: log points already done (resume). after_segment(done_logs, states,
    metrics): called after ``on_segment`` with the unpadded states (checkpoints).

    min_block: each device gets at least min(S, min_block) seeds. XLA compiles a vmapped batch
    of one seed differently from a batch of several (measured on the policy-gradient trainer:
    differences of 1.5e-8 in float32), so the default 2 keeps the results bitwise equal to the
    single-device run at the cost of padded work when S < 2 D; 1 skips that padding.
    """
    mesh = seed_mesh(devices)
    num_seeds = int(keys.shape[0])
    size = padded_size(num_seeds, mesh.devices.size, min_block)
    keys = shard_seeds(pad_seeds(keys, size), mesh)
    if states is None:
        states = init_sharded(trainer, keys, mesh)
    else:
        states = shard_seeds(pad_seeds(states, size), mesh)
    run = jax.jit(jax.vmap(trainer.run, in_axes=(0, None)), static_argnums=1)
    parts: list[dict] = []
    for n in segments:
        states, metrics = run_sharded(run, states, n, mesh)
        parts.append(unpad_seeds(metrics, num_seeds))
        done += n
        if on_segment is not None:
            on_segment(done, parts[-1])
        if after_segment is not None:
            after_segment(done, unpad_seeds(states, num_seeds), parts[-1])
    if not parts:
        return unpad_seeds(states, num_seeds), {}
    merged = {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}
    if keys.shape[0] != num_seeds:
        states = unpad_seeds(states, num_seeds)
    return states, merged


__all__ = [
    "assemble_blocks",
    "device_blocks",
    "init_sharded",
    "run_sharded",
    "SEED_AXIS",
    "pad_seeds",
    "padded_size",
    "run_segments_sharded",
    "seed_devices",
    "seed_mesh",
    "seed_sharding",
    "shard_seeds",
    "unpad_seeds",
]
