"""Policy-gradient training speed on cue-reward: seconds per update against the memory-traffic
bound and the original code, and agent steps/s over batch and vmapped seeds.

    python benchmarks/bench_rl.py [--quick] [--markdown FILE]
        [--original-cmd "taskset -c 0 PY time_backpropamine.py --type {type}" | --original-seconds X]

Every number is measured in this run on this machine (run it under ``taskset -c 0``: one core).

1. The paper configuration (Backpropamine's released code, Miconi et al. 2019: hidden n = 200,
   B = 30 episodes of T = 120 steps, a2c). Seconds per update (one rollout + the gradient + one
   Adam step; best of ``--repeats`` after compiling) for the non-plastic, plastic, simply and
   retroactively modulated cores, with each gradient path: ``rollout`` (autodiff through the
   rollout, each step rematerialised — the way the original code differentiates), ``bptt``
   (autodiff over the stored trajectory), ``hand-bptt`` (the hand-derived backward in its
   default layout, ``plastix.grads.hand.set_episode_layout("auto")``: one episode at a time at
   n = 200), ``hand-bptt/vmap`` (the same recursions vectorised over the B episodes, the layout
   before) and, if asked, ``hand-bptt/map``. A first
   row per agent times the rollout alone (no loss, no gradient, no Adam step): a floor.

   The bound. The traces are two (n × n) float32 arrays per episode (Hebb and the eligibility
   trace E; one, Hebb, without retroactive modulation). The minimal algorithm, counted in
   (n × n) array accesses per episode and step::

       forward   read Hebb_t, E_t; write Hebb_{t+1}, E_{t+1}                         4  (2)
                 (the written arrays are the ones the backward reads: stored, not recomputed)
       backward  read Hebb_t, E_t (for the clip mask, ∂M, ∂η and ∂α)                  2  (1)
                 read the adjoints Ĥ_{t+1}, Ê_{t+1}; write Ĥ_t, Ê_t                   4  (2)
                 read and write the ∂α accumulator (α per connection)                2  (2)
       total                                                                        12  (7)

   (parenthesised: plastic and simple modulation, no E). Everything else per step is O(n) per
   episode or shared by the batch (W, α: O(n²) per step, not per episode). bytes = accesses ·
   4 · n² · B · T; the bound = bytes ÷ the copy bandwidth measured in the same run (a 256 MiB
   ``numpy.copyto``, best of 7, read + write bytes counted). plastix's hand backward does not
   store the traces (checkpoints every K ≈ 2√T steps, recomputed segment by segment: 4 (2)
   more accesses per step) and XLA runs reductions and matrix-vector products as separate
   loops over the traces, so it pays more passes than the minimum; the printed ratio measures
   by how much (docs/rl-training.md counts the passes).

   The original: ``--original-cmd`` runs a command per variant (``{type}`` is replaced by the
   released code's network type: rnn, plastic, modplast, modul) and parses the last
   ``seconds per update: X`` it prints; ``--original-seconds`` gives ``X`` (retroactive) or
   ``modul=X,rnn=Y,...``; otherwise the published 2-core figures are shown, marked quoted.

2. Throughput for the plastic and non-plastic cores at B = 1, 30, 256, 1024 episodes per update
   and S = 1, 8, 64 vmapped seeds (``jax.vmap`` of the update over independent training states;
   hidden 64, T = 120, the ``auto`` gradient path): agent steps/s = S · B · T / seconds per update,
   and efficiency = steps/s ÷ (steps/s at B = S = 1 × B · S). Combinations over
   ``--max-episodes`` (S · B) are dropped and listed.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import re
import shlex
import subprocess
import time

import jax
import numpy as np

from plastix.grads import hand
from plastix.rl.trainer import RLConfig, build_setup, init_state, rollout_batch, update_step

PAPER_VARIANTS = {  # label -> (core, options, released code's --type, quoted original s/update or None)
    "non-plastic (elman)": ("elman", (), "rnn", 0.11),
    "plastic": ("plastic-rnn", (), "plastic", 1.1),
    "simple neuromod": ("neuromod-rnn", (("modulation", "simple"),), "modplast", None),
    "retroactive neuromod": ("neuromod-rnn", (("modulation", "retroactive"),), "modul", 1.4),
}
GRAD_PATHS = ("rollout", "bptt", "hand-bptt", "hand-bptt/vmap")
TRACE_ACCESSES = {"rnn": 0, "plastic": 7, "modplast": 7, "modul": 12}  # per episode-step, module docstring
THROUGHPUT_CORES = ("elman", "lstm", "gru", "plastic-rnn", "neuromod-rnn", "plastic-lstm", "neuromod-lstm")


def best_seconds(fn, repeats: int) -> float:
    """Best wall time of ``fn()`` (blocked until ready) over ``repeats`` calls after one warm call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def copy_bandwidth(mib: int = 256, repeats: int = 7) -> float:
    """Bytes/s of a large in-memory copy (read + write bytes), best of ``repeats``."""
    src = np.ones(mib * 2**18, np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / best_seconds(lambda: np.copyto(dst, src), repeats)


def trace_bytes(kind: str, n: int, batch: int, steps: int) -> int:
    """Bytes of trace traffic of the minimal algorithm for one update (module docstring)."""
    return TRACE_ACCESSES[kind] * 4 * n * n * batch * steps


def time_update(config: RLConfig, repeats: int, seeds: int = 0) -> tuple[float, float]:
    """(best seconds per update, compiled temp MiB) of ``update_step`` under jit; ``seeds`` > 0
    vmaps the update over that many independent training states."""
    setup = build_setup(config)
    step = functools.partial(update_step, setup)
    if seeds:
        state = jax.vmap(functools.partial(init_state, setup))(jax.random.split(jax.random.key(0), seeds))
        step = jax.vmap(step)
    else:
        state = init_state(setup, jax.random.key(0))
    compiled = jax.jit(step).lower(state).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes / 2**20
    box = [compiled(state)[0]]

    def once():
        box[0], metrics = compiled(box[0])
        return metrics

    return best_seconds(once, repeats), temp


def time_rollout(config: RLConfig, repeats: int) -> float:
    """Best seconds of the batch's rollout alone under jit (no gradient): the floor."""
    setup = build_setup(config)
    params = init_state(setup, jax.random.key(0)).params
    run = jax.jit(functools.partial(rollout_batch, setup)).lower(params, jax.random.key(1)).compile()
    return best_seconds(lambda: run(params, jax.random.key(2)), repeats)


def original_seconds(kind: str, quoted: float | None, args) -> tuple[float | None, str]:
    """(seconds per update of the original code, how it was obtained)."""
    if args.quick:
        return None, "not at the quick sizes"
    if args.original_cmd:
        out = subprocess.run(shlex.split(args.original_cmd.replace("{type}", kind)), capture_output=True,
                             text=True, check=True).stdout
        found = re.findall(r"seconds per update:\s*([0-9.]+)", out)
        return float(found[-1]), "measured"
    if args.original_seconds:
        pairs = dict(p.split("=") for p in args.original_seconds.split(",") if "=" in p)
        if "=" not in args.original_seconds:
            pairs = {"modul": args.original_seconds}
        if kind in pairs:
            return float(pairs[kind]), "given"
    return quoted, "quoted"


def paper_table(args, hidden: int, batch: int, steps: int, bandwidth: float) -> list[str]:
    lines = ["| agent | gradient path | s / update | bound s | × bound | × rollout path | original s | × original | temp MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label in args.variants.split(","):
        core, options, kind, quoted = PAPER_VARIANTS[label]
        original, how = original_seconds(kind, quoted, args)
        orig_cell = "—" if original is None else f"{original:.3f} ({how})"
        bound = trace_bytes(kind, hidden, batch, steps) / bandwidth
        bound_cell = f"{bound:.3f}" if bound else "—"

        def row(path, seconds, base, temp):
            ratio = f"{seconds / bound:.1f}" if bound else "—"
            vs_orig = "—" if original is None else f"{original / seconds:.1f}× faster"
            base_cell = "—" if base is None else f"{base / seconds:.2f}"
            lines.append(f"| {label} | {path} | {seconds:.3f} | {bound_cell} | {ratio} | {base_cell} | {orig_cell} | "
                         f"{vs_orig} | {temp} |")
            print(lines[-1], flush=True)

        common = dict(core=core, core_options=options, hidden=hidden, batch_size=batch,
                      env_settings=(("episode_length", steps),))
        row("none: rollout only (floor)", time_rollout(RLConfig(**common), args.repeats), None, "—")
        base = None
        for path in args.paths:
            grad, _, layout = path.partition("/")
            if grad == "hand-bptt" and core == "elman" and layout:
                continue  # the layout concerns the plastic cores only
            previous = hand.set_episode_layout(layout or "auto")
            try:
                seconds, temp = time_update(RLConfig(grad=grad, **common), args.repeats)
            finally:
                hand.set_episode_layout(previous)
            base = seconds if base is None else base
            row(path, seconds, base, f"{temp:.1f}")
    return lines


def throughput_table(args, batches, seeds_list, hidden: int, steps: int) -> list[str]:
    lines = ["| core | B | " + " | ".join(f"S={s} steps/s (eff.)" for s in seeds_list) + " |",
             "|---|---:|" + "---:|" * len(seeds_list)]
    dropped = []
    for core in args.cores:
        single = None
        for batch in batches:
            cells = []
            for seeds in seeds_list:
                if batch * seeds > args.max_episodes:
                    cells.append("—")
                    dropped.append(f"{core} B={batch} S={seeds}")
                    continue
                config = RLConfig(core=core, hidden=hidden, batch_size=batch, env_settings=(("episode_length", steps),))
                seconds, _ = time_update(config, args.repeats, seeds=seeds if seeds > 1 else 0)
                rate = seeds * batch * steps / seconds
                single = rate if single is None else single
                cells.append(f"{rate:,.0f} ({rate / (single * batch * seeds):.2g})")
            lines.append(f"| {core} | {batch} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    if dropped:
        lines += ["", f"Dropped (S · B > {args.max_episodes} episodes per update): " + ", ".join(dropped) + "."]
        print(lines[-1])
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--paths", default=",".join(GRAD_PATHS), help="gradient paths of table 1, comma-separated")
    parser.add_argument("--variants", default=",".join(PAPER_VARIANTS), help="agents of table 1, comma-separated")
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--cores", default=",".join(THROUGHPUT_CORES), help="cores of table 2, comma-separated")
    parser.add_argument("--batches", default="1,30,256,1024", help="episodes per update B of table 2")
    parser.add_argument("--seeds", default="1,8,64", help="vmapped seeds S of table 2")
    parser.add_argument("--max-episodes", type=int, default=2048, help="largest S · B timed in table 2")
    parser.add_argument("--original-cmd", help="command printing 'seconds per update: X'; {type} = rnn|plastic|modplast|modul")
    parser.add_argument("--original-seconds", help="X (retroactive) or modul=X,modplast=Y,plastic=Z,rnn=W")
    parser.add_argument("--markdown", help="append the tables to this Markdown file")
    args = parser.parse_args()
    args.paths, args.cores = args.paths.split(","), args.cores.split(",")
    if args.quick:
        args.repeats = 2
    hidden, batch, steps = (32, 4, 24) if args.quick else (200, 30, 120)
    bandwidth = copy_bandwidth(32 if args.quick else 256)
    load = os.getloadavg()[0]
    header = (f"{datetime.date.today()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPU · "
              f"load {load:.1f} · jax {jax.__version__} · float32 · copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    print(header, flush=True)
    out = [f"### {header}", ""]
    if not args.skip_paper:
        out += [f"Paper configuration (hidden {hidden}, batch {batch}, {steps} steps, a2c):", ""]
        out += paper_table(args, hidden, batch, steps, bandwidth)
    if not args.skip_throughput:
        batches, seeds_list = (tuple(int(v) for v in a.split(",")) for a in (args.batches, args.seeds))
        batches, seeds_list, th_hidden = ((1, 4), (1, 2), 32) if args.quick else (batches, seeds_list, 64)
        out += ["", f"Agent steps per second (hidden {th_hidden}, {steps} steps, auto gradient path; "
                    "efficiency in parentheses):", ""]
        out += throughput_table(args, batches, seeds_list, th_hidden, steps)
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n\n")


if __name__ == "__main__":
    main()
