"""The transformer core as an agent core (a2c / reinforce, PPO, DQN) and through the CLI.

The rollout of the a2c trainer (``plastix.rl.trainer.collect_rollout``: a scan of agent steps
with environment auto-resets, vmapped over environments) against a NumPy transformer written
here as explicit loops: at step t each layer attends to the steps s with t − K ≤ s ≤ t of t's
own episode, positions counted from the episode start (Vaswani et al. 2017, eqs. 1, 4–5, §3.5;
the pre-norm block of Xiong et al. 2020, Fig. 1(b)); the key/value window left in the carry;
an episode that starts in the middle of a rollout against a fresh agent; recurrent PPO's
re-scan from a stored key/value window; resume of a2c, PPO, DQN and supervised runs bitwise
equal to runs that never stopped.
"""

import math
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import checkpoint
from plastix.rl.trainer import RLConfig, build_setup, collect_rollout, trajectory_outputs

K, T = 3, 9  # the window, the episode length: a rollout of 2T + 4 steps holds three episodes
CORE_OPTIONS = (("context", K), ("heads", 2), ("layers", 2))


def rl_setup(**changes):
    config = RLConfig(**{**dict(task="cue-reward", preset="easy", env_settings=(("episode_length", T),),
                                core="transformer", core_options=CORE_OPTIONS, hidden=8, batch_size=3,
                                dtype="float64", num_updates=1, updates_per_log=1), **changes})
    return build_setup(config)


def spread_params(params, seed, scale=0.6):
    """Every leaf U(−scale, scale) from a seeded NumPy generator (attention far from uniform)."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: jnp.asarray(rng.uniform(-scale, scale, a.shape), a.dtype), params)


def rollout(setup, params, num_steps, seed=1):
    keys = jax.random.split(jax.random.PRNGKey(seed), setup.config.batch_size)
    run = jax.jit(jax.vmap(lambda k: collect_rollout(setup, params, k, num_steps=num_steps)))
    return run(keys)


# ---------------------------------------------------------------- a NumPy reference with loops


def np_layer_norm(ln, x):
    mu = x.mean()
    return np.asarray(ln.gain) * (x - mu) / math.sqrt(((x - mu) ** 2).mean() + 1e-5) + np.asarray(ln.bias)


def np_gelu(a):
    # the tanh form of Hendrycks & Gimpel (2016), §2 (jax.nn.gelu's default)
    return 0.5 * a * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (a + 0.044715 * a ** 3)))


def np_position(p, d):
    # PE(p, 2i) = sin(p / 10000^{2i/d}), PE(p, 2i+1) = cos(p / 10000^{2i/d}) (Vaswani et al. 2017, §3.5)
    return np.array([math.sin(p / 10000 ** (2 * (i // 2) / d)) if i % 2 == 0 else
                     math.cos(p / 10000 ** (2 * (i // 2) / d)) for i in range(d)])


def np_block_keys_values(blk, z_rows):
    """Per head, W^K LN(z_s) and W^V LN(z_s) for rows z_s: lists (h,) of (S, d_head) arrays."""
    y = np.stack([np_layer_norm(blk.ln1, z) for z in z_rows])
    return ([y @ np.asarray(W).T for W in blk.attn.Wk], [y @ np.asarray(W).T for W in blk.attn.Wv])


def np_agent(core, params, obs, start):
    """Logits (T, A), values (T,) and, per layer, the (h, K, d_head) keys and values of the last
    K steps, for one trajectory obs (T, d) with episode starts ``start`` (T,), by loops: step t
    of layer l attends to the steps of its window W_t = {s : max(e_t, t − K) ≤ s ≤ t}, e_t the
    start of t's episode."""
    p = params.core
    steps, first = len(obs), []
    for t in range(steps):
        first.append(t if (t == 0 or start[t]) else first[-1])
    z = [np.asarray(p.W_in) @ obs[t] + np.asarray(p.b_in) + np_position(t - first[t], core.hidden_size)
         for t in range(steps)]
    windows = []
    for blk in p.blocks:
        keys, values = np_block_keys_values(blk, z)
        new_z = []
        for t in range(steps):
            window = list(range(max(first[t], t - core.context), t + 1))
            q_in = np_layer_norm(blk.ln1, z[t])
            heads = []
            for Wq, k_h, v_h in zip(blk.attn.Wq, keys, values, strict=True):
                q = np.asarray(Wq) @ q_in
                scores = np.array([q @ k_h[s] for s in window]) / math.sqrt(len(q))
                w = np.exp(scores - scores.max())
                heads.append((w / w.sum()) @ v_h[window])
            u = z[t] + np.asarray(blk.attn.Wo) @ np.concatenate(heads)
            f = [np.asarray(a) for a in blk.ffn]
            new_z.append(u + f[2] @ np_gelu(f[0] @ np_layer_norm(blk.ln2, u) + f[1]) + f[3])
        last = range(steps - core.context, steps)
        windows.append((np.stack([k_h[last] for k_h in keys]), np.stack([v_h[last] for v_h in values])))
        z = new_z
    h = np.stack([np_layer_norm(p.ln_f, zt) for zt in z])
    logits = h @ np.asarray(params.policy.V).T + np.asarray(params.policy.c)
    values = h @ np.asarray(params.value.V)[0] + np.asarray(params.value.c)[0]
    return logits, values, windows, steps - first[-1]


