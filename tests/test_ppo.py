"""PPO: the clipped losses against NumPy and their defining properties, the rollout's stored
carries (recurrent PPO) against a step-by-step recomputation, truncation bootstrapping, the
config's validation, and learning (CartPole; cue-reward with a neuromodulated core)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.errors import PlastixError
from plastix.ppo.config import PPOConfig, validate
from plastix.ppo.losses import clipped_surrogate, ppo_loss, value_loss
from plastix.ppo.trainer import build_setup, collect, evaluate, init_state, make_trainer, rollout
from plastix.train.harness import seed_keys


# ---------------------------------------------------------------- losses
def np_ppo(logp, logp_old, adv, v, v_old, ret, ent, eps, vf, ent_coef, clip_value=True, norm=True):
    """NumPy reference of the PPO loss (Schulman et al. 2017, eqs. 7 and 9)."""
    if norm:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    r = np.exp(logp - logp_old)
    pol = -np.minimum(r * adv, np.clip(r, 1 - eps, 1 + eps) * adv).mean()
    vl = (v - ret) ** 2
    if clip_value:
        vl = np.maximum(vl, (v_old + np.clip(v - v_old, -eps, eps) - ret) ** 2)
    val = 0.5 * vl.mean()
    return pol + vf * val - ent_coef * ent.mean(), pol, val


def test_ppo_loss_matches_numpy():
    rng = np.random.default_rng(0)
    n = 64
    logp_old = np.log(rng.uniform(0.05, 1.0, n))
    logp = logp_old + rng.normal(0, 0.4, n)
    adv, v_old = rng.normal(0, 2, n), rng.normal(0, 1, n)
    v, ret, ent = v_old + rng.normal(0, 0.5, n), rng.normal(0, 2, n), rng.uniform(0, 1, n)
    for clip_value in (True, False):
        for norm in (True, False):
            want = np_ppo(logp, logp_old, adv, v, v_old, ret, ent, 0.2, 0.5, 0.01, clip_value, norm)
            got = ppo_loss(*map(jnp.asarray, (logp, logp_old, adv, v, v_old, ret, ent)), clip_eps=0.2,
                           clip_value=clip_value, vf_coef=0.5, ent_coef=0.01, norm_adv=norm)
            np.testing.assert_allclose([got.total, got.policy_loss, got.value_loss], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("adv", [1.5, -1.5])
def test_clipping_side_and_zero_gradient(adv):
    """For Â > 0 the objective is capped above 1 + ε, for Â < 0 below 1 − ε; there d/dlogπ = 0,
    on the other side of 1 the gradient is −r Â (the unclipped surrogate's)."""
    eps = 0.2
    ratios = np.array([0.5, 0.79, 0.9, 1.0, 1.1, 1.21, 1.5])
    logp = jnp.log(jnp.asarray(ratios))
    grad = jax.vmap(jax.grad(lambda lp: clipped_surrogate(lp, 0.0, adv, eps)))(logp)
    clipped = ratios > 1 + eps if adv > 0 else ratios < 1 - eps
    np.testing.assert_allclose(np.asarray(grad)[clipped], 0.0)
    np.testing.assert_allclose(np.asarray(grad)[~clipped], -ratios[~clipped] * adv, rtol=1e-6)
    # the value where clipped is the constant (1 ± ε) Â
    values = np.asarray(jax.vmap(lambda lp: clipped_surrogate(lp, 0.0, adv, eps))(logp))
    np.testing.assert_allclose(values[clipped], -(1 + eps if adv > 0 else 1 - eps) * adv, rtol=1e-6)


def test_value_clipping_takes_the_pessimistic_term():
    # v moved past v_old + ε away from the target: the clipped term is larger and has no gradient
    g = jax.grad(lambda v: value_loss(v, 0.0, 1.0, 0.2))(-0.5)
    np.testing.assert_allclose(g, -1.5)  # the unclipped term ½(v − R)² is the max here: (−0.5 − 1)
    g = jax.grad(lambda v: value_loss(v, 0.0, -1.0, 0.2))(0.5)  # moved 0.5 > ε toward +: clipped 0.2 vs R = −1
    np.testing.assert_allclose(g, 1.5)  # unclipped (0.5 + 1)² = 2.25 > (0.2 + 1)² = 1.44
    g = jax.grad(lambda v: value_loss(v, 0.0, 1.0, 0.2))(1.5)  # overshoot past R: clipped (0.2 − 1)² = .64 > .25
    np.testing.assert_allclose(g, 0.0)


# ---------------------------------------------------------------- rollout and recurrent PPO
def small(core="neuromod-rnn", **changes):
    base = dict(task="cue-reward", preset="quick", core=core, hidden=8, num_envs=3, num_steps=60, seq_len=20,
                num_minibatches=3, update_epochs=1, total_steps=180, updates_per_log=1, separate_critic=False,
                bootstrap_truncated=False, gamma=0.9)
    base.update(changes)
    return PPOConfig(**base)


@pytest.mark.slow
@pytest.mark.parametrize("core,separate,torso", [("neuromod-rnn", False, 0), ("lstm", True, 0), ("mlp", True, 0),
                                                 ("neuromod-rnn", False, 6)])
def test_sequences_recompute_the_rollout(core, separate, torso):
    """Re-scanning each stored sequence from its stored carry (resets inside at episode starts)
    gives the log-probabilities and values the rollout acted with, at θ = θ_old: the episodes
    (40 steps) straddle the sequences (30 steps) and the rollouts (60 steps). ``torso``: the
    embedding and hidden head layers around the core (the plastic core reads the embedding)."""
    config = small(core, separate_critic=separate, seq_len=1 if core == "mlp" else 30, embed=torso,
                   head_hidden=torso)
    setup = build_setup(config)
    state = init_state(setup, jax.random.PRNGKey(0))
    runner = state.runner
    for k in range(2):  # the second rollout starts mid-episode, with a carried state
        runner, batch, _ = rollout(setup, state.params, runner, jax.random.PRNGKey(k + 1))
        heads, values = jax.vmap(lambda c, o, s: setup.agent.sequence(state.params, c, o, s))(
            batch.carry0, batch.obs, batch.start)
        logp = jax.vmap(jax.vmap(setup.dist.log_prob))(heads, batch.action)
        np.testing.assert_allclose(logp, batch.logp, atol=2e-5)
        np.testing.assert_allclose(values, batch.value, atol=2e-5)
    if core != "mlp":
        assert bool(jnp.any(batch.start[:, 1:]))  # an episode starts inside some sequence


def test_gae_targets_match_a_python_loop():
    """Advantages from the batch equal a backwards Python loop over each environment's steps."""
    config = small("gru", bootstrap_truncated=False)
    setup = build_setup(config)
    state = init_state(setup, jax.random.PRNGKey(3))
    _, batch, rec = rollout(setup, state.params, state.runner, jax.random.PRNGKey(4))
    _, last = jax.vmap(setup.agent.act, in_axes=(None, 0, 0, 0))(state.params, _.carry, _.obs, _.start)
    v, r, d = np.asarray(rec.value), np.asarray(rec.reward), np.asarray(rec.done)
    lam, gamma = config.gae_lambda, config.gamma
    adv = np.zeros_like(v)
    for e in range(config.num_envs):
        a = 0.0
        for t in reversed(range(config.num_steps)):
            nv = float(last.value[e]) if t == config.num_steps - 1 else v[e, t + 1]
            nd = 1.0 - d[e, t]
            delta = r[e, t] + gamma * nd * nv - v[e, t]
            a = delta + gamma * lam * nd * a
            adv[e, t] = a
    np.testing.assert_allclose(np.asarray(batch.advantage).reshape(adv.shape), adv, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_truncation_bootstraps_the_terminal_value():
    """With a critic that outputs 3 everywhere, r_t gains γ·3 exactly on steps a time limit cut."""
    config = PPOConfig(task="cartpole", env_settings=(("episode_length", 7),), num_envs=2, num_steps=32,
                       total_steps=64, updates_per_log=1, num_minibatches=2)
    setup = build_setup(config)
    state = init_state(setup, jax.random.PRNGKey(0))
    critic = state.params.critic._replace(value=state.params.critic.value._replace(
        V=jnp.zeros_like(state.params.critic.value.V), c=jnp.full((1,), 3.0)))
    params = state.params._replace(critic=critic)
    _, _, rec = rollout(setup, params, state.runner, jax.random.PRNGKey(1))
    extra = np.asarray(rec.reward - rec.raw_reward)
    truncated = np.asarray(rec.done) & (np.asarray(rec.finished_length) == 7)
    assert truncated.sum() >= 4
    np.testing.assert_allclose(extra[truncated], 0.99 * 3.0, rtol=1e-6)
    np.testing.assert_allclose(extra[~truncated], 0.0)


def test_first_minibatch_has_ratio_one():
    """At the first minibatch of an update θ = θ_old: KL 0 and no sample clipped."""
    from plastix.ppo.trainer import minibatch_loss, optimise

    setup = build_setup(small("neuromod-rnn", update_epochs=2))
    state = init_state(setup, jax.random.PRNGKey(0))
    _, batch = collect(setup, state.params, state.runner, jax.random.PRNGKey(1))
    _, parts = jax.jit(lambda p, b: minibatch_loss(setup, p, b))(state.params, batch)
    assert float(parts.approx_kl) < 1e-9 and float(parts.clip_fraction) == 0.0
    # after the update's Adam steps the policy has moved: the ratio is no longer 1
    params, _, last = jax.jit(lambda p, o, b, k: optimise(setup, p, o, b, k))(state.params, state.opt_state, batch,
                                                                                jax.random.PRNGKey(2))
    _, moved = jax.jit(lambda p, b: minibatch_loss(setup, p, b))(params, batch)
    assert float(moved.approx_kl) > 1e-6 and np.isfinite(float(last.approx_kl))


def test_validation_errors():
    with pytest.raises(PlastixError, match="seq_len .* must divide num_steps"):
        validate(dataclasses.replace(PPOConfig(), seq_len=7))
    with pytest.raises(PlastixError, match="split evenly into num_minibatches"):
        validate(dataclasses.replace(PPOConfig(), num_minibatches=3))
    with pytest.raises(PlastixError, match="multiple of num_envs"):
        validate(dataclasses.replace(PPOConfig(), total_steps=1000))
    with pytest.raises(PlastixError, match="gae_lambda must lie in"):
        validate(dataclasses.replace(PPOConfig(), gae_lambda=1.5))
    with pytest.raises(PlastixError, match="action distribution"):
        validate(dataclasses.replace(PPOConfig(), action_dist="cauchy"))
    with pytest.raises(PlastixError, match="they need separate_critic=False"):
        validate(dataclasses.replace(PPOConfig(), embed=16))
    with pytest.raises(PlastixError, match="head_hidden must be an integer >= 0"):
        validate(dataclasses.replace(PPOConfig(), separate_critic=False, head_hidden=-1))


@pytest.mark.slow
def test_torso_matches_numpy_and_starts_orthogonal():
    """embed m, head_hidden k around a GRU: x = relu(E o + e) is what the core reads, and
    z = P relu(A h + a) + p, v = U relu(C h + c) + u from its output, against NumPy; the layers
    start orthogonal with gains √2 (ReLU layers), 0.01 (policy output) and 1 (value output)."""
    config = PPOConfig(core="gru", hidden=5, embed=7, head_hidden=6, separate_critic=False, seq_len=128)
    setup = build_setup(config)
    agent = setup.agent
    params = agent.init(jax.random.PRNGKey(0))
    t = params.torso
    assert agent.core.input_size == 7 and params.critic is None
    for layer, gain in ((t.embed, 2 ** 0.5), (t.actor, 2 ** 0.5), (t.critic, 2 ** 0.5), (t.policy, 0.01),
                        (t.value, 1.0)):
        w = np.asarray(layer.V, np.float64)
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w  # the smaller side is orthonormal × gain
        np.testing.assert_allclose(gram, gain ** 2 * np.eye(len(gram)), atol=1e-5)
        assert not np.any(np.asarray(layer.c))
    rng = np.random.default_rng(1)
    obs = rng.normal(size=4).astype(np.float32)
    params = jax.tree.map(lambda a: a + 0.1 * jnp.asarray(rng.normal(size=a.shape), a.dtype), params)  # biases too
    t = jax.tree.map(np.asarray, params.torso)
    relu = lambda z: np.maximum(z, 0.0)  # noqa: E731
    x = relu(t.embed.V @ obs + t.embed.c)
    core = agent.core
    carry, h = core.step(params.actor.core, core.initial_carry(), jnp.asarray(x))  # the core on the embedding
    h = np.asarray(h)
    want_z = t.policy.V @ relu(t.actor.V @ h + t.actor.c) + t.policy.c
    want_v = (t.value.V @ relu(t.critic.V @ h + t.critic.c) + t.value.c)[0]
    _, out = agent.act(params, agent.initial_carry(), jnp.asarray(obs), jnp.ones((), bool))
    np.testing.assert_allclose(np.asarray(out.logits), want_z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(out.value), want_v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(agent.value(params, agent.initial_carry(), jnp.asarray(obs))), want_v,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(PlastixError, match="its input_size must be 8, got 7"):
        dataclasses.replace(agent, embed=8)


@pytest.mark.slow
def test_same_seed_same_result_and_short_run_learns():
    """Bitwise reproducible; 64k steps of CartPole lift the greedy return well above random (≈ 22)."""
    config = dataclasses.replace(PPOConfig(), total_steps=65_536, updates_per_log=8)
    trainer = make_trainer(config)
    run = jax.jit(jax.vmap(trainer.train))
    states, m1 = run(seed_keys([0, 1]))
    _, m2 = run(seed_keys([0, 1]))
    np.testing.assert_array_equal(np.asarray(m1["charts/episodic_return"]), np.asarray(m2["charts/episodic_return"]))
    greedy = jax.vmap(lambda p: evaluate(trainer.setup, p, jax.random.PRNGKey(7), 8))(states.params)
    assert float(np.mean(np.asarray(greedy))) > 150  # measured: 430 (2 seeds)


@pytest.mark.learning
def test_ppo_solves_cartpole():
    """PureJaxRL's settings, 500k steps, 4 seeds vmapped: greedy ≥ 475 for at least 3 of 4
    (measured: 500, 500, 500, 500)."""
    trainer = make_trainer(PPOConfig())
    states, _ = jax.jit(jax.vmap(trainer.train))(seed_keys([0, 1, 2, 3]))
    greedy = np.asarray(jax.vmap(lambda p: evaluate(trainer.setup, p, jax.random.PRNGKey(7), 10))(states.params))
    assert np.sum(greedy.mean(axis=1) >= 475) >= 3, greedy.mean(axis=1)


# ---------------------------------------------------------------- the front door
@pytest.mark.slow
def test_ppo_through_plastix_run_resumes_bitwise_and_evaluates(tmp_path, monkeypatch, capsys):
    """``plastix.run`` on a PPOConfig with a plastic core: an interrupted run resumed from its
    directory equals a run that never stopped (params, Adam state, environments, carries,
    metrics); ``plastix.load`` + ``plastix.algorithms.evaluate`` evaluate it."""
    import plastix
    from plastix import checkpoint
    from plastix.algorithms import evaluate as evaluate_run

    config = small("neuromod-rnn", total_steps=720, updates_per_log=1)  # 4 updates, 4 log points
    options = {"seeds": 2, "checkpoint_every": 2, "progress": False, "no_plot": True}
    straight = plastix.run(config, out=str(tmp_path / "a"), **options)
    real, calls = checkpoint.save, []

    def dies_on_second_save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save", dies_on_second_save)
    with pytest.raises(KeyboardInterrupt):
        plastix.run(config, out=str(tmp_path / "b"), **options)
    monkeypatch.setattr(checkpoint, "save", real)
    resumed = plastix.run(config, resume=str(tmp_path / "b"), progress=False, no_plot=True)
    for got, want in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(straight.state), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    for name in straight.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], straight.metrics[name])
    assert np.isfinite(straight.metrics["diagnostics/eta"]).all()  # the plastic core's diagnostics are logged
    result = evaluate_run(plastix.load(tmp_path / "a"), episodes=4, greedy=True)
    assert len(result["per_seed"]) == 2 and result["policy"] == "greedy"
    assert all(-1.0 * 40 <= r <= 40 for r in result["per_seed"])


def test_cli_flags_resolve_per_task(tmp_path):
    """--algo ppo: the recurrent defaults of a meta-RL task (one episode per rollout, whole-rollout
    sequences, no bootstrapping at its observed time limit) and CartPole's PureJaxRL settings."""
    from plastix.cli.args import TrainArgs
    from plastix.ppo.resolve import resolve_ppo_config

    cue = resolve_ppo_config(TrainArgs(task="cue-reward", algo="ppo", preset="quick"))
    assert (cue.core, cue.num_steps, cue.seq_len, cue.bootstrap_truncated, cue.separate_critic) == \
        ("neuromod-rnn", 40, 40, False, False)
    cart = resolve_ppo_config(TrainArgs(task="cartpole", algo="ppo", total_steps=100_000))
    assert (cart.core, cart.num_envs, cart.num_steps, cart.seq_len, cart.separate_critic) == ("mlp", 4, 128, 1, True)
    assert cart.total_steps <= 100_000 and cart.total_steps % (512 * cart.updates_per_log) == 0
    gru = resolve_ppo_config(TrainArgs(task="cartpole", algo="ppo", core="gru", total_steps=100_000))
    assert (gru.seq_len, gru.separate_critic, gru.embed, gru.head_hidden) == (128, False, 64, 64)
    assert (cue.embed, cue.head_hidden, cart.embed, cart.head_hidden) == (0, 0, 0, 0)
    bare = resolve_ppo_config(TrainArgs(task="cartpole", algo="ppo", core="gru", embed=0, head_hidden=0))
    assert (bare.embed, bare.head_hidden) == (0, 0)
    with pytest.raises(PlastixError, match="must be at least num_envs × num_steps"):
        resolve_ppo_config(TrainArgs(task="cartpole", algo="ppo", total_steps=100))


# ---------------------------------------------------------------- recurrent PPO learns what needs memory
@pytest.mark.learning
def test_recurrent_ppo_with_a_gru_and_its_torso_solves_cartpole():
    """A GRU of 64 inside ppo_rnn.py's network (a ReLU embedding and a ReLU layer per head),
    16 environments, Adam 1e-3, 196,608 steps, 2 seeds vmapped: greedy mean ≥ 400 over the seeds
    (measured: 500 for each of 4 seeds; with linear heads a GRU of 128 ended at 102-152 after
    500k steps, docs/ppo.md)."""
    config = PPOConfig(core="gru", hidden=64, embed=64, head_hidden=64, separate_critic=False, seq_len=128,
                       num_envs=16, lr=1e-3, total_steps=196_608, updates_per_log=96)
    trainer = make_trainer(config)
    states, _ = jax.jit(jax.vmap(trainer.train))(seed_keys([0, 1]))
    greedy = jax.vmap(lambda p: evaluate(trainer.setup, p, jax.random.PRNGKey(7), 10))(states.params)
    assert float(np.mean(np.asarray(greedy))) >= 400.0, np.asarray(greedy).mean(axis=1)


@pytest.mark.learning
def test_recurrent_ppo_beats_a_feed_forward_one_on_a_memory_task():
    """The delayed-recall task of test_rl_trainer (a ±1 cue at step 0, the answer at step 3):
    recurrent PPO with a neuromodulated plastic core reaches a greedy return > 0.9, the
    feed-forward agent stays at 0 (it cannot see the cue when it answers)."""
    from test_rl_trainer import DelayedRecall, RecallParams

    env = (DelayedRecall(), RecallParams(episode_length=4))
    final = {}
    for core in ("neuromod-rnn", "mlp"):
        config = PPOConfig(task="recall", core=core, hidden=8, num_envs=32, num_steps=4, seq_len=4,
                           num_minibatches=4, gamma=1.0, ent_coef=0.0, lr=1e-2, lr_end=None, clip_norm=2.0,
                           separate_critic=False, bootstrap_truncated=False, total_steps=150 * 128, updates_per_log=50)
        trainer = make_trainer(config, env=env)
        state, _ = jax.jit(trainer.train)(jax.random.PRNGKey(0))
        final[core] = float(jnp.mean(evaluate(trainer.setup, state.params, jax.random.PRNGKey(1), 2000)))
    assert final["neuromod-rnn"] > 0.9, final
    assert abs(final["mlp"]) < 0.1, final  # 2000 episodes of ±1: standard error 0.022


@pytest.mark.learning
def test_recurrent_ppo_with_a_neuromodulated_core_learns_cue_reward_quick():
    """``plastix train cue-reward --algo ppo --preset quick`` (neuromod-rnn, 64 units, its PPO
    defaults): the mean training reward after 100 updates is far above chance (0; the best is
    about 6 per 40-step episode). Measured: 5.83 and 5.81 after 100 updates (2 seeds)."""
    from plastix.cli.args import TrainArgs
    from plastix.ppo.resolve import resolve_ppo_config

    config = resolve_ppo_config(TrainArgs(task="cue-reward", algo="ppo", preset="quick"))
    trainer = make_trainer(config)
    _, metrics = jax.jit(jax.vmap(trainer.train))(seed_keys([0, 1]))
    final = np.asarray(metrics["charts/episodic_return"])[:, -1]
    assert np.all(final > 4.5), final


@pytest.mark.slow
def test_plastix_rollout_records_a_ppo_run(tmp_path, capsys):
    """``plastix rollout`` replays a PPO run's actor; the recorded returns equal the episodes'
    summed rewards and the file loads back."""
    import plastix
    from plastix import cli
    from plastix.imitation import load_demos

    config = PPOConfig(total_steps=1024, updates_per_log=1, num_minibatches=2)
    plastix.run(config, out=str(tmp_path / "run"), seeds=1, progress=False, no_plot=True)
    out = tmp_path / "demos.npz"
    assert cli.main(["rollout", str(tmp_path / "run"), "--episodes", "3", "--greedy", "--out", str(out)]) == 0
    demos = load_demos(out)
    starts = np.flatnonzero(np.asarray(demos.episode_starts))
    assert len(starts) == 3 and np.all(np.asarray(demos.returns) >= 8)  # CartPole pays 1 per step, ≥ 8 steps
    assert float(np.sum(demos.returns)) == len(demos.actions)


def test_two_layer_mlp_core_matches_numpy():
    """``core="mlp"`` with ``--core-opt layers=2``: h = tanh(W² tanh(W¹ x + b¹) + b²)."""
    from plastix.rl.agent import make_agent_core

    core = make_agent_core("mlp", 3, 5, "float32", layers=2)
    params = core.init(jax.random.PRNGKey(0))
    x = np.random.default_rng(0).normal(size=3).astype(np.float32)
    (l1, l2) = params.layers
    want = np.tanh(np.asarray(l2.W) @ np.tanh(np.asarray(l1.W) @ x + np.asarray(l1.b)) + np.asarray(l2.b))
    np.testing.assert_allclose(core.step(params, core.initial_carry(), jnp.asarray(x))[1], want, rtol=1e-5)
    with pytest.raises(PlastixError, match="layers must be an integer >= 1"):
        make_agent_core("mlp", 3, 5, "float32", layers=0)
    with pytest.raises(PlastixError, match="takes the options layers and activation"):
        make_agent_core("mlp", 3, 5, "float32", depth=2)
    with pytest.raises(PlastixError, match=r"activation must be one of \['relu', 'sigmoid', 'tanh'\], got 'gelu'"):
        make_agent_core("mlp", 3, 5, "float32", activation="gelu")
    relu = make_agent_core("mlp", 3, 5, "float32", layers=2, activation="relu")
    want = np.maximum(np.asarray(l2.W) @ np.maximum(np.asarray(l1.W) @ x + np.asarray(l1.b), 0) + np.asarray(l2.b), 0)
    np.testing.assert_allclose(relu.step(params, relu.initial_carry(), jnp.asarray(x))[1], want, rtol=1e-5)
