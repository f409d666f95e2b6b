"""A TDNN cannot remember beyond its window: the adding problem at T = 20 with two TDNN window
sizes against an LSTM and an Elman net (same hidden size, budget, optimizer and seeds).

The two marked numbers lie one in [0, T/2) and one in [T/2, T); the sum is asked for at the
last step t = T − 1. A TDNN with receptive field R sees x_{T−R}, ..., x_{T−1} only:

* R = 20 = T covers both marks and can solve the task;
* R = 5 never sees the first mark and sees the second only when it falls in the last 5 steps
  (probability 1/2). The best it can do is predict v₂ + ½ when it sees the second mark and
  1 otherwise, an MSE of ½ · 1/12 + ½ · 1/6 = 1/8 = 0.125 (baseline 1/6 ≈ 0.167).

Both TDNNs have two layers: a pointwise layer (window 1, which can form m_t v_t) and a layer
with window R over it (``--core-opt window=1,R``).

    nice -n 10 taskset -c 0 python experiments/tdnn_adding.py [--seeds 2] [--total-steps 64000]

Writes one run directory per model under --out, the figure docs/tdnn_adding.png, and prints the
final eval MSE per seed.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import plastix
from plastix.plot import plot_runs
from plastix.runs import read_metrics
from plastix.tasks import get_task
from plastix.train import SupervisedConfig

T = 20
MODELS = {  # label -> (core, core options)
    "tdnn R=5": ("tdnn", (("window", "1,5"),)),
    "tdnn R=20": ("tdnn", (("window", "1,20"),)),
    "lstm": ("lstm", ()),
    "elman": ("elman", ()),
}
FLOOR_R5 = 0.125  # the best MSE a TDNN with R = 5 can reach at T = 20 (module docstring)


def config(core: str, options, total_steps: int, hidden: int) -> SupervisedConfig:
    task = get_task("adding")
    updates = total_steps // 32
    per_log = max(1, updates // 25)
    return SupervisedConfig(task="adding", core=core, hidden=hidden, seq_len=T, batch_size=32, lr=task.default_lr,
                            num_updates=(updates // per_log) * per_log, updates_per_log=per_log, core_options=options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--total-steps", type=int, default=64_000)
    parser.add_argument("--hidden", type=int, default=32)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    parser.add_argument("--out", default=f"runs/tdnn-adding-{stamp}")
    parser.add_argument("--figure", default="docs/tdnn_adding.png")
    opts = parser.parse_args()
    out = Path(opts.out)
    for label, (core, options) in MODELS.items():
        run_dir = out / label.replace(" ", "_").replace("=", "")
        plastix.run(config(core, options, opts.total_steps, opts.hidden), seeds=opts.seeds, out=str(run_dir), quiet=True)
    runs = [(label, read_metrics(out / label.replace(" ", "_").replace("=", ""))) for label in MODELS]
    plot_runs(runs, ["charts/eval_metric"], Path(opts.figure), baseline=get_task("adding").baseline(T), logy=[True],
              ylabels=["eval MSE"], title=f"adding, T = {T}: median, IQR over {opts.seeds} seeds "
                                          f"(TDNN R=5 floor {FLOOR_R5})")
    for label, rows in runs:
        last = max(r["step"] for r in rows)
        finals = {r["seed"]: r["charts/eval_metric"] for r in rows if r["step"] == last}
        print(f"{label:10s} final eval MSE per seed: " + ", ".join(f"{int(s)}: {v:.4f}" for s, v in sorted(finals.items())))
    print(f"wrote {opts.figure}")


if __name__ == "__main__":
    main()
