"""Asynchronous advantage actor-critic on Ray actors (Mnih et al. 2016, "Asynchronous methods for
deep reinforcement learning", Algorithm S3), with the shared parameters held by one learner.

K actors (``plastix.distributed.actors.GradientWorker``, one process each) and the learner in
the calling process (``plastix.distributed.learner.Learner``)::

    learner: θ_0 = the a2c initialisation of seed s, v = 0; send (θ_0, 0) to every actor
    actor k: repeat  — with its copy θ_{v_k}: B episodes of T steps from a reset (the a2c
             rollout), g_k = ∇_θ L(θ_{v_k}) (the a2c loss, ``plastix.rl.trainer.gradients``),
             send (g_k, v_k) and wait for new parameters
    learner: as each (g_k, v_k) arrives (ray.wait): τ = v − v_k; apply it with Adam if
             τ ≤ τ_max (else drop and count it); send the actor (θ_v, v)
             until v = num_updates

With one actor this is a2c with B episodes per update (τ = 0 always); with K actors the
learner applies K gradients in the time one actor computes one, each of a policy up to ≈ K − 1
updates old. The paper's actor-learners run n-step returns on their own copies and apply
Hogwild! updates to shared memory; here each actor's gradient is the plastix a2c gradient of
whole episodes (Monte-Carlo returns), and the update is serialised through the learner (its
"parameter server" variant), which is what makes staleness measurable and boundable.

An actor that dies (its process killed, ``ray.exceptions.RayActorError``) is replaced by a
fresh one with the same settings and a new key stream (``plastix.distributed.fleet``); the run
goes on and reaches its budget.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from plastix.distributed.learner import ActorSettings
from plastix.errors import PlastixError

A3C_METRICS = ("charts/episodic_return", "losses/policy_loss", "losses/value_loss", "losses/entropy",
               "distributed/version", "distributed/accepted", "distributed/staleness", "distributed/staleness_mean",
               "distributed/staleness_max", "distributed/dropped", "distributed/replaced", "distributed/updates_per_s",
               "distributed/env_steps_per_s", "distributed/actor_stream", "distributed/actor_seconds",
               "distributed/learner_seconds")


@dataclasses.dataclass(frozen=True)
class A3CConfig(ActorSettings):
    """An asynchronous actor-critic run: the a2c setting each actor computes its gradient with
    (``rl``: B = ``rl.batch_size`` episodes per gradient, the loss, Adam and its step size;
    ``rl.num_updates`` = gradients the learner applies), and the actors (``ActorSettings``,
    keyword-only; ``max_staleness`` 4)."""

    rl: Any  # plastix.rl.trainer.RLConfig (algo a2c)


class A3CResult(NamedTuple):
    params: Any  # the learner's final parameters (one agent)
    run_dir: Any  # pathlib.Path
    config: A3CConfig
    applied: int  # gradients applied (= rl.num_updates)
    dropped: int  # gradients dropped as too stale
    replaced: int  # actors replaced after dying
    staleness_mean: float
    staleness_max: int
    env_steps: int  # environment steps behind every gradient that arrived
    seconds: float
    metrics: dict  # {name: (L,)} per arrival, step and wall_time included
    traces: int  # the largest number of traces of any actor's gradient function (1: jitted once)
    actor_streams: tuple[int, ...]  # the key stream of the actor in each slot at the end (a replacement: a new one)


def check_config(config: A3CConfig):
    """Validate at the boundary; returns the built a2c ``Setup`` (``build_setup`` checks ``rl``)."""
    from plastix.rl.trainer import build_setup

    if not dataclasses.is_dataclass(config.rl) or type(config.rl).__name__ != "RLConfig":
        raise PlastixError(f"A3CConfig.rl must be an RLConfig, got {type(config.rl).__name__}.")
    if config.rl.algo != "a2c":
        raise PlastixError(f"A3C computes the a2c gradient: A3CConfig.rl.algo must be 'a2c', got {config.rl.algo!r}.")
    if config.rl.burn_in_updates:
        raise PlastixError("burn_in_updates is not available for A3C (the learner applies every accepted gradient).")
    config.check_actors()
    if config.rl.task.startswith("gymnasium:"):
        raise PlastixError("A3C actors run jitted environments; gymnasium:<id> tasks are not available.")
    return build_setup(config.rl)


def initial_params(setup, seed: int):
    """θ_0: the parameters ``plastix.rl.trainer.init_state`` gives seed ``seed`` (a2c's start)."""
    k_params, _ = jax.random.split(jax.random.PRNGKey(seed))
    return setup.agent.init(k_params)


def init_ray(ray, address: str | None, num_cpus: int) -> bool:
    """Connect to ``address`` or start a small local Ray (``plastix.sweep.init_ray``)."""
    from plastix.sweep import init_ray as start

    return start(ray, address, num_cpus)


def check_cpus(ray, actors: int, cpus_per_actor: float) -> None:
    """Refuse a fleet the Ray cluster cannot place (its actors would wait for CPUs for ever)."""
    total = float(ray.cluster_resources().get("CPU", 0.0))
    if actors * cpus_per_actor > total:
        raise PlastixError(f"{actors} actors × {cpus_per_actor:g} CPUs each need {actors * cpus_per_actor:g} CPUs, but "
                           f"the Ray cluster has {total:g}; lower cpus_per_actor (e.g. {total / actors:g}) or give Ray "
                           "more CPUs.")


def run_a3c(config: A3CConfig, *, out: str | None = None, address: str | None = None, num_cpus: int = 2,
            quiet: bool = False, no_plot: bool = False, flags: dict | None = None,
            on_arrival: Callable[[int, Any], None] | None = None) -> A3CResult:
    """Train by A3C (module docstring) and write a run directory. Returns an ``A3CResult``.

    ``address``: a running Ray cluster's address (None: start a local Ray with ``num_cpus``
    CPUs, shut down at the end; an already initialised Ray is used as it is).
    ``on_arrival(version, fleet)``: called after each gradient arrives (tests kill an actor
    with ``ray.kill(fleet.handles[0])``)."""
    from plastix.distributed.actors import GradientWorker, remote, require_ray
    from plastix.distributed.fleet import Fleet
    from plastix.distributed.learner import Learner

    setup = check_config(config)
    ray = require_ray()
    learner = Learner(setup.optimizer, initial_params(setup, config.seed), config.max_staleness)
    rl = config.rl
    records = _recorder(config, out, flags)
    started = init_ray(ray, address, num_cpus)
    try:
        check_cpus(ray, config.actors, config.cpus_per_actor)
    except PlastixError:
        if started:
            ray.shutdown()
        raise
    worker = remote(ray, GradientWorker, config.cpus_per_actor)
    fleet = Fleet(ray, worker, lambda stream: (rl, config.seed, stream), config.actors, config.max_replacements)
    env_steps, traces = 0, 0
    try:
        fleet.start()
        params_ref = ray.put(learner.host_params())
        for slot in range(config.actors):
            fleet.submit(slot, "compute", params_ref, 0)
        while learner.version < rl.num_updates:
            slot, report = fleet.next()
            if report is not None:
                busy = time.perf_counter()
                receipt = learner.receive(report.grads, report.computed_at)
                if receipt.accepted:
                    params_ref = ray.put(learner.host_params())
                busy = time.perf_counter() - busy
                env_steps += report.env_steps
                traces = max(traces, report.traces)
                records.log(env_steps, _row(records, learner, fleet, report, receipt, env_steps, busy))
                if not quiet and receipt.accepted and learner.version % max(1, rl.updates_per_log) == 0:
                    print(f"update {learner.version}/{rl.num_updates}: return "
                          f"{report.metrics['charts/episodic_return']:.4g}, staleness {receipt.staleness}, "
                          f"dropped {learner.ledger.dropped}, replaced {fleet.replaced} ({records.elapsed():.0f} s)",
                          flush=True)
            if learner.version < rl.num_updates:
                fleet.submit(slot, "compute", params_ref, learner.version)
            if on_arrival is not None:
                on_arrival(learner.version, fleet)
    except BaseException:
        records.close()  # metrics.csv keeps the rows of the run so far
        raise
    finally:
        fleet.shutdown()
        if started:
            ray.shutdown()
    return _finish(config, records, learner, fleet, env_steps, traces, quiet, no_plot)


def _recorder(config: A3CConfig, out, flags):
    from plastix.distributed.records import Recorder

    distributed = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "rl"}
    return Recorder(out, config.rl.task, config.rl.core, "a3c", config.rl, distributed, config.seed, A3C_METRICS, flags)


