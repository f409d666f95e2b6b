"""Benchmark of plastix.ppo on CartPole-v1 against PureJaxRL (Lu et al. 2022), not a test; the
table goes to docs/ppo.md.

Measured in one run, compile time excluded (each program is compiled ahead of time):

1. ``ppo, 1 seed``: PureJaxRL ``ppo.py``'s CartPole-v1 settings (PPOConfig's defaults: 4 envs
   × 128 steps, 4 epochs × 4 minibatches, 499,712 env steps) with its network (actor and critic
   each two tanh layers of 64: ``core_options layers=2``). Trained in 8 jitted chunks with a
   greedy evaluation (10 episodes) after each: env steps/s (training time only) and the training
   time until the greedy mean return first reaches 475.
2. ``ppo, 16 seeds``: the same, 16 seeds vmapped in one call (total env steps/s; times to 475:
   median over the seeds that reached it).
3. ``recurrent ppo``: a GRU of 128 with ``ppo_rnn.py``'s network (``core="gru", hidden=128,
   embed=128, head_hidden=128, seq_len=128, separate_critic=False``: a ReLU embedding before
   the GRU, a ReLU layer of 128 in each head) at its settings (4 envs, each minibatch one whole
   128-step sequence), and with 16 and 64 envs per update at about the same total env steps
   (fewer, larger updates, so a step size of 1e-3 instead of 2.5e-4): trained in 8 chunks like
   the feed-forward rows, env steps/s, time to greedy 475 and the final greedy return.

With ``--purejaxrl PYTHON --purejaxrl-script PATH`` (a Python that has PureJaxRL's
dependencies, and a driver script that imports PureJaxRL's ``make_train`` and prints one JSON
line; neither is part of plastix) PureJaxRL runs by subprocess interleaved with the plastix
measurements, on the same CPU set, and the table shows plastix / PureJaxRL ratios. Without
them the table shows anchor figures measured elsewhere, marked as such.

Every rate is also given per CPU second of the measuring process (``time.process_time``),
which is less sensitive than wall time to other jobs on a shared machine.

Run: ``python benchmarks/bench_ppo.py [--quick] [--purejaxrl PY --purejaxrl-script PATH]
[--rnn-steps N]``.
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

from plastix.ppo import PPOConfig
from plastix.ppo.trainer import evaluate, make_trainer
from plastix.train.harness import seed_keys

TARGET = 475.0
EPISODES = 10  # greedy evaluation episodes per seed
CHUNKS = 8
# PureJaxRL ppo.py: actor and critic are two tanh layers of 64 each; 976 updates = 8 chunks of 122
MLP = PPOConfig(core_options=(("layers", 2),), updates_per_log=122)
GRU = PPOConfig(core="gru", hidden=128, seq_len=128, separate_critic=False, embed=128, head_hidden=128,
                updates_per_log=61)
RNN_LR = {4: GRU.lr, 16: 1e-3, 64: 1e-3}  # more envs per update: fewer, larger updates, a larger step
# anchors, not measured here: PureJaxRL on a 2-core CPU machine (ppo.py 500k steps in 3.5 s after
# 4.5 s compile; 16 seeds in 41 s; ppo_rnn.py 500k steps in 134 s)
ANCHOR = {"ppo/1": 500_000 / 3.5, "ppo/16": 16 * 500_000 / 41.0, "ppo_rnn/4": 500_000 / 134.0}


@dataclasses.dataclass
class Result:
    steps_per_s: float
    steps_per_cpu_s: float
    compile_s: float
    greedy: np.ndarray  # final greedy mean return per seed
    reach: np.ndarray | None = None  # per seed: training seconds until the greedy mean return >= TARGET


def greedy_fn(setup, params):
    ev = jax.jit(jax.vmap(lambda p: jnp.mean(evaluate(setup, p, jax.random.PRNGKey(7), EPISODES, greedy=True))))
    return ev.lower(params).compile()


def chunked(config: PPOConfig, seeds: list[int]) -> Result:
    """Train all seeds (vmapped) in CHUNKS jitted calls; greedy evaluation after each."""
    trainer = make_trainer(config)
    keys = seed_keys(seeds)
    state = jax.jit(jax.vmap(trainer.init))(keys)
    per = config.num_logs // CHUNKS
    t0 = time.perf_counter()
    run = jax.jit(jax.vmap(trainer.run, in_axes=(0, None)), static_argnums=1).lower(state, per).compile()
    ev = greedy_fn(trainer.setup, state.params)
    compile_s = time.perf_counter() - t0
    reached = np.full(len(seeds), np.nan)
    wall = cpu = 0.0
    returns = None
    for _ in range(CHUNKS):
        t0, c0 = time.perf_counter(), time.process_time()
        state, _ = run(state)
        jax.block_until_ready(state)
        wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
        returns = np.asarray(ev(state.params))
        reached = np.where(np.isnan(reached) & (returns >= TARGET), wall, reached)
    steps = config.total_steps * len(seeds)
    return Result(steps / wall, steps / cpu, compile_s, returns, reached)


def peer(args, which: str, seeds: int, steps: int, num_envs: int = 4) -> dict | None:
    """PureJaxRL's run by subprocess (same CPU affinity as this process), or None."""
    if not args.purejaxrl:
        return None
    cmd = [args.purejaxrl, args.purejaxrl_script, "--which", which, "--seeds", str(seeds), "--total-steps",
           str(steps), "--num-envs", str(num_envs)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.abspath(args.purejaxrl_script)))
    return json.loads(out.stdout.strip().splitlines()[-1])


