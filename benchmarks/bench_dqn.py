"""Benchmark of plastix.dqn against PureJaxRL's ``dqn.py`` on CartPole-v1 (not a test; the table
goes to docs/dqn.md, "Speed").

Both at PureJaxRL's settings, which are ``plastix train cartpole --algo dqn``'s defaults (the config
is resolved from those flags, ``plastix.dqn.resolve``, so the bench follows the CLI): 10
environments per seed in lockstep, buffer 10k, batch 128, an update every 10 env steps, target
every 500, ε 1 → 0.05 over the first half of 500k steps, learning from 10k, Adam 2.5e-4.
Measured in one run:

1. plastix, 1 seed: the whole run in one jitted call (``trainer.train``), compiled ahead
   (compile seconds reported apart); env steps/s of the run (wall clock, best of ``--repeats``)
   and per CPU second of this process (``time.process_time``: steadier on a shared core).
2. plastix, 16 seeds vmapped in one call: total env steps/s.
3. plastix, 1 seed, PureJaxRL's loss and network exactly (the squared TD error and a ReLU torso
   instead of the defaults' Huber loss and tanh; the CartPole default until 2026-12-03), unless
   ``--skip-earlier``.
4. PureJaxRL's dqn.py (1 seed and 16 vmapped seeds) in a subprocess when ``--purejaxrl-python``
   and ``--purejaxrl-script`` are given (a driver that prints one JSON line, e.g. a
   ``run_purejaxrl.py --which dqn`` kept outside the project); otherwise the figures quoted in
   docs/dqn.md are printed, labelled as quoted, and no ratio is computed.

After each run: the greedy return (ε = 0) of each seed over ``--episodes`` fresh episodes, and
how many of the 16 seeds reach 475. PureJaxRL's greedy returns are computed by its driver the
same way (argmax Q, 10 episodes to the first end or 500 steps).

Run (about 10–12 minutes on one quiet core; ``--quick``: 50k steps, 4 seeds, about 2 minutes)::

    taskset -c 0 python benchmarks/bench_dqn.py \
        --purejaxrl-python /path/to/venv/bin/python --purejaxrl-script /path/to/run_purejaxrl.py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np

from plastix.cli.args import TrainArgs
from plastix.dqn import DQNConfig, evaluate, make_trainer
from plastix.dqn.resolve import resolve_dqn_config
from plastix.train.harness import seed_keys
from plastix.xla import threefry_unrolled, unroll_threefry

TARGET = 475.0
QUOTED = {  # PureJaxRL dqn.py on the same 2-core AMD EPYC machine kind, 2 cores (docs/dqn.md)
    1: {"steps_per_s": 29_931, "compile_s": 6.0, "greedy": "500"},
    16: {"steps_per_s": 31_515, "compile_s": float("nan"), "greedy": "all 16 at ≈ 500"},
}


def defaults(total_steps: int) -> DQNConfig:
    """``plastix train cartpole --algo dqn [--total-steps N]`` as the CLI resolves it."""
    return resolve_dqn_config(TrainArgs(task="cartpole", algo="dqn", total_steps=total_steps))


def run_plastix(config: DQNConfig, seeds: int, repeats: int, episodes: int) -> dict:
    """Compile once, run ``repeats`` times (best wall time), evaluate each seed greedily."""
    trainer = make_trainer(config)
    if seeds == 1:
        keys, fn = jax.random.PRNGKey(0), jax.jit(trainer.train)
    else:
        keys, fn = seed_keys(list(range(seeds))), jax.jit(jax.vmap(trainer.train))
    t0 = time.perf_counter()
    compiled = fn.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        state, _ = jax.block_until_ready(compiled(keys))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    params = state.params if seeds > 1 else jax.tree.map(lambda x: x[None], state.params)
    ev = jax.jit(jax.vmap(lambda p: jnp.mean(evaluate(trainer.setup, p, jax.random.PRNGKey(7), episodes))))
    greedy = np.asarray(ev(params))
    steps = config.total_steps * seeds
    return {"steps_per_s": steps / min(wall), "cpu_steps_per_s": steps / min(cpu), "compile_s": compile_s,
            "greedy": greedy, "wall_s": wall}


def run_purejaxrl(python: str, script: str, seeds: int, total: int, repeats: int, episodes: int) -> dict:
    cmd = [python, script, "--which", "dqn", "--seeds", str(seeds), "--total-steps", str(total),
           "--repeats", str(repeats), "--episodes", str(episodes)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=dict(os.environ))
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    res = json.loads(line)
    steps = res["env_steps_per_seed"] * seeds
    return {"steps_per_s": res["steps_per_s"], "cpu_steps_per_s": steps / res["cpu_s"],
            "compile_s": res["compile_s"], "greedy": np.asarray(res["greedy_returns"]), "wall_s": [res["run_s"]]}


def greedy_cell(greedy) -> str:
    if isinstance(greedy, str):
        return greedy + " (quoted)"
    if greedy.size == 1:
        return f"{greedy[0]:.0f}"
    return f"median {np.median(greedy):.0f}; {int(np.sum(greedy >= TARGET))}/{greedy.size} ≥ {TARGET:.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="50k env steps, 4 seeds (smoke run; no learning verdict)")
    p.add_argument("--purejaxrl-python", help="the Python of a venv with PureJaxRL's dependencies")
    p.add_argument("--purejaxrl-script", help="a driver printing one JSON line (run_purejaxrl.py --which dqn)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per row (best of)")
    p.add_argument("--episodes", type=int, default=10, help="greedy episodes per seed")
    p.add_argument("--skip-earlier", action="store_true",
                   help="skip the row at PureJaxRL's squared error and ReLU torso (the earlier CartPole default)")
    p.add_argument("--rolled-threefry", action="store_true",
                   help="keep JAX's rolled Threefry loop (the CLI unrolls it: plastix.xla; same bits)")
    a = p.parse_args()
    if not a.rolled_threefry:
        unroll_threefry()
    total, many = (50_000, 4) if a.quick else (500_000, 16)
    config = defaults(total)
    print(f"jax {jax.__version__}, {jax.devices()}, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, "
          f"cores allowed {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.1f}, "
          f"Threefry {'unrolled' if threefry_unrolled() else 'rolled'} (plastix.xla)")
    print(f"config: {config.num_envs} envs/seed, buffer {config.buffer_size}, batch {config.batch_size}, update every "
          f"{config.train_every}, target every {config.target_every}, learning from {config.learning_starts}, "
          f"lr {config.lr}, {config.total_steps:,} env steps per seed", flush=True)
    rows = []  # (label, result, peer label)
    peer = {}
    if a.purejaxrl_python and a.purejaxrl_script:
        for seeds in (1, many):
            peer[seeds] = run_purejaxrl(a.purejaxrl_python, a.purejaxrl_script, seeds, total, a.repeats, a.episodes)
            print(f"purejaxrl {seeds} seed(s): {peer[seeds]['steps_per_s']:,.0f} env steps/s", flush=True)
    for seeds in (1, many):
        res = run_plastix(config, seeds, a.repeats, a.episodes)
        print(f"plastix {seeds} seed(s): {res['steps_per_s']:,.0f} env steps/s", flush=True)
        rows.append((f"plastix, {seeds} seed{'s' * (seeds > 1)}" + (" vmapped" if seeds > 1 else ""), res, seeds))
        if seeds in peer:
            rows.append((f"PureJaxRL dqn.py, {seeds} seed{'s' * (seeds > 1)}" + (" vmapped" if seeds > 1 else ""),
                         peer[seeds], seeds))
    if not a.skip_earlier:
        earlier = dataclasses.replace(config, loss="mse", core_options=(("activation", "relu"),))
        res = run_plastix(earlier, 1, a.repeats, a.episodes)
        label = "plastix, 1 seed, PureJaxRL's squared error and ReLU torso (the earlier default)"
        print(f"{label}: {res['steps_per_s']:,.0f} env steps/s", flush=True)
        rows.insert(2 if 1 in peer else 1, (label, res, 1))
    measured = bool(peer)
    print(f"\n| run | env steps/s (wall) | env steps per CPU-second | compile s "
          f"| greedy return ({a.episodes} episodes) | × PureJaxRL (wall) | × PureJaxRL (CPU) |")
    print("|---|---|---|---|---|---|---|")
    for label, res, seeds in rows:
        ref = peer.get(seeds)
        ratio = "— | —" if ref is None else (f"{res['steps_per_s'] / ref['steps_per_s']:.2f} | "
                                              f"{res['cpu_steps_per_s'] / ref['cpu_steps_per_s']:.2f}")
        print(f"| {label} | {res['steps_per_s']:,.0f} | {res['cpu_steps_per_s']:,.0f} | {res['compile_s']:.1f} "
              f"| {greedy_cell(res['greedy'])} | {ratio} |")
    if not measured:
        for seeds, q in QUOTED.items():
            print(f"| PureJaxRL dqn.py, {seeds} seed{'s' * (seeds > 1)}, 2 cores (quoted, not measured here) "
                  f"| {q['steps_per_s']:,} | — | {q['compile_s']:.0f} | {q['greedy']} | — | — |")
    print(f"\nload average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
