"""Why does retroactive neuromodulation learn and then collapse? One change at a time, ≥ 8 seeds.

Backpropamine's retroactive modulation (Miconi et al., ICLR 2019, eq. 4–5) on the shrunk
cue-reward task (preset ``easy``: 2 cues of 4 bits, 60-step episodes, new cues every episode),
hidden 32, batch 30, A2C (γ 0.9, value 0.1, clip 2). The reference setting is the one that
collapsed in docs/reproduction.md (Adam 3e-3, η = θ unbounded, entropy 0.03, Adam ε 1e-8);
each other setting changes ONE thing:

    base       Adam 3e-3, eta_param raw (η = θ), entropy bonus 0.03, ε 1e-8
    lr1e-3     Adam 1e-3
    lr3e-4     Adam 3e-4
    eps1e-6    Adam ε 1e-6 (the released code's)
    simpson    the released code's Simpson penalty 0.1 Σ π² instead of the entropy bonus
    sigmoid    η = sigmoid(θ) ∈ (0, 1)
    decay      Adam 3e-3 annealed linearly to 3e-4 over the run

and two combinations (sigmoid+lr1e-3, sigmoid+decay).

Per setting and seed: the return curve and the plasticity diagnostics (η, mean |M|, fraction of
Hebb at the clip, max |E|; ``plastix.rl.diagnostics``). A seed *learned* if its smoothed return
(trailing mean of 5 log points) reached ``--learned`` (default 6, half of the ~12 possible); it
*collapsed after learning* if afterwards its smoothed return fell below ``--collapsed`` (default
2) at a later log point. Writes experiments/results/stability_<tag>.npz (all metrics) and
stability_<tag>.json (the table), prints the table.

    python experiments/backpropamine_stability.py --updates 2000 --settings base sigmoid
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

from plastix.rl.trainer import RLConfig, make_trainer
from plastix.train.supervised import seed_keys

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"

BASE = RLConfig(task="cue-reward", preset="easy", core="neuromod-rnn",
                core_options=(("eta_param", "raw"), ("modulation", "retroactive"), ("eta_init", 0.1)), hidden=32, batch_size=30,
                gamma=0.9, value_coef=0.1, entropy_coef=0.03, lr=3e-3, clip_norm=2.0)
SETTINGS = {
    "base": {},
    "lr1e-3": {"lr": 1e-3},
    "lr3e-4": {"lr": 3e-4},
    "eps1e-6": {"adam_eps": 1e-6},
    "simpson": {"entropy_coef": 0.0, "concentration_coef": 0.1},
    "sigmoid": {"core_options": (("eta_param", "sigmoid"), ("modulation", "retroactive"), ("eta_init", 0.1))},
    "decay": {"lr_end": 3e-4},
    # combinations, after the one-at-a-time settings
    "sigmoid+lr1e-3": {"lr": 1e-3, "core_options": (("eta_param", "sigmoid"), ("modulation", "retroactive"), ("eta_init", 0.1))},
    "sigmoid+decay": {"lr_end": 3e-4, "core_options": (("eta_param", "sigmoid"), ("modulation", "retroactive"), ("eta_init", 0.1))},
    # a faster eligibility trace (neuromod-rnn's default since this experiment) (η_init 0.3 / 0.5): the learned η of the seeds that learned rose to 0.3–0.5
    "sigmoid+lr1e-3+eta0.3": {"lr": 1e-3, "core_options": (("eta_param", "sigmoid"), ("modulation", "retroactive"),
                                                            ("eta_init", 0.3))},
    "sigmoid+lr1e-3+eta0.5": {"lr": 1e-3, "core_options": (("eta_param", "sigmoid"), ("modulation", "retroactive"),
                                                            ("eta_init", 0.5))},
    "sigmoid+eta0.5": {"core_options": (("eta_param", "sigmoid"), ("modulation", "retroactive"), ("eta_init", 0.5))},
    "sigmoid+decay+eta0.5": {"lr_end": 3e-4, "core_options": (("eta_param", "sigmoid"), ("modulation", "retroactive"),
                                                               ("eta_init", 0.5))},
}
SMOOTH = 5  # log points in the trailing mean that decides "learned" / "collapsed"


def smooth(curve: np.ndarray, k: int = SMOOTH) -> np.ndarray:
    """Trailing mean over the last k points (fewer at the start). curve (L,) -> (L,)."""
    c = np.cumsum(np.insert(curve, 0, 0.0))
    idx = np.arange(1, len(curve) + 1)
    lo = np.maximum(0, idx - k)
    return (c[idx] - c[lo]) / (idx - lo)


def classify(curve: np.ndarray, learned: float, collapsed: float) -> dict:
    """{'learned_at': first log index where smooth ≥ learned (or None), 'collapsed_at': first
    later index where smooth < collapsed (or None), 'peak', 'final'} of one seed's curve."""
    s = smooth(curve)
    hit = np.flatnonzero(s >= learned)
    out = {"learned_at": int(hit[0]) if hit.size else None, "collapsed_at": None,
           "peak": float(s.max()), "final": float(s[-1])}
    if hit.size:
        low = np.flatnonzero(s[hit[0]:] < collapsed)
        out["collapsed_at"] = int(hit[0] + low[0]) if low.size else None
    return out


