"""Benchmark of plastix.dqn on CartPole-v1 (not a test; the table goes to docs/dqn.md).

Measured in one run, compile time excluded (each program is compiled ahead of time):

1. ``scan, 1 seed``: the tight-budget CartPole setting of docs/dqn.md (an update every 2 env steps, batch 64),
   the whole loop in one jitted ``lax.scan``, run in chunks of 10k env steps with a greedy
   evaluation (ε = 0, 10 episodes) after each chunk: env steps/s and the wall time (training
   only) until the evaluation first reaches a mean return of 475.
2. ``scan, 16 seeds``: the same, 16 seeds vmapped in one call: total env steps/s, and when
   each seed first reached 475 (median over the seeds that did, and how many did).
3. ``python loop, 1 seed`` (the baseline): the same jitted update cycle (2 env steps + 1
   update) called from a Python loop, one dispatch per cycle, as a PyTorch-style loop is
   structured. Ratios in the table are against this baseline.

Reference (not measured here): CleanRL's ``dqn.py`` (PyTorch, Gymnasium, an update every 10
steps, batch 128) runs at about 4,000–5,000 env steps/s on a comparable 2-core machine.

Run: ``python benchmarks/bench_dqn.py [--quick]`` (under 5 minutes on 2 quiet cores).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from plastix.dqn import DQNConfig, evaluate, make_trainer
from plastix.dqn.trainer import cycle
from plastix.train.harness import seed_keys

CONFIG = DQNConfig(task="cartpole", buffer_size=100_000, lr=1e-3, lr_end=0.0, exploration_fraction=0.1,
                   total_steps=100_000, steps_per_log=10_000)
TARGET = 475.0
CLEANRL_STEPS_PER_S = 4_500  # reference only: CleanRL dqn.py, about 4,000–5,000 steps/s


def train_in_chunks(config: DQNConfig, seeds: list[int]):
    """(env steps/s over all seeds, per-seed wall time to TARGET (NaN if never), final returns)."""
    trainer = make_trainer(config)
    keys = seed_keys(seeds)
    state = jax.jit(jax.vmap(trainer.init))(keys)
    run = jax.jit(jax.vmap(trainer.run, in_axes=(0, None)), static_argnums=1).lower(state, 1).compile()
    ev = jax.jit(jax.vmap(lambda p: jnp.mean(evaluate(trainer.setup, p, jax.random.PRNGKey(7), 10))))
    ev = ev.lower(state.params).compile()
    reached = np.full(len(seeds), np.nan)
    train_time, returns = 0.0, None
    for _ in range(config.num_logs):
        t0 = time.perf_counter()
        state, _ = run(state)
        jax.block_until_ready(state)
        train_time += time.perf_counter() - t0
        returns = np.asarray(ev(state.params))
        reached = np.where(np.isnan(reached) & (returns >= TARGET), train_time, reached)
    return config.total_steps * len(seeds) / train_time, reached, returns


def python_loop_rate(config: DQNConfig, cycles: int) -> float:
    """Env steps/s of the same update cycle dispatched from Python once per cycle (after warm-up)."""
    trainer = make_trainer(config)
    step = jax.jit(functools.partial(cycle, trainer.setup))
    state = trainer.init(jax.random.PRNGKey(0))
    for _ in range(config.learning_starts // config.train_every + 5):  # past learning_starts
        state, out = step(state)
    jax.block_until_ready(out)
    t0 = time.perf_counter()
    for _ in range(cycles):
        state, out = step(state)
    jax.block_until_ready(out)
    return cycles * config.train_every / (time.perf_counter() - t0)


def scan_rate(config: DQNConfig, seeds: list[int]) -> float:
    """Env steps/s (all seeds) of the whole run in one jitted call, compiled ahead."""
    trainer = make_trainer(config)
    keys = seed_keys(seeds)
    train = jax.jit(jax.vmap(trainer.train)).lower(keys).compile()
    t0 = time.perf_counter()
    jax.block_until_ready(train(keys))
    return config.total_steps * len(seeds) / (time.perf_counter() - t0)


def fmt_time(values: np.ndarray) -> str:
    done = values[~np.isnan(values)]
    if done.size == 0:
        return f"not reached (0/{values.size})"
    return f"{np.median(done):.1f} s ({done.size}/{values.size} seeds)"


def main(quick: bool = False) -> None:
    print(f"jax {jax.__version__}, devices {jax.devices()}, CartPole-v1, DQN setting of docs/dqn.md")
    budget16 = 20_000 if quick else 50_000
    base = python_loop_rate(CONFIG, 1_000 if quick else 3_000)
    one = dataclasses.replace(CONFIG, total_steps=30_000 if quick else CONFIG.total_steps)
    rate1, reach1, ret1 = train_in_chunks(one, [1])
    many = dataclasses.replace(CONFIG, total_steps=budget16, buffer_size=budget16)
    rate16, reach16, ret16 = train_in_chunks(many, list(range(16)))
    cleanrl = dataclasses.replace(CONFIG, batch_size=128, train_every=10, target_every=500, buffer_size=10_000,
                                  total_steps=20_000, steps_per_log=10_000)
    rate_c = scan_rate(cleanrl, [0])
    rows = [
        ("python loop, 1 seed (baseline)", base, "—", "—"),
        (f"scan, 1 seed ({one.total_steps // 1000}k steps)", rate1, fmt_time(reach1), f"{ret1.mean():.0f}"),
        ("scan, 1 seed, CleanRL's work per step (update every 10, batch 128)", rate_c, "—", "—"),
        (f"scan, 16 seeds ({budget16 // 1000}k steps each)", rate16, fmt_time(reach16), f"{np.median(ret16):.0f} (median)"),
    ]
    print(f"\n| run | env steps/s | × baseline | × CleanRL ref. ({CLEANRL_STEPS_PER_S}) | time to return {TARGET:.0f} "
          "| final greedy return |")
    print("|---|---|---|---|---|---|")
    for name, rate, reach, ret in rows:
        print(f"| {name} | {rate:,.0f} | {rate / base:.1f} | {rate / CLEANRL_STEPS_PER_S:.2f} | {reach} | {ret} |")
    print(f"\nper seed (16 seeds): {(rate16 / 16):,.0f} env steps/s each; times to {TARGET:.0f}: "
          + ", ".join("—" if np.isnan(t) else f"{t:.0f}" for t in reach16))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
