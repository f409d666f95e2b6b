"""Plastic and neuromodulated cores (Miconi et al. 2018, 2019): update rules by hand, α shapes, the
retroactive ordering, clipping. The generic checks (NumPy reference, resets, grads) are in
test_cores.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cores import make_core, scan_core
from plastix.cores.lstm import F, G
from plastix.cores.plastic import hebbian_update
from plastix.errors import PlastixError

# Hand-computed example: post = (0.5, -0.2), pre = (0.3, 0.9), rate 0.5,
# Hebb = [[0.95, -0.1], [0.2, 0.0]], so post ⊗ pre = [[0.15, 0.45], [-0.06, -0.18]].
POST, PRE, RATE = np.array([0.5, -0.2]), np.array([0.3, 0.9]), 0.5
HEBB = np.array([[0.95, -0.1], [0.2, 0.0]])
EXPECTED = {
    # Hebb + 0.5 outer = [[1.025, 0.125], [0.17, -0.09]], then clip to [-1, 1].
    "clip": [[1.0, 0.125], [0.17, -0.09]],
    # 0.5 Hebb + 0.5 outer.
    "decay": [[0.55, 0.175], [0.07, -0.09]],
    # Hebb_ij + 0.5 post_i (pre_j - post_i Hebb_ij): e.g. 0.95 + 0.25 (0.3 - 0.475) = 0.90625.
    "oja": [[0.90625, 0.1375], [0.166, -0.09]],
}


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_hebbian_rules_by_hand(rule):
    new = hebbian_update(rule, jnp.asarray(HEBB), jnp.asarray(RATE), jnp.asarray(POST), jnp.asarray(PRE))
    np.testing.assert_allclose(new, EXPECTED[rule], rtol=0, atol=1e-15)


def zeroed(params):
    return jax.tree.map(jnp.zeros_like, params)


@pytest.mark.parametrize("rule", sorted(EXPECTED))
@pytest.mark.parametrize("name", ["plastic-rnn", "plastic-lstm"])
def test_core_step_applies_rule(name, rule):
    """With zero weights and b = atanh(post), the post-synaptic activity (h_t for the RNN,
    g_t for the LSTM) is POST; the carry's h_{t-1} is PRE; α = 0 so Hebb does not act."""
    core = make_core(name, 1, 2, dtype="float64", rule=rule)
    params = zeroed(core.init(jax.random.key(0)))._replace(eta=jnp.asarray(RATE))
    bias = jnp.arctanh(jnp.asarray(POST))
    params = params._replace(b=bias) if name == "plastic-rnn" else params._replace(b=params.b.at[G].set(bias))
    carry = core.initial_carry()._replace(h=jnp.asarray(PRE), hebb=jnp.asarray(HEBB))
    new, _ = core.step(params, carry, jnp.zeros((1,)))
    np.testing.assert_allclose(new.hebb, EXPECTED[rule], rtol=0, atol=1e-14)


@pytest.mark.parametrize("kind", ["connection", "neuron", "single"])
@pytest.mark.parametrize("name", ["plastic-rnn", "neuromod-rnn", "plastic-lstm", "neuromod-lstm"])
def test_alpha_shapes_broadcast(name, kind):
    """Hebb = 1, W = 0, h_{t-1} = e_j: the plastic pre-activation of unit i is α_ij
    (connection), α_i (neuron) or α (single)."""
    n, j = 3, 1
    core = make_core(name, 1, n, dtype="float64", alpha=kind)
    params = zeroed(core.init(jax.random.key(0)))
    shape = {"connection": (n, n), "neuron": (n, 1), "single": (1, 1)}[kind]
    assert params.alpha.shape == shape
    alpha = jnp.arange(1.0, 1.0 + np.prod(shape)).reshape(shape) / 10
    params = params._replace(alpha=alpha)
    expected = np.tanh([float(alpha[min(i, shape[0] - 1), min(j, shape[1] - 1)]) for i in range(n)])
    carry = core.initial_carry()._replace(h=jnp.eye(n)[j], hebb=jnp.ones((n, n)))
    if "rnn" in name:
        got = core.hidden(params, carry, jnp.zeros((1,)))
    else:
        got = core.cell(params, carry, jnp.zeros((1,)))[2]  # g_t
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


@pytest.mark.parametrize("name", ["neuromod-rnn", "neuromod-lstm"])
def test_retroactive_uses_eligibility_before_its_update(name):
    """Two steps from Hebb_0 = E_0 = 0 and h_{-1} ≠ 0, by hand:
    Hebb_1 = clip(M_0 E_0) = 0, E_1 = η post_0 h_{-1}ᵀ;  Hebb_2 = clip(Hebb_1 + M_1 E_1)."""
    core = make_core(name, 1, 2, dtype="float64", modulation="retroactive", squash="linear", eta_param="raw")
    params = core.init(jax.random.key(3))._replace(eta=jnp.asarray(0.4), b_M=jnp.asarray(0.3))  # η = θ = 0.4
    p = {k: np.asarray(v) for k, v in params._asdict().items()}
    h0, xs = np.array([0.7, -0.5]), np.array([[0.8], [-1.2]])
    carry = core.initial_carry()._replace(h=jnp.asarray(h0))
    post, h, c = [], h0, np.zeros(2)
    for x in xs:  # Hebb stays 0 for both steps, so each step is the fixed network's
        if name == "neuromod-rnn":
            h = np.tanh(p["W_in"] @ x + p["W"] @ h + p["b"])
            post.append(h)
        else:
            a = p["Wx"] @ x + p["Wh"] @ h + p["b"]  # (4, n): i, f, g, o
            g = np.tanh(a[2])
            c = sig(a[1]) * c + sig(a[0]) * g
            h = sig(a[3]) * np.tanh(c)
            post.append(g)
        m_last = p["w_M"] @ h + p["b_M"]
    E1 = 0.4 * np.outer(post[0], h0)
    expected = np.clip(m_last * E1, -1, 1)
    for x in xs:
        carry, _ = core.step(params, carry, jnp.asarray(x))
    np.testing.assert_allclose(carry.hebb, expected, rtol=1e-12, atol=1e-14)
    # Using E_2 (after its update) instead would give a different matrix.
    assert not np.allclose(np.clip(m_last * np.asarray(carry.E), -1, 1), expected, atol=1e-3)


