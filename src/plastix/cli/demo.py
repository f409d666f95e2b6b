"""``plastix demo``: what plasticity buys, side by side, in about two minutes.

Task: Backpropamine's cue-reward association (Miconi et al., ICLR 2019, §4.1) with NEW cues and
a new rewarded cue in every episode (preset ``easy``: 2 cues of 4 bits, 60-step episodes). The
rewarded cue can only be found inside an episode, from the rewards; a network whose weights are
fixed after training cannot store it in its weights, only in its activity. Two agents of
(about) equal parameter count train on the same seeds with the same A2C settings:

    neuromod-rnn   simple neuromodulated plasticity, hidden 32 (2,533 parameters):
                   Hebb ← clip(Hebb + M(t) h_t h_{t−1}ᵀ, −1, 1), M(t) = tanh(w_M·h_t + b_M)
    elman          non-plastic Elman RNN, hidden 44 (2,555 parameters)

Each is an ordinary ``plastix train`` run (``OUT/neuromod-rnn``, ``OUT/elman``: config.json,
metrics.csv, curves.png, params.npz); ``OUT/comparison.png`` draws both learning curves (median
and inter-quartile band over seeds) and the last line printed compares their final mean episode
rewards (per seed, the mean over the last 10 % of log points; median and IQR over seeds) with
chance (0: a random answer at Go) and the most an agent can get (about 13.2 Go signals per
episode, minus the first trials spent finding the rewarded cue: about 12).

Measured (docs/reproduction.md): with the default 600 updates (30 episodes each) the modulated
agent reaches 9–11.5 on 8 of 8 seeds, the Elman network stays at chance (|reward| < 0.3).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from pathlib import Path

import numpy as np

from plastix.errors import PlastixError, check_positive_int

TASK, PRESET = "cue-reward", "easy"
LR, LR_END = 3e-3, 3e-4  # Adam's step size, annealed linearly (a constant 3e-3 let 1 of 4 learned seeds collapse)
EPISODES, EPISODE_LENGTH = 30, 60  # B episodes per update (Backpropamine's --bs); T of the easy preset
CHANCE, BEST = 0.0, 12.0  # a random answer at Go; about the best reachable (module docstring)
AGENTS = {  # label -> plastix train flags; parameter counts printed by the command
    "neuromod-rnn": ("--core", "neuromod-rnn", "--modulation", "simple", "--hidden", "32"),
    "elman": ("--core", "elman", "--hidden", "44"),
}
LABELS = {"neuromod-rnn": "simple neuromodulation, hidden 32", "elman": "non-plastic, hidden 44"}


@dataclasses.dataclass(frozen=True)
class DemoArgs:
    """Train a neuromodulated and a non-plastic agent side by side on cue-reward with new cues every episode."""

    seeds: int = 4
    """Seeds per agent (vmapped): 0 .. seeds-1, the same for both agents."""
    updates: int = 600
    """Updates per seed (30 episodes of 60 steps each)."""
    out: str | None = None
    """Output directory (must not exist); default runs/demo-<time>."""
    quiet: bool = False
    """No progress bars."""
    json: bool = False
    """Print one JSON object on stdout at the end (summary.json's content, the output directory and
    the figure); progress and the summary line go to stderr."""

    def run(self) -> int:
        if not self.json:
            return run_demo(self)
        import contextlib
        import sys

        out = Path(self.out) if self.out else Path("runs") / f"demo-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        with contextlib.redirect_stdout(sys.stderr):
            code = run_demo(dataclasses.replace(self, out=str(out), json=False))
        if code == 0:
            summary = json.loads((out / "summary.json").read_text())
            print(json.dumps({**summary, "out": str(out), "figure": str(out / "comparison.png")}))
        return code


def train_flags(label: str, args: DemoArgs, out: Path) -> list[str]:
    """The ``plastix train`` argument list of one agent."""
    flags = ["train", TASK, "--preset", PRESET, *AGENTS[label], "--lr", str(LR), "--lr-end", str(LR_END), "--episodes", str(EPISODES),
             "--total-steps", str(args.updates * EPISODES * EPISODE_LENGTH), "--seeds", str(args.seeds),
             "--out", str(out / label)]
    return flags + (["--quiet"] if args.quiet else [])


def parameter_count(label: str) -> int:
    """Trainable parameters of one agent (core, policy and value heads)."""
    import jax

    from plastix.envs import make_env
    from plastix.rl.agent import ActorCritic, make_agent_core

    flags = AGENTS[label]
    core_name, hidden = flags[flags.index("--core") + 1], int(flags[flags.index("--hidden") + 1])
    options = {"modulation": flags[flags.index("--modulation") + 1]} if "--modulation" in flags else {}
    env, _ = make_env(TASK, PRESET)
    core = make_agent_core(core_name, env.observation_size, hidden, **options)
    params = ActorCritic(core, env.num_actions).init(jax.random.PRNGKey(0))
    return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))


def final_scores(run_dir: Path, last: float = 0.1) -> np.ndarray:
    """Per seed, the mean episode reward over the last ``last`` fraction of log points (seeds,)."""
    from plastix.runs import read_metrics
    from plastix.stats import final_performance, seed_curves

    return final_performance(seed_curves(read_metrics(run_dir), "charts/episodic_return").values, last)


def summary_line(scores: dict[str, np.ndarray]) -> str:
    """'label: median (IQR q25 to q75), ... of a possible ~12 (chance 0)', median and quartiles over seeds."""
    parts = []
    for label, s in scores.items():
        q25, med, q75 = np.percentile(s, [25, 50, 75])
        parts.append(f"{label}: {med:.2f} (IQR {q25:.2f} to {q75:.2f})")
    return ", ".join(parts) + f" of a possible ~{BEST:g} (chance {CHANCE:g}), mean episode reward over {len(s)} seeds"


def plot_comparison(out: Path, runs: dict[str, Path]) -> Path:
    """Both agents' learning curves (median and IQR over seeds) in OUT/comparison.png."""
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics

    labels = {label: f"{label} ({LABELS[label]})" for label in runs}
    return plot_runs([(labels[label], read_metrics(path)) for label, path in runs.items()],
                     ["charts/episodic_return"], out / "comparison.png", baseline=CHANCE,
                     ylabels=["mean episode reward (chance 0, best ~12)"],
                     title=f"cue-reward, new cues every episode ({PRESET})")


