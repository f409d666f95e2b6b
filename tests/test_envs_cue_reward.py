"""Cue-reward task, stepped against an independent plain-Python implementation.

The JAX environment draws the random parts (cues, rewarded cue, each trial's schedule); the
reference reads them from the JAX state when an episode or trial begins, checks them against
the rules (Miconi et al. 2019 / released code: trial = blank, n_cues//2 distinct cues among
blanks, Go at the second-to-last step, blank last step, length n//2 + 3 + U{0..n−1}), then
computes every observation, reward and flag itself (gymnax tests its envs against Gym's).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.envs import CueReward, make_env, random_policy, rollout
from plastix.errors import PlastixError

ROLLOUT = jax.jit(rollout, static_argnums=(0, 2, 4))


class RefCueReward:
    """One episode of the task, in plain Python (lists and floats)."""

    def __init__(self, cues, rewarded, n_cues, T, R, penalty, flip):
        self.cues = [list(map(float, c)) for c in cues]
        self.rewarded, self.n, self.T = int(rewarded), n_cues, T
        self.R, self.penalty, self.flip = R, penalty, flip
        self.t, self.prev_r, self.prev_a = 0, 0.0, None
        self.trial, self.k, self.saw_rewarded = None, 0, False

    def needs_trial(self):
        return self.trial is None or self.k == len(self.trial)

    def load_trial(self, codes):
        """Check a trial schedule against the rules, then use it."""
        L, n, shown = len(codes), self.n, self.n // 2
        assert n // 2 + 3 <= L <= n // 2 + 3 + n - 1
        assert codes[0] == -1 and codes[L - 1] == -1 and codes[L - 2] == n
        assert [c for c in codes].count(n) == 1  # exactly one Go
        cues = [c for c in codes if 0 <= c < n]
        assert len(cues) == shown and len(set(cues)) == shown
        assert all(c == -1 for c in codes[1 : L - 2] if not 0 <= c < n)
        self.trial, self.k, self.saw_rewarded = list(codes), 0, False

    def obs(self):
        code = self.trial[self.k]
        bits = len(self.cues[0])
        cue = self.cues[code] if 0 <= code < self.n else [0.0] * bits
        a = self.prev_a
        prev = [0.0, 0.0] if a is None else [float(a == 0), float(a == 1)]
        return cue + [float(code == self.n), 1.0, self.t / self.T, self.prev_r] + prev

    def step(self, a):
        code = self.trial[self.k]
        if code == self.rewarded:
            self.saw_rewarded = True
        r = -self.penalty if a == 1 else 0.0
        if code == self.n:  # the Go step: answer "was the rewarded cue shown?"
            right = (a == 1) == self.saw_rewarded
            r += self.R if right else -self.R
            if self.flip:
                r = -r
        self.k += 1
        self.t += 1
        self.prev_r, self.prev_a = r, a
        return r, self.t == self.T


def lane(tree, i):
    return jax.tree_util.tree_map(lambda x: np.asarray(x[i]), tree)


def check_against_reference(env, params, tr, flip=False):
    """Replay a rollout in the reference; returns (#episodes started, list of trial lengths)."""
    tr = jax.device_get(tr)
    steps = tr.action.shape[0]
    ref, episodes, lengths, previous_cues = None, 0, [], None
    for i in range(steps):
        st = lane(tr.state, i)
        if ref is None:
            cues = st.cues
            assert len({tuple(c) for c in cues}) == env.n_cues  # distinct
            assert set(np.unique(cues)) <= {-1.0, 1.0} and cues.shape == (env.n_cues, env.cue_bits)
            if previous_cues is not None:
                assert not np.array_equal(cues, previous_cues)  # new episode, new cues
            previous_cues = cues
            ref = RefCueReward(cues, st.rewarded, env.n_cues, params.episode_length,
                               params.reward_value, params.response_penalty, flip)
            episodes += 1
        if ref.needs_trial():
            ref.load_trial(list(st.schedule[: int(st.trial_length)]))
            lengths.append(int(st.trial_length))
        assert int(st.t) == ref.t
        np.testing.assert_allclose(np.asarray(tr.obs[i]), ref.obs(), rtol=0, atol=1e-6)
        r, trunc = ref.step(int(tr.action[i]))
        assert float(tr.reward[i]) == pytest.approx(r, abs=1e-6)
        assert bool(tr.truncated[i]) == trunc and not bool(tr.terminated[i])
        if trunc:  # terminal obs: the old episode's next meta inputs; then a fresh episode
            a = ref.prev_a
            np.testing.assert_allclose(np.asarray(tr.terminal_obs[i])[-5:],
                                       [1.0, 1.0, r, float(a == 0), float(a == 1)], atol=1e-6)
            nxt = np.asarray(tr.next_obs[i])
            np.testing.assert_allclose(nxt[-5:], [1.0, 0.0, 0.0, 0.0, 0.0])
            ref = None
        else:
            np.testing.assert_array_equal(tr.terminal_obs[i], tr.next_obs[i])
    return episodes, lengths


@pytest.mark.slow
def test_default_matches_reference_over_two_episodes_with_auto_reset():
    env, params = make_env("cue-reward")
    assert (env.n_cues, env.cue_bits, params.episode_length) == (4, 20, 120)
    assert env.observation_size == 26
    tr = ROLLOUT(env, params, random_policy(2), jax.random.key(3), 250)
    episodes, lengths = check_against_reference(env, params, tr)
    assert episodes == 3  # truncated at t = 120 and 240, auto-reset each time
    np.testing.assert_array_equal(np.flatnonzero(np.asarray(tr.truncated)), [119, 239])
    assert set(lengths) == {5, 6, 7, 8}  # trial lengths uniform in {5..8}: all seen in ~50 trials
    go_steps = np.asarray(tr.obs)[:, env.cue_bits] == 1
    assert go_steps.sum() >= 30  # ~250 / 6.5 trials
    rewards = np.asarray(tr.reward)
    assert np.all(np.abs(rewards[go_steps]) == 1) and np.all(rewards[~go_steps] == 0)


@pytest.mark.slow
def test_penalty_and_flip_and_easy_preset_match_reference():
    env, params = make_env("cue-reward", preset="easy", response_penalty=0.25, flip_prob=1.0)
    assert (env.n_cues, env.cue_bits, params.episode_length) == (2, 4, 60)
    tr = ROLLOUT(env, params, random_policy(2), jax.random.key(4), 130)  # same compile as below
    episodes, lengths = check_against_reference(env, params, tr, flip=True)
    assert episodes == 3 and set(lengths) == {4, 5}


@pytest.mark.slow
def test_correct_answer_gets_plus_one_under_vmap():
    """An oracle answering from the state gets +1 at every Go and 0 elsewhere, in every lane."""
    env, params = make_env("cue-reward", episode_length=40)

    def run(key):
        obs, state = env.reset(key, params)

        def body(carry, k):
            obs, state = carry
            answer = jnp.any(state.schedule == state.rewarded).astype(jnp.int32)
            obs, state, r, term, trunc, info = env.step(k, state, answer, params)
            return (obs, state), (r, obs[env.cue_bits])

        keys = jax.random.split(jax.random.fold_in(key, 1), 40)
        return jax.lax.scan(body, (obs, state), keys)[1]

    rewards, _ = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(5), 6))
    rewards = np.asarray(rewards)
    assert set(np.unique(rewards)) == {0.0, 1.0}
    assert np.all(rewards.sum(axis=1) >= 40 // 8)  # at least one Go per 8 steps, all rewarded


@pytest.mark.slow
def test_vmap_lane_equals_single_rollout():
    env, params = make_env("cue-reward", preset="easy")
    keys = jax.random.split(jax.random.key(6), 3)
    batched = jax.jit(jax.vmap(lambda k: rollout(env, params, random_policy(2), k, 130)))(keys)
    single = ROLLOUT(env, params, random_policy(2), keys[1], 130)
    for a, b in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(single)):
        np.testing.assert_allclose(np.asarray(a[1]), np.asarray(b), rtol=0, atol=1e-6)
    check_against_reference(env, params, lane(batched, 2))


