"""Every registered core (and a stack) against an independent plain-NumPy step written here.

The references below re-implement each core's equations from its docstring / seed with NumPy
and explicit loops, never calling plastix code; they are imported by the other core tests.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastix.cores import CORES, Stacked, make_core, scan_core
from plastix.cores.base import loop_core
from plastix.errors import PlastixError

# ---------------------------------------------------------------- NumPy references


def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


ACT = {"tanh": np.tanh, "sigmoid": sig, "relu": lambda a: np.maximum(a, 0.0), "linear": lambda a: a}


def np_params(params):
    """A NamedTuple of arrays -> dict of NumPy float64 arrays (None fields dropped)."""
    return {k: np.asarray(v, np.float64) for k, v in params._asdict().items() if v is not None}


def hebb_rule(rule, hebb, rate, post, pre):
    """Hebb_{t+1}, entry by entry (clip / decay / oja), row = post, column = pre."""
    new = np.empty_like(hebb)
    for i in range(hebb.shape[0]):
        for j in range(hebb.shape[1]):
            if rule == "clip":
                new[i, j] = min(1.0, max(-1.0, hebb[i, j] + rate * post[i] * pre[j]))
            elif rule == "decay":
                new[i, j] = (1.0 - rate) * hebb[i, j] + rate * post[i] * pre[j]
            else:
                new[i, j] = hebb[i, j] + rate * post[i] * (pre[j] - post[i] * hebb[i, j])
    return new


def ref_state(core):
    """The reference's state at an episode start (a dict of zeros)."""
    name, n = type(core).__name__, core.hidden_size
    if name == "Stacked":
        return [ref_state(c) for c in core.cores]
    if name == "Jordan":
        return {"y": np.zeros(core.output_size)}
    if name == "ESN":
        return {"x": np.zeros(n), "y": np.zeros(core.feedback_size)}
    if name == "TDNN":  # every layer's inputs since the episode start
        return {"past": [[] for _ in core.window]}
    if name == "TransformerCore":  # every input since the episode start
        return {"xs": []}
    state = {"h": np.zeros(n), "c": np.zeros(n), "hebb": np.zeros((n, n)), "E": np.zeros((n, n))}
    return state


def ref_step(core, p, s, x):
    """(new state, h_t) of ``core`` for NumPy params dict ``p``, state ``s``, input ``x``."""
    name = type(core).__name__
    if name == "Stacked":
        new = []
        for c, pc, sc in zip(core.cores, p, s):
            sc, x = ref_step(c, pc, sc, x)
            new.append(sc)
        return new, x
    return REF_STEPS[name](core, p, s, x)


def ref_elman(core, p, s, x):
    h = ACT[core.activation](p["U"] @ x + p["W"] @ s["h"] + p["b"])
    return {**s, "h": h}, h


def ref_jordan(core, p, s, x):
    y_fb = s["y"]
    if core.teacher_forcing:
        d, k = core.input_size, core.output_size
        x, y_hat, m = x[:d], x[d : d + k], x[d + k]
        y_fb = m * y_hat + (1 - m) * s["y"]
    h = ACT[core.activation](p["U"] @ x + p["W_y"] @ y_fb + p["b"])
    y = p["V"] @ h + p["c"]
    return {"y": y}, y


def ref_lstm(core, p, s, x):
    pre = [p["Wx"][k] @ x + p["Wh"][k] @ s["h"] + p["b"][k] for k in range(4)]  # i, f, g, o
    c = sig(pre[1]) * s["c"] + sig(pre[0]) * np.tanh(pre[2])
    h = sig(pre[3]) * np.tanh(c)
    return {**s, "h": h, "c": c}, h


def ref_peephole(core, p, s, x):
    # Graves (2012) eqs. 27-35: ι, φ peep at s_{t-1}; ω peeps at s_t.
    pre = [p["Wx"][k] @ x + p["Wh"][k] @ s["h"] + p["b"][k] for k in range(4)]  # ι, φ, c, ω
    z_i = sig(pre[0] + p["peep"][0] * s["c"])
    z_f = sig(pre[1] + p["peep"][1] * s["c"])
    c = z_f * s["c"] + z_i * np.tanh(pre[2])
    z_o = sig(pre[3] + p["peep"][2] * c)
    h = z_o * np.tanh(c)
    return {**s, "h": h, "c": c}, h


