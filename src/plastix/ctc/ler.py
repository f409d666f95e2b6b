"""Label error rate (Graves et al. 2006, sec. 5.1, eq. 1): the edit distance between the
network's labellings h(x) and the targets z, summed over a set S and divided by the total target
length::

    LER(h, S) = Σ_{(x, z) ∈ S} ED(h(x), z) / Σ_{(x, z) ∈ S} |z|

ED is the Levenshtein distance (Levenshtein 1966): the fewest insertions, deletions and
substitutions turning one sequence into the other, by the dynamic programme::

    D[i, 0] = i,   D[0, j] = j
    D[i, j] = min(D[i−1, j] + 1, D[i, j−1] + 1, D[i−1, j−1] + [a_i ≠ b_j])

``edit_distance`` is the NumPy version (any lengths); ``edit_distance_padded`` the jittable one
on padded arrays (a ``lax.scan`` over the hypothesis, the target row inside), used by the
trainer's in-training evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from plastix.errors import PlastixError


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance between two sequences (NumPy dynamic programme)."""
    a, b = list(a), list(b)
    row = np.arange(len(b) + 1)  # D[0, :]
    for i, ai in enumerate(a, start=1):
        new = np.empty_like(row)
        new[0] = i
        for j, bj in enumerate(b, start=1):
            new[j] = min(row[j] + 1, new[j - 1] + 1, row[j - 1] + (ai != bj))
        row = new
    return int(row[-1])


def label_error_rate(hypotheses: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]) -> float:
    """Σ ED(h, z) / Σ |z| over paired lists of labellings (eq. 1 of Graves et al. 2006)."""
    if len(hypotheses) != len(targets):
        raise PlastixError(f"expected as many hypotheses as targets, got {len(hypotheses)} and {len(targets)}.")
    total = sum(len(z) for z in targets)
    if total == 0:
        raise PlastixError("the label error rate needs at least one target symbol, got only empty targets.")
    return sum(edit_distance(h, z) for h, z in zip(hypotheses, targets)) / total


def edit_distance_padded(hyp: jax.Array, hyp_len: jax.Array, ref: jax.Array, ref_len: jax.Array) -> jax.Array:
    """Levenshtein distance of hyp[:hyp_len] and ref[:ref_len] (jittable; (H,), (), (R,), ()).

    Rows i = 0..H over the hypothesis, each row D[i, 0..R] computed by an inner scan over j
    (the insertion term D[i, j−1] makes a row sequential). Rows past hyp_len are left unchanged,
    and the answer is read at column ref_len."""
    R = ref.shape[0]
    row0 = jnp.arange(R + 1, dtype=jnp.int32)

    def next_row(row, inp):
        i, a = inp  # i = 1..H, a = hyp[i − 1]

        def cell(left, j):  # left = D[i, j−1]; j = 1..R
            value = jnp.minimum(jnp.minimum(row[j] + 1, left + 1), row[j - 1] + (a != ref[j - 1]).astype(jnp.int32))
            return value, value

        _, rest = lax.scan(cell, i, jnp.arange(1, R + 1))
        new = jnp.concatenate([i[None], rest])
        return jnp.where(i <= hyp_len, new, row), None

    H = hyp.shape[0]
    row, _ = lax.scan(next_row, row0, (jnp.arange(1, H + 1, dtype=jnp.int32), hyp))
    return row[ref_len]


def label_error_rate_padded(hyps, hyp_lens, refs, ref_lens) -> jax.Array:
    """Eq. 1 on padded batches: (B, H), (B,), (B, R), (B,) -> () Σ ED / Σ |z|."""
    distances = jax.vmap(edit_distance_padded)(hyps, hyp_lens, refs, ref_lens)
    return jnp.sum(distances) / jnp.maximum(jnp.sum(ref_lens), 1)


__all__ = ["edit_distance", "edit_distance_padded", "label_error_rate", "label_error_rate_padded"]
