"""CTC (plastix.ctc): the loss against a brute-force sum over every alignment, its gradient
against finite differences, best-path and prefix beam decoding against exhaustive search over
labellings, the label error rate against hand-computed edit distances, the bidirectional wrapper
against two hand-run directions, and the ctc-symbols task against its definition.

The brute force: every path π ∈ {0..K}^T (0 the blank) has p(π|x) = Π_t y^t_{π_t} (Graves et al.
2006, eq. 2) and belongs to the labelling B(π) (eq. 3); summing gives p(z|x) for every z at once.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cores import LSTM, Bidirectional, Elman, scan_core
from plastix.ctc import (check_ctc_inputs, collapse, ctc_loss, edit_distance, edit_distance_padded, greedy_decode,
                         label_error_rate, label_error_rate_padded, prefix_beam_search, required_frames,
                         reverse_within, run_bidirectional)
from plastix.ctc.task import SymbolTask, sample_batch
from plastix.errors import PlastixError


def labelling_probs(probs: np.ndarray) -> dict:
    """{labelling: p(labelling | x)} by enumerating all (K + 1)^T paths (eqs. 2–3)."""
    T, C = probs.shape
    out: dict = {}
    for path in itertools.product(range(C), repeat=T):
        z = collapse(path)
        out[z] = out.get(z, 0.0) + float(np.prod(probs[np.arange(T), list(path)]))
    return out


def softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ---------------------------------------------------------------- the loss
CASES = [  # (frames T_b, label): repeated labels need a blank between them (T_b ≥ U + repeats)
    (5, (1,)), (5, (1, 1)), (4, (1, 2)), (5, (2, 2, 1)), (3, (1, 1)), (5, (1, 2, 1)), (5, ()),
]


def padded(cases, T, U):
    labels = np.zeros((len(cases), U), np.int32)
    for b, (_, z) in enumerate(cases):
        labels[b, : len(z)] = z
    return (jnp.asarray([t for t, _ in cases], jnp.int32), jnp.asarray(labels),
            jnp.asarray([len(z) for _, z in cases], jnp.int32))


@pytest.mark.slow
def test_loss_equals_the_sum_over_all_alignments_float64():
    T, C = 5, 3
    logits = jax.random.normal(jax.random.PRNGKey(0), (len(CASES), T, C), jnp.float64) * 1.5
    lengths, labels, label_lengths = padded(CASES, T, 3)
    loss = np.asarray(ctc_loss(logits, lengths, labels, label_lengths))
    for b, (t_b, z) in enumerate(CASES):
        p = labelling_probs(softmax(np.asarray(logits[b, :t_b])))  # only the real frames
        assert loss[b] == pytest.approx(-np.log(p[z]), rel=1e-10), (t_b, z)


def test_loss_gradient_matches_finite_differences_float64():
    T, C = 5, 4
    cases = [(5, (1, 1)), (4, (2, 3)), (5, (3, 1, 3))]
    lengths, labels, label_lengths = padded(cases, T, 3)
    logits = jax.random.normal(jax.random.PRNGKey(1), (3, T, C), jnp.float64)

    @jax.jit
    def total(lg):
        return jnp.sum(ctc_loss(lg, lengths, labels, label_lengths))

    grad = np.asarray(jax.grad(total)(logits))
    eps, flat = 1e-6, np.asarray(logits).ravel()
    for i in np.random.default_rng(0).choice(flat.size, 12, replace=False):
        up, down = flat.copy(), flat.copy()
        up[i] += eps
        down[i] -= eps
        fd = (float(total(jnp.asarray(up.reshape(logits.shape)))) - float(total(jnp.asarray(down.reshape(logits.shape))))) / (2 * eps)
        assert grad.ravel()[i] == pytest.approx(fd, abs=1e-7)
    pad = lengths[1]  # frames past T_b get no gradient
    np.testing.assert_array_equal(grad[1, int(pad):], 0.0)


@pytest.mark.slow
def test_infeasible_label_is_infinite_and_refused_at_the_boundary():
    # (1, 1) needs 3 frames (1, blank, 1); (1, 2, 1) needs 3; with 2 frames p(z|x) = 0
    lengths, labels, label_lengths = padded([(2, (1, 1)), (2, (1, 2, 1)), (2, (1, 2))], 2, 3)
    np.testing.assert_array_equal(required_frames(labels, label_lengths), [3, 3, 2])
    logits = jnp.zeros((3, 2, 3), jnp.float64)
    loss = np.asarray(ctc_loss(logits, lengths, labels, label_lengths))
    assert np.isinf(loss[0]) and np.isinf(loss[1])
    assert loss[2] == pytest.approx(-np.log(labelling_probs(np.full((2, 3), 1 / 3))[(1, 2)]))
    with pytest.raises(PlastixError, match=r"label 0 \(\[1, 1\]\) needs at least 3 frames"):
        check_ctc_inputs(logits, lengths, labels, label_lengths)
    with pytest.raises(PlastixError, match="labels must lie in 1..2"):
        check_ctc_inputs(logits, jnp.asarray([2, 2, 2]), labels.at[2, 0].set(3), label_lengths)
    check_ctc_inputs(logits[2:], lengths[2:], labels[2:], label_lengths[2:])  # a feasible one passes


# ---------------------------------------------------------------- decoding
def test_greedy_is_best_path_collapsed():
    probs = np.array([[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.9, 0.05, 0.05], [0.1, 0.85, 0.05], [0.1, 0.1, 0.8],
                      [0.1, 0.1, 0.8]])  # argmax 1 1 0 1 2 2 -> B = (1, 1, 2)
    tokens, n = greedy_decode(jnp.log(jnp.asarray(probs)), jnp.asarray(6))
    assert tuple(np.asarray(tokens)[: int(n)]) == (1, 1, 2)
    np.testing.assert_array_equal(np.asarray(tokens)[int(n):], -1)
    tokens, n = greedy_decode(jnp.log(jnp.asarray(probs)), jnp.asarray(3))  # frames past the length ignored
    assert tuple(np.asarray(tokens)[: int(n)]) == (1,)


def test_beam_finds_the_most_probable_labelling_where_best_path_does_not():
    # two frames of (blank 0.6, a 0.4): best path "−−" gives "", p("") = 0.36, but
    # p("a") = 0.4·0.4 + 0.4·0.6 + 0.6·0.4 = 0.64 (Graves et al. 2006, sec. 3.2)
    lp = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    tokens, n = greedy_decode(jnp.asarray(lp), jnp.asarray(2))
    assert int(n) == 0
    best, logp = prefix_beam_search(lp, width=4)
    assert best == (1,) and np.exp(logp) == pytest.approx(0.64)


@pytest.mark.parametrize("seed", range(6))
def test_wide_beam_equals_exhaustive_search(seed):
    T, C = 5, 4
    rng = np.random.default_rng(seed)
    probs = softmax(rng.normal(size=(T, C)) * 1.2)
    exact = labelling_probs(probs)
    best, logp = prefix_beam_search(np.log(probs), width=10_000)  # no pruning: every prefix is kept
    z_star = max(exact, key=exact.get)
    assert best == z_star and np.exp(logp) == pytest.approx(exact[z_star], rel=1e-10)


def test_wide_beam_beats_best_path_on_a_constructed_case():
    # per frame the blank is the argmax (best path: ""), but the symbol 1 spread over frames wins
    probs = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])
    exact = labelling_probs(probs)
    tokens, n = greedy_decode(jnp.log(jnp.asarray(probs)), jnp.asarray(3))
    greedy = tuple(np.asarray(tokens)[: int(n)])
    best, _ = prefix_beam_search(np.log(probs), width=64)
    assert greedy == () and best == max(exact, key=exact.get) == (1,)
    assert exact[(1,)] > exact[()]


def test_width_one_is_a_greedy_search_over_prefixes_not_best_path():
    # after "a" (frame 1: a certain) the frame (b 0.3, a 0.3, c 0.4): staying on "a" has
    # p_b + p_nb = 1·0.3 + 1·0.3 = 0.6 > p("ac") = 0.4, so width 1 keeps "a" where best path emits c
    lp = np.log(np.array([[1e-12, 1.0 - 2e-12, 1e-12], [0.3, 0.3, 0.4]]))
    assert prefix_beam_search(lp, width=1)[0] == (1,)
    tokens, n = greedy_decode(jnp.asarray(lp), jnp.asarray(2))
    assert tuple(np.asarray(tokens)[: int(n)]) == (1, 2)
    # on confident frames (one symbol at 0.97 each) width 1 and best path agree
    rng = np.random.default_rng(3)
    for _ in range(5):
        path = rng.integers(0, 4, size=8)
        probs = np.full((8, 4), 0.01)
        probs[np.arange(8), path] = 0.97
        tokens, n = greedy_decode(jnp.log(jnp.asarray(probs)), jnp.asarray(8))
        assert prefix_beam_search(np.log(probs), width=1)[0] == collapse(path) == tuple(np.asarray(tokens)[: int(n)])


# ---------------------------------------------------------------- label error rate
def test_edit_distance_hand_cases():
    assert edit_distance((1, 2, 3), (1, 2, 3)) == 0
    assert edit_distance((), (1, 2)) == 2  # two insertions
    assert edit_distance((1, 2, 3), ()) == 3  # three deletions
    assert edit_distance((1, 3, 3), (1, 2, 3)) == 1  # one substitution
    assert edit_distance((2, 1, 2, 3), (1, 2, 3, 3)) == 2  # kitten/sitting-like: delete 2, insert 3
    # LER = (0 + 1 + 2) / (3 + 3 + 2): Σ ED / Σ |z| (Graves et al. 2006, eq. 1)
    assert label_error_rate([(1, 2, 3), (1, 3, 3), ()], [(1, 2, 3), (1, 2, 3), (4, 4)]) == pytest.approx(3 / 8)


def test_padded_edit_distance_equals_the_numpy_one():
    rng = np.random.default_rng(0)
    H, R, B = 7, 5, 40
    hyps, refs = rng.integers(1, 4, (B, H)), rng.integers(1, 4, (B, R))
    hl, rl = rng.integers(0, H + 1, B), rng.integers(1, R + 1, B)
    got = jax.jit(jax.vmap(edit_distance_padded))(jnp.asarray(hyps), jnp.asarray(hl), jnp.asarray(refs), jnp.asarray(rl))
    want = [edit_distance(hyps[b, : hl[b]], refs[b, : rl[b]]) for b in range(B)]
    np.testing.assert_array_equal(np.asarray(got), want)
    ler = label_error_rate_padded(jnp.asarray(hyps), jnp.asarray(hl), jnp.asarray(refs), jnp.asarray(rl))
    assert float(ler) == pytest.approx(sum(want) / rl.sum())


# ---------------------------------------------------------------- bidirectional
def test_bidirectional_equals_two_hand_run_directions_and_padding_does_not_leak():
    f, b = LSTM(3, 4, dtype="float64"), Elman(3, 5, dtype="float64")
    bi = Bidirectional(f, b)
    params = bi.init(jax.random.PRNGKey(0))
    T, length = 7, 5
    xs = jax.random.normal(jax.random.PRNGKey(1), (T, 3), jnp.float64)
    hs = run_bidirectional(bi, params, xs, jnp.asarray(length))
    # by hand: forward over the real frames, backward over them reversed
    _, hf = scan_core(f, params.forward, xs[:length])
    _, hb = scan_core(b, params.backward, xs[:length][::-1])
    np.testing.assert_allclose(hs[:length, :4], hf, rtol=1e-12)
    np.testing.assert_allclose(hs[:length, 4:], hb[::-1], rtol=1e-12)
    # other padding values: the real frames' outputs do not change
    other = xs.at[length:].set(100.0)
    np.testing.assert_array_equal(run_bidirectional(bi, params, other, jnp.asarray(length))[:length], hs[:length])
    # full length: the same as plastix.cores.Bidirectional.apply
    np.testing.assert_allclose(run_bidirectional(bi, params, xs, jnp.asarray(T)), bi.apply(params, xs), rtol=1e-12)
    np.testing.assert_array_equal(reverse_within(jnp.arange(6), jnp.asarray(4)), [3, 2, 1, 0, 4, 5])


# ---------------------------------------------------------------- the task
@pytest.mark.slow
def test_ctc_symbols_renders_its_labels():
    task = SymbolTask(symbols=3, min_len=2, max_len=5, min_dur=2, max_dur=3, gap_prob=0.3, max_gap=2, noise=0.0)
    batch = sample_batch(task, jax.random.PRNGKey(0), 64, jnp.float64)
    P = np.asarray(task.patterns(jnp.float64))
    for b in range(64):
        T_b, U_b = int(batch.input_lengths[b]), int(batch.label_lengths[b])
        z = tuple(np.asarray(batch.labels[b, :U_b]).tolist())
        k = np.asarray(batch.frame_symbols[b])
        assert task.min_len <= U_b <= task.max_len and np.all(np.asarray(batch.labels[b, U_b:]) == 0)
        # the frames' symbols, runs merged, are the target; equal neighbours always have a gap
        assert collapse(k[:T_b]) == z and np.all(k[T_b:] == 0)
        runs = [len(list(g)) for s, g in itertools.groupby(k[:T_b]) if s != 0]
        assert len(runs) == U_b and all(task.min_dur <= r <= task.max_dur for r in runs)
        np.testing.assert_array_equal(np.asarray(batch.xs[b]), np.where(np.arange(task.max_frames)[:, None] < T_b,
                                                                          P[k], 0.0))  # σ = 0: the patterns
        assert T_b >= int(required_frames(batch.labels[b:b + 1], batch.label_lengths[b:b + 1])[0])
    assert len(set(np.asarray(batch.input_lengths).tolist())) > 3  # variable durations


def test_ctc_symbols_checks_its_settings():
    with pytest.raises(PlastixError, match="min_len ≤ max_len"):
        SymbolTask(min_len=4, max_len=3)
    with pytest.raises(PlastixError, match="gap_prob"):
        SymbolTask(gap_prob=1.5)