# ---------------------------------------------------------------- a2c / reinforce rollouts


@pytest.mark.slow
def test_rollout_equals_windowed_attention_computed_with_loops_and_the_carry_holds_the_last_K_steps():
    """Three episodes in one rollout of each of 3 environments: every logit and value of the
    trainer's scan equals the NumPy loops (banded attention within each episode), the carry
    left at the end holds the keys and values of exactly the last K steps, oldest first, and
    the a2c/reinforce gradient path (``trajectory_outputs``: the core re-scanned over the stored
    trajectory) recomputes the same outputs."""
    setup = rl_setup()
    params = spread_params(setup.agent.init(jax.random.PRNGKey(0)), seed=3)
    last, ro = rollout(setup, params, 2 * T + 4)
    np.testing.assert_array_equal(np.flatnonzero(np.asarray(ro.start[0])), [0, T, 2 * T])
    for b in range(setup.config.batch_size):
        obs, start = np.asarray(ro.obs[b], np.float64), np.asarray(ro.start[b])
        logits, values, windows, count = np_agent(setup.agent.core, params, obs, start)
        np.testing.assert_allclose(ro.logits[b], logits, rtol=0, atol=1e-11)
        np.testing.assert_allclose(ro.value[b], values, rtol=0, atol=1e-11)
        assert float(last.agent_carry.count[b]) == count == 4  # steps of the third episode
        for layer, (k_ref, v_ref) in enumerate(windows):
            np.testing.assert_allclose(last.agent_carry.keys[layer][b], k_ref, rtol=0, atol=1e-11)
            np.testing.assert_allclose(last.agent_carry.values[layer][b], v_ref, rtol=0, atol=1e-11)
        re_logits, re_values = trajectory_outputs(setup, params, ro.obs[b], ro.start[b])
        np.testing.assert_allclose(re_logits, ro.logits[b], rtol=0, atol=1e-12)
        np.testing.assert_allclose(re_values, ro.value[b], rtol=0, atol=1e-12)


def test_an_episode_starting_mid_rollout_equals_a_fresh_agents_episode():
    """The carry reset at an auto-reset inside the rollout: the second episode's outputs equal
    a fresh agent's (``initial_carry()``) on the same observations, and differ from an agent
    that carries the first episode's window on (which would see up to L·K = 6 steps back)."""
    setup = rl_setup()
    agent = setup.agent
    params = spread_params(agent.init(jax.random.PRNGKey(0)), seed=4)
    _, ro = rollout(setup, params, 2 * T, seed=2)
    act = jax.jit(agent.act)
    for b in range(setup.config.batch_size):
        fresh = agent.initial_carry()
        for t in range(T):
            fresh, out = act(params, fresh, ro.obs[b, T + t], jnp.asarray(t == 0))
            np.testing.assert_allclose(out.logits, ro.logits[b, T + t], rtol=0, atol=1e-12)
            np.testing.assert_allclose(out.value, ro.value[b, T + t], rtol=0, atol=1e-12)
        leaky = agent.initial_carry()
        for t in range(2 * T):
            leaky, out = act(params, leaky, ro.obs[b, t], jnp.asarray(t == 0))
            if t == T:
                assert np.max(np.abs(np.asarray(out.logits - ro.logits[b, T]))) > 1e-3


# ---------------------------------------------------------------- recurrent PPO


