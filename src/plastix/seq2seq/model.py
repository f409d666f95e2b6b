"""An encoder–decoder over token embeddings, any plastix core as encoder and as decoder.

**Encoder.** The source tokens x_1..x_S are embedded (E_src x_j) and read by the encoder core;
h_j is its output at step j. Padded positions (j > src_len) leave the carry unchanged, so the
final carry and output h_S are those of the last real token, whatever the padding.

**Decoder without attention** (Sutskever, Vinyals & Le 2014): the decoder core starts from the
encoder's final carry when the two cores have the same carry structure (same core and size; a
transformer decoder then attends to the encoder's cached keys and values), and — as in Cho et al.
(2014, eq. for s_t) — reads c = h_S beside the embedded previous token at every step, which also
conditions a decoder of another kind::

    s_i = decoder(s_{i−1}, [E_tgt y_{i−1}; c]),      p(y_i | y_<i, x) = softmax(W_o s_i + b_o)

**Bahdanau attention** (Bahdanau, Cho & Bengio 2015, appendix A.1.2, eqs. for e_ij, α_ij, c_i)::

    e_ij = vᵀ tanh(W s_{i−1} + U h_j),   α_ij = softmax_j(e_ij),   c_i = Σ_j α_ij h_j
    s_i = decoder(s_{i−1}, [E_tgt y_{i−1}; c_i]),   p(y_i | ·) = softmax(W_o [s_i; c_i] + b_o)

(the paper's deep maxout output is a linear readout here; s_0 is the encoder's final output when
the carry is handed over and the sizes agree, else 0, where the paper has tanh(W_s h←_1)).

**Luong attention** (Luong, Pham & Manning 2015, §3.1 eqs. 5–8, input feeding §3.3)::

    s_i = decoder(s_{i−1}, [E_tgt y_{i−1}; h̃_{i−1}])                    h̃_0 = 0
    score(s_i, h_j) = s_iᵀ h_j ("luong-dot")  or  s_iᵀ W_a h_j ("luong", Luong's "general")
    α_ij = softmax_j score,  c_i = Σ_j α_ij h_j,  h̃_i = tanh(W_c [c_i; s_i])
    p(y_i | ·) = softmax(W_o h̃_i + b_o)

Padded source positions get no attention weight. Everything is one unbatched example; batches
are ``vmap`` s (``plastix.seq2seq.train``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.cores import make_core
from plastix.cores.base import Core, uniform_init
from plastix.errors import PlastixError, check_positive_int, unknown_name
from plastix.seq2seq.tasks import BOS, EOS, PAD, VOCAB

ATTENTIONS = ("none", "bahdanau", "luong", "luong-dot")


class BahdanauParams(NamedTuple):
    W: jax.Array  # (A, H_dec)
    U: jax.Array  # (A, H_enc)
    v: jax.Array  # (A,)


class LuongParams(NamedTuple):
    W_a: jax.Array | None  # (H_dec, H_enc) for "luong" (general); None for "luong-dot"
    W_c: jax.Array  # (H_dec, H_enc + H_dec)


class Seq2SeqParams(NamedTuple):
    src_embed: jax.Array  # (V, E)
    tgt_embed: jax.Array  # (V, E)
    encoder: Any  # the encoder core's parameters
    decoder: Any  # the decoder core's parameters
    attention: BahdanauParams | LuongParams | None
    W_out: jax.Array  # (V, F), F = readout_size
    b_out: jax.Array  # (V,)


class Encoded(NamedTuple):
    """The encoder's reading of one source."""

    outputs: jax.Array  # (S, H_enc) h_j, zero at padded positions
    valid: jax.Array  # (S,) bool, j < src_len
    final: jax.Array  # (H_enc,) h at the last real token
    carry: Any  # the encoder carry after the last real token
    keys: jax.Array  # (S, K): U h_j (bahdanau), W_a h_j (luong), h_j (luong-dot, none)


class DecoderState(NamedTuple):
    carry: Any  # the decoder core's carry
    query: jax.Array  # (H_dec,): s_{i−1} (bahdanau), h̃_{i−1} (luong), unused (none)


def masked_softmax(scores, valid):
    """softmax over the valid entries of scores (S,); zero weight elsewhere."""
    top = lax.stop_gradient(jnp.max(jnp.where(valid, scores, -jnp.inf)))
    top = jnp.where(jnp.isfinite(top), top, 0.0)  # softmax is shift-invariant
    e = jnp.where(valid, jnp.exp(jnp.where(valid, scores - top, 0.0)), 0.0)
    return e / jnp.maximum(jnp.sum(e), jnp.finfo(e.dtype).tiny)


