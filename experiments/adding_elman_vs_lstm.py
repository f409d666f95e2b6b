"""The long-lag phenomenon of H&S 1997 on the adding problem (Arjovsky et al. 2016 form):
at T = 100 an Elman net stays at the baseline MSE 1/6 (predicting the mean), while an LSTM
goes far below it. Same budget, hidden size, optimizer and seeds for both.

    python experiments/adding_elman_vs_lstm.py [--seeds 2] [--out runs/adding-elman-vs-lstm]

Writes one run directory per core under --out and the figure docs/adding_elman_vs_lstm.png,
and prints the final eval MSE per seed.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import numpy as np

import plastix
from plastix.plot import plot_runs
from plastix.runs import read_metrics
from plastix.tasks import get_task
from plastix.train import SupervisedConfig
from plastix.train.resolve import DEFAULT_BATCH, DEFAULT_HIDDEN

CORES = ("elman", "lstm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--total-steps", type=int, default=None, help="sequences per seed (task default)")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    parser.add_argument("--out", default=f"runs/adding-elman-vs-lstm-{stamp}")
    parser.add_argument("--figure", default="docs/adding_elman_vs_lstm.png")
    opts = parser.parse_args()
    for core in CORES:
        plastix.run(config(core, opts.seq_len, opts.total_steps), seeds=opts.seeds, out=str(Path(opts.out) / core))
    make_figure(Path(opts.out), Path(opts.figure), opts.seq_len)


def config(core: str, seq_len: int, total_steps: int | None) -> SupervisedConfig:
    """The adding task's defaults (budget, learning rate), batch 32, hidden 64, about 50 log points."""
    task = get_task("adding")
    updates = (task.default_budget if total_steps is None else total_steps) // DEFAULT_BATCH
    per_log = max(1, updates // 50)
    return SupervisedConfig(task="adding", core=core, hidden=DEFAULT_HIDDEN, seq_len=seq_len, batch_size=DEFAULT_BATCH,
                            lr=task.default_lr, num_updates=(updates // per_log) * per_log, updates_per_log=per_log)


def make_figure(out: Path, figure: Path, seq_len: int) -> None:
    """Plot the runs under ``out`` (one per core) on one figure and print the final numbers."""
    runs = [(core, read_metrics(out / core)) for core in CORES]
    baseline = get_task("adding").baseline(seq_len)
    seeds = len({r["seed"] for r in runs[0][1]})
    plot_runs(runs, ["charts/eval_metric"], figure, baseline=baseline, logy=[True],
              ylabels=["eval MSE"], title=f"adding, T = {seq_len}: median, IQR over {seeds} seeds")
    for core, rows in runs:
        last = max(r["step"] for r in rows)
        final = [r["charts/eval_metric"] for r in rows if r["step"] == last]
        print(f"{core}: final eval MSE per seed {np.round(final, 5).tolist()} at {int(last)} sequences "
              f"(baseline {baseline:.4f})")
    print(f"figure: {figure}")


if __name__ == "__main__":
    main()
