"""DAgger: dataset aggregation (Ross, Gordon & Bagnell 2011, Algorithm 3.1).

::

    D ← ∅;  π̂_1 = any policy
    for i = 1 .. N:
        π_i = β_i π* + (1 − β_i) π̂_i                 (execute the expert's action with probability β_i)
        sample ``windows`` trajectories of T steps with π_i
        D_i = {(o_t, π*(s_t))}: every visited state, labelled by the expert
        D ← D ∪ D_i
        π̂_{i+1} = behavioural cloning on D            (``plastix.imitation.bc``)
    return π̂_{N+1} (and every π̂_i)

β schedules (Ross et al. 2011 §3): ``"exponential"`` β_i = p^(i−1), or ``"first"`` β_1 = 1
then 0. ``"expert"`` (β_i = 1 for every i) is behavioural cloning with the same budget of
expert-labelled steps: D then holds only the expert's own trajectories.

The aggregate D lives in a buffer preallocated for all N iterations (N · windows sequences of
T steps, each with its episode starts), so the jitted cloning step (``bc_train`` with the count
of filled rows) compiles once. Departure from the paper: π̂_{i+1} is trained starting from
π̂_i's parameters (a warm start, ``BCConfig.steps`` updates per iteration) rather than from
scratch, and the last policy is returned rather than the best on validation.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from plastix.errors import PlastixError, check_positive_int, unknown_name
from plastix.imitation.bc import BCConfig, Policy, PolicyParams, Sequences, bc_train
from plastix.imitation.demos import Demos, make_demos
from plastix.imitation.experts import Expert
from plastix.imitation.rollout import first_episode_mask, mixed_rollouts

SCHEDULES = ("exponential", "first", "expert")


def beta_schedule(kind: str, iterations: int, p: float = 0.5) -> np.ndarray:
    """β_1..β_N (N,): ``exponential`` p^(i−1), ``first`` (1, 0, 0, ...), ``expert`` all ones."""
    check_positive_int("iterations", iterations)
    if kind not in SCHEDULES:
        raise unknown_name("beta schedule", kind, SCHEDULES)
    if not 0.0 <= p <= 1.0:
        raise PlastixError(f"the exponential schedule's p must lie in [0, 1], got {p!r}.")
    i = np.arange(iterations)
    if kind == "exponential":
        return p ** i
    return np.ones(iterations) if kind == "expert" else (i == 0).astype(float)


@dataclasses.dataclass(frozen=True)
class DAggerConfig:
    """Settings of DAgger."""

    iterations: int = 5  # N
    windows: int = 2  # trajectories of T steps sampled per iteration
    num_steps: int = 50  # T
    schedule: str = "first"  # exponential | first | expert
    p: float = 0.5  # the exponential schedule's base
    greedy: bool = True  # the learner executes its mode (else a sample)
    first_episode_only: bool = False  # keep only the first episode of each window (else all T steps)
    bc: BCConfig = BCConfig()

    def __post_init__(self):
        for name in ("iterations", "windows", "num_steps"):
            check_positive_int(f"DAggerConfig.{name}", getattr(self, name))
        beta_schedule(self.schedule, self.iterations, self.p)


class DAggerResult(NamedTuple):
    params: PolicyParams  # π̂_{N+1}
    history: list  # [π̂_2, ..., π̂_{N+1}], the policy after each iteration
    dataset: Demos  # the aggregate D: observations, the expert's labels, episode starts
    sizes: list  # |D| in steps after each iteration
    betas: np.ndarray  # (N,)


def _empty_buffer(rows: int, T: int, d: int) -> Sequences:
    return Sequences(jnp.zeros((rows, T, d), jnp.float32), jnp.zeros((rows, T), jnp.int32),
                     jnp.zeros((rows, T), bool), jnp.zeros((rows, T), bool))


def dagger(env, env_params, policy: Policy, expert: Expert, expert_params, key: jax.Array,
           config: DAggerConfig = DAggerConfig(), params: PolicyParams | None = None) -> DAggerResult:
    """Run DAgger (module docstring) in ``env`` (gymnax contract, discrete actions).
    ``params``: π̂_1 (default a fresh init of ``policy``)."""
    if not policy.head.discrete:
        raise PlastixError(f"DAgger here labels discrete actions; the head {type(policy.head).__name__} is continuous.")
    if policy.core.input_size != env.observation_size:
        raise PlastixError(f"the policy's core takes inputs of size {policy.core.input_size}, the environment's "
                           f"observations have size {env.observation_size}.")
    betas = beta_schedule(config.schedule, config.iterations, config.p)
    k_init, key = jax.random.split(key)
    params = policy.init(k_init) if params is None else params
    m, T = config.windows, config.num_steps
    buffer = _empty_buffer(config.iterations * m, T, env.observation_size)
    history, sizes = [], []
    for i in range(config.iterations):
        key, k_roll, k_fit = jax.random.split(key, 3)
        steps = mixed_rollouts(env, env_params, policy, params, expert, expert_params, betas[i], k_roll, m, T,
                               config.greedy)
        rows = slice(i * m, (i + 1) * m)
        mask = first_episode_mask(steps.done) if config.first_episode_only else np.ones((m, T), bool)
        buffer = Sequences(buffer.obs.at[rows].set(steps.obs.astype(jnp.float32)),
                           buffer.actions.at[rows].set(steps.label),
                           buffer.starts.at[rows].set(steps.start), buffer.mask.at[rows].set(mask))
        count = (i + 1) * m
        params, _ = bc_train(policy, config.bc, params, buffer, k_fit, jnp.asarray(count, jnp.int32))
        history.append(params)
        sizes.append((sizes[-1] if sizes else 0) + int(mask.sum()))
    keep = np.asarray(buffer.mask).reshape(-1)
    flat = jax.tree.map(lambda a: np.asarray(a).reshape(-1, *a.shape[2:])[keep], buffer)
    dataset = make_demos(flat.obs, flat.actions, flat.starts, None,
                         {"source": "dagger", "schedule": config.schedule, "iterations": config.iterations})
    return DAggerResult(params, history, dataset, sizes, betas)
