"""The generic machinery every plastix trainer shares: the ``Trainer`` contract, segmented runs,
seed keys, the one optimizer builder and the float64 switch.

A trainer (supervised, policy-gradient, DQN, tabular) is three pure functions over a named
state pytree, PureJaxRL style (Lu et al. 2022, "Discovered policy optimisation", whose
``make_train(config)`` returns one jittable ``train(key)``)::

    init(key)            -> state                   one seed's fresh training state
    run(state, n_logs)   -> (state, metrics)        n_logs log chunks; metrics {name: (n_logs,)}
    train(key)           -> (state, metrics)        run(init(key), config.num_logs)

so ``jax.jit(jax.vmap(trainer.train))(keys)`` trains many seeds at once, and ``run_segments``
runs the same computation in a few jitted segments (a progress bar, checkpoints), bitwise equal
to one call. ``trainer.setup.config`` is the trainer's frozen config; it has ``num_logs``.

This module imports nothing of plastix but ``plastix.errors`` (and ``plastix.parallel`` when
there are several devices): every algorithm package builds on it, and the training driver
(``plastix.driver``) runs what they build.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from plastix.errors import PlastixError, check_at_most, unknown_name

MAX_SKIPS = 2**30  # apply_if_finite never gives up: a non-finite gradient is always skipped
OPTIMIZERS = ("adam", "rmsprop")
DTYPES = ("float32", "float64")

State = Any  # a trainer's state pytree (a NamedTuple of arrays)
Metrics = dict  # {metric name: array with a trailing log axis}


class Trainer(NamedTuple):
    """The contract of every plastix trainer (pure functions; ``setup`` holds the static parts).

    init:  ``(key (2,)) -> state``
    run:   ``(state, n_logs: int static) -> (state, metrics {name: (n_logs,)})``
    train: ``(key) -> (state, metrics {name: (config.num_logs,)})``
    setup: anything static, with a ``config`` attribute (a frozen dataclass with ``num_logs``)
    """

    init: Callable[[jax.Array], State]
    run: Callable[[State, int], tuple[State, Metrics]]
    train: Callable[[jax.Array], tuple[State, Metrics]]
    setup: Any


def assemble_trainer(setup, init_state: Callable, log_chunk: Callable) -> Trainer:
    """The ``Trainer`` of a trainer from its two pure pieces:
    ``init_state(setup, key) -> state`` and ``log_chunk(setup, state, _) -> (state, metrics)``
    (one log point). ``run(state, n)`` scans ``n`` log chunks (metrics get a trailing axis n);
    ``train(key)`` runs ``setup.config.num_logs`` of them from ``init_state``."""

    init = functools.partial(init_state, setup)

    def run(state, num_logs: int):
        return lax.scan(functools.partial(log_chunk, setup), state, None, num_logs)

    def train(key):
        return run(init(key), setup.config.num_logs)

    return Trainer(init, run, train, setup)


def make_optimizer(kind: Literal["adam", "rmsprop"], lr: float, lr_end: float | None, clip_norm: float | None,
                   num_updates: int, eps: float | None = None, *,
                   skip_nonfinite: bool = True) -> optax.GradientTransformation:
    """The optimizer of every gradient trainer: clip to a global norm (``clip_norm``; None = no
    clipping), then Adam (Kingma & Ba 2015) or centered RMSProp with decay 0.95 and ε 0.01 (the
    DQN paper's, Mnih et al. 2015, Extended Data Table 1), skipping any update whose gradient is
    not finite. The step size is ``lr``, or decays linearly from ``lr`` to ``lr_end`` over
    ``num_updates`` (a skipped update does not advance the schedule: ``apply_if_finite`` keeps
    the old state). ``eps``: Adam's ε (None = optax's 1e-8; Backpropamine's released code uses
    1e-6 for cue-reward and 1e-4 for the maze).

    ``skip_nonfinite=False`` leaves the skip out, for a trainer that makes it itself (the DQN
    loop folds it into the select it makes anyway, ``plastix.dqn.trainer``)."""
    if kind not in OPTIMIZERS:
        raise unknown_name("optimizer", kind, OPTIMIZERS)
    clip = optax.identity() if clip_norm is None else optax.clip_by_global_norm(clip_norm)
    step = lr if lr_end is None else optax.linear_schedule(lr, lr_end, max(1, int(num_updates)))
    adam = optax.adam(step) if eps is None else optax.adam(step, eps=eps)
    opt = adam if kind == "adam" else optax.rmsprop(step, decay=0.95, eps=0.01, centered=True)
    inner = optax.chain(clip, opt)
    return optax.apply_if_finite(inner, MAX_SKIPS) if skip_nonfinite else inner


def set_dtype(dtype: str) -> None:
    """Switch JAX to 64-bit when a config asks for float64 (the one place plastix does so).
    JAX's x64 flag is process-wide and must be set before the arrays are built."""
    if dtype not in DTYPES:
        raise unknown_name("dtype", dtype, DTYPES)
    if dtype == "float64" and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


