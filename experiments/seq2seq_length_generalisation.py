"""Length generalisation of encoder–decoders on addition: train on operands of 1..L digits, test
on held-out problems of 1..L digits and on operands of exactly 2L digits.

Three models, the same budget, step size schedule and seeds (vmapped in one run each):

* lstm, no attention: the decoder starts from the encoder's final carry (Sutskever et al. 2014);
* lstm + Luong (general) attention with input feeding (Luong et al. 2015) — the default of
  ``plastix train addition``;
* transformer: a causal transformer core as encoder and decoder, the decoder attending to the
  encoder's cached keys and values (the carry handed over), no extra attention.

Each row is one ``plastix train`` command (printed, and listed in docs/sequences.md), then
``plastix.algorithms.evaluate`` scores every trained seed on 1000 fresh held-out problems at both
lengths; the table gives the mean over seeds with a 95 % percentile-bootstrap interval over seeds
(``plastix.stats.bootstrap_ci``).

    nice -n 10 taskset -c 0 python experiments/seq2seq_length_generalisation.py [--seeds 3] [--out runs/seq2seq]

Writes experiments/results/seq2seq_length_generalisation.json and prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODELS = {  # label -> the flags of `plastix train addition`
    "lstm + luong attention": "--core lstm --attention luong",
    "lstm": "--core lstm --attention none",
    "transformer": "--core transformer --attention none --lr 1e-3 --core-opt ffn=256",
}
RESULTS = Path(__file__).resolve().parent / "results" / "seq2seq_length_generalisation.json"


def train(label: str, flags: str, seeds: int, out: Path) -> tuple[str, float]:
    command = f"plastix train addition {flags} --seeds {seeds} --out {out} --quiet"
    print(f"[{label}] {command}", flush=True)
    start = time.perf_counter()
    plastix_exe = Path(sys.executable).parent / "plastix"  # the console script of this environment
    subprocess.run([str(plastix_exe), *shlex.split(command)[1:]], check=True)
    return command, time.perf_counter() - start


def wall_seconds(run_dir: Path) -> float:
    """The wall-clock seconds a finished run trained for (its last log point's wall_time)."""
    from plastix.runs import read_metrics

    return max(float(r["wall_time"]) for r in read_metrics(run_dir))


def score(run_dir: Path) -> dict:
    import plastix
    from plastix.algorithms import evaluate

    return evaluate(plastix.load(run_dir), seed=123)


def row(label: str, command: str, seconds: float, result: dict) -> dict:
    from plastix.stats import bootstrap_ci

    rng = np.random.default_rng(0)
    cells = {}
    for name, values in (("trained", result["per_seed"]), ("long", result["per_seed_long"])):
        ci = bootstrap_ci(np.asarray(values), "mean", rng=rng)
        cells[name] = {"mean": ci.estimate, "low": ci.low, "high": ci.high, "per_seed": values}
    return {"model": label, "command": command, "seconds": seconds, "long_len": result["long_len"], **cells}


def table(rows: list[dict]) -> str:
    lines = ["| model | exact match, 1..L digits | exact match, 2L digits | per seed (1..L / 2L) | wall |",
             "|---|---|---|---|---|"]
    for r in rows:
        t, g = r["trained"], r["long"]
        seeds = " ".join(f"{a:.3f}/{b:.3f}" for a, b in zip(t["per_seed"], g["per_seed"], strict=True))
        lines.append(f"| {r['model']} | {t['mean']:.3f} [{t['low']:.3f}, {t['high']:.3f}] | "
                     f"{g['mean']:.3f} [{g['low']:.3f}, {g['high']:.3f}] | {seeds} | {r['seconds']:.0f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="runs/seq2seq")
    parser.add_argument("--only", nargs="*", default=None, help="labels of MODELS to run (default: all)")
    parser.add_argument("--score-only", action="store_true",
                        help="score the finished run directories under --out again, without training")
    args = parser.parse_args()
    rows: list[dict] = []
    for label, flags in MODELS.items():
        if args.only and label not in args.only:
            continue
        out = Path(args.out) / label.replace(" + ", "-").replace(" ", "-")
        if args.score_only:
            command = f"plastix train addition {flags} --seeds {args.seeds} --out {out} --quiet"
            seconds = wall_seconds(out)
        else:
            command, seconds = train(label, flags, args.seeds, out)
        new = row(label, command, seconds, score(out))
        rows = json.loads(RESULTS.read_text())["rows"] if RESULTS.exists() else []  # other rows may run at once
        rows = [r for r in rows if r["model"] != label] + [new]
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"task": "addition", "rows": rows}, indent=2))
    rows = json.loads(RESULTS.read_text())["rows"] if RESULTS.exists() else rows
    print(table(rows))


if __name__ == "__main__":
    main()