def peer_cpu_rate(theirs: dict) -> float:
    return theirs["env_steps_per_seed"] * theirs["seeds"] / theirs["cpu_s"]


def fmt_reach(values: np.ndarray | None) -> str:
    if values is None:
        return "—"
    done = values[~np.isnan(values)]
    if done.size == 0:
        return f"not reached (0/{values.size})"
    return f"{np.median(done):.1f} s ({done.size}/{values.size})"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short budgets (a smoke run)")
    p.add_argument("--purejaxrl", help="a Python with PureJaxRL's dependencies")
    p.add_argument("--purejaxrl-script", help="the driver that runs PureJaxRL's make_train and prints JSON")
    p.add_argument("--rnn-steps", type=int, default=None, help="env steps of each recurrent run (default 499,712)")
    p.add_argument("--skip-16", action="store_true", help="leave out the 16-seed row")
    p.add_argument("--rows", choices=("all", "ppo", "rnn"), default="all",
                   help="measure only the feed-forward (ppo) or the recurrent (rnn) rows")
    args = p.parse_args()
    if bool(args.purejaxrl) != bool(args.purejaxrl_script):
        p.error("--purejaxrl and --purejaxrl-script go together")
    upl = 16 if args.quick else MLP.updates_per_log  # quick: 128 updates (65,536 steps) instead of 976
    mlp = dataclasses.replace(MLP, total_steps=CHUNKS * upl * MLP.steps_per_update, updates_per_log=upl)
    ppo_steps = mlp.total_steps
    rnn_steps = args.rnn_steps or (32_768 if args.quick else GRU.total_steps)
    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs, affinity {sorted(os.sched_getaffinity(0))}, "
          f"load average {load()} at {time.strftime('%H:%M:%S', time.gmtime())} UTC")
    rows = []  # (name, plastix Result, PureJaxRL JSON or None, anchor key)

    def record(name, mine, theirs, anchor):
        rows.append((name, mine, theirs, anchor))
        their = "—"
        if theirs:
            their = (f"{theirs['steps_per_s']:,.0f} steps/s, {peer_cpu_rate(theirs):,.0f} per CPU s (compile "
                     f"{theirs['compile_s']:.0f} s, greedy {theirs['greedy_return_median']:.0f})")
        print(f"  {name}: plastix {mine.steps_per_s:,.0f} steps/s, {mine.steps_per_cpu_s:,.0f} per CPU s (compile "
              f"{mine.compile_s:.0f} s, greedy {np.median(mine.greedy):.0f}); PureJaxRL {their}; load {load()}",
              flush=True)

    if args.rows != "rnn":
        theirs = peer(args, "ppo", 1, ppo_steps)
        record(f"ppo, 1 seed, {ppo_steps // 1000}k steps", chunked(mlp, [0]), theirs, "ppo/1")
    if args.rows != "rnn" and not args.skip_16:
        theirs = peer(args, "ppo", 16, ppo_steps)
        record(f"ppo, 16 seeds vmapped, {ppo_steps // 1000}k steps each", chunked(mlp, list(range(16))), theirs,
               "ppo/16")
    rnn_theirs = peer(args, "ppo_rnn", 1, rnn_steps) if args.rows != "ppo" else None
    for envs in (4, 16, 64) if args.rows != "ppo" else ():
        per_update = envs * 128
        upl = max(1, rnn_steps // (per_update * CHUNKS))  # one log point per chunk
        steps = CHUNKS * upl * per_update
        config = dataclasses.replace(GRU, num_envs=envs, total_steps=steps, updates_per_log=upl, lr=RNN_LR[envs])
        record(f"recurrent ppo (GRU 128), {envs} envs, lr {RNN_LR[envs]:g}, {steps // 1000}k steps",
               chunked(config, [0]), rnn_theirs, "ppo_rnn/4")

    measured = args.purejaxrl is not None
    ref = "PureJaxRL (this run)" if measured else "PureJaxRL (anchor, not measured in this run)"
    print(f"\nload average {load()} at {time.strftime('%H:%M:%S', time.gmtime())} UTC")
    print(f"\n| run | plastix env steps/s | {ref} steps/s | plastix / PureJaxRL | same, per CPU second "
          f"| compile s (plastix / PureJaxRL) | plastix: time to greedy {TARGET:.0f} | final greedy return "
          "(plastix / PureJaxRL) |")
    print("|---|---:|---:|---:|---:|---|---|---|")
    for name, mine, theirs, anchor in rows:
        if theirs:
            rate, cpu_ratio = theirs["steps_per_s"], mine.steps_per_cpu_s / peer_cpu_rate(theirs)
            comp = f"{mine.compile_s:.0f} / {theirs['compile_s']:.0f}"
            ret = f"{np.median(mine.greedy):.0f} / {theirs['greedy_return_median']:.0f}"
        else:
            rate, cpu_ratio = ANCHOR[anchor], float("nan")
            comp, ret = f"{mine.compile_s:.0f} / —", f"{np.median(mine.greedy):.0f} / —"
        if len(mine.greedy) > 1:
            ret += f" (median of {len(mine.greedy)}; plastix ≥ {TARGET:.0f}: {int(np.sum(mine.greedy >= TARGET))})"
        cpu = "—" if np.isnan(cpu_ratio) else f"{cpu_ratio:.2f}"
        print(f"| {name} | {mine.steps_per_s:,.0f} | {rate:,.0f} | {mine.steps_per_s / rate:.2f} | {cpu} | {comp} "
              f"| {fmt_reach(mine.reach)} | {ret} |")


if __name__ == "__main__":
    main()