def seed_keys(seeds: Sequence[int]) -> jax.Array:
    """(S, 2) keys, one per seed: ``PRNGKey(seed)``."""
    return jnp.stack([jax.random.PRNGKey(s) for s in seeds])


def split_logs(num_logs: int, segments: int) -> list[int]:
    """Split ``num_logs`` into at most ``segments`` nearly equal positive parts."""
    segments = max(1, min(segments, num_logs))
    base, extra = divmod(num_logs, segments)
    return [base + (i < extra) for i in range(segments)]


def run_segments(trainer: Trainer, keys: jax.Array, segments: Sequence[int], on_segment=None, *,
                 start: tuple[Any, int] | None = None, after_segment: Callable | None = None,
                 shard: bool | None = None):
    """Train all seeds (vmapped) in jitted segments of ``segments[i]`` log points each.

    ``on_segment(done_logs, metrics_of_segment)`` is called after each segment (a progress bar,
    checks that may raise). Returns (states, metrics) with metrics arrays of shape
    (S, sum(segments)), equal bitwise to ``jax.jit(jax.vmap(trainer.train))(keys)``.

    ``start=(states, done)`` continues from restored states (``keys`` unused, ``done_logs``
    counted from ``done``); ``after_segment(done_logs, states, metrics_of_segment)`` runs after
    ``on_segment`` (e.g. to write a checkpoint).

    ``shard``: split the seeds across all local devices (``plastix.parallel``, bitwise the same
    results); None = whenever there is more than one device.
    """
    if len(jax.local_devices()) > 1 if shard is None else shard:
        from plastix.parallel import run_segments_sharded

        states, done = (None, 0) if start is None else start
        return run_segments_sharded(trainer, keys, segments, on_segment, states=states, done=done,
                                    after_segment=after_segment)
    if start is None:
        states, done = jax.jit(jax.vmap(trainer.init))(keys), 0
    else:
        states, done = start
    run = jax.jit(jax.vmap(trainer.run, in_axes=(0, None)), static_argnums=1)
    parts: list[dict] = []
    for n in segments:
        states, metrics = run(states, n)
        parts.append(jax.device_get(metrics))
        done += n
        if on_segment is not None:
            on_segment(done, parts[-1])
        if after_segment is not None:
            after_segment(done, states, parts[-1])
    if not parts:
        return states, {}
    merged = {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}
    return states, merged


def check_seeds(seed, seeds) -> list[int]:
    """``seed`` (first, non-negative) and ``seeds`` (how many) -> the seed list."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise PlastixError(f"seeds must be a positive integer, got {seeds!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PlastixError(f"seed must be a non-negative integer, got {seed!r}.")
    check_at_most("the last seed (seed + seeds - 1)", seed + seeds - 1, why="a seed becomes a 32-bit PRNG key")
    return list(range(seed, seed + seeds))
