"""The time-delay core (plastix.cores.tdnn): the step-by-step core against whole-sequence NumPy
convolutions (dilated, and sub-sampled: computed only every stride steps), its receptive field,
gradients (BPTT = RTRL = finite differences), and its use by the supervised and RL trainers."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tyro

from plastix.cli.grads import CheckGradsArgs
from plastix.cores import make_core, scan_core
from plastix.cores.tdnn import TDNN
from plastix.errors import PlastixError
from plastix.grads import SeqModel, bptt
from plastix.grads.base import Batch
from plastix.grads.check import check_grads
from plastix.grads.rtrl import rtrl


def params_np(params):
    return [(np.asarray(layer.W, np.float64), np.asarray(layer.b, np.float64)) for layer in params.layers]


def conv_layer(xs, W, b, dilation, f=np.tanh):
    """A causal dilated convolution over a whole sequence, zero-padded in front:
    out[t] = f(Σ_j W[j] xs[t − j·dilation] + b). xs (T, m), W (D, n, m) -> (T, n)."""
    D, T = W.shape[0], xs.shape[0]
    padded = np.concatenate([np.zeros(((D - 1) * dilation, xs.shape[1])), xs])
    start = (D - 1) * dilation
    taps = np.stack([padded[start - j * dilation: start - j * dilation + T] for j in range(D)])  # (D, T, m)
    return f(np.einsum("jnm,jtm->tn", W, taps) + b)


def np_dilated(core, params, xs):
    """The whole network as dilated convolutions, layer after layer (δ_{k+1} = δ_k s_k)."""
    h, dil = np.asarray(xs, np.float64), 1
    for k, (W, b) in enumerate(params_np(params)):
        h = conv_layer(h, W, b, dil)
        dil *= core.stride[k] if k < len(core.stride) else 1
    return h


def np_subsampled_at(core, params, xs, t):
    """h_t of the *sub-sampled* TDNN: layer k is computed only on a grid of spacing s_1⋯s_k
    ending at t, and layer k + 1 convolves consecutive grid values (a plain, undilated window)."""
    h = np.asarray(xs[: t + 1], np.float64)  # every input, times 0..t
    for k, (W, b) in enumerate(params_np(params)):
        out = conv_layer(h, W, b, 1)  # a plain window over consecutive values of the layer below
        s = core.stride[k] if k < len(core.stride) else 1
        h = out[::-1][::s][::-1]  # keep every s-th output, the grid ending at t
    return h[-1]


CONFIGS = [dict(window=4), dict(window="3,2"), dict(window="3,3", stride=2), dict(window=2, layers=3, stride="3,2")]


@pytest.mark.parametrize("opts", CONFIGS)
def test_step_by_step_equals_the_sliding_window_convolution(opts):
    core = make_core("tdnn", 2, 3, dtype="float64", **opts)
    params = core.init(jax.random.PRNGKey(0))
    xs = jax.random.normal(jax.random.PRNGKey(1), (17, 2), jnp.float64)
    _, hs = jax.jit(lambda p, x: scan_core(core, p, x))(params, xs)
    np.testing.assert_allclose(hs, np_dilated(core, params, xs), rtol=0, atol=1e-12)
    for t in (0, 5, 11, 16):  # the documented claim: the same values as the sub-sampled network
        np.testing.assert_allclose(hs[t], np_subsampled_at(core, params, xs, t), rtol=0, atol=1e-12)


def test_episode_resets_restart_the_convolution():
    core = make_core("tdnn", 2, 3, dtype="float64", window="3,3", stride=2)
    params = core.init(jax.random.PRNGKey(2))
    xs = jax.random.normal(jax.random.PRNGKey(3), (14, 2), jnp.float64)
    resets = jnp.zeros((14,), bool).at[6].set(True)
    _, hs = scan_core(core, params, xs, resets=resets)
    np.testing.assert_allclose(hs[:6], np_dilated(core, params, xs[:6]), atol=1e-12)
    np.testing.assert_allclose(hs[6:], np_dilated(core, params, xs[6:]), atol=1e-12)
    assert not np.allclose(hs[6:], np_dilated(core, params, xs)[6:], atol=1e-6)  # the check can fail


def influencing_lags(core, T=30):
    """{lag L : ∂h_{T−1}/∂x_{T−1−L} ≠ 0}, from the Jacobian of the core with random weights."""
    params = core.init(jax.random.PRNGKey(4))
    xs = jax.random.normal(jax.random.PRNGKey(5), (T, core.input_size), jnp.float64)
    jac = jax.jacrev(lambda x: scan_core(core, params, x)[1][-1])(xs)  # (n, T, d)
    nonzero = np.any(np.asarray(jac) != 0, axis=(0, 2))
    return {T - 1 - t for t in np.flatnonzero(nonzero)}


@pytest.mark.parametrize("opts,lags", [
    (dict(window=4), set(range(4))),
    (dict(window="3,3"), set(range(5))),  # R = 1 + 2 + 2
    (dict(window="3,3", stride=2), set(range(7))),  # {0,1,2} + {0,2,4}: R = 1 + 2 + 4
    (dict(window="2,2", stride=3), {0, 1, 3, 4}),  # a stride longer than the window skips inputs
])
def test_receptive_field(opts, lags):
    core = make_core("tdnn", 1, 2, dtype="float64", **opts)
    assert influencing_lags(core) == lags
    assert core.receptive_field == max(lags) + 1


@pytest.mark.parametrize("opts", [dict(window="3,2"), dict(window="3,2", stride=2)])
def test_check_grads_bptt_rtrl_finite_differences(opts):
    result = check_grads("tdnn", hidden=3, steps=10, input_size=2, **opts)
    assert result["ok"], result["max_rel_err"]
    assert set(result["max_rel_err"]) == {"rtrl", "truncated-bptt", "finite-diff"}
    assert result["fd_coords"] == result["n_params"]  # every coordinate checked


@pytest.mark.parametrize("flag", ["--core-opt", "--opt"])  # train's spelling, and the earlier short one
def test_check_grads_command_with_sub_sampling(capsys, flag):
    args = tyro.cli(CheckGradsArgs, args=["--core", "tdnn", "--hidden", "2", "--steps", "9", "--json",
                                          flag, "window=2,3", "stride=3"])
    assert args.run() == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["max_rel_err"]["rtrl"] < 1e-8 and result["max_rel_err"]["finite-diff"] < 1e-5
    assert (args.core_opt + args.opt) == ("window=2,3", "stride=3")  # under either name, the options reach the core


def test_rtrl_equals_bptt_three_layers():
    core = make_core("tdnn", 2, 2, dtype="float64", window=2, layers=3, stride="2,2")
    model = SeqModel(core, 1, loss="mse")
    params = model.init(jax.random.PRNGKey(6))
    k1, k2 = jax.random.split(jax.random.PRNGKey(7))
    batch = Batch(jax.random.normal(k1, (9, 2), jnp.float64), jax.random.normal(k2, (9, 1), jnp.float64),
                  jnp.ones((9,), jnp.float64), jnp.arange(9) == 4)
    l_ref, g_ref = bptt().value_and_grad(model, params, batch)
    loss, g = rtrl().value_and_grad(model, params, batch)
    np.testing.assert_allclose(loss, l_ref, rtol=1e-12)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), g, g_ref)


def test_options_and_errors():
    core = make_core("tdnn", 2, 3, window="3,5", stride=2)
    assert (core.window, core.layers, core.stride, core.dilations, core.receptive_field) == ((3, 5), 2, (2,), (1, 2), 11)
    assert make_core("tdnn", 2, 3, window=2, layers=3, stride=2).stride == (2, 2)
    shapes = [leaf.shape for leaf in jax.tree.leaves(core.initial_carry())]
    assert shapes == [(2, 2), (8, 3)]  # (D−1)δ past inputs per layer
    with pytest.raises(PlastixError, match="window"):
        make_core("tdnn", 2, 3, window="3,x")
    with pytest.raises(PlastixError, match="layers=3"):
        make_core("tdnn", 2, 3, window="3,5", layers=3)
    with pytest.raises(PlastixError, match="1-layer"):
        make_core("tdnn", 2, 3, window=3, stride=2)
    with pytest.raises(PlastixError, match="needs 2 values"):
        make_core("tdnn", 2, 3, window="3,3,3", stride="2,2,2")
    with pytest.raises(PlastixError, match="activation"):
        make_core("tdnn", 2, 3, activation="gelu")
    assert isinstance(make_core("tdnn", 2, 3), TDNN)


def test_supervised_trainer_runs_a_tdnn():
    from plastix.train.supervised import SupervisedConfig, make_trainer

    config = SupervisedConfig(task="adding", core="tdnn", hidden=4, seq_len=8, batch_size=4, num_updates=4,
                              updates_per_log=2, eval_batch_size=8, core_options=(("window", "1,4"),))
    trainer = make_trainer(config)
    state, metrics = jax.jit(trainer.train)(jax.random.PRNGKey(0))
    assert metrics["step"].tolist() == [8, 16]
    assert np.all(np.isfinite(metrics["charts/eval_metric"]))
    assert state.params.core.layers[1].W.shape == (4, 4, 4)  # window 4 over 4 hidden units


def test_rl_agent_with_a_tdnn_core_resets_its_delay_line():
    from plastix.rl.agent import ActorCritic, agent_core_names, make_agent_core

    assert "tdnn" in agent_core_names()
    agent = ActorCritic(make_agent_core("tdnn", 3, 4, window="2,2"), num_actions=2)
    params = agent.init(jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
    carry = agent.initial_carry()
    for t in range(5):
        carry, out = agent.act(params, carry, obs[t], jnp.asarray(t == 3))
    # after the episode start at t = 3 the agent acts as a fresh one on obs[3:]
    fresh = agent.initial_carry()
    for t in (3, 4):
        fresh, fresh_out = agent.act(params, fresh, obs[t], jnp.asarray(t == 3))
    np.testing.assert_allclose(out.logits, fresh_out.logits, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), carry, fresh)


@pytest.mark.slow
def test_train_command_with_tdnn(tmp_path):
    from plastix.cli import main

    out = tmp_path / "run"
    code = main(["train", "adding", "--core", "tdnn", "--core-opt", "window=1,5", "stride=1", "--hidden", "4",
                 "--seq-len", "10", "--total-steps", "64", "--batch-size", "16", "--out", str(out), "--quiet",
                 "--no-plot"])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["resolved"]["core"] == "tdnn"


@pytest.mark.slow
def test_a2c_command_with_tdnn(tmp_path):
    from plastix.cli import main

    out = tmp_path / "rl"
    code = main(["train", "cue-reward", "--preset", "quick", "--core", "tdnn", "--core-opt", "window=4,4", "stride=2",
                 "--hidden", "8", "--total-steps", "1200", "--out", str(out), "--quiet", "--no-plot"])
    assert code == 0
    assert json.loads((out / "config.json").read_text())["config"]["resolved"]["core"] == "tdnn"
