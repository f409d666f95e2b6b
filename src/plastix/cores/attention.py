"""Attention, masks, positions and the pre-norm transformer block (pure functions).

Scaled dot-product attention (Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser &
Polosukhin 2017, "Attention is all you need", eq. 1)::

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V          Q: (T_q, d_k), K: (T_k, d_k), V: (T_k, d_v)

where M is 0 where a query may see a key and −∞ where it may not. Here a mask is a *boolean*
array, True = may attend (broadcast to (T_q, T_k)); masks combine with ``&``. A query whose
every key is masked gets the output **zero** (and zero gradients), never NaN.

Multi-head attention (eqs. 4–5)::

    head_i = Attention(X_q W_i^Q, X_kv W_i^K, X_kv W_i^V)       W_i^Q, W_i^K: (d_model, d_k), W_i^V: (d_model, d_v)
    MultiHead(X_q, X_kv) = Concat(head_1, ..., head_h) W^O        W^O: (h d_v, d_model)

Weights are stored transposed, to act on column vectors (``Wq[i] @ x``).

Positions (§3.5): sinusoidal, PE(p, 2i) = sin(p / 10000^{2i/d}), PE(p, 2i+1) = cos(p / 10000^{2i/d}),
or learned, one trainable vector per position (Gehring et al. 2017, as in GPT-2); either is added
to the embedded input.

The pre-norm block (Xiong et al. 2020, "On layer normalization in the transformer
architecture", Fig. 1(b); Radford et al. 2019, GPT-2)::

    z  = x + MultiHead(LN(x))
    x' = z + FFN(LN(z)),        FFN(u) = W_2 f(W_1 u + b_1) + b_2,  f = ReLU or GELU

with LN the layer normalisation of Ba, Kiros & Hinton (2016), LN(u) = g ⊙ (u − μ)/√(σ² + ε) + b.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import uniform_init

LN_EPS = 1e-5

FFN_ACTIVATIONS = {"relu": jax.nn.relu, "gelu": jax.nn.gelu}  # gelu: Hendrycks & Gimpel 2016, tanh form


class AttentionParams(NamedTuple):
    Wq: jax.Array  # (h, d_k, d_model): W_i^Q, transposed
    Wk: jax.Array  # (h, d_k, d_model)
    Wv: jax.Array  # (h, d_v, d_model)
    Wo: jax.Array  # (d_model, h d_v): W^O, transposed


class LayerNormParams(NamedTuple):
    gain: jax.Array  # (d,)
    bias: jax.Array  # (d,)


class FFNParams(NamedTuple):
    W1: jax.Array  # (f, d_model)
    b1: jax.Array  # (f,)
    W2: jax.Array  # (d_model, f)
    b2: jax.Array  # (d_model,)


class BlockParams(NamedTuple):
    ln1: LayerNormParams
    attn: AttentionParams
    ln2: LayerNormParams
    ffn: FFNParams


# ---------------------------------------------------------------- attention


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q kᵀ / √d_k, masked) v (Vaswani et al. 2017, eq. 1).

    Args:
      q: (..., T_q, d_k), k: (..., T_k, d_k), v: (..., T_k, d_v).
      mask: None or booleans broadcastable to (..., T_q, T_k), True = may attend.

    Returns:
      (..., T_q, d_v). A row with no allowed key returns zeros (its weights are all zero).
    """
    scores = jnp.einsum("...qd,...kd->...qk", q, k) / jnp.sqrt(jnp.asarray(q.shape[-1], q.dtype))
    if mask is None:
        mask = jnp.ones(scores.shape, bool)
    mask = jnp.broadcast_to(mask, scores.shape)
    masked = jnp.where(mask, scores, -jnp.inf)
    top = jnp.max(masked, axis=-1, keepdims=True)
    top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))  # softmax is shift-invariant
    # exp(-inf) = 0 with a zero derivative: masked entries add nothing, forward or backward.
    e = jnp.exp(jnp.where(mask, scores - top, -jnp.inf))
    total = jnp.sum(e, axis=-1, keepdims=True)
    weights = e / jnp.where(total > 0, total, 1.0)
    return jnp.einsum("...qk,...kd->...qd", weights, v)


def project_heads(W, x):
    """x (T, d_model) -> per-head projections (h, T, d_head) with W (h, d_head, d_model)."""
    return jnp.einsum("hem,tm->hte", W, x)


def merge_heads(params: AttentionParams, heads):
    """Concat(head_1, ..., head_h) W^O: heads (h, T, d_v) -> (T, d_model)."""
    h, T, d_v = heads.shape
    return jnp.transpose(heads, (1, 0, 2)).reshape(T, h * d_v) @ params.Wo.T


def multi_head_attention(params: AttentionParams, x_q, x_kv, mask=None):
    """MultiHead(x_q, x_kv) (Vaswani et al. 2017, eqs. 4–5).

    x_q: (T_q, d_model), x_kv: (T_k, d_model), mask: None or broadcastable to (T_q, T_k).
    Returns (T_q, d_model)."""
    q, k, v = (project_heads(W, x) for W, x in ((params.Wq, x_q), (params.Wk, x_kv), (params.Wv, x_kv)))
    return merge_heads(params, scaled_dot_product_attention(q, k, v, mask))


