"""``ctc-symbols``: a sequence of symbols, each rendered as a noisy segment of frames of random
duration, whose target is only the symbol sequence (the frames are not labelled). It is a small
stand-in for the unsegmented speech of Graves et al. (2006, TIMIT): the network must find where
each symbol is and emit it once, which CTC makes possible without an alignment.

One sequence (``render``; the draws of a batch come from one ``jax.random`` key)::

    U ~ Uniform{min_len..max_len},   z_u ~ Uniform{1..K}             the target (length U)
    g_u ~ gap_prob · Uniform{1..max_gap} else 0                      silence before symbol u,
                                                                      g_u ≥ 1 whenever z_u = z_{u−1}
    d_u ~ Uniform{min_dur..max_dur}                                  frames of symbol u
    x_t = P[k_t] + σ ε_t,   ε_t ~ N(0, I)                            k_t = z_u on u's frames, 0 on gaps

where P (K + 1, D) holds fixed per-symbol patterns (entries ±1, drawn once from
``pattern_seed``; row 0, silence, is zero). The input length is T_b = Σ_u (g_u + d_u); frames
after it (up to ``max_frames``) are zero padding. A gap between equal neighbours keeps the
target recoverable (two touching segments of one symbol would be one) and the label feasible
for CTC (T_b ≥ U + repeats; ``plastix.ctc.loss.required_frames``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from plastix.errors import PlastixError, check_nonnegative_int, check_positive_int


class CTCBatch(NamedTuple):
    xs: jax.Array  # (B, T_max, D) frames, zero after input_lengths
    input_lengths: jax.Array  # (B,) int32 T_b
    labels: jax.Array  # (B, U_max) int32 in 1..K, 0 after label_lengths
    label_lengths: jax.Array  # (B,) int32 U_b
    frame_symbols: jax.Array  # (B, T_max) int32 k_t (0: silence or padding); for plots and tests, never trained on


@dataclasses.dataclass(frozen=True)
class SymbolTask:
    """Settings of ``ctc-symbols`` (all static: they fix shapes or the patterns)."""

    symbols: int = 5  # K
    min_len: int = 2
    max_len: int = 6  # U_max
    min_dur: int = 2
    max_dur: int = 5
    gap_prob: float = 0.5
    max_gap: int = 2
    noise: float = 1.0  # σ
    features: int = 8  # D
    pattern_seed: int = 0

    def __post_init__(self):
        for name in ("symbols", "min_len", "max_len", "min_dur", "max_dur", "max_gap", "features"):
            check_positive_int(name, getattr(self, name))
        check_nonnegative_int("pattern_seed", self.pattern_seed)
        if self.min_len > self.max_len or self.min_dur > self.max_dur:
            raise PlastixError(f"expected min_len ≤ max_len and min_dur ≤ max_dur, got {self.min_len}..{self.max_len} "
                               f"and {self.min_dur}..{self.max_dur}.")
        if not (isinstance(self.gap_prob, (int, float)) and 0.0 <= self.gap_prob <= 1.0):
            raise PlastixError(f"gap_prob must lie in [0, 1], got {self.gap_prob!r}.")
        if not (isinstance(self.noise, (int, float)) and self.noise >= 0.0):
            raise PlastixError(f"noise must be a number ≥ 0, got {self.noise!r}.")
        if self.symbols == 1 and self.max_len > 1 and self.max_gap < 1:
            raise PlastixError("one symbol repeated needs gaps between its copies (max_gap ≥ 1).")

    @property
    def max_frames(self) -> int:
        """T_max = U_max (max_gap + max_dur): the padded length of every sequence."""
        return self.max_len * (self.max_gap + self.max_dur)

    @property
    def classes(self) -> int:
        """K + 1 outputs per frame (the blank and the K symbols)."""
        return self.symbols + 1

    def patterns(self, dtype=jnp.float32) -> jax.Array:
        """P (K + 1, D): row 0 zero (silence), rows 1..K random signs from ``pattern_seed``
        (drawn with NumPy on the host: a constant of the compiled sampler, not a traced draw)."""
        signs = np.random.default_rng(self.pattern_seed).choice([-1.0, 1.0], (self.symbols, self.features))
        return jnp.asarray(np.concatenate([np.zeros((1, self.features)), signs]), dtype)


def _uniform_int(u: jax.Array, low: int, high: int) -> jax.Array:
    """Integers uniform in low..high from uniforms u in [0, 1)."""
    return jnp.minimum(low + jnp.floor(u * (high - low + 1)).astype(jnp.int32), high)


def render(task: SymbolTask, uniforms: jax.Array, noise: jax.Array):
    """One sequence from its random draws: ``uniforms`` (5, U_max) in [0, 1) and ``noise``
    (T_max, D) standard normal. Returns (xs (T_max, D), T_b, labels (U_max,), U_b,
    frame_symbols (T_max,)); see the module docstring."""
    U_max, T_max = task.max_len, task.max_frames
    U = _uniform_int(uniforms[0, 0], task.min_len, task.max_len)
    real = jnp.arange(U_max) < U
    z = _uniform_int(uniforms[1], 1, task.symbols)
    repeat = jnp.concatenate([jnp.zeros((1,), bool), z[1:] == z[:-1]])
    gap = jnp.where((uniforms[2] < task.gap_prob) | repeat, _uniform_int(uniforms[3], 1, task.max_gap), 0)
    dur = _uniform_int(uniforms[4], task.min_dur, task.max_dur)
    gap, dur = jnp.where(real, gap, 0), jnp.where(real, dur, 0)
    ends = jnp.cumsum(gap + dur)  # (U_max,) end (exclusive) of segment u
    starts = ends - dur  # first frame of symbol u (after its gap)
    t = jnp.arange(T_max)
    u = jnp.minimum(jnp.sum(ends[None, :] <= t[:, None], axis=1), U_max - 1)  # segment of frame t
    symbol_frame = (t >= starts[u]) & (t < ends[u]) & real[u]
    frame_symbols = jnp.where(symbol_frame, z[u], 0).astype(jnp.int32)
    length = ends[U_max - 1].astype(jnp.int32)
    xs = jnp.where((t < length)[:, None], task.patterns(noise.dtype)[frame_symbols] + task.noise * noise, 0.0)
    return xs, length, jnp.where(real, z, 0).astype(jnp.int32), U.astype(jnp.int32), frame_symbols


def sample_batch(task: SymbolTask, key: jax.Array, batch_size: int, dtype=jnp.float32) -> CTCBatch:
    """``batch_size`` independent sequences: two draws from ``key`` (all uniforms, all noise;
    few random calls keep the compiled sampler small), rendered by a vmap of ``render``."""
    k_u, k_noise = jax.random.split(key)
    uniforms = jax.random.uniform(k_u, (batch_size, 5, task.max_len))
    noise = jax.random.normal(k_noise, (batch_size, task.max_frames, task.features), dtype)
    return CTCBatch(*jax.vmap(functools.partial(render, task))(uniforms, noise))


CTC_TASKS = {"ctc-symbols": "Symbol sequences rendered as noisy, variable-duration frame segments; the target is "
                            "the symbol sequence alone, not aligned to the frames (CTC, Graves et al. 2006). Metric: "
                            "label error rate (edit distance / target length)."}


__all__ = ["CTCBatch", "CTC_TASKS", "SymbolTask", "render", "sample_batch"]
