"""Learning from demonstrations: the file format, behavioural cloning, DAgger and the action heads."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from plastix.cores import make_core
from plastix.cores.base import loop_core
from plastix.cores.mlp import FeedForward
from plastix.errors import PlastixError
from plastix.imitation import (AgentExpert, BCConfig, Categorical, DAggerConfig, DiagGaussian, Discretised,
                               MixtureGaussian, Policy, TableExpert, bc_loss, behavioural_cloning, beta_schedule,
                               dagger, grid_env, load_demos, make_demos, mixed_rollouts, planner_policy, save_demos,
                               to_sequences)
from plastix.imitation.rollout import first_episode_mask, first_episodes
from plastix.mdp import make_grid
from plastix.rl.agent import ActorCritic


def small_demos(n=7, d=3, starts=(0, 3, 5), discrete=True, seed=0):
    rng = np.random.default_rng(seed)
    s = np.zeros(n, bool)
    s[list(starts)] = True
    actions = rng.integers(0, 4, n).astype(np.int32) if discrete else rng.normal(size=(n, 2)).astype(np.float32)
    return make_demos(rng.normal(size=(n, d)).astype(np.float32), actions, s,
                      rng.normal(size=len(starts)).astype(np.float32), {"task": "t", "preset": None, "source": "test"})


# ---------------------------------------------------------------- the file format
@pytest.mark.parametrize("discrete", [True, False])
def test_demos_round_trip_through_the_file(tmp_path, discrete):
    demos = small_demos(discrete=discrete)
    path = save_demos(tmp_path / "d.npz", demos)
    back = load_demos(path)
    for a, b in zip(demos[:4], back[:4], strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert back.meta == demos.meta and back.num_episodes == 3 and back.discrete == discrete
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]  # the temporary file was renamed, none left


def test_returns_are_optional(tmp_path):
    demos = small_demos()._replace(returns=None)
    assert load_demos(save_demos(tmp_path / "d.npz", demos)).returns is None


BAD = [
    ("observations", lambda d: d._replace(observations=d.observations[:, 0]), r"'observations' must be a float array of shape \(N, d\)"),
    ("observations", lambda d: d._replace(observations=d.observations.astype(np.int32)), "'observations' must be a float array"),
    ("actions", lambda d: d._replace(actions=d.actions[:-1]), r"'actions' must be \(7,\) int32 \(discrete\) or \(7, k\) float32"),
    ("actions", lambda d: d._replace(actions=d.actions.astype(np.float32)), r"got shape \(7,\) dtype float32"),
    ("actions", lambda d: d._replace(actions=-d.actions - 1), "non-negative int32"),
    ("episode_starts", lambda d: d._replace(episode_starts=d.episode_starts.astype(np.int8)), r"'episode_starts' must be \(7,\) bool"),
    ("episode_starts", lambda d: d._replace(episode_starts=np.roll(d.episode_starts, 1)), r"'episode_starts'\[0\] must be True"),
    ("returns", lambda d: d._replace(returns=d.returns[:2]), r"'returns' must be \(3,\) float32 \(one per episode\)"),
    ("observations", lambda d: d._replace(observations=np.where(np.arange(7)[:, None] == 4, np.nan, d.observations)),
     r"'observations' holds non-finite values \(first at row 4\)"),
    ("returns", lambda d: d._replace(returns=np.array([0.0, np.inf, 1.0], np.float32)), "'returns' holds non-finite"),
]


@pytest.mark.parametrize("name, change, message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_demonstrations_are_refused_naming_the_array(tmp_path, name, change, message):
    with pytest.raises(PlastixError, match=message):
        save_demos(tmp_path / "d.npz", change(small_demos()))
    demos = change(small_demos())  # the same check when a hand-written file is read
    np.savez(tmp_path / "hand.npz", observations=demos.observations, actions=demos.actions,
             episode_starts=demos.episode_starts, returns=demos.returns)
    with pytest.raises(PlastixError, match=message):
        load_demos(tmp_path / "hand.npz")


def test_non_finite_continuous_actions_are_refused():
    demos = small_demos(discrete=False)
    actions = demos.actions.copy()
    actions[2, 1] = np.inf
    with pytest.raises(PlastixError, match=r"'actions' holds non-finite values \(first at row 2\)"):
        make_demos(demos.observations, actions, demos.episode_starts)


def test_missing_unknown_arrays_and_bad_meta_are_refused(tmp_path):
    d = small_demos()
    np.savez(tmp_path / "a.npz", observations=d.observations, actions=d.actions)
    with pytest.raises(PlastixError, match=r"lacks the array\(s\) \['episode_starts'\]"):
        load_demos(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", observations=d.observations, actions=d.actions, episode_starts=d.episode_starts,
             rewards=d.actions)
    with pytest.raises(PlastixError, match=r"unknown array\(s\) \['rewards'\]"):
        load_demos(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", observations=d.observations, actions=d.actions, episode_starts=d.episode_starts,
             meta=np.asarray("{not json"))
    with pytest.raises(PlastixError, match="'meta' must be a JSON object string"):
        load_demos(tmp_path / "c.npz")
    with pytest.raises(PlastixError, match="ends in .npz"):
        save_demos(tmp_path / "d.txt", d)
    with pytest.raises(PlastixError, match="no demonstrations file"):
        load_demos(tmp_path / "none.npz")


# ---------------------------------------------------------------- behavioural cloning
def numpy_bc_loss(policy, params, demos):
    """Mean −log π(a_t|o_≤t) over every step, the core run by a plain Python loop per episode."""
    total, steps = 0.0, 0
    bounds = list(np.flatnonzero(demos.episode_starts)) + [demos.num_steps]
    V, c = np.asarray(params.readout.V), np.asarray(params.readout.c)
    for b, e in zip(bounds[:-1], bounds[1:], strict=True):
        _, hs = loop_core(policy.core, params.core, jnp.asarray(demos.observations[b:e], jnp.float64))
        z = np.asarray(hs) @ V.T + c
        for t in range(e - b):
            logp = z[t] - np.log(np.sum(np.exp(z[t])))
            total -= logp[demos.actions[b + t]]
            steps += 1
    return total / steps


def test_bc_loss_equals_a_python_loop_over_episodes():
    demos = small_demos()
    policy = Policy(make_core("gru", 3, 5, dtype="float64"), Categorical(4))
    params = policy.init(jax.random.PRNGKey(0))
    got = float(bc_loss(policy, params, to_sequences(demos)))
    np.testing.assert_allclose(got, numpy_bc_loss(policy, params, demos), rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("head", [Categorical(4), DiagGaussian(2), MixtureGaussian(2, 3), Discretised(2, 5, -3.0, 3.0)],
                         ids=lambda h: type(h).__name__)
def test_bc_gradient_matches_finite_differences_in_float64(head):
    demos = small_demos(discrete=isinstance(head, Categorical), seed=1)
    policy = Policy(make_core("elman", 3, 3, dtype="float64"), head)
    params = policy.init(jax.random.PRNGKey(2))
    flat, unravel = ravel_pytree(params)
    batch = to_sequences(demos)
    loss = jax.jit(lambda v: bc_loss(policy, unravel(v), batch))
    grad = np.asarray(jax.grad(loss)(flat))
    eps = 1e-6
    fd = np.array([(loss(flat.at[i].add(eps)) - loss(flat.at[i].add(-eps))) / (2 * eps) for i in range(flat.size)])
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    assert np.abs(grad).max() > 1e-3


def cue_demos(n_episodes, length, cues, seed):
    """At t = 0 a one-hot cue (of ``cues``) and then zeros; the expert repeats the cue at every step."""
    rng = np.random.default_rng(seed)
    cue = rng.integers(0, cues, n_episodes)
    obs = np.zeros((n_episodes, length, cues + 1), np.float32)
    obs[np.arange(n_episodes), 0, cue] = 1.0
    obs[:, :, cues] = 1.0  # a bias input
    starts = np.zeros((n_episodes, length), bool)
    starts[:, 0] = True
    return make_demos(obs.reshape(-1, cues + 1), np.repeat(cue, length).astype(np.int32), starts.reshape(-1))


@pytest.mark.learning
def test_bc_teaches_a_recurrent_core_to_repeat_the_first_cue():
    length, cues = 8, 3
    train, test = cue_demos(64, length, cues, 0), cue_demos(200, length, cues, 1)
    config = BCConfig(steps=300, batch_size=16, lr=1e-2)

    def accuracy(core):
        policy = Policy(core, Categorical(cues))
        params, losses = behavioural_cloning(policy, train, jax.random.PRNGKey(0), config)
        seq = to_sequences(test)
        z = jax.vmap(lambda o, s: policy.outputs(params, o, s))(seq.obs, seq.starts)
        return float(np.mean(np.asarray(jnp.argmax(z, -1)) == np.asarray(seq.actions)))

    recurrent = accuracy(make_core("gru", cues + 1, 16))
    memoryless = accuracy(FeedForward(input_size=cues + 1, hidden_size=16))
    assert recurrent > 0.97
    # without memory only t = 0 can be right, the rest is a guess: (1 + (L − 1)/3) / L ≈ 0.42
    assert memoryless < 0.5


# ---------------------------------------------------------------- heads
def test_head_log_densities_match_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=2)
    z = rng.normal(size=MixtureGaussian(2, 3).size)
    w = np.exp(z[:3]) / np.exp(z[:3]).sum()
    mu, log_std = z[3:9].reshape(3, 2), z[9:].reshape(3, 2)
    dens = [np.prod(np.exp(-0.5 * ((a - mu[j]) / np.exp(log_std[j])) ** 2) / (np.exp(log_std[j]) * math.sqrt(2 * math.pi)))
            for j in range(3)]
    np.testing.assert_allclose(MixtureGaussian(2, 3).log_prob(jnp.asarray(z), jnp.asarray(a)),
                               np.log(np.dot(w, dens)), rtol=1e-10)
    one = z[:4]
    np.testing.assert_allclose(DiagGaussian(2).log_prob(jnp.asarray(one), jnp.asarray(a)),
                               np.sum(-0.5 * ((a - one[:2]) / np.exp(one[2:])) ** 2 - one[2:] - 0.5 * math.log(2 * math.pi)),
                               rtol=1e-10)


def test_discretised_density_integrates_to_one_and_picks_the_right_bin():
    head = Discretised(1, 4, -1.0, 1.0)  # bins [-1, -.5), [-.5, 0), [0, .5), [.5, 1]
    z = jnp.asarray([0.3, -1.0, 2.0, 0.5])
    p = np.exp(np.asarray(z)) / np.exp(np.asarray(z)).sum()
    grid = np.linspace(-1 + 1e-3, 1 - 1e-3, 4000)
    dens = np.exp(np.asarray(jax.vmap(lambda x: head.log_prob(z, x[None]))(jnp.asarray(grid))))
    np.testing.assert_allclose(np.mean(dens) * 2.0, 1.0, atol=1e-3)  # ∫ p(a) da over [-1, 1]
    np.testing.assert_allclose(float(head.log_prob(z, jnp.asarray([0.1]))), np.log(p[2] / 0.5), rtol=1e-10)
    assert float(head.mode(z)[0]) == 0.25  # the centre of the heaviest bin


def test_mixture_samples_follow_the_weights():
    head = MixtureGaussian(1, 2)
    z = jnp.asarray([math.log(0.25), math.log(0.75), -1.0, 1.0, -4.0, -4.0])  # weights .25/.75 at ∓1, σ = e^-4
    samples = np.asarray(jax.vmap(lambda k: head.sample(k, z))(jax.random.split(jax.random.PRNGKey(0), 4000)))[:, 0]
    assert abs(np.mean(samples > 0) - 0.75) < 0.03  # binomial sd 0.007
    assert np.all(np.abs(np.abs(samples) - 1.0) < 0.1)


def two_mode_demos(n=256, seed=0):
    """A 2-D point in front of an obstacle: the expert steps left (−1) or right (+1), half each,
    always forward (+1); the lateral step never goes straight (0)."""
    rng = np.random.default_rng(seed)
    obs = np.column_stack([rng.uniform(-0.1, 0.1, n), rng.uniform(-1.0, -0.5, n)]).astype(np.float32)
    side = rng.choice([-1.0, 1.0], n)
    actions = np.column_stack([side + 0.05 * rng.normal(size=n), np.ones(n) + 0.05 * rng.normal(size=n)])
    return make_demos(obs, actions.astype(np.float32), np.ones(n, bool))


def fit_two_modes(head, seed=0):
    demos = two_mode_demos()
    policy = Policy(FeedForward(input_size=2, hidden_size=16), head)
    params, _ = behavioural_cloning(policy, demos, jax.random.PRNGKey(seed), BCConfig(steps=3000, batch_size=64, lr=3e-3))
    z = policy.outputs(params, jnp.asarray(demos.observations[:64]), jnp.ones(64, bool))
    keys = jax.random.split(jax.random.PRNGKey(1), 64 * 50).reshape(64, 50, -1)
    samples = jax.vmap(lambda zz, ks: jax.vmap(lambda k: head.sample(k, zz))(ks))(z, keys)  # (64, 50, 2)
    return np.asarray(jax.vmap(head.mode)(z)), np.asarray(samples)


@pytest.mark.learning
def test_one_gaussian_averages_the_two_modes_into_the_obstacle():
    modes, samples = fit_two_modes(DiagGaussian(2))
    assert np.all(np.abs(modes[:, 0]) < 0.3)  # the mean lateral step: straight ahead, into the obstacle
    assert np.mean(np.abs(samples[..., 0]) < 0.5) > 0.3  # and many samples go (nearly) straight


@pytest.mark.learning
@pytest.mark.parametrize("head", [MixtureGaussian(2, 2), Discretised(2, 21, -1.5, 1.5)], ids=lambda h: type(h).__name__)
def test_multimodal_heads_keep_both_modes_and_never_go_straight(head):
    modes, samples = fit_two_modes(head)
    assert np.all(np.abs(np.abs(modes[:, 0]) - 1.0) < 0.2)  # the mode: left or right
    lateral = samples[..., 0]
    assert np.mean(np.abs(lateral) < 0.5) < 0.02  # almost never near straight
    assert 0.35 < np.mean(lateral > 0) < 0.65  # both sides used, about half each
    assert np.mean(np.abs(samples[..., 1] - 1.0) < 0.5) > 0.98  # and forward


# ---------------------------------------------------------------- rollouts and DAgger
def test_first_episode_mask_and_extraction_by_hand():
    done = np.array([[0, 0, 1, 0, 1], [0, 0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(first_episode_mask(done), [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    obs = np.arange(10, dtype=np.float32).reshape(2, 5, 1)
    demos = first_episodes(obs, np.arange(10).reshape(2, 5), np.ones((2, 5)), done, {})
    np.testing.assert_array_equal(demos.observations[:, 0], [0, 1, 2, 5, 6, 7, 8, 9])
    np.testing.assert_array_equal(demos.episode_starts, [1, 0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(demos.returns, [3.0, 5.0])


def test_beta_schedules():
    np.testing.assert_allclose(beta_schedule("exponential", 4, 0.5), [1, 0.5, 0.25, 0.125])
    np.testing.assert_array_equal(beta_schedule("first", 3), [1, 0, 0])
    np.testing.assert_array_equal(beta_schedule("expert", 2), [1, 1])
    with pytest.raises(PlastixError, match="unknown beta schedule 'linear'"):
        beta_schedule("linear", 3)


@pytest.fixture(scope="module")
def frozenlake():
    task = make_grid("frozenlake-4x4")
    env, env_params = grid_env(task, episode_length=12)
    return env, env_params, jnp.asarray(planner_policy(task))


def grid_policy(env):
    return Policy(FeedForward(input_size=env.observation_size, hidden_size=8), Categorical(4))


@pytest.mark.parametrize("first_only", [False, True])
def test_dagger_aggregates_the_visited_states_with_the_experts_labels(frozenlake, first_only):
    env, env_params, table = frozenlake
    config = DAggerConfig(iterations=3, windows=2, num_steps=12, schedule="exponential", p=0.5,
                          first_episode_only=first_only, bc=BCConfig(steps=5, batch_size=2))
    result = dagger(env, env_params, grid_policy(env), TableExpert(), table, jax.random.PRNGKey(0), config)
    sizes = np.asarray(result.sizes)
    assert len(result.history) == 3 and result.dataset.num_steps == sizes[-1]
    if not first_only:
        np.testing.assert_array_equal(sizes, [24, 48, 72])  # windows · T per iteration
    else:
        assert np.all(np.diff(sizes, prepend=0) > 0) and np.all(np.diff(sizes, prepend=0) <= 24)
        assert result.dataset.num_episodes == 6  # one (first) episode per window
    states = result.dataset.observations.argmax(axis=1)
    np.testing.assert_array_equal(result.dataset.actions, np.asarray(table)[states])  # every label is π*(s)
    np.testing.assert_array_equal(result.dataset.observations.sum(axis=1), 1.0)  # one-hot states


def test_mixture_executes_the_expert_at_beta_one_and_the_learner_at_zero(frozenlake):
    env, env_params, table = frozenlake
    policy = grid_policy(env)
    params = policy.init(jax.random.PRNGKey(3))
    key = jax.random.PRNGKey(4)
    expert = mixed_rollouts(env, env_params, policy, params, TableExpert(), table, 1.0, key, 3, 12)
    learner = mixed_rollouts(env, env_params, policy, params, TableExpert(), table, 0.0, key, 3, 12)
    np.testing.assert_array_equal(expert.action, expert.label)
    np.testing.assert_array_equal(learner.action, learner.learner)
    z = jax.vmap(lambda o, s: policy.outputs(params, o, s))(learner.obs, learner.start)  # greedy: the argmax
    np.testing.assert_array_equal(learner.learner, np.argmax(np.asarray(z), axis=-1))


def test_an_agent_expert_labels_the_learners_states_with_its_own_greedy_action(frozenlake):
    env, env_params, _ = frozenlake
    agent = ActorCritic(make_core("elman", env.observation_size, 6), 4)
    agent_params = agent.init(jax.random.PRNGKey(5))
    policy = grid_policy(env)
    steps = mixed_rollouts(env, env_params, policy, policy.init(jax.random.PRNGKey(6)), AgentExpert(agent),
                           agent_params, 0.0, jax.random.PRNGKey(7), 2, 12)
    for w in range(2):  # the expert re-run by a Python loop over the learner's observations and episode starts
        _, hs = loop_core(agent.core, agent_params.core, steps.obs[w], resets=np.asarray(steps.start[w]))
        logits = np.asarray(hs) @ np.asarray(agent_params.policy.V).T + np.asarray(agent_params.policy.c)
        np.testing.assert_array_equal(steps.label[w], logits.argmax(axis=-1))


def test_bc_and_dagger_refuse_a_mismatched_policy(frozenlake):
    env, env_params, table = frozenlake
    with pytest.raises(PlastixError, match="core takes inputs of size 5, the demonstrations' observations have size 3"):
        behavioural_cloning(Policy(FeedForward(input_size=5, hidden_size=4), Categorical(4)), small_demos(),
                            jax.random.PRNGKey(0))
    with pytest.raises(PlastixError, match="head DiagGaussian does not fit discrete"):
        behavioural_cloning(Policy(FeedForward(input_size=3, hidden_size=4), DiagGaussian(2)), small_demos(),
                            jax.random.PRNGKey(0))
    with pytest.raises(PlastixError, match="continuous"):
        dagger(env, env_params, Policy(FeedForward(input_size=16, hidden_size=4), DiagGaussian(2)), TableExpert(),
               table, jax.random.PRNGKey(0))
