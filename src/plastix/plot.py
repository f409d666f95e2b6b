"""Learning curves from run directories, with a band over seeds.

``metrics.csv`` is long format (one row per (step, seed)). Two kinds of curve (``band``):

- ``"iqr"`` (default): at each logged step the line is the median over seeds and the band the
  25th–75th percentiles (NaN-ignoring; with one seed the band is empty).
- ``"ci"``: the line is the interquartile mean (or the mean, ``statistic="mean"``) over seeds
  and the band its percentile-bootstrap 95% confidence interval, whole seeds resampled
  (``plastix.stats.curve_band``; Agarwal et al. 2021).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from plastix.errors import PlastixError

BANDS = ("iqr", "ci")


class Curve(NamedTuple):
    """One metric of one run: steps (n,), center (n,) line, low (n,) and high (n,) band edges;
    ``kind`` says what they are (e.g. "median, IQR")."""

    steps: np.ndarray
    center: np.ndarray
    low: np.ndarray
    high: np.ndarray
    kind: str = "median, IQR over seeds"


def curve_stats(rows: Sequence[dict[str, float]], metric: str, band: str = "iqr", statistic: str = "iqm",
                reps: int = 1000, confidence: float = 0.95, rng: np.random.Generator | None = None) -> Curve:
    """The curve of ``metric`` at each logged step: median and quartiles over seeds (band "iqr"),
    or ``statistic`` (iqm | mean) with its bootstrap confidence interval (band "ci")."""
    if not rows or metric not in rows[0]:
        have = sorted(k for k in (rows[0] if rows else {}) if k not in ("step", "seed", "wall_time"))
        raise PlastixError(f"metric {metric!r} is not in the run's metrics.csv; it has: {', '.join(have) or 'no metric columns'}.")
    if band not in BANDS:
        from plastix.errors import unknown_name

        raise unknown_name("band", band, BANDS)
    if band == "ci":
        from plastix import stats

        curves = stats.seed_curves(rows, metric)
        center, low, high = stats.curve_band(curves.values, statistic, reps, confidence, rng)
        name = "IQM" if statistic == "iqm" else statistic
        return Curve(curves.steps, center, low, high, f"{name}, {100 * confidence:g}% bootstrap CI over seeds")
    by_step: dict[float, list[float]] = defaultdict(list)
    for row in rows:
        by_step[row["step"]].append(row[metric])
    steps = np.array(sorted(by_step))
    values = [np.asarray(by_step[s], float) for s in steps]
    # a log point where no seed has a value (no episode ended yet, no update before learning
    # starts) is a gap in the curve, not a warning on the user's terminal
    quartiles = np.array([np.nanpercentile(v, (25, 50, 75)) if not np.isnan(v).all() else np.full(3, np.nan)
                          for v in values]).reshape(-1, 3)
    return Curve(steps, quartiles[:, 1], quartiles[:, 0], quartiles[:, 2])


def _axes(panels: int):
    """A figure with one row of ``panels`` axes, built with matplotlib's object API: no pyplot
    state and no backend switch, so a notebook's backend is left alone."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * panels, 4))
    return fig, fig.subplots(1, panels, squeeze=False)[0]


def draw_curve(ax, curve: Curve, label: str) -> None:
    (line,) = ax.plot(curve.steps, curve.center, label=label)
    ax.fill_between(curve.steps, curve.low, curve.high, color=line.get_color(), alpha=0.25, lw=0)


def plot_runs(
    runs: Sequence[tuple[str, Sequence[dict[str, float]]]],
    metrics: Sequence[str],
    out: Path,
    baseline: float | None = None,
    logy: Sequence[bool] | None = None,
    ylabels: Sequence[str] | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    band: str = "iqr",
    seed: int = 0,
) -> Path:
    """One panel per metric, one curve per run; save a PNG to ``out``. ``band`` is "iqr"
    (median + inter-quartile band) or "ci" (IQM + 95% bootstrap band; resampling from
    ``numpy.random.default_rng(seed)`` per curve), see ``curve_stats``.

    ``baseline`` is drawn as a dashed line on the first panel. ``xlabel`` defaults to what the
    ``step`` column counts: training sequences (supervised) or environment steps (RL). Returns ``out``.
    """
    if xlabel is None:
        rl = any(rows and "charts/episodic_return" in rows[0] for _, rows in runs)
        xlabel = "environment steps (per seed)" if rl else "training sequences (per seed)"
    fig, axes = _axes(len(metrics))
    for i, (ax, metric) in enumerate(zip(axes, metrics, strict=True)):
        for label, rows in runs:
            curve = curve_stats(rows, metric, band=band, rng=np.random.default_rng(seed))
            draw_curve(ax, curve, label)
        ax.set_title(curve.kind if runs else "", fontsize=9)
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
    return out


def plot_profiles(taus: Sequence[float], profiles: Sequence[tuple[str, dict]], out: Path, xlabel: str = "τ",
                  ylabel: str = "fraction of runs with score > τ", title: str | None = None) -> Path:
    """Performance profiles (Agarwal et al. 2021): one step curve per
    (label, profile) over the shared thresholds ``taus`` (k,), a profile being a dict of
    ``fraction``, ``low`` and ``high`` (k,) (band omitted when ``low`` is None), as
    ``plastix compare`` computes them (``plastix.stats.performance_profile_band``). Saves a PNG."""
    fig, (ax,) = _axes(1)
    taus = np.asarray(taus, float)
    for label, prof in profiles:
        (line,) = ax.step(taus, prof["fraction"], where="post", label=label)
        if prof.get("low") is not None:
            ax.fill_between(taus, prof["low"], prof["high"], step="post", color=line.get_color(), alpha=0.2, lw=0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out