def same_structure(a, b) -> bool:
    """Whether two pytrees (of shapes) have the same structure, shapes and dtypes."""
    sa, sb = jax.tree.structure(a), jax.tree.structure(b)
    if sa != sb:
        return False
    return all(x.shape == y.shape and x.dtype == y.dtype for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@dataclasses.dataclass(frozen=True)
class Seq2Seq:
    """Encoder–decoder (module docstring). Final.

    Attributes:
      encoder, decoder: the cores (``decoder.input_size`` = embed + H_enc, or embed + H_dec for luong).
      attention: none | bahdanau | luong | luong-dot.
      embed: E, the embedding size.
      attention_size: A, the hidden size of Bahdanau's alignment net.
      vocab: V, tokens (``plastix.seq2seq.tasks``: PAD, EOS, BOS, digits, "+").
    """

    encoder: Core
    decoder: Core
    attention: str = "luong"
    embed: int = 32
    attention_size: int = 64
    vocab: int = VOCAB

    def __post_init__(self):
        if self.attention not in ATTENTIONS:
            raise unknown_name("attention", self.attention, ATTENTIONS)
        for name in ("embed", "attention_size", "vocab"):
            check_positive_int(name, getattr(self, name))
        H_enc, H_dec = self.encoder.output_size, self.decoder.output_size
        if self.attention == "luong-dot" and H_enc != H_dec:
            raise PlastixError(f"luong-dot attention scores s_iᵀ h_j: the encoder and decoder outputs must have one "
                               f"size, got {H_enc} and {H_dec} (use --attention luong).")
        if self.decoder.input_size != self.decoder_input_size:
            raise PlastixError(f"the decoder core must read {self.decoder_input_size} inputs, "
                               f"got input_size {self.decoder.input_size}.")
        if self.encoder.input_size != self.embed:
            raise PlastixError(f"the encoder core must read the {self.embed} embedding units, "
                               f"got input_size {self.encoder.input_size}.")

    @property
    def decoder_input_size(self) -> int:
        extra = self.decoder.output_size if self.attention.startswith("luong") else self.encoder.output_size
        return self.embed + extra

    @property
    def readout_size(self) -> int:
        H_enc, H_dec = self.encoder.output_size, self.decoder.output_size
        return H_dec + H_enc if self.attention == "bahdanau" else H_dec

    @property
    def hands_over_carry(self) -> bool:
        """The decoder starts from the encoder's final carry (same carry structure)."""
        enc = jax.eval_shape(self.encoder.initial_carry)
        dec = jax.eval_shape(self.decoder.initial_carry)
        return same_structure(enc, dec)

    def init(self, key) -> Seq2SeqParams:
        """Embeddings ~ U(±1); cores by their ``init``; attention and readout weights fan-in
        uniform (``uniform_init``), biases 0."""
        V, E, A = self.vocab, self.embed, self.attention_size
        H_enc, H_dec = self.encoder.output_size, self.decoder.output_size
        dt = self.encoder.jdtype
        k = jax.random.split(key, 8)
        if self.attention == "bahdanau":
            att = BahdanauParams(uniform_init(k[4], (A, H_dec), H_dec, dt), uniform_init(k[5], (A, H_enc), H_enc, dt),
                                 uniform_init(k[6], (A,), A, dt))
        elif self.attention.startswith("luong"):
            W_a = uniform_init(k[4], (H_dec, H_enc), H_enc, dt) if self.attention == "luong" else None
            att = LuongParams(W_a, uniform_init(k[5], (H_dec, H_enc + H_dec), H_enc + H_dec, dt))
        else:
            att = None
        F = self.readout_size
        unit = jnp.sqrt(jnp.asarray(E, dt))  # U(±1/√E) · √E = U(±1)
        return Seq2SeqParams(uniform_init(k[0], (V, E), E, dt) * unit, uniform_init(k[1], (V, E), E, dt) * unit,
                             self.encoder.init(k[2]), self.decoder.init(k[3]), att,
                             uniform_init(k[7], (V, F), F, dt), jnp.zeros((V,), dt))

    # ------------------------------------------------------------ encoder
    def encode(self, params: Seq2SeqParams, src, src_len) -> Encoded:
        """Read src (S,) int tokens, of which the first src_len are real."""
        S = src.shape[0]
        valid = jnp.arange(S) < src_len
        core = self.encoder
        p = core.scan_params(params.encoder)

        def body(carry, inp):
            x, ok = inp
            new, h = core.step(p, carry, x)
            return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, carry), jnp.where(ok, h, 0.0)

        carry, hs = lax.scan(body, core.initial_carry(), (params.src_embed[src], valid))
        final = hs[jnp.clip(src_len - 1, 0, S - 1)]
        if self.attention == "bahdanau":
            keys = hs @ params.attention.U.T
        elif self.attention == "luong":
            keys = hs @ params.attention.W_a.T
        else:
            keys = hs
        return Encoded(hs, valid, final, carry, keys)

    # ------------------------------------------------------------ decoder
    def initial_state(self, params: Seq2SeqParams, enc: Encoded) -> DecoderState:
        H_dec = self.decoder.output_size
        handed = self.hands_over_carry
        carry = enc.carry if handed else self.decoder.initial_carry()
        if self.attention == "bahdanau" and handed and enc.final.shape[0] == H_dec:
            query = enc.final
        else:
            query = jnp.zeros((H_dec,), enc.outputs.dtype)
        return DecoderState(carry, query)

    def decode_step(self, params: Seq2SeqParams, enc: Encoded, state: DecoderState, token):
        """One decoder step from the previous token (int) -> (state, logits (V,), weights α (S,))."""
        emb = params.tgt_embed[token]
        core, p = self.decoder, params.decoder
        if self.attention == "none":
            carry, s = core.step(p, state.carry, jnp.concatenate([emb, enc.final]))
            return DecoderState(carry, s), params.W_out @ s + params.b_out, jnp.zeros(enc.valid.shape, s.dtype)
        if self.attention == "bahdanau":
            a = params.attention
            alpha = masked_softmax(jnp.tanh((a.W @ state.query)[None, :] + enc.keys) @ a.v, enc.valid)
            c = alpha @ enc.outputs
            carry, s = core.step(p, state.carry, jnp.concatenate([emb, c]))
            return DecoderState(carry, s), params.W_out @ jnp.concatenate([s, c]) + params.b_out, alpha
        carry, s = core.step(p, state.carry, jnp.concatenate([emb, state.query]))
        alpha = masked_softmax(enc.keys @ s, enc.valid)
        c = alpha @ enc.outputs
        h_tilde = jnp.tanh(params.attention.W_c @ jnp.concatenate([c, s]))
        return DecoderState(carry, h_tilde), params.W_out @ h_tilde + params.b_out, alpha