def run_demo(args: DemoArgs) -> int:
    from plastix.cli import main as plastix_main

    check_positive_int("seeds", args.seeds)
    check_positive_int("updates", args.updates)
    from plastix.cli.outputs import check_run_dir

    out = Path(args.out) if args.out else Path("runs") / f"demo-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    check_run_dir(out)
    if out.exists() and any(out.iterdir()):
        raise PlastixError(f"output directory {str(out)!r} already exists and is not empty; choose another --out.")
    print(f"cue-reward with new cues and a new rewarded cue in every episode ({PRESET}: 2 cues of 4 bits, "
          f"{EPISODE_LENGTH} steps): the answer must be found within each episode.\n"
          f"{args.seeds} seeds per agent, {args.updates} updates of {EPISODES} episodes, A2C, Adam {LR:g} annealed to {LR_END:g}.", flush=True)
    runs, start = {}, time.perf_counter()
    for label in AGENTS:
        print(f"\n== {label} ({LABELS[label]}), {parameter_count(label):,} parameters", flush=True)
        code = plastix_main(train_flags(label, args, out))
        if code != 0:
            return code
        runs[label] = out / label
    scores = {label: final_scores(path) for label, path in runs.items()}
    figure = plot_comparison(out, runs)
    line = summary_line(scores)
    (out / "summary.json").write_text(json.dumps(
        {"scores": {k: v.tolist() for k, v in scores.items()}, "seeds": list(range(args.seeds)),
         "updates": args.updates, "wall_s": time.perf_counter() - start, "summary": line}, indent=2))
    print(f"\ncomparison plot: {figure}  ({time.perf_counter() - start:.0f} s)")
    print(line)
    return 0