def run_setting(name: str, opts) -> dict:
    config = dataclasses.replace(BASE, num_updates=opts.updates, updates_per_log=opts.per_log, **SETTINGS[name])
    trainer = make_trainer(config)
    states = jax.jit(jax.vmap(trainer.init))(seed_keys(range(opts.seeds)))
    chunk = opts.logs_per_segment
    segment = jax.jit(jax.vmap(trainer.run, in_axes=(0, None)), static_argnums=1)
    parts, t0 = [], time.perf_counter()
    for done in range(0, config.num_logs, chunk):
        states, metrics = segment(states, min(chunk, config.num_logs - done))
        parts.append({k: np.asarray(v) for k, v in metrics.items()})
        r = parts[-1]["charts/episodic_return"][:, -1]
        print(f"  {name}: {min(done + chunk, config.num_logs)}/{config.num_logs} logs, {time.perf_counter() - t0:.0f} s, "
              f"returns {np.round(r, 1).tolist()}", flush=True)
    metrics = {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}
    return {"metrics": metrics, "seconds": time.perf_counter() - t0, "config": dataclasses.asdict(config)}


def summarize_setting(metrics: dict, per_log: int, learned: float, collapsed: float) -> dict:
    seeds = [classify(c, learned, collapsed) for c in metrics["charts/episodic_return"]]
    n_learned = sum(s["learned_at"] is not None for s in seeds)
    n_collapsed = sum(s["collapsed_at"] is not None for s in seeds)
    at = [per_log * (s["learned_at"] + 1) for s in seeds if s["learned_at"] is not None]
    eta = metrics["diagnostics/eta"]
    return {"learned": n_learned, "collapsed_after_learning": n_collapsed, "seeds": len(seeds),
            "median_updates_to_learn": float(np.median(at)) if at else None,
            "final_median": float(np.median([s["final"] for s in seeds])),
            "max_eta": float(np.nanmax(eta)), "final_eta_median": float(np.nanmedian(eta[:, -1])),
            "final_mean_abs_M_median": float(np.nanmedian(metrics["diagnostics/mean_abs_M"][:, -1])),
            "final_hebb_at_clip_median": float(np.nanmedian(metrics["diagnostics/hebb_at_clip"][:, -1])),
            "max_abs_E": float(np.nanmax(metrics["diagnostics/max_abs_E"])), "per_seed": seeds}


def markdown_table(table: dict, tag: str) -> str:
    """The results as a markdown table (one row per setting)."""
    lines = ["| setting | learned (of seeds) | collapsed after learning | median updates to learn | final median "
             "| η range (all seeds, all logs) | final median η | final median mean abs M | final median Hebb at clip "
             "| max abs E |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, t in table.items():
        learn = "—" if t["median_updates_to_learn"] is None else f"{t['median_updates_to_learn']:.0f}"
        eta = np.load(RESULTS / f"stability_{tag}_{name}.npz")["diagnostics__eta"]
        lines.append(f"| {name} | {t['learned']}/{t['seeds']} | {t['collapsed_after_learning']} | {learn} | "
                     f"{t['final_median']:.2f} | {np.nanmin(eta):.2f} to {np.nanmax(eta):.2f} | {t['final_eta_median']:.3g} | "
                     f"{t['final_mean_abs_M_median']:.2f} | {t['final_hebb_at_clip_median']:.2f} | {t['max_abs_E']:.3g} |")
    return "\n".join(lines)


def draw(runs: list[str], out: Path) -> Path:
    """Median and inter-quartile band over seeds of saved runs ``tag:setting``, against episodes."""
    from plastix.rl.plots import plot_variants

    curves = {}
    for run in runs:
        tag, name = run.split(":", 1)
        settings = json.loads((RESULTS / f"stability_{tag}.json").read_text())[name]
        returns = np.load(RESULTS / f"stability_{tag}_{name}.npz")["charts__episodic_return"]
        per_log = settings["config"]["updates_per_log"] if "config" in settings else 20
        batch = BASE.batch_size
        curves[f"{name} ({settings['updates']} updates)"] = (per_log * batch * np.arange(1, returns.shape[1] + 1), returns)
    return plot_variants(curves, out, title="retroactive neuromod-rnn, cue-reward easy, hidden 32, batch 30", chance=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--per-log", type=int, default=20)
    parser.add_argument("--logs-per-segment", type=int, default=10)
    parser.add_argument("--learned", type=float, default=6.0)
    parser.add_argument("--collapsed", type=float, default=2.0)
    parser.add_argument("--tag", default="easy-h32")
    parser.add_argument("--table", action="store_true", help="print the saved results as a markdown table, train nothing")
    parser.add_argument("--figure", nargs="+", metavar="TAG:SETTING",
                        help="draw the saved curves of these runs (median and IQR over seeds) to --out, train nothing")
    parser.add_argument("--out", default=str(ROOT / "docs" / "repro_stability.png"))
    opts = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"stability_{opts.tag}.json"
    table = json.loads(json_path.read_text()) if json_path.exists() else {}
    if opts.table:
        print(markdown_table(table, opts.tag))
        return
    if opts.figure:
        print(draw(opts.figure, Path(opts.out)))
        return
    for name in opts.settings:
        out = run_setting(name, opts)
        np.savez_compressed(RESULTS / f"stability_{opts.tag}_{name}.npz",
                            **{k.replace("/", "__"): v for k, v in out["metrics"].items()})
        table[name] = {**summarize_setting(out["metrics"], opts.per_log, opts.learned, opts.collapsed),
                       "updates": opts.updates, "seconds": out["seconds"], "change": SETTINGS[name]}
        json_path.write_text(json.dumps(table, indent=2, default=str))
        t = table[name]
        print(f"{name}: learned {t['learned']}/{t['seeds']}, collapsed {t['collapsed_after_learning']}, "
              f"median updates to learn {t['median_updates_to_learn']}, final median {t['final_median']:.2f}, "
              f"max η {t['max_eta']:.3g}, max |E| {t['max_abs_E']:.3g} ({t['seconds']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
