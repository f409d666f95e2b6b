"""Beam search over a fixed number of decoder steps: one ``lax.scan``, jittable, vmappable.

A hypothesis y = (y_1, ..., y_n) scores log p(y | x) = Σ_i log p(y_i | y_<i, x). It is
*finished* when y_n = EOS, or unfinished when it reaches the last step T without EOS. Ranking uses
the score divided by the length penalty of Wu et al. (2016, GNMT, §7 eq. 14)::

    s(y) = log p(y | x) / lp(y),      lp(y) = ((5 + |y|) / (5 + 1))^α

with |y| the tokens of y, EOS included; α = 0 ranks by the plain log-probability (lp = 1), and a
larger α favours longer outputs (GNMT's coverage penalty is not used).

Each of the T steps (width K, vocabulary V):

1. every live beam k is extended by every allowed token v: score_k + log p(v | beam k);
2. a finished beam is carried over unchanged, once (its token at this step is PAD, its score and
   length kept), so finished hypotheses compete with the live ones and are never lost;
3. of these K·V candidates the K best by s(y) are kept (``lax.top_k``).

At step 0 only beam 0 is live (the others score −10⁹), so no hypothesis appears twice. When K is at
least the number of possible hypotheses no candidate is ever dropped and the search is exact
(tests/test_seq2seq_beam.py checks it against scoring every output sequence); K = 1 is greedy
decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.errors import PlastixError, check_positive_int

NEG = -1e9  # the score of an empty beam slot: far below any real hypothesis, and finite


class BeamResult(NamedTuple):
    """The K hypotheses at the end, best first (by the length-normalised score)."""

    tokens: jax.Array  # (K, T) int32, PAD after EOS
    scores: jax.Array  # (K,) log p(y | x)
    lengths: jax.Array  # (K,) int32 |y|, EOS included
    finished: jax.Array  # (K,) bool, ends with EOS
    normalised: jax.Array  # (K,) s(y) = log p / lp(y)


def length_penalty(lengths, alpha: float):
    """lp(y) = ((5 + |y|)/6)^α (Wu et al. 2016, eq. 14)."""
    return jnp.power((5.0 + lengths) / 6.0, alpha)


def check_beam(beam: int, alpha: float) -> None:
    check_positive_int("beam", beam)
    if not (isinstance(alpha, (int, float)) and alpha >= 0):
        raise PlastixError(f"length_penalty α must be a number ≥ 0, got {alpha!r}.")


class _Beams(NamedTuple):
    states: Any  # decoder states, leaves (K, ...)
    last: jax.Array  # (K,) int32 the token each beam fed last
    tokens: jax.Array  # (K, T) int32
    scores: jax.Array  # (K,)
    lengths: jax.Array  # (K,) int32
    finished: jax.Array  # (K,) bool


def _extend(step_fn, beams: _Beams, t, allowed, pad: int, alpha: float):
    """The K·V candidates of step t: (scores (K, V), lengths (K, V), rank keys (K, V), states)."""
    states, log_probs = jax.vmap(step_fn)(beams.states, beams.last)  # (K, V)
    V = log_probs.shape[-1]
    live = jnp.where(allowed[None, :], beams.scores[:, None] + log_probs, NEG)
    carried = jnp.where(jnp.arange(V)[None, :] == pad, beams.scores[:, None], NEG)  # once, as PAD
    scores = jnp.where(beams.finished[:, None], carried, live)
    lengths = jnp.where(beams.finished[:, None], beams.lengths[:, None], t + 1).astype(jnp.int32)
    lengths = jnp.broadcast_to(lengths, scores.shape)
    return scores, lengths, scores / length_penalty(lengths.astype(scores.dtype), alpha), states


def beam_search(step_fn: Callable, state0, *, start: int, eos: int, pad: int, allowed, beam: int, max_len: int,
                alpha: float = 0.0) -> BeamResult:
    """Beam search for one example.

    Args:
      step_fn: ``(state, token) -> (state, log_probs (V,))``, the decoder's next-token
        log-probabilities after feeding ``token``; disallowed tokens are ignored.
      state0: the decoder state before the first token (one example, no beam axis).
      start: the first token fed (BOS); eos, pad: the end and padding tokens.
      allowed: (V,) bool, the tokens the search may emit (EOS among them).
      beam: K; max_len: T, the steps searched; alpha: the GNMT length-penalty exponent α.

    Returns:
      BeamResult, best first.
    """
    K, T = beam, max_len
    allowed = jnp.asarray(allowed, bool)
    states = jax.tree.map(lambda a: jnp.broadcast_to(a, (K, *jnp.shape(a))), state0)
    scores0 = jnp.where(jnp.arange(K) == 0, 0.0, NEG).astype(jnp.result_type(float))
    beams = _Beams(states, jnp.full((K,), start, jnp.int32), jnp.full((K, T), pad, jnp.int32), scores0,
                   jnp.zeros((K,), jnp.int32), jnp.zeros((K,), bool))

    def body(beams: _Beams, t):
        t = t.astype(jnp.int32)
        scores, lengths, keys, states = _extend(step_fn, beams, t, allowed, pad, alpha)
        V = scores.shape[-1]
        _, flat = lax.top_k(keys.reshape(-1), K)
        k, v = flat // V, (flat % V).astype(jnp.int32)
        finished = beams.finished[k]
        tokens = beams.tokens[k].at[:, t].set(v)
        kept = scores.reshape(-1)[flat].astype(beams.scores.dtype)
        return _Beams(jax.tree.map(lambda a: a[k], states), v, tokens, kept, lengths.reshape(-1)[flat],
                      finished | (v == eos)), None

    beams, _ = lax.scan(body, beams, jnp.arange(T))
    lengths = jnp.where(beams.finished, beams.lengths, T).astype(jnp.int32)
    normalised = beams.scores / length_penalty(lengths.astype(beams.scores.dtype), alpha)
    order = jnp.argsort(-normalised)
    return BeamResult(beams.tokens[order], beams.scores[order], lengths[order], beams.finished[order],
                      normalised[order])


def beam_decode(model, params, src, src_len, *, beam: int, max_len: int, alpha: float = 0.0) -> BeamResult:
    """Beam search of a ``plastix.seq2seq.model.Seq2Seq`` on one source (src (S,), src_len):
    BOS first, any token but PAD and BOS emitted."""
    from plastix.seq2seq.model import output_tokens
    from plastix.seq2seq.tasks import BOS, EOS, PAD

    enc = model.encode(params, src, src_len)

    def step_fn(state, token):
        state, logits, _ = model.decode_step(params, enc, state, token)
        return state, jax.nn.log_softmax(logits)

    return beam_search(step_fn, model.initial_state(params, enc), start=BOS, eos=EOS, pad=PAD,
                       allowed=output_tokens(model.vocab), beam=beam, max_len=max_len, alpha=alpha)
