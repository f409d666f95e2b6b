"""Final performance per variant of a Backpropamine experiment, with bootstrap CIs and rank-sum tests.

Reads the long-format CSV that ``backpropamine_cue_reward.py`` and ``backpropamine_maze.py``
write (variant, seed, update, episodes, return), takes each seed's mean return over the last
10 % of its log points (as ``plastix compare`` does), and prints a markdown table: median,
interquartile mean with its 95 % percentile-bootstrap CI (``plastix.stats.bootstrap_ci``),
mean ± std, then every pair's two-sided Mann–Whitney U test with Holm's correction and
P(A > B) (``plastix.stats.rank_sum_test``, ``plastix.stats.holm``).

    python experiments/backpropamine_stats.py experiments/results/maze_easy-h32-8seeds.csv
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import numpy as np

from plastix import stats


def final_scores(path: Path, last: float = 0.1) -> dict[str, np.ndarray]:
    """{variant: (seeds,) mean return over the last ``last`` fraction of each seed's log points}."""
    curves: dict[str, dict[int, list[tuple[int, float]]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            curves.setdefault(row["variant"], {}).setdefault(int(row["seed"]), []).append(
                (int(row["update"]), float(row["return"])))
    out = {}
    for variant, seeds in curves.items():
        finals = []
        for seed in sorted(seeds):
            values = np.array([r for _, r in sorted(seeds[seed])])
            finals.append(values[-stats.last_points(len(values), last):].mean())
        out[variant] = np.array(finals)
    return out


def report(scores: dict[str, np.ndarray]) -> str:
    lines = ["| variant | n | median final reward | IQM [95 % bootstrap CI] | mean ± std |", "|---|---|---|---|---|"]
    for name, x in scores.items():
        est, low, high = stats.bootstrap_ci(x, "iqm")
        lines.append(f"| {name} | {x.size} | {np.median(x):.2f} | {est:.2f} [{low:.2f}, {high:.2f}] | "
                     f"{x.mean():.2f} ± {x.std(ddof=1):.2f} |")
    pairs = list(itertools.combinations(scores, 2))
    tests = [stats.rank_sum_test(scores[a], scores[b]) for a, b in pairs]
    adjusted = stats.holm([t.p_value for t in tests])
    lines += ["", "| A | B | U(A) | p | p (Holm) | P(A > B) |", "|---|---|---|---|---|---|"]
    for (a, b), t, p in zip(pairs, tests, adjusted):
        lines.append(f"| {a} | {b} | {t.u:g} | {t.p_value:.2g} | {p:.2g} | {t.prob_a_greater:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--last", type=float, default=0.1, help="fraction of log points in each seed's final score")
    opts = parser.parse_args()
    print(report(final_scores(opts.csv, opts.last)))


if __name__ == "__main__":
    main()
