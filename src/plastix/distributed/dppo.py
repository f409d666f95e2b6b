"""Distributed proximal policy optimisation on Ray actors (Heess et al. 2017, "Emergence of
locomotion behaviours in rich environments", DPPO, Algorithm 1 and its supplement), with the
PPO update of ``plastix.ppo.trainer`` (Schulman et al. 2017).

K actors (``RolloutWorker``, one process each) run their own E environments on and on (the PPO
runner: environments and agent carry kept between rollouts) and the learner, in the calling
process, holds the PPO ``TrainState``::

    learner: θ_0 = the PPO initialisation of seed s, v = 0; send (θ_0, 0) to every actor
    actor k: with θ_{v_k}: T more steps of its E environments -> a Batch (the rollout with
             π_old = π_{θ_{v_k}}: log-probabilities, values, GAE advantages and targets,
             ``plastix.ppo.trainer.collect``); send (Batch, v_k)
    learner: as each (Batch, v_k) arrives (ray.wait): τ = v − v_k; if τ ≤ τ_max, K_epochs × M
             minibatch Adam steps of the clipped objective on it (``plastix.ppo.trainer.learn``),
             v ← v + 1, else drop it; send the actor (θ_v, v)
             until v = ppo.num_updates

Departures from the paper. Heess et al.'s workers compute gradients and a chief averages
them synchronously; here the actors only collect and the learner computes the whole PPO update,
one actor's rollout at a time, as it arrives — the actors never wait for each other. A rollout
collected at θ_{v_k} is used at θ_v: PPO's ratio π_θ / π_old is taken against the stored
log π_{θ_{v_k}}, so the clipped objective bounds how far the learner moves from the policy that
collected the data, stale or not; ``max_staleness`` (default 1) bounds how stale it may be. With
one actor and τ_max = 0 this is PPO with E environments per update.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from plastix.distributed.learner import ActorSettings
from plastix.errors import PlastixError

DPPO_METRICS = ("charts/episodic_return", "charts/episodes", "losses/policy_loss", "losses/value_loss",
                "losses/entropy", "losses/approx_kl", "losses/clip_fraction", "distributed/version",
                "distributed/accepted", "distributed/staleness", "distributed/staleness_mean",
                "distributed/staleness_max", "distributed/dropped", "distributed/replaced",
                "distributed/updates_per_s", "distributed/env_steps_per_s", "distributed/actor_stream",
                "distributed/actor_seconds", "distributed/learner_seconds")


@dataclasses.dataclass(frozen=True)
class DPPOConfig(ActorSettings):
    """A distributed PPO run: the PPO setting (``ppo``: E environments × T steps per actor rollout,
    the epochs, minibatches, clipping and Adam; ``ppo.num_updates`` = rollouts the learner learns
    from) and the actors (``ActorSettings``, keyword-only; ``max_staleness`` 1)."""

    ppo: Any  # plastix.ppo.config.PPOConfig
    max_staleness: int | None = dataclasses.field(default=1, kw_only=True)


class DPPOResult(NamedTuple):
    params: Any
    run_dir: Any
    config: DPPOConfig
    applied: int
    dropped: int
    replaced: int
    staleness_mean: float
    staleness_max: int
    env_steps: int
    seconds: float
    metrics: dict
    traces: int
    actor_streams: tuple[int, ...]


class BatchReport(NamedTuple):
    batch: Any  # plastix.ppo.trainer.Batch (NumPy)
    computed_at: int
    env_steps: int  # E · T
    metrics: dict
    stream: int
    traces: int
    seconds: float


def collect_metrics(setup, params, runner, key):
    """(runner, Batch, {episodic return and count of the episodes that ended}) of one rollout."""
    from plastix.ppo import trainer as ppo

    runner, batch, rec = ppo.rollout(setup, params, runner, key)
    finished = jnp.isfinite(rec.finished_return)
    n = jnp.sum(finished)
    total = jnp.sum(jnp.where(finished, rec.finished_return, 0.0))
    mean = jnp.where(n > 0, total / jnp.maximum(n, 1), jnp.nan)
    return runner, batch, {"charts/episodic_return": mean, "charts/episodes": n}


class RolloutWorker:
    """A DPPO actor: ``collect(params, version) -> BatchReport`` (module docstring). Its
    environments are reset once, with its key stream, and run on across rollouts."""

    def __init__(self, config, seed: int, stream: int):
        from plastix.distributed.actors import actor_key
        from plastix.ppo.trainer import build_setup, reset_runner
        from plastix.train.harness import set_dtype

        set_dtype(config.dtype)
        self.setup, self.stream, self.traces = build_setup(config), stream, 0
        k_env, self.key = jax.random.split(actor_key(seed, stream))
        self.runner = reset_runner(self.setup, k_env)
        self._collect = jax.jit(self._traced)

    def _traced(self, params, runner, key):
        self.traces += 1  # runs only while tracing
        return collect_metrics(self.setup, params, runner, key)

    def collect(self, params, version: int) -> BatchReport:
        start = time.perf_counter()
        self.key, k_roll = jax.random.split(self.key)
        self.runner, batch, metrics = self._collect(params, self.runner, k_roll)
        batch, metrics = jax.device_get((batch, metrics))
        c = self.setup.config
        return BatchReport(jax.tree.map(np.asarray, batch), int(version), c.num_envs * c.num_steps,
                           {k: float(v) for k, v in metrics.items()}, self.stream, self.traces,
                           time.perf_counter() - start)


def check_config(config: DPPOConfig):
    """Validate at the boundary; returns the PPO ``Setup``."""
    from plastix.ppo.trainer import build_setup

    if type(config.ppo).__name__ != "PPOConfig":
        raise PlastixError(f"DPPOConfig.ppo must be a PPOConfig, got {type(config.ppo).__name__}.")
    config.check_actors()
    if config.ppo.task.startswith("gymnasium:"):
        raise PlastixError("DPPO actors run jitted environments; gymnasium:<id> tasks are not available.")
    return build_setup(config.ppo)


def run_dppo(config: DPPOConfig, *, out: str | None = None, address: str | None = None, num_cpus: int = 2,
             quiet: bool = False, no_plot: bool = False, flags: dict | None = None,
             on_arrival: Callable[[int, Any], None] | None = None) -> DPPOResult:
    """Train by DPPO (module docstring) and write a run directory (as ``run_a3c``)."""
    from plastix.distributed.a3c import check_cpus, init_ray
    from plastix.distributed.actors import remote, require_ray
    from plastix.distributed.fleet import Fleet
    from plastix.distributed.learner import Ledger, admit, count
    from plastix.distributed.records import Recorder
    from plastix.ppo.trainer import init_state, learn

    setup = check_config(config)
    ray = require_ray()
    c = config.ppo
    state = init_state(setup, jax.random.PRNGKey(config.seed))
    learn_jit = jax.jit(functools.partial(learn, setup))
    distributed = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "ppo"}
    records = Recorder(out, c.task, c.core, "dppo", c, distributed, config.seed, DPPO_METRICS, flags)
    started = init_ray(ray, address, num_cpus)
    ledger, env_steps, traces = Ledger(), 0, 0
    fleet = None
    try:
        check_cpus(ray, config.actors, config.cpus_per_actor)
        worker = remote(ray, RolloutWorker, config.cpus_per_actor)
        fleet = Fleet(ray, worker, lambda stream: (c, config.seed, stream), config.actors, config.max_replacements)
        fleet.start()
        params_ref = ray.put(jax.device_get(state.params))
        for slot in range(config.actors):
            fleet.submit(slot, "collect", params_ref, 0)
        while ledger.applied < c.num_updates:
            slot, report = fleet.next()
            if report is not None:
                busy = time.perf_counter()
                accepted, staleness = admit(ledger.applied, report.computed_at, config.max_staleness)
                losses = {name: float("nan") for name in DPPO_METRICS if name.startswith("losses/")}
                if accepted:
                    state, losses = learn_jit(state, report.batch)
                    params_ref = ray.put(jax.device_get(state.params))
                    losses = {k: float(v) for k, v in jax.device_get(losses).items()}
                ledger = count(ledger, accepted, staleness)
                busy = time.perf_counter() - busy
                env_steps += report.env_steps
                traces = max(traces, report.traces)
                ups, sps = records.rates(ledger.applied, env_steps)
                records.log(env_steps, {
                    **report.metrics, **losses, "distributed/version": ledger.applied,
                    "distributed/accepted": float(accepted), "distributed/staleness": staleness,
                    "distributed/staleness_mean": ledger.staleness_mean, "distributed/staleness_max": ledger.staleness_max,
                    "distributed/dropped": ledger.dropped, "distributed/replaced": fleet.replaced,
                    "distributed/updates_per_s": ups, "distributed/env_steps_per_s": sps,
                    "distributed/actor_stream": report.stream, "distributed/actor_seconds": report.seconds,
                    "distributed/learner_seconds": busy})
                if not quiet and accepted and ledger.applied % max(1, c.updates_per_log) == 0:
                    print(f"update {ledger.applied}/{c.num_updates}: return {report.metrics['charts/episodic_return']:.4g}, "
                          f"staleness {staleness}, dropped {ledger.dropped}, replaced {fleet.replaced} "
                          f"({records.elapsed():.0f} s)", flush=True)
            if ledger.applied < c.num_updates:
                fleet.submit(slot, "collect", params_ref, ledger.applied)
            if on_arrival is not None:
                on_arrival(ledger.applied, fleet)
    except BaseException:
        records.close()  # metrics.csv keeps the rows of the run so far
        raise
    finally:
        if fleet is not None:
            fleet.shutdown()
        if started:
            ray.shutdown()
    return _finish(config, records, state, ledger, fleet, env_steps, traces, quiet, no_plot)


def _finish(config, records, state, ledger, fleet, env_steps, traces, quiet, no_plot) -> DPPOResult:
    from plastix.distributed.records import LearnerState

    seconds = records.elapsed()
    returns = records.metrics()["charts/episodic_return"]
    tail = returns[-max(1, len(returns) // 10):]
    summary = (f"dppo on {config.ppo.task}, {config.ppo.core}, {config.actors} actor(s): {ledger.applied} updates, "
               f"{ledger.dropped} rollouts dropped (staleness > {config.max_staleness}), {fleet.replaced} actor(s) "
               f"replaced; staleness mean {ledger.staleness_mean:.2f} max {ledger.staleness_max}; mean episode "
               f"reward over the last {len(tail)} rollouts {np.nanmean(tail):.4g}; {env_steps} env steps in "
               f"{seconds:.1f} s")
    final = LearnerState(state.params, state.opt_state, state.update)
    records.finish(final, state.params, env_steps, summary,
                   f"{config.ppo.task}, {config.ppo.core}, dppo, {config.actors} actor(s)", no_plot)
    if not quiet:
        print(summary)
        print(f"run directory: {records.run_dir}")
    return DPPOResult(state.params, records.run_dir, config, ledger.applied, ledger.dropped, fleet.replaced,
                      ledger.staleness_mean, ledger.staleness_max, env_steps, seconds, records.metrics(), traces,
                      tuple(fleet.streams))


__all__ = ["DPPOConfig", "DPPOResult", "DPPO_METRICS", "RolloutWorker", "check_config", "collect_metrics", "run_dppo"]
