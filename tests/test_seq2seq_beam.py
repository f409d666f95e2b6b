"""Beam search (plastix.seq2seq.beam): exact against scoring every output sequence, width 1 =
greedy, GNMT's length penalty on a case computed by hand, finished hypotheses kept."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.errors import PlastixError
from plastix.seq2seq.beam import beam_decode, beam_search, check_beam, length_penalty
from plastix.seq2seq.model import greedy_decode, make_seq2seq
from plastix.seq2seq.tasks import BOS, DIGIT0, EOS, PAD, VOCAB, sample_batch


def tiny_model(attention, key=0, scale=3.0):
    """A float64 encoder-decoder with random weights; the readout scaled so the output
    distributions are far from uniform (distinct scores, no ties)."""
    model = make_seq2seq("lstm", 5, attention=attention, embed=4, dtype="float64")
    params = model.init(jax.random.PRNGKey(key))
    return model, params._replace(W_out=scale * params.W_out)


def brute_force(model, params, src, n, tokens, T, alpha):
    """Every output sequence over ``tokens`` of T steps, scored by stepping the decoder in a
    Python loop and taking log-softmax in NumPy; a hypothesis ends at its first EOS. Returns the
    best (tuple of tokens, EOS included, log p) by log p / ((5 + |y|)/6)^α."""
    enc = model.encode(params, src, n)
    step = jax.jit(lambda state, tok: model.decode_step(params, enc, state, tok)[:2])
    seen = {}
    for seq in itertools.product(tokens, repeat=T):
        cut = seq[:seq.index(EOS) + 1] if EOS in seq else seq
        if cut in seen:
            continue
        state, prev, total = model.initial_state(params, enc), BOS, 0.0
        for tok in cut:
            state, logits = step(state, jnp.asarray(prev, jnp.int32))
            z = np.asarray(logits, np.float64)
            total += z[tok] - (np.max(z) + np.log(np.sum(np.exp(z - np.max(z)))))
            prev = tok
        seen[cut] = total
    best = max(seen, key=lambda y: seen[y] / ((5 + len(y)) / 6) ** alpha)
    return best, seen[best], len(seen)


@pytest.mark.slow
@pytest.mark.parametrize("attention,alpha", [("luong", 0.0), ("bahdanau", 1.0), ("none", 0.6)])
def test_wide_beam_finds_the_exhaustive_argmax(attention, alpha):
    """Width V^T on a 3-token output vocabulary {EOS, 0, 1} and T = 3 drops no hypothesis, so the
    best beam is the argmax of every output sequence scored one by one."""
    model, params = tiny_model(attention)
    tokens, T = (EOS, DIGIT0, DIGIT0 + 1), 3
    allowed = np.zeros(VOCAB, bool)
    allowed[list(tokens)] = True
    src, n = jnp.asarray([DIGIT0 + 2, DIGIT0 + 7, DIGIT0 + 1, PAD], jnp.int32), 3
    enc = model.encode(params, src, n)

    def step_fn(state, token):
        state, logits, _ = model.decode_step(params, enc, state, token)
        return state, jax.nn.log_softmax(logits)

    result = jax.jit(lambda: beam_search(step_fn, model.initial_state(params, enc), start=BOS, eos=EOS, pad=PAD,
                                         allowed=jnp.asarray(allowed), beam=len(tokens) ** T, max_len=T,
                                         alpha=alpha))()
    best, score, count = brute_force(model, params, src, n, tokens, T, alpha)
    assert count == 1 + 2 + 4 + 8  # EOS after 0, 1, 2 tokens, or 3 tokens without EOS (2^3)
    got = tuple(int(t) for t in result.tokens[0][:int(result.lengths[0])])
    assert got == best
    np.testing.assert_allclose(float(result.scores[0]), score, rtol=1e-9)
    assert bool(result.finished[0]) == (best[-1] == EOS)
    # the K beams hold every hypothesis once, the rest are empty slots
    real = np.asarray(result.scores) > -1e8
    assert real.sum() == count


@pytest.mark.slow
def test_width_one_is_greedy_decoding():
    """Beam width 1 keeps the most probable token at each step: greedy decoding, padded after EOS."""
    model, params = tiny_model("luong", key=3, scale=1.0)
    batch = sample_batch(jax.random.PRNGKey(0), "reversal", 16, 1, 4)
    T = 5
    greedy = jax.vmap(lambda s, n: greedy_decode(model, params, s, n, T)[0])(batch.src, batch.src_len)
    beam = jax.vmap(lambda s, n: beam_decode(model, params, s, n, beam=1, max_len=T).tokens[0])(batch.src,
                                                                                              batch.src_len)
    np.testing.assert_array_equal(np.asarray(beam), np.asarray(greedy))
    for row in np.asarray(greedy):  # nothing but PAD after the first EOS, never BOS
        assert BOS not in row
        if EOS in row.tolist():
            first = row.tolist().index(EOS)
            assert (row[first + 1:] == PAD).all() and PAD not in row[:first]


# A hand-made decoder over tokens PAD, EOS, a, b: a tree of 4 nodes (0 the root, 1 after "a",
# 2 after "a a", 3 anything else), each with its next-token distribution. The search starts by
# feeding PAD, which leaves the root where it is.
A_TOK, B_TOK = 2, 3
PROBS = np.array([[0.0, 0.50, 0.45, 0.05],  # root: EOS .5, a .45, b .05
                  [0.0, 0.02, 0.96, 0.02],  # after a
                  [0.0, 0.98, 0.01, 0.01],  # after a a
                  [0.0, 1 / 3, 1 / 3, 1 / 3]])
NEXT = np.array([[0, 3, 1, 3], [1, 3, 2, 3], [2, 3, 3, 3], [3, 3, 3, 3]])  # NEXT[node, token]


def table_step(node, token):
    node = jnp.asarray(NEXT)[node, token]
    return node, jnp.log(jnp.asarray(PROBS))[node]


def table_search(alpha, beam=2, T=3):
    allowed = jnp.asarray([False, True, True, True])
    return beam_search(table_step, jnp.asarray(0), start=PAD, eos=EOS, pad=PAD, allowed=allowed, beam=beam,
                       max_len=T, alpha=alpha)


def test_length_penalty_reranks_a_hand_computed_case():
    """By hand: "EOS" has log p = ln .5 = −0.6931 (|y| = 1, lp = 1); "a a EOS" has
    ln(.45 · .96 · .98) = ln .42336 = −0.8596 (|y| = 3, lp(α=1) = 8/6, so −0.6447). Plain
    log-probability keeps "EOS"; GNMT's α = 1 prefers "a a EOS"."""
    plain = table_search(0.0)
    assert plain.tokens[0].tolist() == [EOS, PAD, PAD]
    np.testing.assert_allclose(float(plain.scores[0]), math.log(0.5), rtol=1e-6)
    normed = table_search(1.0)
    assert normed.tokens[0].tolist() == [A_TOK, A_TOK, EOS]
    np.testing.assert_allclose(float(normed.scores[0]), math.log(0.45 * 0.96 * 0.98), rtol=1e-6)
    np.testing.assert_allclose(float(normed.normalised[0]), math.log(0.42336) / (8 / 6), rtol=1e-6)
    np.testing.assert_allclose(float(normed.normalised[1]), math.log(0.5), rtol=1e-6)  # EOS kept, second
    np.testing.assert_allclose(np.asarray(length_penalty(jnp.asarray([1.0, 3.0]), 1.0)), [1.0, 8 / 6])


def test_finished_hypotheses_are_kept_and_padded():
    """"EOS" finishes at step 0 and must survive two more steps of live competitors; its
    tokens after EOS are PAD, its length 1 and its score unchanged."""
    result = table_search(0.0, beam=2, T=3)
    assert bool(result.finished[0]) and int(result.lengths[0]) == 1
    assert result.tokens[1].tolist() == [A_TOK, A_TOK, EOS] and int(result.lengths[1]) == 3
    # T = 2: "a a" is cut unfinished (length T) and ranks below EOS
    short = table_search(0.0, beam=2, T=2)
    assert short.tokens[0].tolist() == [EOS, PAD]
    assert not bool(short.finished[1]) and int(short.lengths[1]) == 2
    np.testing.assert_allclose(float(short.scores[1]), math.log(0.45 * 0.96), rtol=1e-6)


def test_bad_beam_settings_raise():
    with pytest.raises(PlastixError, match="beam"):
        check_beam(0, 0.0)
    with pytest.raises(PlastixError, match="length_penalty"):
        check_beam(2, -1.0)
