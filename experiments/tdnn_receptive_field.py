"""Which inputs a TDNN output sees: the tree of taps below h_t for a two-layer TDNN without and
with sub-sampling (Waibel et al. 1989; the dilated form of plastix.cores.tdnn).

Layer k taps its input at t, t − δ_k, ..., t − (D_k − 1) δ_k with δ_1 = 1, δ_{k+1} = s_1 ⋯ s_k.
The sets are taken from the core itself (``window``, ``dilations``), and checked against the
Jacobian ∂h_t/∂x of a random instance before drawing (a tap the core does not use would fail).

    python experiments/tdnn_receptive_field.py [--out docs/tdnn_receptive_field.png]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from plastix.cores import make_core, scan_core

CASES = [  # (title, core options)
    ("window 3,3, no sub-sampling", dict(window="3,3")),
    ("window 3,3, stride 2", dict(window="3,3", stride=2)),
    ("window 2,2, stride 3 (skips inputs)", dict(window="2,2", stride=3)),
]
SPAN = 9  # time steps drawn: t − 8, ..., t


def tap_tree(core) -> list[set[int]]:
    """seen[k] = the times (lags before t) of layer k's values that h^K_t depends on; k = 0 is the input."""
    seen = [set() for _ in range(core.layers + 1)]
    seen[core.layers] = {0}
    for k in range(core.layers, 0, -1):
        D, dil = core.window[k - 1], core.dilations[k - 1]
        seen[k - 1] = {lag + j * dil for lag in seen[k] for j in range(D)}
    return seen


def jacobian_lags(core, T: int = 20) -> set[int]:
    params = core.init(jax.random.PRNGKey(0))
    xs = jax.random.normal(jax.random.PRNGKey(1), (T, core.input_size))
    jac = jax.jacrev(lambda x: scan_core(core, params, x)[1][-1])(xs)
    return {T - 1 - t for t in np.flatnonzero(np.any(np.asarray(jac) != 0, axis=(0, 2)))}


def draw(ax, core, title: str) -> None:
    seen = tap_tree(core)
    names = ["input x"] + [f"layer {k}" for k in range(1, core.layers + 1)]
    for k in range(core.layers + 1):
        for lag in range(SPAN):
            on = lag in seen[k]
            ax.plot(-lag, k, "o", ms=9 if on else 6, color="tab:red" if on else "0.8", zorder=3)
    for k in range(core.layers, 0, -1):  # edges from each seen value down to its taps
        D, dil = core.window[k - 1], core.dilations[k - 1]
        for lag in seen[k]:
            for j in range(D):
                ax.plot([-lag, -(lag + j * dil)], [k, k - 1], color="tab:red", lw=0.8, alpha=0.6, zorder=2)
    ax.set_yticks(range(core.layers + 1), names)
    ax.set_xticks(range(-SPAN + 1, 1), [f"t−{d}" if d else "t" for d in range(SPAN - 1, -1, -1)], fontsize=7)
    ax.set_xlim(-SPAN + 0.5, 0.5)
    ax.set_ylim(-0.5, core.layers + 0.5)
    ax.set_title(f"{title}: R = {core.receptive_field}, inputs seen {sorted(seen[0])}", fontsize=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/tdnn_receptive_field.png")
    out = parser.parse_args().out
    fig = Figure(figsize=(7, 7))
    axes = fig.subplots(len(CASES), 1)
    for ax, (title, opts) in zip(axes, CASES):
        core = make_core("tdnn", 1, 2, **opts)
        seen = tap_tree(core)
        assert seen[0] == jacobian_lags(core), (title, seen[0], jacobian_lags(core))
        draw(ax, core, title)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
