"""Learning curves from run directories: median and inter-quartile range over seeds.

``metrics.csv`` is long format (one row per (step, seed)); at each step the curve is the
median over seeds and the band the 25th–75th percentiles (with one seed, the band is empty).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from plastix.errors import PlastixError


class Curve:
    """steps (n,), median (n,), q25 (n,), q75 (n,) of one metric of one run."""

    def __init__(self, steps, median, q25, q75):
        self.steps, self.median, self.q25, self.q75 = steps, median, q25, q75


def curve_stats(rows: Sequence[dict[str, float]], metric: str) -> Curve:
    """Median and quartiles over seeds of ``metric`` at each logged step."""
    if not rows or metric not in rows[0]:
        have = sorted(k for k in (rows[0] if rows else {}) if k not in ("step", "seed", "wall_time"))
        raise PlastixError(f"metric {metric!r} is not in the run's metrics.csv; it has: {', '.join(have)}.")
    by_step: dict[float, list[float]] = defaultdict(list)
    for row in rows:
        by_step[row["step"]].append(row[metric])
    steps = np.array(sorted(by_step))
    values = [np.asarray(by_step[s], float) for s in steps]
    q25, med, q75 = (np.array([np.nanpercentile(v, q) for v in values]) for q in (25, 50, 75))
    return Curve(steps, med, q25, q75)


def _axes(panels: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    return plt, fig, axes[0]


def draw_curve(ax, curve: Curve, label: str) -> None:
    (line,) = ax.plot(curve.steps, curve.median, label=label)
    ax.fill_between(curve.steps, curve.q25, curve.q75, color=line.get_color(), alpha=0.25, lw=0)


def plot_runs(
    runs: Sequence[tuple[str, Sequence[dict[str, float]]]],
    metrics: Sequence[str],
    out: Path,
    baseline: float | None = None,
    logy: Sequence[bool] | None = None,
    ylabels: Sequence[str] | None = None,
    title: str | None = None,
    xlabel: str | None = None,
) -> Path:
    """One panel per metric, one curve (median + IQR band) per run; save a PNG to ``out``.

    ``baseline`` is drawn as a dashed line on the first panel. ``xlabel`` defaults to what the
    ``step`` column counts: training sequences (supervised) or environment steps (RL). Returns ``out``.
    """
    if xlabel is None:
        rl = any(rows and "charts/episodic_return" in rows[0] for _, rows in runs)
        xlabel = "environment steps (per seed)" if rl else "training sequences (per seed)"
    plt, fig, axes = _axes(len(metrics))
    for i, (ax, metric) in enumerate(zip(axes, metrics, strict=True)):
        for label, rows in runs:
            draw_curve(ax, curve_stats(rows, metric), label)
        if i == 0 and baseline is not None:
            ax.axhline(baseline, color="k", ls="--", lw=1, label=f"baseline {baseline:.4g}")
        if logy is not None and logy[i]:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabels[i] if ylabels else metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