def test_distinct_cues_even_when_collisions_are_likely():
    """2 bits, 4 cues: only 4!/4^4 ≈ 9% of raw draws are distinct; the sampler must redraw."""
    env = CueReward(n_cues=4, cue_bits=2)
    cues = np.asarray(jax.jit(jax.vmap(env.sample_cues))(jax.random.split(jax.random.key(0), 200)))
    for c in cues:
        assert len({tuple(row) for row in c}) == 4


def test_presets():
    env, params = make_env("cue-reward", preset="paper")
    assert (env.n_cues, env.cue_bits, params.episode_length) == (4, 20, 200)
    env, params = make_env("cue-reward", preset="quick")
    assert (env.n_cues, env.cue_bits, env.fixed_cues, params.episode_length) == (4, 20, True, 40)


@pytest.mark.slow
def test_fixed_cues_are_the_same_in_every_episode_and_trials_still_vary():
    env, params = make_env("cue-reward", preset="quick")
    free, _ = make_env("cue-reward", episode_length=40)
    keys = jax.random.split(jax.random.PRNGKey(5), 6)
    states = [env.reset(k, params)[1] for k in keys]
    expected = free.sample_cues(jax.random.split(jax.random.PRNGKey(0))[0])  # the documented draw
    for st in states:
        np.testing.assert_array_equal(st.cues, expected)
        assert int(st.rewarded) == int(states[0].rewarded)
    assert len({tuple(np.asarray(st.schedule)) for st in states}) > 1  # trials are still random
    free_cues = {np.asarray(free.reset(k, params)[1].cues).tobytes() for k in keys}
    assert len(free_cues) == len(keys)  # without fixed_cues, every episode draws its own
    other = dataclasses.replace(env, cue_seed=1).reset(keys[0], params)[1]
    assert not np.array_equal(other.cues, expected)
    # an auto-reset inside a rollout brings the same cues back
    tr = rollout(env, params, random_policy(2), jax.random.PRNGKey(1), 90)
    np.testing.assert_array_equal(tr.state.cues[-1], expected)
    assert bool(jnp.any(tr.truncated))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_cues": 1},
        {"cue_bits": 0},
        {"n_cues": 4, "cue_bits": 1},  # only 2 distinct 1-bit cues
        {"n_cues": 2.5},
        {"episode_length": 0},
        {"episode_length": 1.5},
        {"flip_prob": 1.5},
        {"reward_value": float("nan")},
        {"n_cue": 4},  # unknown setting
        {"fixed_cues": 1},
        {"cue_seed": -1},
        {"preset": "hard"},
    ],
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(PlastixError):
        make_env("cue-reward", **kwargs)


def test_unknown_env_name_suggests():
    with pytest.raises(PlastixError, match="cue-reward"):
        make_env("cue-rewrd")


@pytest.mark.slow
def test_params_are_a_vmappable_pytree():
    env, params = make_env("cue-reward")
    many = jax.tree_util.tree_map(lambda x: jnp.array([x, x]), params)
    many = dataclasses.replace(many, reward_value=jnp.array([1.0, 2.0]))
    obs, state = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 2), many)
    step = jax.jit(jax.vmap(env.step, in_axes=(None, 0, None, 0)))
    # step until every lane has passed a Go step; rewards scale with reward_value
    seen = np.zeros((2,))
    for k in range(9):
        obs, state, r, *_ = step(jax.random.key(k), state, 1, many)
        seen = np.maximum(seen, np.abs(np.asarray(r)))
    np.testing.assert_allclose(seen, [1.0, 2.0])
