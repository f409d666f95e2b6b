"""The capacity figure of Hopfield networks: the fraction of stored patterns recalled against the
load P/N (``plastix.hopfield.capacity``), drawn with matplotlib's object API (no global pyplot
state, no display needed).

Left: the classical rules near the critical load, linear axis. Right: every model on a log
axis up to loads far beyond 0.138 N, where the modern network (Ramsauer et al. 2021) still
recalls every pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

ALPHA_C = 0.138  # Amit, Gutfreund & Sompolinsky (1985)
COLORS = {"hebbian": "tab:blue", "storkey": "tab:orange", "pseudo-inverse": "tab:green", "modern": "tab:red"}
STYLES = ("-", "--", "-.", ":")  # the N values, largest first


def _curves(rows: Sequence[dict]):
    """{(model, N): (loads, recalled)} in the order of first appearance."""
    curves: dict = {}
    for r in rows:
        loads, recalled = curves.setdefault((r["model"], r["N"]), ([], []))
        loads.append(r["load"])
        recalled.append(r["recalled"])
    return curves


def plot_capacity(rows: Sequence[dict], out: str | Path, title: str = "") -> Path:
    """Draw the rows of ``capacity_curve`` (several models and N) to the PNG ``out``."""
    curves = _curves(rows)
    sizes = sorted({n for _, n in curves}, reverse=True)
    style = {n: STYLES[k % len(STYLES)] for k, n in enumerate(sizes)}
    fig = Figure(figsize=(11, 5))
    left, right = fig.subplots(1, 2)
    for (model, n), (loads, recalled) in curves.items():
        kw = dict(color=COLORS.get(model, "k"), ls=style[n], marker=".", ms=4, label=f"{model}, N = {n}")
        if model != "modern":
            left.plot(loads, recalled, **kw)
        right.plot(loads, recalled, **kw)
    for ax in (left, right):
        ax.axvline(ALPHA_C, color="0.4", lw=0.8, ls=":")
        ax.set_xlabel("load P/N")
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    left.text(ALPHA_C, 0.02, " 0.138", color="0.3", fontsize=8)
    left.set_xlim(0.0, 0.31)
    left.set_ylabel("fraction of patterns recalled")
    left.set_title("classical rules (asynchronous dynamics)")
    right.set_xscale("log")
    right.set_title("with the modern network (one update)")
    fig.legend(*right.get_legend_handles_labels(), fontsize=7, loc="lower center", ncol=4)  # every model
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out
