"""The actors of an asynchronous run: plain classes, made Ray actors by ``remote`` at run time
(Ray is an optional extra, imported only when a run starts).

An A3C actor (Mnih et al. 2016, Algorithm S3, one "actor-learner thread" without its own
optimizer) holds the plastix RL ``Setup`` of the run's ``RLConfig`` and its own PRNG key
stream; given the learner's parameters θ_v and their version v it draws B fresh episodes with
them and returns ∇_θ L (``plastix.rl.trainer.gradients``, jitted once per actor) with v::

    key_k       = fold_in(PRNGKey(seed), stream)            stream: 0, 1, ... one per actor ever made
    key, k_roll = split(key)                                 per gradient
    g, parts, ro = gradients(setup, θ_v, k_roll)             B episodes of T steps from a reset

A replacement actor gets the next unused ``stream``, so no two actors (and no actor and its
replacement) ever draw the same episodes.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import numpy as np

from plastix.errors import PlastixError


def require_ray():
    """The ``ray`` module, or a PlastixError naming the extra to install."""
    try:
        import ray
    except ImportError as err:
        raise PlastixError(f"asynchronous and distributed actors need Ray, which is not installed ({err}); install "
                           "the extra: pip install 'plastix[ray]'.") from None
    return ray


def remote(ray, cls: type, num_cpus: float):
    """``cls`` as a Ray actor class reserving ``num_cpus`` CPUs per actor."""
    return ray.remote(num_cpus=num_cpus, max_restarts=0)(cls)


def actor_key(seed: int, stream: int) -> jax.Array:
    """The first PRNG key of the actor with key stream ``stream`` in a run of ``seed``."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), stream)


class GradientReport(NamedTuple):
    """One actor's answer: the gradient, the version of θ it was computed at, and what it saw."""

    grads: Any  # a pytree like the parameters (NumPy)
    computed_at: int  # the learner version v of θ_v
    env_steps: int  # B · T environment steps behind it
    metrics: dict  # charts/episodic_return, losses/* (floats)
    stream: int  # the actor's key stream
    traces: int  # how often the actor's gradient function was traced (1 after the first call)
    seconds: float  # the actor's time for it (rollout + gradient, wall clock)


def gradient_metrics(setup, params, key):
    """(∇_θ L, {metric: ()}) of one batch of B episodes drawn with ``key`` (pure; jit it)."""
    from plastix.rl.trainer import episodic_return, gradients

    grads, parts, ro = gradients(setup, params, key)
    return grads, {"charts/episodic_return": episodic_return(ro), "losses/policy_loss": parts.policy,
                   "losses/value_loss": parts.value, "losses/entropy": parts.entropy}


class GradientWorker:
    """An A3C actor: ``compute(params, version) -> GradientReport`` (module docstring)."""

    def __init__(self, config, seed: int, stream: int):
        from plastix.rl.trainer import build_setup
        from plastix.train.harness import set_dtype

        set_dtype(config.dtype)
        self.setup, self.stream = build_setup(config), stream
        self.key = actor_key(seed, stream)
        self.traces = 0
        self._grad = jax.jit(self._traced)

    def _traced(self, params, key):
        self.traces += 1  # runs only while tracing
        return gradient_metrics(self.setup, params, key)

    def compute(self, params, version: int) -> GradientReport:
        start = time.perf_counter()
        self.key, k_roll = jax.random.split(self.key)
        grads, metrics = jax.device_get(self._grad(params, k_roll))
        steps = self.setup.config.batch_size * self.setup.num_steps
        return GradientReport(jax.tree.map(np.asarray, grads), int(version), steps,
                              {k: float(v) for k, v in metrics.items()}, self.stream, self.traces,
                              time.perf_counter() - start)

    def pid(self) -> int:
        import os

        return os.getpid()


__all__ = ["GradientReport", "GradientWorker", "actor_key", "gradient_metrics", "remote", "require_ray"]
