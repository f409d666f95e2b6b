"""Backpropamine's cue-reward experiment (Miconi et al., ICLR 2019, §4.1, Fig. 2) rerun.

Variants, same A2C trainer and settings, ≥ 4 seeds each, seeds vmapped:

    rnn          non-plastic Elman RNN
    plastic      plastic RNN, non-modulated: Hebb ← clip(Hebb + η h_t h_{t−1}ᵀ), η learned
    simple       neuromodulated RNN, simple modulation: η replaced by M(t) = tanh(w_M·h_t + b_M)
    retroactive  neuromodulated RNN, retroactive modulation through an eligibility trace

Defaults (plastix.rl.trainer.RLConfig, close to Backpropamine's released code): A2C with
Monte-Carlo returns, γ 0.9, value coefficient 0.1, entropy 0.03, batch 30 episodes, Adam
1e-4, gradient-norm clip 2.0, hidden 200, 4 cues of 20 bits, 120-step episodes.
``--config paper-exact`` uses every released setting instead (plastix.rl.released: Simpson
penalty 0.1, value loss without ½, element-0 baseline, Adam ε 1e-6, 100-update burn-in,
PyTorch's initialisation, η unbounded; docs/reproduction.md lists them with file and line). Published
result: the modulated networks learn, non-modulated plastic and non-plastic ones stay near
chance (0).

    python experiments/backpropamine_cue_reward.py --quick          # minutes, shrunk
    python experiments/backpropamine_cue_reward.py --updates 3000   # released settings
    python experiments/backpropamine_cue_reward.py --hidden 50 --episode-length 60 --updates 2000 \
        --time-budget 1800 --tag small

Writes experiments/results/cue_reward_<tag>.csv (long format: variant, seed, update,
episodes, return), cue_reward_<tag>.json (settings, wall time, s/update, summary) and the
figure docs/repro_cue_reward_<tag>.png (median + IQR over seeds per variant); prints the
final median reward per variant and the episodes it took to reach it. ``run_experiment`` is
shared with backpropamine_maze.py.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

from plastix.rl.plots import plot_variants, summarize
from plastix.rl.trainer import RLConfig, make_trainer
from plastix.train.harness import seed_keys

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"
DOCS = ROOT / "docs"

VARIANTS = {  # name -> (core, core options)
    "rnn": ("elman", ()),
    "plastic": ("plastic-rnn", ()),
    "simple": ("neuromod-rnn", (("modulation", "simple"),)),
    "retroactive": ("neuromod-rnn", (("modulation", "retroactive"),)),
}


def common_args(parser: argparse.ArgumentParser, hidden: int, variants) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke run in minutes")
    parser.add_argument("--hidden", type=int, default=hidden)
    parser.add_argument("--updates", type=int, default=300, help="updates per seed (×30 episodes)")
    parser.add_argument("--updates-per-log", type=int, default=10)
    parser.add_argument("--logs-per-segment", type=int, default=5, help="log points per jitted call")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--batch", type=int, default=30, help="episodes per update (Backpropamine: 30)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--preset", default=None, help="environment preset (default: default; paper-exact "
                        "maze: released)")
    parser.add_argument("--config", default="plastix", choices=["plastix", "paper-exact"],
                        help="paper-exact: every setting of the released code (plastix.rl.released), "
                             "then --hidden, --lr, --batch, --preset, --episode-length on top")
    parser.add_argument("--episode-length", type=int, default=None, help="override the preset's T")
    parser.add_argument("--variants", nargs="+", default=list(variants), choices=list(variants))
    parser.add_argument("--time-budget", type=float, default=None,
                        help="seconds per variant; training stops at the first segment past it")
    parser.add_argument("--tag", default=None, help="suffix of the output files (default: quick/full)")


def train_variant(config: RLConfig, seeds: int, logs_per_segment: int, budget: float | None) -> dict:
    """Train ``seeds`` seeds (vmapped) in jitted segments; stop early past ``budget`` s."""
    trainer = make_trainer(config)
    states = jax.jit(jax.vmap(trainer.init))(seed_keys(range(seeds)))
    n = min(logs_per_segment, config.num_logs)
    t0 = time.perf_counter()
    segment = jax.jit(jax.vmap(trainer.run, in_axes=(0, None)), static_argnums=1).lower(states, n).compile()
    compile_s = time.perf_counter() - t0
    parts, train_s, cpu_s, done = [], 0.0, 0.0, 0
    while done + n <= config.num_logs:
        t, c = time.perf_counter(), time.process_time()
        states, metrics = segment(states)
        returns = np.asarray(metrics["charts/episodic_return"])  # blocks
        train_s += time.perf_counter() - t
        cpu_s += time.process_time() - c  # CPU seconds of all threads: robust to other jobs' load
        parts.append(returns)
        done += n
        print(f"  {done}/{config.num_logs} logs, {train_s:.0f} s, median return {np.median(returns[:, -1]):.3f}",
              flush=True)
        if budget is not None and compile_s + train_s > budget:
            break
    returns = np.concatenate(parts, axis=1)
    updates = config.updates_per_log * np.arange(1, returns.shape[1] + 1)
    skipped = np.asarray(metrics["losses/skipped_updates"])[:, -1].tolist()
    return {"returns": returns, "updates": updates, "compile_s": compile_s, "train_s": train_s,
            "s_per_update": train_s / (done * config.updates_per_log),
            "cpu_s_per_update": cpu_s / (done * config.updates_per_log), "skipped": skipped}


def parameter_count(config: RLConfig) -> int:
    params = make_trainer(config).setup.agent.init(jax.random.PRNGKey(0))
    return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))


def run_experiment(name: str, variants: dict, base: RLConfig, opts, chance: float | None) -> dict:
    """Train every selected variant, write CSV/JSON/figure, print the summary."""
    tag = opts.tag or ("quick" if opts.quick else "full")
    RESULTS.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = RESULTS / f"{name}_{tag}.csv", RESULTS / f"{name}_{tag}.json"
    figure = DOCS / f"repro_{name}_{tag}.png"
    summary = {"settings": {k: v for k, v in dataclasses.asdict(base).items()}, "seeds": list(range(opts.seeds)),
               "variants": {}}
    curves = {}
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["variant", "seed", "update", "episodes", "return"])
        for vname in opts.variants:
            core, options, hidden = variants[vname]
            config = dataclasses.replace(base, core=core, core_options=variant_options(base, core, options),
                                         hidden=hidden)
            print(f"{vname}: {core} {dict(options)} hidden {hidden}, {parameter_count(config)} parameters", flush=True)
            out = train_variant(config, opts.seeds, opts.logs_per_segment, opts.time_budget)
            episodes = out["updates"] * config.batch_size
            for s in range(opts.seeds):
                for u, e, r in zip(out["updates"], episodes, out["returns"][s], strict=True):
                    writer.writerow([vname, s, int(u), int(e), f"{r:.6g}"])
            fh.flush()
            curves[vname] = (episodes, out["returns"])
            stats = summarize(episodes, out["returns"])
            summary["variants"][vname] = {"core": core, "core_options": dict(options), "hidden": hidden,
                                          "parameters": parameter_count(config), "compile_s": out["compile_s"],
                                          "train_s": out["train_s"], "s_per_update": out["s_per_update"],
                                          "cpu_s_per_update": out.get("cpu_s_per_update"),
                                          "updates_done": int(out["updates"][-1]), "skipped_updates": out["skipped"],
                                          **stats}
            json_path.write_text(json.dumps(summary, indent=2))
            print(f"  -> final median {stats['final_median']:.3f}, 90% of gain at {stats['episodes_to_90pct_gain']} "
                  f"episodes, {out['s_per_update']:.3f} s/update ({out['cpu_s_per_update']:.3f} CPU s)", flush=True)
    title = (f"{name}: {base.preset} T={dict(base.env_settings).get('episode_length', 'preset')}, batch "
             f"{base.batch_size}, lr {base.lr:g}; median + IQR over {opts.seeds} seeds")
    plot_variants(curves, figure, title=title, chance=chance)
    print(f"\n{name} ({tag}): variant, final median reward, episodes to 90% of gain, s/update")
    for vname, v in summary["variants"].items():
        print(f"  {vname:12s} {v['final_median']:8.3f}  {v['episodes_to_90pct_gain']}  {v['s_per_update']:.3f}")
    print(f"wrote {csv_path}, {json_path}, {figure}")
    return summary


def variant_options(base: RLConfig, core: str, options) -> tuple:
    """A variant's core options on top of the base's (paper-exact: η, its parameterisation, the
    initialisation) — the base's modulation and squash dropped; none for the Elman RNN."""
    if core == "elman":
        return ()
    merged = {k: v for k, v in base.core_options if k not in ("modulation", "squash")}
    merged.update(dict(options))
    return tuple(sorted(merged.items()))


