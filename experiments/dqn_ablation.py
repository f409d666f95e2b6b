"""A Rainbow-style ablation of the DQN family on CartPole-v1 (Hessel et al. 2018, Fig. 3 and 4):
plain DQN, each flag alone, all flags together, and all flags but one, each at the task's
defaults (on CartPole PureJaxRL's settings: 10 environments per seed, 500k env steps) with 8
seeds vmapped in one process.

    python experiments/dqn_ablation.py --out runs/dqn-ablation --cpu 0

Each row is one ``plastix train`` command (printed, so it can be rerun by hand) writing a run
directory under --out (pinned to the core --cpu with ``nice -n 10 taskset``, with XLA_FLAGS set
to single-threaded Eigen); a row whose directory is
not empty is skipped (trained already, or being trained by a second copy of the script). Then
``plastix eval`` evaluates every trained seed greedily (ε = 0, 100 episodes), and the script
prints a markdown table: per row, the IQM of the final greedy returns over the seeds with its
95 % bootstrap interval (``plastix.stats.bootstrap_ci``), the seeds at ≥ 475, the IQM of the
training (ε-greedy) return over the last 10 % of log points, and the median first log step at
which the training return reached 475 (over the seeds that reached it), and the mean first log
step at which it reached 300 with its 95 % bootstrap interval. ``--rows`` picks some rows;
``--table-only`` only reads finished runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from plastix.runs import read_metrics
from plastix.stats import bootstrap_ci, final_performance, seed_curves, time_to_threshold

ALL = ("--double", "--dueling", "--per", "--n-step", "3")
ROWS = {
    "dqn": (),
    "double": ("--double",),
    "dueling": ("--dueling",),
    "per": ("--per",),
    "n-step-3": ("--n-step", "3"),
    "all": ALL,
    "all-no-double": ("--dueling", "--per", "--n-step", "3"),
    "all-no-dueling": ("--double", "--per", "--n-step", "3"),
    "all-no-per": ("--double", "--dueling", "--n-step", "3"),
    "all-no-n-step": ("--double", "--dueling", "--per"),
}
SOLVED = 475.0
EARLY = 300.0
PREFIX = ["nice", "-n", "10", "taskset", "-c", "0"]  # the core: --cpu
# one core: XLA's single-threaded Eigen is faster for these small matmuls (docs/dqn.md, Speed)
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def plastix_cmd(*args: str) -> list[str]:
    return [*PREFIX, str(Path(sys.executable).with_name("plastix")), *args]


def train(name: str, out: Path, seeds: int, task: str, extra: tuple[str, ...]) -> Path:
    run = out / name
    if run.exists() and any(run.iterdir()):
        return run  # trained already, or being trained by another copy of this script
    cmd = plastix_cmd("train", task, "--algo", "dqn", *ROWS[name], *extra, "--seeds", str(seeds), "--out", str(run),
                      "--quiet")
    print("$", " ".join(cmd[len(PREFIX):]), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "XLA_FLAGS": XLA_FLAGS})
    return run


def evaluate(run: Path, episodes: int) -> list[float]:
    path = run / "greedy_eval.json"
    if not path.exists():
        out = subprocess.run(plastix_cmd("eval", str(run), "--episodes", str(episodes), "--json"), check=True,
                             capture_output=True, text=True).stdout
        path.write_text(out)
    return json.loads(path.read_text())["per_seed"]


def row(name: str, run: Path, episodes: int) -> str:
    greedy = np.asarray(evaluate(run, episodes))
    ci = bootstrap_ci(greedy, "iqm", rng=np.random.default_rng(0))
    curves = seed_curves(read_metrics(run), "charts/episodic_return")
    final = final_performance(curves.values, 0.1)
    tci = bootstrap_ci(final, "iqm", rng=np.random.default_rng(0))
    first = time_to_threshold(curves.steps, curves.values, SOLVED)  # NaN: never reached
    # ε-greedy play caps the training return until ε is small: a lower bar shows the early speed
    early = time_to_threshold(curves.steps, curves.values, EARLY)
    eci = bootstrap_ci(early[np.isfinite(early)], "mean", rng=np.random.default_rng(0))
    flags = " ".join(ROWS[name]) or "(none)"
    return (f"| {name} | `{flags}` | {ci.estimate:.1f} [{ci.low:.1f}, {ci.high:.1f}] | {int(np.sum(greedy >= SOLVED))}/"
            f"{greedy.size} | {tci.estimate:.1f} [{tci.low:.1f}, {tci.high:.1f}] | "
            f"{np.nanmedian(first) / 1000:.0f}k ({int(np.sum(np.isfinite(first)))}/{first.size}) | "
            f"{eci.estimate / 1000:.0f}k [{eci.low / 1000:.0f}k, {eci.high / 1000:.0f}k] | "
            f"{' '.join(f'{g:.0f}' for g in greedy)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/dqn-ablation")
    ap.add_argument("--cpu", default="0", help="the core (taskset -c) every training runs on")
    ap.add_argument("--task", default="cartpole")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("extra", nargs="*", help="further flags for every plastix train command (after --)")
    args = ap.parse_args()
    PREFIX[-1] = args.cpu
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {}
    for name in args.rows:
        runs[name] = out / name if args.table_only else train(name, out, args.seeds, args.task, tuple(args.extra))
    print("| row | flags | greedy return, IQM [95 % CI] | seeds ≥ 475 | training return (last 10 %), IQM [95 % CI] "
          "| first step the training return ≥ 475, median (seeds) | first step the training return ≥ 300, mean [95 % CI] "
          "| greedy return per seed |")
    print("|---|---|---|---|---|---|---|---|")
    for name, run in runs.items():
        if (run / "params.npz").exists():
            print(row(name, run, args.episodes), flush=True)


if __name__ == "__main__":
    main()
