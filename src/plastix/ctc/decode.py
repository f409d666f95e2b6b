"""Decoding a CTC network's output: best path and prefix beam search.

*Best path* (greedy; Graves et al. 2006, sec. 3.2, eq. 4) takes the most probable symbol of
every frame and collapses the path with B (drop repeats, then blanks)::

    π*_t = argmax_k y^t_k,   h(x) ≈ B(π*)

It is exact for the most probable *path*, not for the most probable *labelling*
argmax_z p(z | x), which sums over many paths (eq. 3): with two frames of y = (b: 0.6, a: 0.4)
the best path is "−−" (0.36, labelling ""), but p("a") = 0.4·0.4 + 0.4·0.6 + 0.6·0.4 = 0.64.

*Prefix beam search* (Graves 2012, "Supervised sequence labelling with recurrent neural
networks", ch. 7.5 "prefix search decoding"; Hannun, Maas, Jurafsky & Ng 2014, "First-pass
large vocabulary continuous speech recognition using bi-directional recurrent DNNs",
Algorithm 1) keeps, for each labelling prefix ℓ, the probability of all paths of x_1..x_t that
collapse to ℓ, split by their last frame: p_b(ℓ) (ends in a blank) and p_nb(ℓ) (ends in ℓ's last
symbol). From frame t − 1 to t, with y = y^t::

    p_b(ℓ)      += (p_b(ℓ) + p_nb(ℓ)) y_b                 a blank keeps ℓ
    p_nb(ℓ)     += p_nb(ℓ) y_{ℓ_end}                       the last symbol repeated: still ℓ
    p_nb(ℓ + c) += (p_b(ℓ) + p_nb(ℓ)) y_c   for c ≠ ℓ_end
    p_nb(ℓ + c) += p_b(ℓ) y_c               for c = ℓ_end  (a repeat needs a blank between)

and keeps the ``width`` prefixes of largest p_b + p_nb. A prefix ℓ + c dropped at t − 1 but
extended again at t also receives its own terms (its p_b, p_nb of t − 1 before pruning), as in
Hannun et al.'s Algorithm 1. With no pruning (``width`` ≥ the number of prefixes) every
prefix's p_b + p_nb is exactly p(ℓ | x_1..t) summed over paths, so the result is the exact most
probable labelling (tests/test_ctc_decode.py checks it against enumeration of all paths).

*Width 1* keeps one prefix per frame: at every frame it chooses between staying on ℓ (blank or
repeat, weight y_b + y_{ℓ_end}, split by p_b, p_nb) and extending it. It is a greedy search over
*prefixes*, not the best path: on y = (b: 0.3, a: 0.3, c: 0.4) after "a" (p_nb = 1) it stays on
"a" (0.3 + 0.3 = 0.6 > 0.4), where best path emits c. On confident frames (one entry near 1
per frame) the two agree (tests/test_ctc.py checks both cases).

Computations are in log space (float64 NumPy on the host; prefix search is not jitted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from plastix.ctc.loss import BLANK
from plastix.errors import PlastixError, check_positive_int

NEG_INF = -math.inf


def greedy_decode(log_probs: jax.Array, length: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Best-path decoding of one sequence (jittable, fixed shapes).

    Args:
      log_probs: (T, K + 1) per-frame (log-)scores, column 0 the blank (any monotone score works:
        only the argmax is used).
      length: () int, the frames T_b ≤ T that are real.

    Returns:
      (tokens (T,) int32: the labelling in tokens[:n], −1 after it; n () int32).
    """
    T = log_probs.shape[0]
    best = jnp.argmax(log_probs, axis=-1).astype(jnp.int32)  # π*_t
    prev = jnp.concatenate([jnp.full((1,), BLANK, jnp.int32), best[:-1]])
    keep = (best != BLANK) & (best != prev) & (jnp.arange(T) < length)
    slot = jnp.where(keep, jnp.cumsum(keep) - 1, T)  # index in the output, T = dropped
    tokens = jnp.full((T + 1,), -1, jnp.int32).at[slot].set(best)[:T]
    return tokens, jnp.sum(keep).astype(jnp.int32)