def ref_gru(core, p, s, x):
    # Cho et al. 2014: reset before U_h, z keeps the old state.
    hp = s["h"]
    r = sig(p["Wx"][0] @ x + p["Wh"][0] @ hp + p["b"][0])
    z = sig(p["Wx"][1] @ x + p["Wh"][1] @ hp + p["b"][1])
    cand = np.tanh(p["Wx"][2] @ x + p["Wh"][2] @ (r * hp) + p["b"][2])
    h = z * hp + (1 - z) * cand
    return {**s, "h": h}, h


def ref_multiplicative(core, p, s, x):
    u = ACT[core.f](p["Wx"][0] @ x + p["Wh"][0] @ s["h"] + p["b"][0])
    v = ACT[core.g](p["Wx"][1] @ x + p["Wh"][1] @ s["h"] + p["b"][1])
    return {**s, "h": u * v}, u * v


def ref_esn(core, p, s, x):
    a = core.leak_rate
    xn = (1 - a) * s["x"] + a * np.tanh(p["W_in"] @ x + p["W"] @ s["x"] + p["W_fb"] @ s["y"] + p["b"])
    return {"x": xn, "y": s["y"]}, xn


def ref_tdnn(core, p, s, x):
    # Waibel et al. 1989; layer k taps its input j·δ_k steps back, δ_1 = 1, δ_{k+1} = δ_k s_k
    # (the sub-sampling stride); a tap before the episode start reads zero.
    past, h, dil = [], x, 1
    for k, layer in enumerate(p):
        hist = s["past"][k] + [h]
        a = layer["b"].copy()
        for j in range(layer["W"].shape[0]):
            if j * dil < len(hist):
                a = a + layer["W"][j] @ hist[-1 - j * dil]
        past.append(hist)
        h = ACT[core.activation](a)
        dil *= core.stride[k] if k < len(core.stride) else 1
    return {"past": past}, h


def alpha_full(alpha, n):
    """α broadcast to (n, n) by explicit loops: (n, n), (n, 1) per post neuron, (1, 1)."""
    return np.array([[alpha[min(i, alpha.shape[0] - 1), min(j, alpha.shape[1] - 1)] for j in range(n)] for i in range(n)])


def plastic_update(core, p, s, post, pre, h):
    """Hebb (and E) update shared by the plastic RNN and LSTM references."""
    if not hasattr(core, "modulation"):
        return {"hebb": hebb_rule(core.rule, s["hebb"], p["eta"], post, pre), "E": s["E"]}
    squash = ACT[core.squash]
    M = squash(p["w_M"] @ h + p["b_M"])
    if core.modulation == "simple":
        return {"hebb": hebb_rule("clip", s["hebb"], M, post, pre), "E": s["E"]}
    hebb = np.clip(s["hebb"] + M * s["E"], -1.0, 1.0)  # E_t before its update
    eta = 1.0 / (1.0 + np.exp(-p["eta"])) if getattr(core, "eta_param", "raw") == "sigmoid" else p["eta"]
    E = (1 - eta) * s["E"] + eta * np.outer(post, pre)
    return {"hebb": hebb, "E": E}


def ref_plastic_rnn(core, p, s, x):
    n = core.hidden_size
    W_eff = p["W"] + alpha_full(p["alpha"], n) * s["hebb"]
    h = np.tanh(p["W_in"] @ x + W_eff @ s["h"] + p["b"])
    return {**s, "h": h, **plastic_update(core, p, s, h, s["h"], h)}, h


def ref_plastic_lstm(core, p, s, x):
    n = core.hidden_size
    pre = [p["Wx"][k] @ x + p["Wh"][k] @ s["h"] for k in range(4)]
    g = np.tanh(pre[2] + p["b"][2] + (alpha_full(p["alpha"], n) * s["hebb"]) @ s["h"])
    c = sig(pre[1] + p["b"][1]) * s["c"] + sig(pre[0] + p["b"][0]) * g
    h = sig(pre[3] + p["b"][3]) * np.tanh(c)
    return {**s, "h": h, "c": c, **plastic_update(core, p, s, g, s["h"], h)}, h


def ref_transformer(core, p, s, x):
    # the whole episode so far through the NumPy transformer of tests/test_attention.py (banded
    # causal attention, Vaswani et al. 2017; pre-norm blocks, Xiong et al. 2020); its last output
    from test_attention import np_transformer

    xs = s["xs"] + [x]
    return {"xs": xs}, np_transformer(core, p, np.stack(xs))[-1]