def make_seq2seq(core: str, hidden: int, *, decoder_core: str | None = None, attention: str = "luong",
                 embed: int = 32, attention_size: int | None = None, vocab: int = VOCAB, dtype: str = "float32",
                 core_options: dict | None = None, decoder_options: dict | None = None) -> Seq2Seq:
    """The encoder–decoder with registered cores (``plastix.cores.make_core``) of ``hidden`` units;
    ``decoder_core`` None = the encoder's kind. ``core_options`` go to the encoder, and to the
    decoder when it is of the same kind and ``decoder_options`` is None."""
    options = dict(core_options or {})
    if attention not in ATTENTIONS:
        raise unknown_name("attention", attention, ATTENTIONS)
    dec_name = core if decoder_core is None else decoder_core
    encoder = make_core(core, embed, hidden, dtype=dtype, **options)
    extra = hidden if attention.startswith("luong") else encoder.output_size
    if decoder_options is not None:
        dec_options = dict(decoder_options)
    else:
        dec_options = options if dec_name == core else {}
    decoder = make_core(dec_name, embed + extra, hidden, dtype=dtype, **dec_options)
    if attention.startswith("luong") and decoder.output_size != hidden:
        decoder = make_core(dec_name, embed + decoder.output_size, hidden, dtype=dtype, **dec_options)
    return Seq2Seq(encoder, decoder, attention, embed, attention_size or hidden, vocab)


def output_tokens(vocab: int = VOCAB):
    """The tokens a decoder may emit: everything but PAD and BOS."""
    t = jnp.arange(vocab)
    return (t != PAD) & (t != BOS)


def greedy_decode(model: Seq2Seq, params: Seq2SeqParams, src, src_len, max_len: int):
    """The most probable token at each step, fed back (a ``lax.scan`` of max_len steps).

    Returns (tokens (max_len,) int32: PAD after the first EOS, weights α (max_len, S))."""
    enc = model.encode(params, src, src_len)
    allowed = output_tokens(model.vocab)

    def body(c, _):
        state, token, done = c
        state, logits, alpha = model.decode_step(params, enc, state, token)
        nxt = jnp.argmax(jnp.where(allowed, logits, -jnp.inf)).astype(jnp.int32)
        out = jnp.where(done, PAD, nxt)
        return (state, nxt, done | (nxt == EOS)), (out, alpha)

    start = (model.initial_state(params, enc), jnp.asarray(BOS, jnp.int32), jnp.zeros((), bool))
    _, (tokens, weights) = lax.scan(body, start, None, max_len)
    return tokens, weights
