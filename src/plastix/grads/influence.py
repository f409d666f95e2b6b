"""Input influence ‖∂y_T/∂x_t‖ against t (Graves 2012, Figs. 4.1 and 4.4;
Hochreiter 1991; Bengio et al. 1994).

For a model y_t = V h_t + c over a core, the influence of input x_t on the last output is the
Frobenius norm of the Jacobian block ∂y_T/∂x_t (out × d). For an Elman net it is

    ∂y_T/∂x_t = V D_T W D_{T−1} W ⋯ W D_t U,   D_τ = diag f'(a_τ),

a product of T − t transition Jacobians that shrinks (or grows) geometrically: the vanishing
gradient. An LSTM's cell state gives a path with Jacobian ≈ diag(forget gate), which decays
much more slowly (the constant error carousel).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from plastix.grads.base import ModelParams, SeqModel


def input_influence(model: SeqModel, params: ModelParams, xs: jax.Array) -> jax.Array:
    """‖∂y_T/∂x_t‖_F for t = 1..T, one reverse-mode Jacobian.

    Args:
      xs: (T, d) one input sequence (no resets).

    Returns:
      (T,) norms; entry t is the influence of x_t on y_T.
    """
    def last_output(inputs):
        return model.apply(params, inputs)[-1]

    jac = jax.jacrev(last_output)(xs)  # (out, T, d)
    return jnp.sqrt(jnp.sum(jac * jac, axis=(0, 2)))


INFLUENCE_FLOOR = 1e-30  # norms below this (including exact underflow to 0) are drawn on this dotted line


def plot_influence(results: dict, path: str, title: str = "Input influence ‖∂y_T/∂x_t‖") -> str:
    """Plot each named curve of norms (T,) against t on a log y axis; write a PNG to ``path``.
    Norms below ``INFLUENCE_FLOOR`` (the Elman net underflows to exactly 0) sit on a dotted line."""
    import numpy as np
    from matplotlib.figure import Figure  # object API: no pyplot state, no backend switch

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, norms in results.items():
        norms = np.asarray(norms, dtype=float)
        ax.plot(np.arange(1, norms.shape[0] + 1), np.maximum(norms, INFLUENCE_FLOOR), label=name)
    ax.set_yscale("log")
    ax.axhline(INFLUENCE_FLOOR, color="grey", linestyle=":", linewidth=0.8)
    ax.set_ylim(bottom=INFLUENCE_FLOOR / 10)
    ax.set_xlabel("input time step t")
    ax.set_ylabel("‖∂y_T/∂x_t‖")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
