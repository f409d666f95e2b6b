"""Bring your own core (docs/your-own-parts.md): any object with init / initial_carry / step is
accepted wherever a core name is, and Flax / Equinox cells are adapted to plastix cores.

Reference computations: the Flax cells against the GRU (Cho et al. 2014) and LSTM (Hochreiter &
Schmidhuber 1997, with a forget gate, Gers et al. 2000) equations written in NumPy below, with
Flax's parameter layout (``Dense``: y = x @ kernel + bias); RTRL against BPTT in float64.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cores import Elman, LinenCell, NNXCell, ProtocolCore, as_core, make_core, scan_core
from plastix.errors import PlastixError
from plastix.grads import SeqModel, make_batch, make_grad_method
from plastix.rl.agent import ActorCritic
from plastix.train.supervised import SupervisedConfig, make_trainer, seed_keys


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_params(params):
    return jax.tree.map(np.asarray, params)["params"]


def numpy_gru(p, xs, n):
    """Flax's GRU: r = σ(x W_ir + b_ir + h W_hr), z = σ(x W_iz + b_iz + h W_hz),
    ñ = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn)), h' = (1 − z) ⊙ ñ + z ⊙ h (Cho et al. 2014, eqs. 5–8)."""
    h, out = np.zeros(n), []
    for x in xs:
        r = sigmoid(x @ p["ir"]["kernel"] + p["ir"]["bias"] + h @ p["hr"]["kernel"])
        z = sigmoid(x @ p["iz"]["kernel"] + p["iz"]["bias"] + h @ p["hz"]["kernel"])
        cand = np.tanh(x @ p["in"]["kernel"] + p["in"]["bias"] + r * (h @ p["hn"]["kernel"] + p["hn"]["bias"]))
        h = (1.0 - z) * cand + z * h
        out.append(h)
    return np.stack(out)


def numpy_lstm(p, xs, n):
    """Flax's LSTM: gate_k = act(x W_ik + h W_hk + b_hk) for k = i, f, o (σ) and g (tanh);
    c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c')."""
    h, c, out = np.zeros(n), np.zeros(n), []
    for x in xs:
        gate = {k: x @ p[f"i{k}"]["kernel"] + h @ p[f"h{k}"]["kernel"] + p[f"h{k}"]["bias"] for k in "ifgo"}
        c = sigmoid(gate["f"]) * c + sigmoid(gate["i"]) * np.tanh(gate["g"])
        h = sigmoid(gate["o"]) * np.tanh(c)
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize("cell, reference", [(nn.GRUCell(features=5), numpy_gru), (nn.LSTMCell(features=5), numpy_lstm)])
def test_linen_cell_equals_numpy_equations(cell, reference):
    core = LinenCell.wrap(cell, 3, dtype="float64")
    params = core.init(jax.random.PRNGKey(1))
    xs = jax.random.normal(jax.random.PRNGKey(2), (7, 3), jnp.float64)
    _, hs = jax.jit(lambda p, x: scan_core(core, p, x))(params, xs)
    np.testing.assert_allclose(np.asarray(hs), reference(numpy_params(params), np.asarray(xs), 5), rtol=1e-12, atol=1e-12)
    # under vmap too: a batch of 2 sequences equals each one alone
    batch = jnp.stack([xs, -xs])
    hs_b = jax.vmap(lambda x: scan_core(core, params, x)[1])(batch)
    np.testing.assert_allclose(np.asarray(hs_b[1]), reference(numpy_params(params), -np.asarray(xs), 5), rtol=1e-12)


def test_equinox_gru_equals_numpy_equations():
    eqx = pytest.importorskip("equinox")
    from plastix.cores import EquinoxCell

    core = EquinoxCell.wrap(lambda key: eqx.nn.GRUCell(3, 4, key=key), 3, dtype="float64")
    params = core.init(jax.random.PRNGKey(3))
    xs = jax.random.normal(jax.random.PRNGKey(4), (6, 3), jnp.float64)
    _, hs = scan_core(core, params, xs)
    # Equinox's GRU: [i_r, i_z, i_n] = W_ih x + b, [h_r, h_z, h_n] = W_hh h;
    # r = σ(i_r + h_r), z = σ(i_z + h_z), ñ = tanh(i_n + r ⊙ (h_n + b_n)), h' = (1 − z) ⊙ ñ + z ⊙ h
    w_ih, w_hh, b, b_n = (np.asarray(a) for a in (params.weight_ih, params.weight_hh, params.bias, params.bias_n))
    h, ref = np.zeros(4), []
    for x in np.asarray(xs):
        i_r, i_z, i_n = np.split(w_ih @ x + b, 3)
        h_r, h_z, h_n = np.split(w_hh @ h, 3)
        r, z = sigmoid(i_r + h_r), sigmoid(i_z + h_z)
        h = (1 - z) * np.tanh(i_n + r * (h_n + b_n)) + z * h
        ref.append(h)
    np.testing.assert_allclose(np.asarray(hs), np.stack(ref), rtol=1e-12, atol=1e-12)


