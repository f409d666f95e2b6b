"""Contiguous streams carried across segments (plastix.lm.batches, plastix.lm.model,
plastix.lm.trainer): K segments with the carry passed on compute one scan over the whole stream
(float64, plastic traces included); the gradient stops at the segment boundary; the trainer
resets the carry only at the start of a pass; evaluation streams score every target once; a
model with uniform predictions has perplexity V."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from plastix.cores import make_core
from plastix.lm.batches import eval_streams, fresh_carries, num_segments, segment, stream_matrix
from plastix.lm.config import LMConfig
from plastix.lm.model import LanguageModel, segment_loss, split_nll, token_nll
from plastix.lm.trainer import make_setup, split_bits, update_step, init_state
from plastix.errors import PlastixError

CORES = ["lstm", "plastic-lstm", "neuromod-lstm", "elman"]


def model_of(core: str, vocab: int = 7, hidden: int = 5, embed: int = 0) -> LanguageModel:
    options = {"modulation": "retroactive"} if core == "neuromod-lstm" else {}
    return LanguageModel(make_core(core, embed or vocab, hidden, dtype="float64", **options), vocab, embed)


def random_params(model, key):
    """Parameters with non-zero plasticity coefficients, so the traces matter."""
    params = model.init(key)
    core = params.core
    if hasattr(core, "alpha"):
        core = core._replace(alpha=0.5 * jnp.ones_like(core.alpha))
    return params._replace(core=core)


def test_stream_matrix_is_zarembas_batchify():
    tokens = np.arange(23)
    streams = stream_matrix(tokens, 4, 3)  # L = 23 // 4 = 5
    np.testing.assert_array_equal(streams, np.arange(20).reshape(4, 5))
    assert num_segments(5, 3) == 1 and num_segments(7, 3) == 2
    x, y = segment(jnp.asarray(np.arange(40).reshape(4, 10)), jnp.asarray(1), 3)
    np.testing.assert_array_equal(x, np.arange(40).reshape(4, 10)[:, 3:6])
    np.testing.assert_array_equal(y, np.arange(40).reshape(4, 10)[:, 4:7])
    with pytest.raises(PlastixError, match="cannot hold one segment of seq_len 5"):
        stream_matrix(np.arange(20), 4, 5)


@pytest.mark.slow
@pytest.mark.parametrize("core", CORES)
def test_segments_with_the_carry_passed_on_equal_one_scan(core):
    model = model_of(core, embed=3 if core == "elman" else 0)
    params = random_params(model, jax.random.PRNGKey(1))
    B, T = 3, 4
    tokens = np.asarray(jax.random.randint(jax.random.PRNGKey(2), (B * 14,), 0, 7))
    streams = jnp.asarray(stream_matrix(tokens, B, T))  # (3, 14): K = 3 segments
    K = num_segments(streams.shape[1], T)
    carries = fresh_carries(model.initial_carry(), B)
    losses = []
    for k in range(K):
        x, y = segment(streams, jnp.asarray(k), T)
        loss, carries = segment_loss(model, params, carries, x, y)
        losses.append(loss)
    # one scan over each stream's K T inputs from a fresh carry
    full, logits = jax.vmap(model.run, in_axes=(None, None, 0))(params, model.initial_carry(), streams[:, :K * T])
    nll = token_nll(logits, streams[:, 1:K * T + 1])
    np.testing.assert_allclose(np.mean(losses), np.mean(nll), rtol=1e-12)
    for a, b in zip(jax.tree.leaves(carries), jax.tree.leaves(full), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    if core.endswith("plastic-lstm") or core == "neuromod-lstm":  # the Hebbian trace was carried: not zero at the end
        assert float(jnp.max(jnp.abs(carries.hebb))) > 1e-3


@pytest.mark.slow
def test_the_gradient_stops_at_the_segment_boundary():
    model = model_of("plastic-lstm")
    params = random_params(model, jax.random.PRNGKey(3))
    streams = jnp.asarray(np.asarray(jax.random.randint(jax.random.PRNGKey(4), (2, 9), 0, 7)))
    x0, y0 = segment(streams, jnp.asarray(0), 4)
    x1, y1 = segment(streams, jnp.asarray(1), 4)
    fresh = fresh_carries(model.initial_carry(), 2)
    _, carries = segment_loss(model, params, fresh, x0, y0)

    def truncated(p):
        return segment_loss(model, p, carries, x1, y1)[0]

    def through(p):  # segment 1 from the carry segment 0 ends with under the same p, no stop: full BPTT
        ends = jax.vmap(model.run, in_axes=(None, 0, 0))(p, fresh, x0)[0]
        return jnp.mean(token_nll(jax.vmap(model.run, in_axes=(None, 0, 0))(p, ends, x1)[1], y1))

    def constant(p):  # the carry as numbers: what the stop must give
        frozen = jax.tree.map(np.asarray, carries)
        return jnp.mean(token_nll(jax.vmap(model.run, in_axes=(None, 0, 0))(p, frozen, x1)[1], y1))

    g_trunc, g_const, g_full = (jax.grad(f)(params) for f in (truncated, constant, through))
    for a, b in zip(jax.tree.leaves(g_trunc), jax.tree.leaves(g_const), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(g_trunc), jax.tree.leaves(g_full), strict=True))
    g_carry = jax.grad(lambda c: segment_loss(model, params, c, x1, y1)[0])(carries)
    assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree.leaves(g_carry))


@pytest.fixture
def tiny_text(tmp_path):
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("abcde \n"), 800))
    path = tmp_path / "tiny.txt"
    path.write_text(text)
    return path


def test_the_trainer_carries_across_updates_and_resets_at_a_new_pass(tiny_text):
    config = LMConfig(task=f"text:{tiny_text}", core="neuromod-lstm", hidden=4, batch_size=3, seq_len=10,
                      num_updates=1, updates_per_log=1, dtype="float64")
    setup = make_setup(config)
    setup = setup._replace(optimizer=optax.apply_if_finite(optax.set_to_zero(), 10))  # frozen parameters
    K = setup.segments_per_pass
    state = init_state(setup, jax.random.PRNGKey(0))
    params = state.params
    streams = jnp.asarray(setup.streams)
    step = jax.jit(lambda s: update_step(setup, s))
    losses = []
    for k in range(K + 1):
        state, loss = step(state)
        losses.append(float(loss))
        if k == K - 2:  # after K - 1 updates: the carry of one scan over the first (K - 1) T tokens
            full, _ = jax.vmap(setup.model.run, in_axes=(None, None, 0))(
                params, setup.model.initial_carry(), streams[:, :(K - 1) * 10])
            for a, b in zip(jax.tree.leaves(state.carries), jax.tree.leaves(full), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    assert int(state.segment) == 1 and int(state.update) == K + 1
    assert losses[K] == pytest.approx(losses[0], rel=1e-12)  # a new pass starts from a fresh carry
    assert losses[1] != pytest.approx(losses[0], rel=1e-6)


def test_eval_streams_score_every_target_once():
    tokens = np.arange(10, 21)  # N = 11: 10 targets
    s = eval_streams(tokens, 3)  # L = 4, the last stream padded
    np.testing.assert_array_equal(s.inputs, [[10, 11, 12, 13], [14, 15, 16, 17], [18, 19, 20, 0]])  # 20: an input whose target is padding
    np.testing.assert_array_equal(s.targets, [[11, 12, 13, 14], [15, 16, 17, 18], [19, 20, 0, 0]])
    np.testing.assert_array_equal(s.weights, [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]])
    kept = s.targets[s.weights > 0]
    np.testing.assert_array_equal(kept, tokens[1:])


@pytest.mark.slow
@pytest.mark.parametrize("streams", [1, 3])
def test_split_nll_is_a_loop_over_fresh_streams(streams):
    model = model_of("plastic-lstm")
    params = random_params(model, jax.random.PRNGKey(5))
    tokens = np.asarray(jax.random.randint(jax.random.PRNGKey(6), (23,), 0, 7))
    s = eval_streams(tokens, streams)
    total, count = split_nll(model, params, jnp.asarray(s.inputs), jnp.asarray(s.targets), jnp.asarray(s.weights, float))
    expected = 0.0
    for e in range(s.inputs.shape[0]):  # each stream from a fresh carry, one token at a time
        carry = model.initial_carry()
        for t in range(s.inputs.shape[1]):
            carry, logits = model.step(params, carry, jnp.asarray(s.inputs[e, t]))
            expected += float(s.weights[e, t]) * -float(jax.nn.log_softmax(logits)[s.targets[e, t]])
    assert float(count) == 22
    assert float(total) == pytest.approx(expected, rel=1e-12)


def test_uniform_predictions_have_perplexity_v(tiny_text):
    config = LMConfig(task=f"text:{tiny_text}", core="lstm", hidden=4, batch_size=2, seq_len=5, num_updates=1,
                      updates_per_log=1, dtype="float64")
    setup = make_setup(config)
    params = setup.model.init(jax.random.PRNGKey(0))
    zero = params._replace(readout=params.readout._replace(V=jnp.zeros_like(params.readout.V),
                                                           c=jnp.zeros_like(params.readout.c)))
    V = setup.data.vocab.size  # <unk> and the 7 characters
    assert V == 8
    bits = float(split_bits(setup, zero, setup.test))
    assert bits == pytest.approx(np.log2(V), rel=1e-12)  # bits per char = log2 V
    assert 2.0 ** bits == pytest.approx(V, rel=1e-12)  # perplexity = V


@pytest.mark.parametrize("change, message", [
    ({"level": "byte"}, "unknown level 'byte'"),
    ({"core": "jordan"}, "feeds its own real-valued output back"),
    ({"core": "lstn"}, "Did you mean 'lstm'"),
    ({"embed": -1}, "embed must be an integer >= 0"),
    ({"num_updates": 3, "updates_per_log": 2}, "must be a multiple of updates_per_log"),
    ({"text_sha256": "0" * 64}, "changed since this run was trained"),
    ({"task": "text:"}, "a language-model task is text:<file>"),
])
def test_bad_settings_are_refused_before_anything_is_built(tiny_text, change, message):
    config = LMConfig(**{"task": f"text:{tiny_text}", "hidden": 4, "batch_size": 2, "seq_len": 5, "num_updates": 2,
                         "updates_per_log": 1, **change})
    with pytest.raises(PlastixError, match=message):
        make_setup(config)
