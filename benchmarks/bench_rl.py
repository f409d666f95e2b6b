"""Policy-gradient training throughput on cue-reward: seconds per update and agent steps/s.

    python benchmarks/bench_rl.py [--quick] [--markdown docs/benchmarks-rl.md]

Two tables, every number measured in this run on this machine:

1. The paper configuration (Backpropamine's released code: hidden 200, batch 30 episodes of
   120 steps, a2c) — seconds per update (one rollout + one Adam step, median of repeats after
   compilation) for the non-plastic, plastic and retroactively modulated cores, with each of
   plastix's gradient paths: ``rollout`` (autodiff through the rollout, each step
   rematerialised — the way the original code differentiates), ``bptt`` (autodiff over the
   stored trajectory) and ``hand-bptt`` (the hand-derived backward). Ratios are to the
   ``rollout`` path measured in the same run, and to the original PyTorch code's published
   per-update times on a 2-core machine (1.4 s retroactive, 1.1 s plastic, 0.11 s
   non-plastic — quoted, not measured here). Peak memory: XLA's compiled
   ``memory_analysis().temp_size_in_bytes`` of one update (deterministic scratch size).
   A first row per agent times the rollout alone (the B episodes, no loss, no gradient, no Adam
   step): a floor under every gradient path, since each one runs at least this forward pass.

2. Throughput for every agent core at batch B = 1, 30, 256, 1024 (hidden 64, 120 steps):
   agent steps per second (B · T / seconds per update), ``auto`` gradient path.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import statistics
import time

import jax

from plastix.rl.agent import agent_core_names
from plastix.rl.trainer import RLConfig, build_setup, init_state, rollout_batch, update_step

PAPER_VARIANTS = {  # label -> (core, options, original PyTorch s/update, quoted)
    "non-plastic (elman)": ("elman", (), 0.11),
    "plastic": ("plastic-rnn", (), 1.1),
    "retroactive neuromod": ("neuromod-rnn", (("modulation", "retroactive"),), 1.4),
}
GRAD_PATHS = ("rollout", "bptt", "hand-bptt")


def time_update(config: RLConfig, repeats: int) -> tuple[float, float]:
    """(median seconds per update, compiled temp MiB) of ``update_step`` under jit."""
    setup = build_setup(config)
    state = init_state(setup, jax.random.key(0))
    step = jax.jit(functools.partial(update_step, setup))
    compiled = step.lower(state).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes / 2**20
    state, _ = compiled(state)
    jax.block_until_ready(state)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, metrics = compiled(state)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    return statistics.median(times), temp


def time_rollout(config: RLConfig, repeats: int) -> float:
    """Median seconds of the batch's rollout alone under jit (no gradient): the floor."""
    setup = build_setup(config)
    params = init_state(setup, jax.random.key(0)).params
    run = jax.jit(functools.partial(rollout_batch, setup)).lower(params, jax.random.key(1)).compile()
    jax.block_until_ready(run(params, jax.random.key(1)))
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run(params, jax.random.key(2 + i)))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paper_table(repeats: int, hidden: int, batch: int, steps: int) -> list[str]:
    lines = ["| agent | gradient path | s / update | × rollout path | × original PyTorch (quoted) | temp MiB |",
             "|---|---|---:|---:|---:|---:|"]
    for label, (core, options, original) in PAPER_VARIANTS.items():
        base = None
        floor = time_rollout(RLConfig(core=core, core_options=options, hidden=hidden, batch_size=batch,
                                      env_settings=(("episode_length", steps),)), repeats)
        lines.append(f"| {label} | none: rollout only (floor) | {floor:.3f} | — | {original / floor:.1f}× faster | — |")
        print(lines[-1], flush=True)
        for grad in GRAD_PATHS:
            if grad == "hand-bptt" and core not in ("elman", "plastic-rnn", "neuromod-rnn"):
                continue
            config = RLConfig(core=core, core_options=options, hidden=hidden, batch_size=batch, grad=grad,
                              env_settings=(("episode_length", steps),))
            seconds, temp = time_update(config, repeats)
            base = seconds if base is None else base
            lines.append(f"| {label} | {grad} | {seconds:.3f} | {base / seconds:.1f}× faster | "
                         f"{original / seconds:.1f}× faster | {temp:.1f} |")
            print(lines[-1], flush=True)
    return lines


def throughput_table(repeats: int, batches: tuple[int, ...], hidden: int, steps: int) -> list[str]:
    lines = ["| core | " + " | ".join(f"B={b} steps/s" for b in batches) + " |",
             "|---|" + "---:|" * len(batches)]
    for core in agent_core_names():
        cells = []
        for batch in batches:
            config = RLConfig(core=core, hidden=hidden, batch_size=batch, env_settings=(("episode_length", steps),))
            seconds, _ = time_update(config, repeats)
            cells.append(f"{batch * steps / seconds:,.0f}")
        lines.append(f"| {core} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--markdown", help="append the tables to this Markdown file")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    hidden, batch, steps = (32, 4, 24) if args.quick else (200, 30, 120)
    header = (f"{datetime.date.today()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPU · "
              f"jax {jax.__version__} · float32")
    print(header)
    out = [f"### {header}", "", "Paper configuration (hidden %d, batch %d, %d steps, a2c):" % (hidden, batch, steps), ""]
    out += paper_table(repeats, hidden, batch, steps)
    if not args.skip_throughput:
        batches = (1, 4) if args.quick else (1, 30, 256, 1024)
        out += ["", f"Agent steps per second (hidden {32 if args.quick else 64}, {steps} steps, auto gradient path):", ""]
        out += throughput_table(repeats, batches, 32 if args.quick else 64, steps)
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n\n")


if __name__ == "__main__":
    main()