def adapted_cores():
    cores = [LinenCell.wrap(nn.LSTMCell(features=4), 3, dtype="float64"),
             LinenCell.wrap(nn.GRUCell(features=4), 3, dtype="float64")]
    from flax import nnx

    cores.append(NNXCell.wrap(lambda rngs: nnx.GRUCell(3, 4, rngs=rngs), 3, 4, dtype="float64"))
    try:
        import equinox as eqx
        from plastix.cores import EquinoxCell

        cores.append(EquinoxCell.wrap(lambda key: eqx.nn.LSTMCell(3, 4, key=key), 3, dtype="float64"))
    except ImportError:
        pass
    return cores


@pytest.mark.slow
@pytest.mark.parametrize("core", adapted_cores(), ids=lambda c: f"{type(c).__name__}")
def test_rtrl_and_truncated_equal_bptt_on_adapted_cells(core):
    model = SeqModel(core, 2, "mse")
    params = model.init(jax.random.PRNGKey(0))
    k1, k2 = jax.random.split(jax.random.PRNGKey(5))
    resets = jnp.zeros((9,), bool).at[5].set(True)  # an episode start inside the sequence
    batch = make_batch(jax.random.normal(k1, (9, 3), jnp.float64), jax.random.normal(k2, (9, 2), jnp.float64),
                       resets=resets)
    loss_b, g_b = make_grad_method("bptt").value_and_grad(model, params, batch)
    for name in ("rtrl", "truncated-bptt"):
        loss, g = jax.jit(make_grad_method(name).value_and_grad, static_argnums=0)(model, params, batch)
        np.testing.assert_allclose(float(loss), float(loss_b), rtol=1e-12)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_b), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12)
    # the gradient itself is right: a central finite difference along a random direction
    flat = jax.tree.leaves(g_b.core)[0]
    direction = jax.random.normal(jax.random.PRNGKey(6), flat.shape, flat.dtype)
    eps = 1e-6

    def loss_at(s):
        leaves, tree = jax.tree.flatten(params.core)
        shifted = jax.tree.unflatten(tree, [leaves[0] + s * direction, *leaves[1:]])
        return float(model.sequence_loss(params._replace(core=shifted), batch))

    fd = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    np.testing.assert_allclose(float(jnp.vdot(flat, direction)), fd, rtol=1e-6)


def test_hand_bptt_refuses_an_adapted_cell_and_names_the_cores():
    config = SupervisedConfig(task="adding", grad="hand-bptt", hidden=4, seq_len=5, batch_size=2, num_updates=2,
                              updates_per_log=1, eval_batch_size=2)
    with pytest.raises(PlastixError, match=r"hand-bptt has no hand-derived backward for core 'GRUCell': it needs "
                                           r"one of the plastix cores \['elman', 'peephole-lstm', 'plastic-rnn', "
                                           r"'neuromod-rnn'\].*'rtrl'"):
        make_trainer(config, core=LinenCell.wrap(nn.GRUCell(features=4), 2))


# ---------------------------------------------------------------- a core written here
class LeakyRNN:
    """A leaky-integrator RNN (Jaeger et al. 2007), not a plastix class:
    h_t = ½ h_{t−1} + ½ tanh(W h_{t−1} + U x_t + b)."""

    def __init__(self, input_size, n, dtype=jnp.float32):
        self.input_size, self.n, self.dt = input_size, n, dtype

    def init(self, key):
        kw, ku = jax.random.split(key)
        return {"W": jax.random.normal(kw, (self.n, self.n), self.dt) / self.n**0.5,
                "U": jax.random.normal(ku, (self.n, self.input_size), self.dt), "b": jnp.zeros((self.n,), self.dt)}

    def initial_carry(self):
        return jnp.zeros((self.n,), self.dt)

    def step(self, params, h, x):
        h = 0.5 * h + 0.5 * jnp.tanh(params["W"] @ h + params["U"] @ x + params["b"])
        return h, h


def test_protocol_is_checked_at_the_boundary():
    with pytest.raises(PlastixError, match=r"has no initial_carry, step"):
        as_core(type("Half", (), {"init": lambda self, key: {}})(), 2)
    with pytest.raises(PlastixError, match=r"expects inputs of size 2, but .* size 3"):
        make_core(LeakyRNN(2, 4), 3, 4)

    class Growing(LeakyRNN):
        def step(self, params, h, x):
            return jnp.concatenate([h, h]), h

    with pytest.raises(PlastixError, match=r"step must return a carry with the structure, shapes and dtypes"):
        as_core(Growing(2, 4))
    with pytest.raises(PlastixError, match=r"takes no options"):
        make_core(LeakyRNN(2, 4), 2, 4, activation="tanh")
    core = as_core(LeakyRNN(2, 4))
    assert isinstance(core, ProtocolCore) and (core.input_size, core.output_size, core.dtype) == (2, 4, "float32")
    assert core != as_core(LeakyRNN(2, 4))  # compared by identity of the wrapped object


