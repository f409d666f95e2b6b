"""Backpropamine's released settings (plastix.rl.released): the loss options against NumPy loops
that follow the released sr/srbatch.py, the burn-in, Adam's ε, the initialisation."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from plastix.errors import PlastixError
from plastix.rl.released import RELEASED, released_config, with_core
from plastix.rl.trainer import RLConfig, batch_loss, build_setup, make_trainer, rollout_batch

SMALL64 = RLConfig(task="bandit", preset="meta", env_settings=(("episode_length", 6),), hidden=5, batch_size=3,
                   lr=1e-2, num_updates=6, updates_per_log=2, dtype="float64")


def np_returns(r, gamma):
    g, out = 0.0, np.zeros_like(r)
    for t in reversed(range(len(r))):
        g = r[t] + gamma * g
        out[t] = g
    return out


def test_released_loss_equals_the_released_codes_sums():
    """sr/srbatch.py: loss = Σ_t [bent Σ_b Σ_a y² / BS] − Σ_t Σ_b logπ (R − v_0) / BS + blossv Σ_t Σ_b
    (R − v_0)² / BS, all / eplen, with v_0 = batch element 0's value (its vs[numstepb][0])."""
    config = dataclasses.replace(SMALL64, value_coef=0.2, entropy_coef=0.0, concentration_coef=0.1,
                                 baseline_element0=True)
    setup = build_setup(config)
    params = setup.agent.init(jax.random.PRNGKey(0))
    ro = rollout_batch(setup, params, jax.random.PRNGKey(1))
    parts = batch_loss(config, ro)
    logits, a, v, r = (np.asarray(x) for x in (ro.logits, ro.action, ro.value, ro.reward))
    B, T = r.shape
    loss = 0.0
    for b in range(B):
        z = logits[b] - logits[b].max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        ctr = np_returns(r[b], config.gamma) - v[0]  # element 0's values for every episode
        loss += 0.1 * np.sum(np.exp(logp) ** 2) / B
        loss += -np.sum(logp[np.arange(T), a[b]] * ctr) / B + 0.1 * np.sum(ctr**2) / B  # blossv 0.1, no ½
    np.testing.assert_allclose(float(parts.total), loss / T, rtol=1e-10)
    assert np.any(r != 0) and not np.allclose(v[0], v[1])  # the element-0 baseline differs from the own one


@pytest.mark.slow
def test_burn_in_keeps_parameters_and_adam_state_then_trains():
    config = dataclasses.replace(SMALL64, num_updates=4, updates_per_log=1, burn_in_updates=2)
    trainer = make_trainer(config)
    state0 = trainer.init(jax.random.PRNGKey(0))
    states = [state0]
    for _ in range(3):
        states.append(jax.jit(lambda s: trainer.run(s, 1))(states[-1])[0])
    same = lambda x, y: all(np.array_equal(p, q) for p, q in zip(jax.tree.leaves(x), jax.tree.leaves(y)))  # noqa: E731
    assert same(states[2].params, state0.params) and same(states[2].opt_state, state0.opt_state)
    assert not same(states[3].params, state0.params)
    assert int(states[3].update) == 3


def test_adam_epsilon_reaches_the_optimizer():
    """First Adam step: m̂ = g, v̂ = g², update = −lr g / (|g| + ε); with ε = |g| it halves."""
    config = dataclasses.replace(SMALL64, adam_eps=0.5, clip_norm=None)
    setup = build_setup(config)
    params = {"w": jnp.asarray([0.5, -2.0])}
    grads = {"w": jnp.asarray([0.5, -2.0])}
    updates, _ = setup.optimizer.update(grads, setup.optimizer.init(params), params)
    np.testing.assert_allclose(np.asarray(updates["w"]), -1e-2 * np.asarray([0.5, -2.0]) / (np.abs([0.5, -2.0]) + 0.5),
                               rtol=1e-6)
    default = optax.adam(1e-2)
    assert np.allclose(default.update(grads, default.init(params))[0]["w"], -1e-2 * np.sign([0.5, -2.0]), rtol=1e-6)


def test_released_initialisation():
    """sr/modul.py: w = 0.01·U(0, 1); i2h, h2o, h2v, h2DA are nn.Linear: U(±1/√fan_in) with random biases."""
    config = dataclasses.replace(released_config("cue-reward"), hidden=50)
    agent = build_setup(config).agent
    p = agent.init(jax.random.PRNGKey(0))
    d, n = agent.core.input_size, 50
    W = np.asarray(p.core.W)
    assert W.min() >= 0.0 and W.max() <= 0.01 and W.max() > 0.009
    assert np.abs(p.core.W_in).max() <= 1 / np.sqrt(d) and np.abs(p.core.W_in).max() > 0.9 / np.sqrt(d)
    for bias, bound in ((p.core.b, 1 / np.sqrt(d)), (p.policy.c, 1 / np.sqrt(n)), (p.value.c, 1 / np.sqrt(n)),
                        (p.core.b_M, 1 / np.sqrt(n))):
        b = np.asarray(bias)
        assert np.all(np.abs(b) <= bound) and np.all(b != 0)
    assert float(p.core.eta) == pytest.approx(0.1)
    plain = build_setup(dataclasses.replace(config, core_options=(("modulation", "retroactive"),))).agent
    assert np.all(np.asarray(plain.init(jax.random.PRNGKey(0)).policy.c) == 0)  # plastix: zero biases
    with pytest.raises(PlastixError, match="init_scheme must be one of"):
        build_setup(dataclasses.replace(config, core_options=(("init_scheme", "torch"),)))


def test_released_configs_match_the_released_commands():
    cue, maze = RELEASED["cue-reward"], RELEASED["meta-maze"]
    # sr/README.md command and srbatch.py defaults; maze/README.md command and batch.py
    assert (cue.hidden, cue.lr, cue.adam_eps, cue.clip_norm, cue.batch_size, cue.concentration_coef) == (
        200, 1e-4, 1e-6, 2.0, 30, 0.1)
    assert (maze.hidden, maze.lr, maze.adam_eps, maze.clip_norm, maze.concentration_coef) == (100, 1e-4, 1e-4, 4.0, 0.03)
    assert dict(maze.core_options)["eta_init"] == 0.01 and dict(maze.core_options)["modulation"] == "simple"
    for c in (cue, maze):
        assert c.entropy_coef == 0.0 and c.value_coef == 0.2 and c.burn_in_updates == 100 and c.baseline_element0
    setup = build_setup(dataclasses.replace(maze, hidden=4))
    assert setup.env.size == 11  # --msize 13: 11 × 11 inside the border
    assert released_config("cue-reward", hidden=8).hidden == 8
    assert with_core(cue, "neuromod-rnn", "simple").core_options == (
        ("eta_init", 0.1), ("eta_param", "raw"), ("init_scheme", "released"), ("modulation", "simple"), ("squash", "tanh"))
    assert with_core(cue, "elman").core_options == ()
    with pytest.raises(PlastixError, match="released Backpropamine settings"):
        released_config("cartpole")
