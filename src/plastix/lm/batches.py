"""Contiguous streams and segments: the batching of truncated BPTT over one long text.

The training split (N token ids) is cut into B contiguous streams of L = ⌊N / B⌋ tokens
(Zaremba et al. 2014's ``batchify``; the last N − B L tokens are not used)::

    streams[b] = tokens[b L : (b + 1) L]                                    (B, L)

and each stream into K = ⌊(L − 1) / T⌋ segments of T steps. Update k reads segment k of every
stream, inputs x_t = streams[:, k T + t] and targets y_t = streams[:, k T + t + 1], t < T, and
starts from the carry segment k − 1 ended with, its gradient stopped at the boundary: truncated
BPTT(T, T) of Williams & Peng (1990) over each stream, as in Zaremba et al. (2014) and
Miconi et al. (2019, Penn Treebank). After segment K − 1 the next pass starts at segment 0 from
a fresh carry (every trace of a plastic core included). Carried across segments without the
gradient stop, K segments compute exactly one scan over each stream's K T + 1 tokens
(tests/test_lm_batches.py).

Evaluation streams (``eval_streams``): a split of N tokens has N − 1 targets (token i + 1 after
tokens ≤ i); E streams of length L = ⌈(N − 1) / E⌉ each predict a contiguous part of them, each
from a fresh carry at its start; padding after the end has weight 0, so every target counts
exactly once. E = 1 is one scan over the whole split.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from plastix.errors import PlastixError


class EvalStreams(NamedTuple):
    """A split laid out for evaluation: inputs, targets (E, L) int32 and weights (E, L) (0: padding)."""

    inputs: np.ndarray
    targets: np.ndarray
    weights: np.ndarray


def stream_matrix(tokens: np.ndarray, streams: int, seq_len: int, what: str = "the training split") -> np.ndarray:
    """(B, L) contiguous streams of ``tokens``; PlastixError when a stream cannot hold one
    segment (T + 1 tokens)."""
    n = int(tokens.shape[0])
    length = n // streams
    if length < seq_len + 1:
        raise PlastixError(f"{what} has {n} tokens: {streams} streams of {length} tokens each cannot hold one "
                           f"segment of seq_len {seq_len} (+1 for its last target); use a smaller --batch-size or "
                           f"--seq-len, or a longer text.")
    return np.asarray(tokens[: streams * length], np.int32).reshape(streams, length)


def num_segments(stream_length: int, seq_len: int) -> int:
    """K = ⌊(L − 1) / T⌋ whole segments per pass."""
    return (stream_length - 1) // seq_len


def segment(streams: jax.Array, k: jax.Array, seq_len: int) -> tuple[jax.Array, jax.Array]:
    """(inputs, targets) (B, T) of segment ``k`` (a traced int) of ``streams`` (B, L)."""
    B = streams.shape[0]
    window = lax.dynamic_slice(streams, (jnp.zeros_like(k), k * seq_len), (B, seq_len + 1))
    return window[:, :-1], window[:, 1:]


def eval_streams(tokens: np.ndarray, count: int) -> EvalStreams:
    """The split ``tokens`` (N,) as ``count`` evaluation streams (module docstring)."""
    n = int(tokens.shape[0])
    if n < 2:
        raise PlastixError(f"an evaluation split needs at least 2 tokens, got {n}.")
    count = min(count, n - 1)
    length = -(-(n - 1) // count)
    padded = np.zeros(count * length + 1, np.int32)
    padded[:n] = tokens
    weights = np.zeros(count * length, np.float32)
    weights[: n - 1] = 1.0
    starts = np.arange(count)[:, None] * length + np.arange(length)[None, :]
    return EvalStreams(padded[starts], padded[starts + 1], weights[starts])


def fresh_carries(initial_carry, batch: int):
    """The core's initial carry repeated over ``batch`` streams (leading axis)."""
    return jax.tree.map(lambda a: jnp.broadcast_to(a, (batch, *a.shape)), initial_carry)
