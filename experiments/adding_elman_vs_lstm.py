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

from plastix.cli.args import TrainArgs
from plastix.cli.train import run_train
from plastix.plot import plot_runs
from plastix.runs import read_metrics
from plastix.tasks import get_task

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
        args = TrainArgs(task="adding", core=core, seq_len=opts.seq_len, seeds=opts.seeds,
                         total_steps=opts.total_steps, out=str(Path(opts.out) / core))
        run_train(args)
    make_figure(Path(opts.out), Path(opts.figure), opts.seq_len)


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
