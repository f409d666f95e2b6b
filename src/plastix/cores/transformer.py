"""A causal transformer as an online core: attention over a window of cached keys and values.

At each step the input is embedded and given the position p_t = the number of steps since the
episode start (sinusoidal or learned, ``plastix.cores.attention``)::

    z⁰_t = W_in x_t + b_in + PE(p_t)

then goes through L pre-norm blocks (Xiong et al. 2020; GPT-2, Radford et al. 2019)::

    y = LN(z^{l−1}_t),   q_i = W_i^Q y,  k_{i,t} = W_i^K y,  v_{i,t} = W_i^V y        (head i)
    a_t = Concat_i( Σ_{s ∈ S_t} softmax_s(q_i · k_{i,s} / √d_k) v_{i,s} ) W^O
                                                  (Vaswani et al. 2017, eqs. 1, 4–5)
    z^l_t = z^{l−1}_t + a_t + FFN(LN(z^{l−1}_t + a_t))

and the core's output is h_t = LN(z^L_t) (GPT-2's final layer norm), of size d_model = hidden_size.

**The window is the carry.** S_t = {s : t − K ≤ s ≤ t, s in the current episode}: the current
step and up to K = ``context`` past ones. ``TransformerCarry`` keeps, for every layer, the keys and
values of the last K steps (a shift register, oldest first) and the count of steps since the
episode start, which says how many of the K slots are valid and gives the position. At
``initial_carry`` the count is 0: only the current step is attended and nothing of a previous
episode is seen — the reset every other carry gets from the trainers (``scan_core(resets=...)``,
the RL agents' ``reset_where``).

A key cached at step s was computed from the layer input *at step s*, so for L > 1 the step
function is exactly the whole-sequence computation with the banded causal mask "t − K ≤ s ≤ t",
as in sliding-window attention (Beltagy, Peters & Cohan 2020, Longformer) and the cached memory
of Transformer-XL (Dai et al. 2019, without its relative positions): layer l sees l·K steps back.
``sequence`` runs that whole-sequence computation in one batch (the tests compare the two).

Options: ``heads`` h, ``layers`` L, ``context`` K, ``ffn`` (hidden size of the FFN, None = 4
d_model), ``head_size`` (d_k = d_v, None = d_model // h, at least 1), ``positions`` (sinusoidal |
learned), ``max_positions`` (rows of the learned table; later steps reuse the last row),
``activation`` (gelu | relu).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.cores.attention import (
    FFN_ACTIVATIONS,
    LayerNormParams,
    block,
    causal_mask,
    feed_forward,
    init_block,
    init_layer_norm,
    layer_norm,
    learned_positions,
    merge_heads,
    project_heads,
    scaled_dot_product_attention,
    segment_mask,
    sinusoidal_positions,
)
from plastix.cores.base import Core, uniform_init
from plastix.errors import PlastixError, check_positive_int

POSITIONS = ("sinusoidal", "learned")


class TransformerParams(NamedTuple):
    W_in: jax.Array  # (d_model, input_size)
    b_in: jax.Array  # (d_model,)
    pos: jax.Array | None  # (max_positions, d_model) learned positions, None for sinusoidal
    blocks: tuple  # (BlockParams of layer 1, ..., layer L)
    ln_f: LayerNormParams  # the final layer norm


class TransformerCarry(NamedTuple):
    keys: tuple  # keys[l]: (h, K, d_head) keys of the last K steps at layer l, oldest first
    values: tuple  # values[l]: (h, K, d_head)
    count: jax.Array  # () steps since the episode start (the core's dtype; exact below 2^24 in float32)


@dataclasses.dataclass(frozen=True)
class TransformerCore(Core):
    """Causal transformer core over a window of K past steps (module docstring). Final.

    Attributes:
      heads: h, attention heads per layer.
      layers: L, pre-norm blocks.
      context: K, past steps kept in the carry (the current step is attended as well).
      ffn: hidden size of each block's feed-forward net; None = 4 · hidden_size.
      head_size: d_k = d_v per head; None = hidden_size // heads (at least 1).
      positions: "sinusoidal" (Vaswani et al. 2017 §3.5) or "learned".
      max_positions: rows of the learned position table (positions beyond reuse the last row).
      activation: the FFN's f, "gelu" or "relu".
    """

    heads: int = 4
    layers: int = 2
    context: int = 16
    ffn: int | None = None
    head_size: int | None = None
    positions: str = "sinusoidal"
    max_positions: int = 256
    activation: str = "gelu"

    def __post_init__(self):
        super().__post_init__()
        for name in ("heads", "layers", "context", "max_positions"):
            check_positive_int(f"TransformerCore.{name}", getattr(self, name))
        for name in ("ffn", "head_size"):
            if getattr(self, name) is not None:
                check_positive_int(f"TransformerCore.{name}", getattr(self, name))
        if self.positions not in POSITIONS:
            raise PlastixError(f"TransformerCore.positions must be one of {list(POSITIONS)}, got {self.positions!r}.")
        if self.activation not in FFN_ACTIVATIONS:
            raise PlastixError(f"TransformerCore.activation must be one of {sorted(FFN_ACTIVATIONS)}, "
                               f"got {self.activation!r}.")

    @property
    def d_head(self) -> int:
        return self.head_size if self.head_size is not None else max(1, self.hidden_size // self.heads)

    @property
    def d_ff(self) -> int:
        return self.ffn if self.ffn is not None else 4 * self.hidden_size

    def init(self, key):
        """W_in ~ U(±1/√input_size), b_in = 0, learned positions ~ U(±1/√d_model), blocks by
        ``init_block`` (fan-in uniform, residual projections scaled by 1/√(2L)), LN gains 1."""
        d, dt = self.hidden_size, self.jdtype
        k_in, k_pos, *k_blocks = jax.random.split(key, 2 + self.layers)
        pos = uniform_init(k_pos, (self.max_positions, d), d, dt) if self.positions == "learned" else None
        blocks = tuple(init_block(k, d, self.heads, self.d_head, self.d_ff, self.layers, dt) for k in k_blocks)
        return TransformerParams(uniform_init(k_in, (d, self.input_size), self.input_size, dt),
                                 jnp.zeros((d,), dt), pos, blocks, init_layer_norm(d, dt))

    def initial_carry(self):
        empty = jnp.zeros((self.heads, self.context, self.d_head), self.jdtype)
        return TransformerCarry((empty,) * self.layers, (empty,) * self.layers, jnp.zeros((), self.jdtype))

    def embed(self, params, xs, positions):
        """z⁰ = W_in x + b_in + PE(p) for rows xs (T, input_size) at positions (T,)."""
        if self.positions == "learned":
            pe = learned_positions(params.pos, positions)
        else:
            pe = sinusoidal_positions(positions, self.hidden_size, self.jdtype)
        return xs @ params.W_in.T + params.b_in[None, :] + pe

    def step(self, params, carry, x):
        K, count = self.context, carry.count
        z = self.embed(params, x[None, :], count[None])  # (1, d_model)
        # slot j of the K cached steps is K − j steps back: valid iff K − j ≤ count
        valid = jnp.concatenate([K - jnp.arange(K, dtype=count.dtype) <= count, jnp.ones((1,), bool)])
        mask = valid[None, None, :]  # (1 head, 1 query, K + 1 keys)
        keys, values = [], []
        for p, k_past, v_past in zip(params.blocks, carry.keys, carry.values):
            y = layer_norm(p.ln1, z)
            k_all = jnp.concatenate([k_past, project_heads(p.attn.Wk, y)], axis=1)  # (h, K + 1, d_head)
            v_all = jnp.concatenate([v_past, project_heads(p.attn.Wv, y)], axis=1)
            heads = scaled_dot_product_attention(project_heads(p.attn.Wq, y), k_all, v_all, mask)
            z = z + merge_heads(p.attn, heads)
            z = z + feed_forward(p.ffn, layer_norm(p.ln2, z), self.activation)
            keys.append(k_all[:, 1:])
            values.append(v_all[:, 1:])
        h = layer_norm(params.ln_f, z)[0]
        return TransformerCarry(tuple(keys), tuple(values), count + 1), h

    def sequence(self, params, xs, resets=None):
        """All outputs (T, d_model) of one sequence xs (T, input_size) at once, from an episode
        start: the banded causal mask t − K ≤ s ≤ t within each episode, positions counted from
        each episode start. Equals ``scan_core(self, params, xs, resets=resets)[1]``.

        resets: optional (T,) booleans, an episode starts at t where resets[t] (as in ``scan_core``)."""
        T = xs.shape[0]
        t = jnp.arange(T)
        starts = (t == 0) if resets is None else (jnp.asarray(resets, bool) | (t == 0))
        episode = jnp.cumsum(starts)
        positions = t - lax.cummax(jnp.where(starts, t, 0))
        mask = causal_mask(T, self.context) & segment_mask(episode)
        z = self.embed(params, xs, positions)
        for p in params.blocks:
            z = block(p, z, mask, self.activation)
        return layer_norm(params.ln_f, z)