REF_STEPS = {
    "Elman": ref_elman,
    "Jordan": ref_jordan,
    "LSTM": ref_lstm,
    "PeepholeLSTM": ref_peephole,
    "GRU": ref_gru,
    "Multiplicative": ref_multiplicative,
    "ESN": ref_esn,
    "TDNN": ref_tdnn,
    "TransformerCore": ref_transformer,
    "PlasticRNN": ref_plastic_rnn,
    "NeuromodRNN": ref_plastic_rnn,
    "PlasticLSTM": ref_plastic_lstm,
    "NeuromodLSTM": ref_plastic_lstm,
}


def ref_params(core, params):
    if isinstance(core, Stacked):
        return [ref_params(c, pc) for c, pc in zip(core.cores, params.layers)]
    if type(core).__name__ == "TDNN":
        return [np_params(layer) for layer in params.layers]
    if type(core).__name__ == "TransformerCore":  # nested NamedTuples, read by np_transformer
        return params
    return np_params(params)


def ref_run(core, params, xs, resets=None):
    """hs (T, out) from the NumPy reference, restarting the state where resets[t]."""
    p, s, hs = ref_params(core, params), ref_state(core), []
    for t, x in enumerate(np.asarray(xs, np.float64)):
        if resets is not None and resets[t]:
            s = ref_state(core)
        s, h = ref_step(core, p, s, x)
        hs.append(h)
    return np.stack(hs)


# ---------------------------------------------------------------- cases


def stack(d, n, dtype):
    return Stacked((make_core("neuromod-rnn", d, n + 1, dtype=dtype), make_core("lstm", n + 1, 2, dtype=dtype)))


# id -> builder(d, n, dtype). One per registered name, plus option variants.
CASES = {
    "elman": lambda d, n, dt: make_core("elman", d, n, dtype=dt),
    "jordan": lambda d, n, dt: make_core("jordan", d, n, dtype=dt, output_size=2),
    "jordan-teacher": lambda d, n, dt: make_core("jordan", d, n, dtype=dt, output_size=2, teacher_forcing=True),
    "lstm": lambda d, n, dt: make_core("lstm", d, n, dtype=dt),
    "peephole-lstm": lambda d, n, dt: make_core("peephole-lstm", d, n, dtype=dt),
    "gru": lambda d, n, dt: make_core("gru", d, n, dtype=dt),
    "multiplicative": lambda d, n, dt: make_core("multiplicative", d, n, dtype=dt),
    "esn": lambda d, n, dt: make_core("esn", d, n, dtype=dt, leak_rate=0.6, density=0.5),
    "tdnn": lambda d, n, dt: make_core("tdnn", d, n, dtype=dt, window="3,2", stride=2),
    "transformer": lambda d, n, dt: make_core("transformer", d, n, dtype=dt, heads=2, layers=2, context=2),
    "plastic-rnn": lambda d, n, dt: make_core("plastic-rnn", d, n, dtype=dt),
    "neuromod-rnn": lambda d, n, dt: make_core("neuromod-rnn", d, n, dtype=dt),
    "neuromod-rnn-simple": lambda d, n, dt: make_core("neuromod-rnn", d, n, dtype=dt, modulation="simple"),
    "plastic-lstm": lambda d, n, dt: make_core("plastic-lstm", d, n, dtype=dt),
    "neuromod-lstm": lambda d, n, dt: make_core("neuromod-lstm", d, n, dtype=dt),
    "neuromod-lstm-simple": lambda d, n, dt: make_core("neuromod-lstm", d, n, dtype=dt, modulation="simple", squash="sigmoid"),
    "stack": stack,
}
# Option variants checked against the reference only.
VARIANTS = {
    "elman-relu": lambda d, n, dt: make_core("elman", d, n, dtype=dt, activation="relu"),
    "jordan-sigmoid": lambda d, n, dt: make_core("jordan", d, n, dtype=dt, output_size=1, activation="sigmoid"),
    "multiplicative-linear": lambda d, n, dt: make_core("multiplicative", d, n, dtype=dt, f="linear", g="relu"),
    "plastic-rnn-decay-neuron": lambda d, n, dt: make_core("plastic-rnn", d, n, dtype=dt, rule="decay", alpha="neuron"),
    "plastic-rnn-oja-single": lambda d, n, dt: make_core("plastic-rnn", d, n, dtype=dt, rule="oja", alpha="single"),
    "plastic-lstm-decay-neuron": lambda d, n, dt: make_core("plastic-lstm", d, n, dtype=dt, rule="decay", alpha="neuron"),
    "plastic-lstm-oja-single": lambda d, n, dt: make_core("plastic-lstm", d, n, dtype=dt, rule="oja", alpha="single"),
    "neuromod-lstm-linear-neuron": lambda d, n, dt: make_core("neuromod-lstm", d, n, dtype=dt, squash="linear", alpha="neuron"),
    "tdnn-3-layers-sigmoid": lambda d, n, dt: make_core("tdnn", d, n, dtype=dt, window=2, layers=3, stride="2,3",
                                                        activation="sigmoid"),
    "tdnn-1-layer-relu": lambda d, n, dt: make_core("tdnn", d, n, dtype=dt, window=4, activation="relu"),
}
D, N, T = 3, 4, 6