def hebb_trajectory(core, params, xs):
    """Hebb_t for t = 1..T: (T, n, n)."""

    def body(carry, x):
        carry, _ = core.step(params, carry, x)
        return carry, carry.hebb

    return jax.lax.scan(body, core.initial_carry(), xs)[1]


@pytest.mark.parametrize(
    "name,options",
    [
        ("plastic-rnn", {}),
        ("neuromod-rnn", {"modulation": "simple", "squash": "linear"}),
        ("neuromod-rnn", {"squash": "linear"}),
        ("plastic-lstm", {}),
        ("neuromod-lstm", {"modulation": "simple", "squash": "linear"}),
        ("neuromod-lstm", {"squash": "linear"}),
    ],
)
def test_clipping_keeps_hebb_in_unit_box(name, options):
    core = make_core(name, 2, 3, dtype="float64", **options)
    params = core.init(jax.random.key(1))
    params = params._replace(eta=jnp.asarray(0.9 if "modulation" in options or "neuromod" in name else 3.0))
    if params.w_M is not None:
        params = params._replace(w_M=10 * params.w_M, b_M=jnp.asarray(4.0))
    xs = 3 * jax.random.normal(jax.random.key(2), (40, 2), jnp.float64)
    hebbs = jax.jit(hebb_trajectory, static_argnums=0)(core, params, xs)
    assert float(jnp.max(jnp.abs(hebbs))) <= 1.0
    assert float(jnp.max(jnp.abs(hebbs))) == 1.0  # the clip was active, so the bound was tested


def test_plastic_lstm_init_and_options():
    core = make_core("neuromod-lstm", 2, 3, alpha="neuron", eta_init=0.25, alpha_init=0.5, forget_bias=2.0)
    params = core.init(jax.random.key(0))
    np.testing.assert_array_equal(params.b[F], 2.0)
    np.testing.assert_array_equal(params.b.at[F].set(0.0), 0.0)
    assert params.eta == 0.25 and params.alpha.shape == (3, 1)
    assert 0.0 <= float(jnp.min(params.alpha)) and float(jnp.max(params.alpha)) <= 0.5
    carry = core.initial_carry()
    assert float(jnp.abs(carry.hebb).sum() + jnp.abs(carry.E).sum()) == 0.0  # traces start at zero
    assert make_core("neuromod-lstm", 2, 3, modulation="simple").initial_carry().E is None
    lstm = make_core("lstm", 2, 3, forget_bias=1.5).init(jax.random.key(0))
    np.testing.assert_array_equal(lstm.b, jnp.zeros((4, 3)).at[F].set(1.5))
    with pytest.raises(PlastixError, match="clip"):
        make_core("neuromod-lstm", 2, 3, rule="oja")
    with pytest.raises(PlastixError, match="eta_init"):
        make_core("plastic-lstm", 2, 3, eta_init=float("inf"))


def test_plastic_lstm_gradient_flows_into_alpha_and_eta():
    """∂L/∂α and ∂L/∂η are nonzero once Hebb is nonzero (plasticity is trained by BPTT)."""
    core = make_core("plastic-lstm", 2, 3, dtype="float64")
    params = core.init(jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (5, 2), jnp.float64)
    grads = jax.grad(lambda p: jnp.sum(scan_core(core, p, xs)[1] ** 2))(params)
    assert float(jnp.abs(grads.alpha).max()) > 0 and float(jnp.abs(grads.eta)) > 0


def test_neuromod_rnn_starts_its_eligibility_rate_at_one_half_and_plastic_rnn_at_a_tenth():
    """neuromod-rnn's default η_init is 0.5 (θ₀ = logit(0.5) = 0 under η = sigmoid(θ)); the
    released configuration and plastic-rnn keep 0.1 (docs/reproduction.md, the stability runs)."""
    import jax

    from plastix.cores import make_core
    from plastix.rl.released import released_config

    neuromod = make_core("neuromod-rnn", 3, 4)
    params = neuromod.init(jax.random.PRNGKey(0))
    assert (neuromod.eta_param, neuromod.eta_init) == ("sigmoid", 0.5)
    assert float(params.eta) == 0.0 and float(neuromod.rate(params)) == 0.5
    plastic = make_core("plastic-rnn", 3, 4)
    assert float(plastic.rate(plastic.init(jax.random.PRNGKey(0)))) == pytest.approx(0.1)
    assert dict(released_config("cue-reward").core_options)["eta_init"] == 0.1
