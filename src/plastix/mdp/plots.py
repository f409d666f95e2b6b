"""Pictures of grid worlds: a value heat map with policy arrows, and learning curves of tabular
runs (median and inter-quartile range over seeds), drawn with matplotlib's object API (no
global pyplot state, no display needed)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from plastix.errors import PlastixError
from plastix.mdp.grids import MOVES, GridTask, make_grid
from plastix.runs import read_config, read_metrics

ARROWS = ("↑", "→", "↓", "←")
Q_TABLE = "q_table.npy"


def draw_value_grid(ax, task: GridTask, values: np.ndarray, policy: np.ndarray | None, title: str = "") -> None:
    """Heat map of U(s) on the grid (walls and cliffs grey), each cell's value printed, and an
    arrow for the policy's action in every non-final state. values, policy: (S,)."""
    layout, terminal = task.layout, np.asarray(task.mdp.terminal)
    grid = np.array(layout.to_grid(list(np.asarray(values, float)), np.nan), float)
    masked = np.ma.masked_invalid(grid)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.55")
    im = ax.imshow(masked, cmap=cmap)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="U(s)")
    small = max(layout.shape) > 6
    for s, (r, c) in enumerate(layout.cells):
        label = f"{values[s]:.2f}" if not small else f"{values[s]:.1f}"
        ax.text(c, r + (0.3 if policy is not None and not terminal[s] else 0.0), label, ha="center",
                va="center", fontsize=6 if small else 9, color="w")
        if policy is not None and not terminal[s]:
            dr, dc = MOVES[int(policy[s])]
            ax.annotate("", xy=(c + 0.3 * dc, r - 0.05 + 0.3 * dr), xytext=(c - 0.3 * dc, r - 0.05 - 0.3 * dr),
                        arrowprops=dict(arrowstyle="->", color="w", lw=1.5))
    for r, row in enumerate(layout.kinds):
        for c, tok in enumerate(row):
            if layout.state_of[r, c] < 0:
                ax.text(c, r, "cliff" if tok == "C" else "wall", ha="center", va="center", fontsize=6, color="w")
    ax.set_xticks(range(layout.shape[1]))
    ax.set_yticks(range(layout.shape[0]))
    ax.set_title(title, fontsize=9)


def draw_curves(ax, steps: np.ndarray, returns: np.ndarray, label: str) -> np.ndarray:
    """Median and inter-quartile band over seeds. steps: (n,), returns: (seeds, n) (NaN = no
    episode). Returns the median curve."""
    with warnings.catch_warnings():  # all-NaN columns (no episode ended yet) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(returns, axis=0)
        lo, hi = np.nanpercentile(returns, 25, axis=0), np.nanpercentile(returns, 75, axis=0)
    (line,) = ax.plot(steps, med, label=f"{label} (median, {returns.shape[0]} seeds)")
    ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.25)
    return med


def _zoom(ax, medians: list[np.ndarray], ylim: tuple[float, float] | None) -> None:
    """y-limits: ``ylim`` if given, else the range of the medians after the first fifth of the
    run (the first episodes of a cliff run cost ~1000 and would flatten everything else)."""
    if ylim is None:
        tails = np.concatenate([m[len(m) // 5:] for m in medians])
        tails = tails[np.isfinite(tails)]
        if tails.size == 0:
            return
        lo, hi = float(tails.min()), float(tails.max())
        pad = 0.15 * (hi - lo) + 1e-9
        ylim = (lo - pad, hi + pad)
    ax.set_ylim(*ylim)


def _run_arrays(run_dir: Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    rows = read_metrics(run_dir)
    if not rows or metric not in rows[0]:
        raise PlastixError(f"{str(run_dir)!r} has no metric {metric!r}.")
    seeds = sorted({int(r["seed"]) for r in rows})
    steps = sorted({int(r["step"]) for r in rows})
    table = np.full((len(seeds), len(steps)), np.nan)
    si, ti = {s: i for i, s in enumerate(seeds)}, {t: i for i, t in enumerate(steps)}
    for r in rows:
        table[si[int(r["seed"])], ti[int(r["step"])]] = r[metric]
    return np.array(steps), table


def _run_args(run_dir: Path) -> dict:
    """The ``plastix train`` arguments saved in a run's config.json."""
    cfg = read_config(run_dir)["config"]
    return cfg.get("args") or cfg.get("resolved") or cfg  # a run started from Python has no flags


def _run_label(run_dir: Path) -> str:
    cfg = _run_args(run_dir)
    return f"{cfg.get('algo', '?')} on {cfg.get('task', '?')}"


def plot_grid_curves(run_dirs: Sequence[Path], out: Path, metric: str = "charts/episodic_return",
                     ylim: tuple[float, float] | None = None) -> Path:
    """Learning curves of several grid runs on one figure (one line + IQR band per run)."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    meds = []
    for run in run_dirs:
        steps, table = _run_arrays(Path(run), metric)
        meds.append(draw_curves(ax, steps, table, _run_label(Path(run))))
    _zoom(ax, meds, ylim)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(metric.split("/")[-1].replace("_", " "))
    ax.legend(fontsize=8)
    fig.savefig(out, dpi=120)
    return Path(out)


def plot_grid_run(run_dir: str | Path) -> list[Path]:
    """Draw ``curves.png`` (online and greedy returns) and ``policy.png`` (U = max_a Q̄ and the
    greedy policy of Q̄, the mean of the seeds' Q tables) for a tabular run directory."""
    run_dir = Path(run_dir)
    cfg = _run_args(run_dir)
    if not (run_dir / Q_TABLE).exists():
        raise PlastixError(f"{str(run_dir)!r} is not a grid run: no {Q_TABLE} in it.")
    task = make_grid(cfg["task"], cfg.get("gamma"))
    q = np.load(run_dir / Q_TABLE).mean(axis=0)  # (S, A)
    terminal = np.asarray(task.mdp.terminal)
    values = np.where(terminal, np.asarray(task.mdp.R_final), q.max(axis=-1))
    fig = Figure(figsize=(max(4.5, 1.5 + 0.9 * task.layout.shape[1]), 1.2 + 0.9 * task.layout.shape[0]),
                 layout="constrained")
    draw_value_grid(fig.add_subplot(), task, values, q.argmax(axis=-1), f"{_run_label(run_dir)}\ngreedy policy of mean Q")
    paths = [run_dir / "policy.png"]
    fig.savefig(paths[0], dpi=120)
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    meds = []
    for metric, name in (("charts/episodic_return", "online (ε-greedy)"), ("charts/greedy_return", "greedy")):
        steps, table = _run_arrays(run_dir, metric)
        meds.append(draw_curves(ax, steps, table, name))
    _zoom(ax, meds, None)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return per episode")
    ax.set_title(_run_label(run_dir))
    ax.legend(fontsize=8)
    paths.append(run_dir / "curves.png")
    fig.savefig(paths[1], dpi=120)
    return paths