def in_size(core):
    return getattr(core, "step_input_size", core.input_size)


def random_params(core, seed, scale=1.0):
    """Parameters with every entry U(-scale, scale), so plasticity and gates all matter.

    The structure comes from ``jax.eval_shape(core.init)``; values from a seeded NumPy
    Generator (cheap: nothing is compiled per shape)."""
    structure = jax.eval_shape(core.init, jax.random.key(0))
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: jnp.asarray(rng.uniform(-scale, scale, s.shape), s.dtype), structure)


def random_xs(core, seed, steps=T, batch=()):
    rng = np.random.default_rng(seed + 1000)
    return jnp.asarray(rng.normal(size=(*batch, steps, in_size(core))), core.jdtype)


def test_every_registered_core_is_covered():
    names = {case.removesuffix("-teacher").removesuffix("-simple") for case in CASES} - {"stack"}
    assert names == set(CORES)


def check_against_reference(builder, d, n, steps, seed):
    core = builder(d, n, "float64")
    params, xs = random_params(core, seed), random_xs(core, seed, steps)
    _, hs = scan_core(core, params, xs)
    np.testing.assert_allclose(np.asarray(hs), ref_run(core, params, xs), rtol=0, atol=1e-12)


SIZES = {"d": st.integers(1, 3), "n": st.integers(1, 4), "steps": st.integers(1, 5), "seed": st.integers(0, 2**16)}


@pytest.mark.slow
@settings(max_examples=2, deadline=None)
@given(**SIZES)
@pytest.mark.parametrize("case", CASES)
def test_matches_numpy_reference(case, d, n, steps, seed):
    check_against_reference(CASES[case], d, n, steps, seed)


@settings(max_examples=1, deadline=None)
@given(**SIZES)
@pytest.mark.parametrize("case", VARIANTS)
def test_option_variants_match_numpy_reference(case, d, n, steps, seed):
    check_against_reference(VARIANTS[case], d, n, steps, seed)


def runs_with_reset(core, params, xs, k):
    """(carry, hs) with a reset at step k; a fresh run on xs[k:]; hs without any reset."""
    resets = jnp.zeros((xs.shape[0],), bool).at[k].set(True)
    return scan_core(core, params, xs, resets=resets), scan_core(core, params, xs[k:]), scan_core(core, params, xs)[1]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_scan_equals_loop_and_resets_start_fresh(case):
    core, k = CASES[case](D, N, "float64"), 3
    params, xs = random_params(core, 1), random_xs(core, 1)
    (carry, hs), (fresh_carry, fresh_hs), hs_no_reset = jax.jit(runs_with_reset, static_argnums=(0, 3))(core, params, xs, k)
    resets = np.arange(T) == k
    loop_carry, loop_hs = loop_core(core, params, xs, resets=resets)
    np.testing.assert_allclose(hs, loop_hs, rtol=0, atol=1e-13)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-13), loop_carry, carry)
    np.testing.assert_allclose(hs, ref_run(core, params, xs, resets), rtol=0, atol=1e-12)
    # From the reset on, outputs and the whole final carry (traces included) are a fresh run's.
    np.testing.assert_allclose(hs[k:], fresh_hs, rtol=0, atol=1e-14)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-14), carry, fresh_carry)
    # ...while without the reset the first steps do change them (the check can fail).
    assert not np.allclose(hs_no_reset[k:], fresh_hs, atol=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_jit_vmap_batch_matches_each_example_without_retrace(case):
    core = CASES[case](D, N, "float64")
    traces = []

    @jax.jit
    def run(params, xs):
        traces.append(1)  # Python side effect: runs once per trace
        return jax.vmap(lambda x: scan_core(core, params, x)[1])(xs)

    for seed in (2, 3):  # new values, same shapes: one trace
        params, xs = random_params(core, seed), random_xs(core, seed, batch=(3,))
        hs = run(params, xs)
        for b in range(3):
            np.testing.assert_allclose(hs[b], ref_run(core, params, xs[b]), rtol=0, atol=1e-12)
    assert len(traces) == 1


@pytest.mark.parametrize("case", CASES)
def test_float32_and_float64(case):
    """float32 end to end, within float32 accuracy of the float64 reference."""
    core = CASES[case](D, N, "float32")
    params, xs = random_params(core, 3, 0.5), random_xs(core, 3)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves((params, core.initial_carry())))
    carry, hs = jax.jit(lambda p, x: scan_core(core, p, x))(params, xs)
    assert hs.dtype == jnp.float32 and all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(carry))
    ref = ref_run(CASES[case](D, N, "float64"), jax.tree.map(lambda a: a.astype(jnp.float64), params), xs)
    np.testing.assert_allclose(hs, ref, rtol=0, atol=1e-4)
    core64 = CASES[case](D, N, "float64")
    leaves64 = jax.tree.leaves((jax.eval_shape(core64.init, jax.random.key(0)), core64.initial_carry()))
    assert all(leaf.dtype == jnp.float64 for leaf in leaves64)  # (float64 outputs: the tests above)