@pytest.mark.slow
def test_ppo_rescans_each_sequence_from_its_stored_key_value_window():
    """Recurrent PPO stores the carry at the start of each sequence (here the transformer's
    window of keys and values, mid-episode in the second rollout) and re-scans from it: at
    θ = θ_old the log-probabilities and values equal the rollout's. Episodes of 40 steps
    straddle sequences of 20 and rollouts of 60."""
    from plastix.ppo.config import PPOConfig
    from plastix.ppo.trainer import build_setup as ppo_setup
    from plastix.ppo.trainer import init_state
    from plastix.ppo.trainer import rollout as ppo_rollout

    config = PPOConfig(task="cue-reward", preset="quick", core="transformer", core_options=CORE_OPTIONS, hidden=8,
                       num_envs=3, num_steps=60, seq_len=20, num_minibatches=3, update_epochs=1, total_steps=180,
                       updates_per_log=1, separate_critic=False, bootstrap_truncated=False, gamma=0.9,
                       dtype="float64")
    setup = ppo_setup(config)
    state = init_state(setup, jax.random.PRNGKey(0))
    runner = state.runner
    for k in range(2):
        runner, batch, _ = ppo_rollout(setup, state.params, runner, jax.random.PRNGKey(k + 1))
        heads, values = jax.vmap(lambda c, o, s: setup.agent.sequence(state.params, c, o, s))(
            batch.carry0, batch.obs, batch.start)
        logp = jax.vmap(jax.vmap(setup.dist.log_prob))(heads, batch.action)
        np.testing.assert_allclose(logp, batch.logp, rtol=0, atol=1e-11)
        np.testing.assert_allclose(values, batch.value, rtol=0, atol=1e-11)
    counts = np.asarray(batch.carry0.actor.count)
    assert counts.max() >= K  # some sequence starts with a full window from its episode


# ---------------------------------------------------------------- CLI runs: resume = no stop

TINY = ["--core", "transformer", "--core-opt", "heads=2", "context=3", "layers=1", "--hidden", "4", "--seeds", "2",
        "--checkpoint-every", "1", "--quiet", "--no-plot"]
RUNS = {
    "a2c": ["cue-reward", "--preset", "easy", "--algo", "a2c", "--episodes", "2", "--env-opt", "episode_length=12",
            "--total-steps", "96", "--log-every", "24"],
    "ppo": ["cue-reward", "--preset", "easy", "--algo", "ppo", "--env-opt", "episode_length=12", "--num-envs", "2",
            "--num-minibatches", "1", "--total-steps", "96", "--log-every", "24"],
    "dqn": ["cue-reward", "--preset", "easy", "--algo", "dqn", "--env-opt", "episode_length=12", "--total-steps",
            "400", "--log-every", "100", "--learning-starts", "100", "--batch-size", "4"],
    "supervised": ["copy", "--seq-len", "3", "--batch-size", "4", "--total-steps", "64", "--log-every", "16"],
}


def rows_without_wall_time(path: Path) -> list[str]:
    return [",".join(c for j, c in enumerate(line.split(",")) if j != 1) for line in path.read_text().splitlines()]


def check_resume_is_bitwise(algo, tmp_path):
    """A finished run, a copy cut back to its first checkpoint (as if killed there), resumed:
    the same parameters (bytes of params.npz) and metrics; then ``plastix eval`` on it."""
    from plastix.cli import main

    straight, cut = tmp_path / "a", tmp_path / "b"
    assert main(["train", *RUNS[algo], *TINY, "--out", str(straight)]) == 0
    shutil.copytree(straight, cut)
    for path in checkpoint.list_checkpoints(cut)[1:]:
        shutil.rmtree(path)
    for name in ("params.npz", "metrics.csv"):
        (cut / name).unlink()
    assert main(["train", RUNS[algo][0], "--resume", str(cut), "--quiet"]) == 0
    assert (cut / "params.npz").read_bytes() == (straight / "params.npz").read_bytes()
    rows = rows_without_wall_time(cut / "metrics.csv")
    assert rows == rows_without_wall_time(straight / "metrics.csv") and len(rows) == 1 + 2 * 4  # 4 log points
    assert main(["eval", str(cut), "--episodes", "2", "--json"]) == 0


@pytest.mark.slow  # about a minute of compilation on one core
@pytest.mark.parametrize("algo", ["a2c", "ppo", "dqn", "supervised"])
def test_transformer_runs_of_every_algorithm_resume_bitwise(algo, tmp_path, capsys):
    check_resume_is_bitwise(algo, tmp_path)
