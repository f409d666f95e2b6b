"""Connectionist temporal classification: the loss −ln p(z | x) (Graves, Fernández, Gomez &
Schmidhuber 2006, "Connectionist temporal classification: labelling unsegmented sequence data
with recurrent neural networks", ICML; eqs. 3–14).

The network emits, at every frame t, a distribution y^t over the K symbols and one extra
*blank* (here index ``BLANK = 0``; the symbols are 1..K). A path π ∈ (K+1)^T has probability
p(π | x) = Π_t y^t_{π_t} (eq. 2); the many-to-one map B removes repeated symbols and then blanks
(eq. 3: B(a−ab−) = B(−aa−abb) = aab), and p(z | x) = Σ_{π ∈ B⁻¹(z)} p(π | x) (eq. 3). The sum runs
over the extended label z' (z with a blank between every two symbols and at both ends, length
2U + 1) with the forward variables (eqs. 5–8)::

    α_1(1) = y^1_b,   α_1(2) = y^1_{z_1},   α_1(s) = 0 for s > 2
    α_t(s) = (α_{t−1}(s) + α_{t−1}(s−1)) y^t_{z'_s}                     if z'_s = b or z'_{s−2} = z'_s
    α_t(s) = (α_{t−1}(s) + α_{t−1}(s−1) + α_{t−1}(s−2)) y^t_{z'_s}      otherwise
    p(z | x) = α_T(2U + 1) + α_T(2U)                                     (eq. 8)

and its gradient by the backward variables (eqs. 9–14), which autodiff of the forward recursion
gives here. The recursion is optax's ``ctc_loss`` (Graves et al. 2006, in log space), called
with:

- ``blank_id = 0``: column 0 of the logits is the blank, labels are 1..K;
- padding *indicators* (1.0 = padded) built from per-sequence lengths: frames t ≥ T_b and
  labels u ≥ U_b are padding; labels are right-padded (padding positions hold ``BLANK``);
- ``log_epsilon = −1e5`` stands for ln 0, so an infeasible label gets a large finite value from
  optax, which ``ctc_loss`` below replaces by +inf.

*Feasibility.* A path emits each symbol on at least one frame, and two equal neighbours need a
blank between them, so z is reachable only when T ≥ U + R(z), R(z) = #{u : z_u = z_{u+1}}
(``required_frames``). ``check_ctc_inputs`` raises a ``PlastixError`` at the boundary;
inside jit ``ctc_loss`` returns +inf for such a sequence (p(z | x) = 0), whose gradient is not
finite: mask it out (``feasible``) before averaging a batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from plastix.errors import PlastixError

BLANK = 0  # the blank's index in every frame's distribution; symbols are 1..K


def length_paddings(lengths: jax.Array, size: int, dtype) -> jax.Array:
    """(B, size) padding indicators: 1.0 at positions ≥ lengths[b] (optax's convention)."""
    return (jnp.arange(size)[None, :] >= lengths[:, None]).astype(dtype)


def required_frames(labels: jax.Array, label_lengths: jax.Array) -> jax.Array:
    """(B,) the fewest frames a path for each label can have: U_b + R_b, with R_b the number of
    equal neighbours z_u = z_{u+1} (u + 1 < U_b), each of which needs a blank between them."""
    U = labels.shape[1]
    pair_real = jnp.arange(U - 1)[None, :] + 1 < label_lengths[:, None]  # (B, U−1): both of the pair are real
    repeats = jnp.sum((labels[:, 1:] == labels[:, :-1]) & pair_real, axis=1)
    return label_lengths + repeats


def feasible(input_lengths: jax.Array, labels: jax.Array, label_lengths: jax.Array) -> jax.Array:
    """(B,) bool: p(z | x) can be non-zero (T_b ≥ U_b + R_b)."""
    return input_lengths >= required_frames(labels, label_lengths)


def ctc_loss(logits: jax.Array, input_lengths: jax.Array, labels: jax.Array, label_lengths: jax.Array) -> jax.Array:
    """−ln p(z_b | x_b) for each sequence of a batch (Graves et al. 2006, eq. 14's objective).

    Args:
      logits: (B, T, K + 1) unnormalised log-probabilities per frame; column 0 is the blank.
      input_lengths: (B,) int, frames T_b ≤ T of each sequence (frames after it are padding).
      labels: (B, U) int in 1..K, right-padded (values past U_b are ignored).
      label_lengths: (B,) int, U_b ≤ U.

    Returns:
      (B,) the negative log-likelihood, +inf where the label is infeasible (see module docstring).
    """
    B, T, _ = logits.shape
    U = labels.shape[1]
    labels = jnp.where(jnp.arange(U)[None, :] < label_lengths[:, None], labels, BLANK)
    nll = optax.ctc_loss(logits, length_paddings(input_lengths, T, logits.dtype), labels,
                         length_paddings(label_lengths, U, logits.dtype), blank_id=BLANK)
    return jnp.where(feasible(input_lengths, labels, label_lengths), nll, jnp.inf)


def check_ctc_inputs(logits, input_lengths, labels, label_lengths) -> None:
    """Raise a ``PlastixError`` unless the arrays fit ``ctc_loss``: shapes, lengths in range,
    labels in 1..K, and every label feasible (T_b ≥ U_b + R_b). Call outside jit."""
    shape = np.shape(logits)
    if len(shape) != 3 or shape[2] < 2:
        raise PlastixError(f"logits must be (batch, T, K + 1) with K ≥ 1 symbols plus the blank, got shape {shape}.")
    B, T, C = shape
    for name, arr, size in (("input_lengths", input_lengths, T), ("label_lengths", label_lengths, None)):
        if np.shape(arr) != (B,):
            raise PlastixError(f"{name} must have shape ({B},), got {np.shape(arr)}.")
        a = np.asarray(arr)
        if not np.issubdtype(a.dtype, np.integer) or np.any(a < 0) or (size is not None and np.any(a > size)):
            bound = size if size is not None else "U"
            raise PlastixError(f"{name} must be integers in [0, {bound}], got {a.tolist()}.")
    z = np.asarray(labels)
    if z.ndim != 2 or z.shape[0] != B or not np.issubdtype(z.dtype, np.integer):
        raise PlastixError(f"labels must be integers of shape ({B}, U), got {z.dtype} of shape {z.shape}.")
    U_b = np.asarray(label_lengths)
    if np.any(U_b > z.shape[1]):
        raise PlastixError(f"label_lengths must be at most U = {z.shape[1]}, got {U_b.tolist()}.")
    real = np.arange(z.shape[1])[None, :] < U_b[:, None]
    if np.any(real & ((z < 1) | (z >= C))):
        raise PlastixError(f"labels must lie in 1..{C - 1} (0 is the blank), got values "
                           f"{sorted(set(z[real].tolist()) - set(range(1, C)))}.")
    need = np.asarray(required_frames(jnp.asarray(z), jnp.asarray(U_b)))
    short = np.flatnonzero(np.asarray(input_lengths) < need)
    if short.size:
        b = int(short[0])
        raise PlastixError(f"label {b} ({z[b, :U_b[b]].tolist()}) needs at least {int(need[b])} frames (its "
                           f"{U_b[b]} symbols plus one blank between each pair of equal neighbours), got "
                           f"{int(np.asarray(input_lengths)[b])}; {short.size} of {B} labels are infeasible.")


__all__ = ["BLANK", "check_ctc_inputs", "ctc_loss", "feasible", "length_paddings", "required_frames"]