def greedy_decode_batch(log_probs: jax.Array, lengths: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``greedy_decode`` over a batch: (B, T, K + 1), (B,) -> tokens (B, T), counts (B,)."""
    return jax.vmap(greedy_decode)(log_probs, lengths)


def _logadd(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def _extend(prefix: tuple, pb: float, pnb: float, lp: np.ndarray, nxt: dict, old: dict, kept: dict) -> None:
    """Add the frame's terms of one kept prefix (and of its re-extended children) into ``nxt``."""

    def add(key, b=NEG_INF, nb=NEG_INF):
        ob, onb = nxt.get(key, (NEG_INF, NEG_INF))
        nxt[key] = (_logadd(ob, b), _logadd(onb, nb))

    total = _logadd(pb, pnb)
    add(prefix, b=total + lp[BLANK])
    last = prefix[-1] if prefix else None
    if last is not None:
        add(prefix, nb=pnb + lp[last])
    for c in range(1, lp.shape[0]):
        child = prefix + (c,)
        add(child, nb=(pb if c == last else total) + lp[c])
        if child not in kept and child in old:  # pruned at t − 1: its own paths continue too
            cb, cnb = old[child]
            add(child, b=_logadd(cb, cnb) + lp[BLANK], nb=cnb + lp[c])


def prefix_beam_search(log_probs, width: int = 8) -> tuple[tuple[int, ...], float]:
    """The labelling prefix beam search finds, and its log-probability ln(p_b + p_nb).

    Args:
      log_probs: (T, K + 1) per-frame log-probabilities (log-softmax), column 0 the blank;
        only the real frames of a sequence.
      width: prefixes kept per frame (the beam width W ≥ 1).

    Returns:
      (labelling as a tuple of symbols in 1..K, its log-probability summed over the paths the
      search kept).
    """
    check_positive_int("width", width)
    lp = np.asarray(log_probs, np.float64)
    if lp.ndim != 2 or lp.shape[1] < 2:
        raise PlastixError(f"log_probs must be (T, K + 1) with K ≥ 1, got shape {lp.shape}.")
    kept: dict = {(): (0.0, NEG_INF)}  # ℓ -> (ln p_b, ln p_nb) before the first frame: the empty prefix
    old: dict = {}
    for t in range(lp.shape[0]):
        nxt: dict = {}
        for prefix, (pb, pnb) in kept.items():
            _extend(prefix, pb, pnb, lp[t], nxt, old, kept)
        old = nxt
        ranked = sorted(nxt.items(), key=lambda kv: (-_logadd(*kv[1]), kv[0]))
        kept = dict(ranked[:width])
    best, (pb, pnb) = max(kept.items(), key=lambda kv: (_logadd(*kv[1]), tuple(-c for c in kv[0])))
    return best, _logadd(pb, pnb)


def beam_decode_batch(log_probs, lengths, width: int = 8) -> list[tuple[int, ...]]:
    """``prefix_beam_search`` of each sequence of a batch: (B, T, K + 1) log-probabilities,
    (B,) lengths -> B labellings."""
    lp, lengths = np.asarray(log_probs, np.float64), np.asarray(lengths)
    return [prefix_beam_search(lp[b, : int(lengths[b])], width)[0] for b in range(lp.shape[0])]


def collapse(path: Sequence[int]) -> tuple[int, ...]:
    """B of eq. 3 (Graves et al. 2006): remove repeated symbols, then blanks."""
    out, prev = [], None
    for k in path:
        if k != prev and k != BLANK:
            out.append(int(k))
        prev = k
    return tuple(out)


__all__ = ["beam_decode_batch", "collapse", "greedy_decode", "greedy_decode_batch", "prefix_beam_search"]