def init_attention(key, d_model: int, heads: int, d_head: int, dtype, out_scale: float = 1.0) -> AttentionParams:
    """W^Q, W^K, W^V ~ U(±1/√d_model) (fan-in); W^O ~ U(±1/√(h d_v)) × ``out_scale``."""
    kq, kk, kv, ko = jax.random.split(key, 4)
    shape = (heads, d_head, d_model)
    return AttentionParams(uniform_init(kq, shape, d_model, dtype), uniform_init(kk, shape, d_model, dtype),
                           uniform_init(kv, shape, d_model, dtype),
                           out_scale * uniform_init(ko, (d_model, heads * d_head), heads * d_head, dtype))


# ---------------------------------------------------------------- masks


def causal_mask(T: int, window: int | None = None):
    """(T, T) booleans: query i sees key j iff j ≤ i (and i − j ≤ window, if given)."""
    i, j = jnp.arange(T)[:, None], jnp.arange(T)[None, :]
    mask = j <= i
    return mask if window is None else mask & (i - j <= window)


def padding_mask(valid):
    """valid (T_k,) booleans -> (1, T_k): no query sees a padded key."""
    return jnp.asarray(valid, bool)[None, :]


def segment_mask(segments):
    """segments (T,) ids (e.g. episode numbers) -> (T, T): i sees j iff they share a segment."""
    return segments[:, None] == segments[None, :]


# ---------------------------------------------------------------- positions


def sinusoidal_positions(positions, d: int, dtype=jnp.float32):
    """PE(p, 2i) = sin(p / 10000^{2i/d}), PE(p, 2i+1) = cos(p / 10000^{2i/d}) (Vaswani et al.
    2017, §3.5). positions: (T,) numbers (not necessarily integers) -> (T, d)."""
    p = jnp.asarray(positions, dtype)[:, None]
    i = jnp.arange(d) // 2  # the pair index of each column
    angle = p / jnp.power(jnp.asarray(10000.0, dtype), (2 * i).astype(dtype) / d)[None, :]
    return jnp.where(jnp.arange(d)[None, :] % 2 == 0, jnp.sin(angle), jnp.cos(angle))


def learned_positions(table, positions):
    """Rows of a trainable table (P, d) at ``positions`` (T,), clipped to P − 1, as one-hot
    products (a position may be a float array in a carry; no integer indexing is needed)."""
    p = jnp.clip(jnp.asarray(positions, table.dtype), 0, table.shape[0] - 1)
    one_hot = (jnp.arange(table.shape[0], dtype=table.dtype)[None, :] == p[:, None]).astype(table.dtype)
    return one_hot @ table


# ---------------------------------------------------------------- the pre-norm block


def layer_norm(params: LayerNormParams, x):
    """LN(x) on each row of x (T, d) (Ba, Kiros & Hinton 2016)."""
    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), axis=-1, keepdims=True)
    return params.gain[None, :] * (x - mu) / jnp.sqrt(var + LN_EPS) + params.bias[None, :]


def init_layer_norm(d: int, dtype) -> LayerNormParams:
    return LayerNormParams(jnp.ones((d,), dtype), jnp.zeros((d,), dtype))


def feed_forward(params: FFNParams, x, activation: str = "gelu"):
    """FFN(x) = W_2 f(W_1 x + b_1) + b_2 on each row of x (T, d_model)."""
    hidden = FFN_ACTIVATIONS[activation](x @ params.W1.T + params.b1[None, :])
    return hidden @ params.W2.T + params.b2[None, :]


def init_feed_forward(key, d_model: int, d_ff: int, dtype, out_scale: float = 1.0) -> FFNParams:
    k1, k2 = jax.random.split(key)
    return FFNParams(uniform_init(k1, (d_ff, d_model), d_model, dtype), jnp.zeros((d_ff,), dtype),
                     out_scale * uniform_init(k2, (d_model, d_ff), d_ff, dtype), jnp.zeros((d_model,), dtype))


def init_block(key, d_model: int, heads: int, d_head: int, d_ff: int, layers: int, dtype) -> BlockParams:
    """One pre-norm block. The two projections that write into the residual stream (W^O, W_2)
    are scaled by 1/√(2L), L = number of blocks (Radford et al. 2019, GPT-2 §2.3)."""
    ka, kf = jax.random.split(key)
    scale = 1.0 / math.sqrt(2 * layers)
    return BlockParams(init_layer_norm(d_model, dtype), init_attention(ka, d_model, heads, d_head, dtype, scale),
                       init_layer_norm(d_model, dtype), init_feed_forward(kf, d_model, d_ff, dtype, scale))


def block(params: BlockParams, x, mask=None, activation: str = "gelu"):
    """x + MHA(LN(x)), then + FFN(LN(·)) over a whole sequence x (T, d_model) (self-attention)."""
    y = layer_norm(params.ln1, x)
    z = x + multi_head_attention(params.attn, y, y, mask)
    return z + feed_forward(params.ffn, layer_norm(params.ln2, z), activation)