def base_config(opts, task: str, clip: float, entropy: float) -> RLConfig:
    settings = () if opts.episode_length is None else (("episode_length", opts.episode_length),)
    updates = (opts.updates // opts.updates_per_log) * opts.updates_per_log
    if opts.config == "paper-exact":
        from plastix.rl.released import released_config

        config = released_config(task, hidden=opts.hidden, batch_size=opts.batch, lr=opts.lr, env_settings=settings,
                                 num_updates=updates, updates_per_log=opts.updates_per_log)
        return config if opts.preset is None else dataclasses.replace(config, preset=opts.preset)
    return RLConfig(task=task, preset=opts.preset or "default", env_settings=settings, hidden=opts.hidden,
                    batch_size=opts.batch, gamma=0.9, value_coef=0.1, entropy_coef=entropy, lr=opts.lr,
                    clip_norm=clip, num_updates=(opts.updates // opts.updates_per_log) * opts.updates_per_log,
                    updates_per_log=opts.updates_per_log)


def apply_quick(opts) -> None:
    """--quick: hidden 16, 40-step episodes, 40 updates, 4 seeds (a smoke run, not a result)."""
    if opts.quick:
        opts.hidden, opts.episode_length, opts.updates, opts.updates_per_log = 16, 40, 40, 5
        opts.logs_per_segment = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_args(parser, 200, VARIANTS)
    opts = parser.parse_args()
    apply_quick(opts)
    base = base_config(opts, "cue-reward", clip=2.0, entropy=0.03)
    variants = {k: (core, opt, opts.hidden) for k, (core, opt) in VARIANTS.items()}
    run_experiment("cue_reward", variants, base, opts, chance=0.0)


if __name__ == "__main__":
    main()