@pytest.mark.learning
def test_a_core_written_here_trains_on_adding_through_the_supervised_trainer():
    config = SupervisedConfig(task="adding", hidden=16, seq_len=10, batch_size=32, num_updates=300,
                              updates_per_log=100, eval_batch_size=256, lr=1e-2)
    trainer = make_trainer(config, core=LeakyRNN(2, 16))
    _, metrics = jax.jit(trainer.train)(jax.random.PRNGKey(0))
    mse = np.asarray(metrics["charts/eval_metric"])
    # measured: eval MSE 0.026, 0.0074, 0.0044 after 100/200/300 updates (seed 0; 0.0046 and 0.0068
    # for seeds 1, 2); the baseline of a memoryless guess is 1/6
    assert mse[-1] < 0.03 < 1 / 6 and mse[-1] < mse[0]


class Delegating:
    """A plain object whose three methods are those of a plastix Elman core."""

    def __init__(self, core):
        self.core = core
        self.input_size = core.input_size

    def init(self, key):
        return self.core.init(key)

    def initial_carry(self):
        return self.core.initial_carry()

    def step(self, params, carry, x):
        return self.core.step(params, carry, x)


@pytest.mark.slow
def test_an_object_trains_bitwise_like_the_named_core_it_delegates_to():
    """Supervised, a2c and a recurrent DQN: the object (here an Elman behind a plain class) gives
    bitwise the parameters of the same run by name — the object's parameters pass through untouched."""
    from plastix.dqn.config import DQNConfig
    from plastix.dqn.trainer import make_trainer as make_dqn
    from plastix.rl.trainer import RLConfig
    from plastix.rl.trainer import make_trainer as make_rl

    sup = SupervisedConfig(task="adding", core="elman", hidden=6, seq_len=6, batch_size=4, num_updates=4,
                           updates_per_log=2, eval_batch_size=4)
    rl = RLConfig(task="bandit", core="elman", hidden=6, batch_size=4, num_updates=4, updates_per_log=2,
                  grad="bptt", env_settings=(("episode_length", 5),))
    dqn = DQNConfig(task="cartpole", core="elman", hidden=6, burn_in=1, seq_len=2, buffer_size=64, batch_size=4,
                    learning_starts=8, total_steps=16, steps_per_log=8, target_every=4)
    cases = [(make_trainer, sup, lambda s: s.model.core), (make_rl, rl, lambda s: s.agent.core),
             (make_dqn, dqn, lambda s: s.network.core)]
    for make, config, core_of in cases:
        by_name = make(config)
        named = core_of(by_name.setup)
        mine = make(config, core=Delegating(Elman(named.input_size, 6)))
        assert isinstance(named, Elman) and isinstance(core_of(mine.setup), ProtocolCore)
        a = jax.jit(by_name.train)(jax.random.PRNGKey(3))[0].params
        b = jax.jit(mine.train)(jax.random.PRNGKey(3))[0].params
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            assert np.array_equal(np.asarray(x), np.asarray(y)), type(config).__name__


def test_actor_critic_takes_a_flax_cell():
    core = LinenCell.wrap(nn.GRUCell(features=4), 3)
    agent = ActorCritic(core, 2)
    params = agent.init(jax.random.PRNGKey(0))
    carry, out = agent.act(params, agent.initial_carry(), jnp.ones((3,), jnp.float32), jnp.ones((), bool))
    h = core.step(params.core, core.initial_carry(), jnp.ones((3,), jnp.float32))[1]
    np.testing.assert_allclose(np.asarray(out.logits), np.asarray(params.policy.V @ h + params.policy.c), rtol=1e-6)
    assert dataclasses.is_dataclass(agent) and agent.core is core


@pytest.mark.slow
def test_plastix_run_with_a_core_object_resumes_bitwise(tmp_path):
    import shutil

    import plastix
    from plastix import checkpoint

    config = SupervisedConfig(task="adding", hidden=4, seq_len=6, batch_size=4, num_updates=6, updates_per_log=2,
                              eval_batch_size=8)
    cell = LinenCell.wrap(nn.GRUCell(features=4), 2)
    opts = dict(checkpoint_every=1, progress=False, no_plot=True)
    plastix.run(config, core=cell, out=str(tmp_path / "a"), **opts)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for path in checkpoint.list_checkpoints(tmp_path / "b")[1:]:
        shutil.rmtree(path)
    for name in ("params.npz", "metrics.csv"):
        (tmp_path / "b" / name).unlink()
    plastix.run(config, core=LinenCell.wrap(nn.GRUCell(features=4), 2), resume=str(tmp_path / "b"), progress=False,
                no_plot=True)
    assert "resumed from checkpoint" in (tmp_path / "b" / "train.log").read_text()  # continued, not restarted
    assert (tmp_path / "b" / "params.npz").read_bytes() == (tmp_path / "a" / "params.npz").read_bytes()