def grads_three_ways(core, params, xs, w, eps=1e-6):
    """(reverse-mode grad, forward-mode jacfwd, central finite difference along all-ones)."""

    def loss(p, x):
        return jnp.sum(w * scan_core(core, p, x)[1])

    rev = jax.grad(loss, argnums=(0, 1))(params, xs)
    fwd = jax.jacfwd(loss, argnums=(0, 1))(params, xs)
    shifted = [loss(jax.tree.map(lambda a, s=s: a + s * eps, params), xs) for s in (1.0, -1.0)]
    return rev, fwd, (shifted[0] - shifted[1]) / (2 * eps)


# jacfwd and finite differences through every core: the cheap cores here, the ones over ~6 s in the slow tier
JACFWD_SLOW = {"lstm", "peephole-lstm", "gru", "esn", "plastic-rnn", "neuromod-rnn", "plastic-lstm", "neuromod-lstm",
               "neuromod-lstm-simple", "stack", "transformer"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in JACFWD_SLOW else c for c in CASES])
def test_grad_equals_jacfwd(case):
    core = CASES[case](D, N, "float64")
    params, xs = random_params(core, 4, 0.5), random_xs(core, 4, steps=4)
    w = jnp.asarray(np.random.default_rng(5).normal(size=(4, core.output_size)))
    rev, fwd, fd = jax.jit(grads_three_ways, static_argnums=0)(core, params, xs, w)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12), rev, fwd)
    directional = sum(jnp.sum(g) for g in jax.tree.leaves(rev[0]))
    np.testing.assert_allclose(directional, fd, rtol=1e-6, atol=1e-7)


BAD_OPTIONS = {
    "elman": {"activation": "softsign"},
    "jordan": {"activation": "gelu"},
    "lstm": {"forget_bias": float("nan")},
    "multiplicative": {"g": "cube"},
    "esn": {"leak_rate": 0.0},
    "tdnn": {"window": 0},
    "transformer": {"positions": "rotary"},
    "plastic-rnn": {"rule": "bcm"},
    "neuromod-rnn": {"modulation": "delayed"},
    "plastic-lstm": {"alpha": "synapse"},
    "neuromod-lstm": {"squash": "relu"},
}


@pytest.mark.parametrize("name", sorted(CORES))
def test_clear_errors(name):
    with pytest.raises(PlastixError, match="hidden_size"):
        make_core(name, 2, 0)
    with pytest.raises(PlastixError, match="input_size"):
        make_core(name, 0, 2)
    with pytest.raises(PlastixError, match="dtype"):
        make_core(name, 2, 3, dtype="float16")
    core = make_core(name, 2, 3)
    with pytest.raises(PlastixError, match=r"\(T, 2\)"):
        core.check_input(jnp.zeros((5, 3)))
    with pytest.raises(PlastixError):
        core.check_input(jnp.zeros((2,)))
    core.check_input(jnp.zeros((5, 2)))  # the right shape passes
    if name in BAD_OPTIONS:
        (option, value), = BAD_OPTIONS[name].items()
        with pytest.raises(PlastixError, match=option):
            make_core(name, 2, 3, **{option: value})
    with pytest.raises(PlastixError, match="unknown core"):
        make_core(name + "x", 2, 3)