def _row(records, learner, fleet, report, receipt, env_steps: int, busy: float) -> dict:
    led = learner.ledger
    updates_per_s, steps_per_s = records.rates(led.applied, env_steps)
    return {**report.metrics, "distributed/version": receipt.version, "distributed/accepted": float(receipt.accepted),
            "distributed/staleness": receipt.staleness, "distributed/staleness_mean": led.staleness_mean,
            "distributed/staleness_max": led.staleness_max, "distributed/dropped": led.dropped,
            "distributed/replaced": fleet.replaced, "distributed/updates_per_s": updates_per_s,
            "distributed/env_steps_per_s": steps_per_s, "distributed/actor_stream": report.stream,
            "distributed/actor_seconds": report.seconds, "distributed/learner_seconds": busy}


def _finish(config, records, learner, fleet, env_steps, traces, quiet, no_plot) -> A3CResult:
    import jax.numpy as jnp

    from plastix.distributed.records import LearnerState

    led, seconds = learner.ledger, records.elapsed()
    returns = records.metrics()["charts/episodic_return"]
    tail = returns[-max(1, len(returns) // 10):]
    summary = (f"a3c on {config.rl.task}, {config.rl.core}, {config.actors} actor(s): {led.applied} updates applied, "
               f"{led.dropped} dropped (staleness > {config.max_staleness}), {fleet.replaced} actor(s) replaced; "
               f"staleness mean {led.staleness_mean:.2f} max {led.staleness_max}; mean episode reward over the last "
               f"{len(tail)} gradients {np.nanmean(tail):.4g}; {env_steps} env steps in {seconds:.1f} s")
    state = LearnerState(learner.params, learner.opt_state, jnp.asarray(led.applied, jnp.int32))
    records.finish(state, learner.params, env_steps, summary,
                   f"{config.rl.task}, {config.rl.core}, a3c, {config.actors} actor(s)", no_plot)
    if not quiet:
        print(summary)
        print(f"run directory: {records.run_dir}")
    return A3CResult(learner.params, records.run_dir, config, led.applied, led.dropped, fleet.replaced,
                     led.staleness_mean, led.staleness_max, env_steps, seconds, records.metrics(), traces,
                     tuple(fleet.streams))


__all__ = ["A3CConfig", "A3CResult", "A3C_METRICS", "check_config", "initial_params", "run_a3c"]
