"""LSTM against bidirectional LSTM trained with CTC on ``ctc-symbols``, each decoded by best
path and by prefix beam search (Graves et al. 2006 compare the same pairs on TIMIT, Table 1).

Both networks: hidden 32 per direction, batch 32, Adam 3e-3, 19,200 training sequences per seed,
four seeds vmapped in one run each (the same as the commands in docs/sequences.md)::

    nice -n 10 taskset -c 0 python experiments/ctc_compare.py [--out runs/ctc] [--seeds 4]

Trains the two runs under --out (lstm/, blstm/; an existing finished run directory, e.g. from the
commands, is reused), evaluates every
seed on 200 fresh sequences (the same sequences for every seed and model), prints the label error
rate of each (model, decoder) with a 95% percentile-bootstrap interval of the mean over seeds
(``plastix.stats.bootstrap_ci``), and draws docs/ctc_symbols.png (the best-path label error rate
during training, median and IQR over seeds).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import plastix
from plastix.algorithms import evaluate
from plastix.ctc import CTCConfig
from plastix.plot import plot_runs
from plastix.runs import read_metrics
from plastix.stats import bootstrap_ci

MODELS = {"lstm": False, "bidirectional lstm": True}  # label -> bidirectional
DIRS = {"lstm": "lstm", "bidirectional lstm": "blstm"}  # as the commands of docs/sequences.md
FIGURE = Path(__file__).resolve().parent.parent / "docs" / "ctc_symbols.png"


def run_dir_of(out: Path, label: str) -> Path:
    return out / DIRS[label]


def train(out: Path, seeds: int) -> None:
    for label, bidirectional in MODELS.items():
        run_dir = run_dir_of(out, label)
        if (run_dir / "params.npz").exists():
            continue
        config = CTCConfig(core="lstm", bidirectional=bidirectional, updates_per_log=12)  # as --total-steps 19200
        plastix.run(config, seeds=seeds, out=str(run_dir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/ctc")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--sequences", type=int, default=200)
    args = parser.parse_args()
    out = Path(args.out)
    train(out, args.seeds)
    print("| network | decoding | label error rate (mean over seeds) | 95% CI | per seed |")
    print("|---|---|---|---|---|")
    for label in MODELS:
        result = evaluate(plastix.load(run_dir_of(out, label)), args.sequences, seed=0)
        rates = result["label_error_rate"]
        for decoder, name in (("greedy", "best path"), ("beam", f"prefix beam, width {rates['beam_width']}")):
            ci = bootstrap_ci(np.asarray(rates[decoder]), "mean")
            print(f"| {label} | {name} | {ci.estimate:.4f} | [{ci.low:.4f}, {ci.high:.4f}] | "
                  + ", ".join(f"{v:.4f}" for v in rates[decoder]) + " |")
    plot_runs([(label, read_metrics(run_dir_of(out, label))) for label in MODELS],
              ["charts/label_error_rate", "charts/eval_loss"], FIGURE, baseline=1.0, logy=[True, True],
              ylabels=["label error rate (best path)", "CTC loss −ln p(z|x)"],
              title="ctc-symbols: LSTM against bidirectional LSTM (hidden 32 per direction)")
    print(f"figure: {FIGURE}")


if __name__ == "__main__":
    main()
