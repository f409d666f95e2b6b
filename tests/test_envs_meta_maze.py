"""Grid maze of Miconi et al. (2018, 2019), stepped against an independent Python reference.

The reference builds the maze itself (border walls, pillars where row and column are both
even, free centre), reads the episode's reward cell from the JAX state, and moves the agent
with its own rules; only the teleport destination (a random draw) is taken from the JAX
state, after checking it is a free cell other than the reward cell.
"""

import jax
import numpy as np
import pytest

from plastix.envs import MetaMaze, make_env, random_policy, rollout
from plastix.errors import PlastixError

ROLLOUT = jax.jit(rollout, static_argnums=(0, 2, 4))
MOVES = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}  # up, down, left, right


def reference_maze(size):
    n = size + 2
    walls = [[0] * n for _ in range(n)]
    for r in range(n):
        for c in range(n):
            if r in (0, n - 1) or c in (0, n - 1) or (r % 2 == 0 and c % 2 == 0):
                walls[r][c] = 1
    walls[n // 2][n // 2] = 0
    return walls


class RefMaze:
    def __init__(self, walls, reward_cell, T, R, penalty):
        self.walls, self.goal, self.T, self.R, self.penalty = walls, reward_cell, T, R, penalty
        c = len(walls) // 2
        self.pos, self.t, self.prev_r, self.prev_a = (c, c), 0, 0.0, None

    def obs(self):
        r, c = self.pos
        view = [float(self.walls[r + dr][c + dc]) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
        prev = [0.0] * 4 if self.prev_a is None else [float(self.prev_a == a) for a in range(4)]
        return view + [1.0, self.t / self.T, self.prev_r] + prev

    def step(self, a, teleport_to):
        """Move; on the goal, +R and go to ``teleport_to`` (checked). Returns (r, hit, trunc)."""
        dr, dc = MOVES[a]
        target = (self.pos[0] + dr, self.pos[1] + dc)
        r = 0.0
        if self.walls[target[0]][target[1]]:
            r -= self.penalty
        else:
            self.pos = target
        hit = self.pos == self.goal
        if hit:
            r += self.R
            if teleport_to is not None:  # None: the episode ends here, the draw is not visible
                assert not self.walls[teleport_to[0]][teleport_to[1]] and teleport_to != self.goal
            self.pos = teleport_to
        self.t += 1
        self.prev_r, self.prev_a = r, a
        return r, hit, self.t == self.T


def check_against_reference(env, params, tr):
    """Replay; returns (#episodes, #reward hits, #wall bumps)."""
    tr = jax.device_get(tr)
    walls = reference_maze(env.size)
    ref, episodes, hits, bumps = None, 0, 0, 0
    for i in range(tr.action.shape[0]):
        st = jax.tree_util.tree_map(lambda x: x[i], tr.state)
        if ref is None:
            goal = tuple(int(v) for v in st.reward_pos)
            assert not walls[goal[0]][goal[1]] and goal != (len(walls) // 2,) * 2
            ref = RefMaze(walls, goal, params.episode_length, params.reward_value,
                          params.wall_penalty)
            episodes += 1
        assert tuple(int(v) for v in st.pos) == ref.pos and tuple(st.reward_pos) == ref.goal
        np.testing.assert_allclose(tr.obs[i], ref.obs(), rtol=0, atol=1e-6)
        before = ref.pos
        last = i + 1 == tr.action.shape[0] or bool(tr.truncated[i])
        teleport = None if last else tuple(int(v) for v in tr.state.pos[i + 1])
        r, hit, trunc = ref.step(int(tr.action[i]), teleport)
        hits += hit
        bumps += bool(ref.pos == before and not hit)
        assert float(tr.reward[i]) == pytest.approx(r) and bool(tr.truncated[i]) == trunc
        assert not bool(tr.terminated[i])
        if trunc:
            fresh = RefMaze(walls, None, params.episode_length, 0.0, 0.0).obs()  # at the centre
            np.testing.assert_allclose(tr.next_obs[i], fresh, rtol=0, atol=1e-6)
            np.testing.assert_allclose(tr.terminal_obs[i][-7:-4], [1.0, 1.0, r], atol=1e-6)
            ref = None
        else:
            np.testing.assert_allclose(tr.next_obs[i], ref.obs(), rtol=0, atol=1e-6)
    return episodes, hits, bumps


def test_layout_has_16_pillars_border_and_free_centre():
    env, params = make_env("meta-maze")
    layout = env.layout()
    assert layout.shape == (11, 11) and (env.size, params.episode_length) == (9, 200)
    np.testing.assert_array_equal(layout, np.array(reference_maze(9)))
    assert int(layout[1:-1, 1:-1].sum()) == 16  # 9 × 9 interior, 16 pillars
    assert layout[5, 5] == 0 and env.centre == 5
    assert np.all(layout[0] == 1) and np.all(layout[:, -1] == 1)
    small = MetaMaze(size=7).layout()  # centre (4, 4) would be a pillar: cleared
    assert small[4, 4] == 0 and int(small[1:-1, 1:-1].sum()) == 8


def test_default_maze_matches_reference_with_truncation():
    env, params = make_env("meta-maze", wall_penalty=0.5)
    tr = ROLLOUT(env, params, random_policy(4), jax.random.key(1), 420)
    episodes, hits, bumps = check_against_reference(env, params, tr)
    assert episodes == 3 and bumps > 20
    np.testing.assert_array_equal(np.flatnonzero(tr.truncated), [199, 399])


@pytest.mark.slow
def test_small_maze_reward_and_teleport_match_reference_under_vmap():
    env, params = make_env("meta-maze", preset="easy")
    keys = jax.random.split(jax.random.key(2), 3)
    trs = jax.jit(jax.vmap(lambda k: rollout(env, params, random_policy(4), k, 420)))(keys)
    total_hits = 0
    for b in range(3):
        tr = jax.tree_util.tree_map(lambda x: x[b], trs)
        episodes, hits, _ = check_against_reference(env, params, tr)
        assert episodes == 5  # truncated at 100, 200, 300, 400
        total_hits += hits
    assert total_hits >= 10  # the +10 / teleport branch is exercised


def test_sampled_cells_are_uniform_over_allowed_cells():
    """Teleport targets: uniform over the 64 free cells other than the excluded one."""
    env = MetaMaze()
    excluded = np.array([1, 3], np.int32)
    cells = jax.jit(jax.vmap(lambda k: env._sample_cell(k, excluded)))(
        jax.random.split(jax.random.key(0), 12800)
    )
    cells = np.asarray(cells)
    walls = np.array(reference_maze(9))
    assert not np.any(walls[cells[:, 0], cells[:, 1]])
    assert not np.any(np.all(cells == excluded, axis=1))
    counts = np.bincount(cells[:, 0] * 11 + cells[:, 1], minlength=121)
    counts = counts[counts > 0]
    assert counts.size == 64  # 81 − 16 pillars − 1 excluded
    # 200 expected each, sd ≈ 14: every count within 5 sd
    assert np.all(np.abs(counts - 200) < 70)


def test_reset_never_puts_reward_on_centre_or_wall():
    env, params = make_env("meta-maze")
    _, states = jax.jit(jax.vmap(lambda k: env.reset(k, params)))(
        jax.random.split(jax.random.key(3), 2000)
    )
    goals = np.asarray(states.reward_pos)
    walls = np.array(reference_maze(9))
    assert not np.any(walls[goals[:, 0], goals[:, 1]])
    assert not np.any(np.all(goals == 5, axis=1))
    assert len({tuple(g) for g in goals}) == 64  # every other free cell is used
    np.testing.assert_array_equal(np.asarray(states.pos), np.full((2000, 2), 5))


@pytest.mark.parametrize(
    "kwargs", [{"size": 8}, {"size": 1}, {"size": True}, {"episode_length": -3},
               {"wall_penalty": float("inf")}, {"reward": 10.0}]
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(PlastixError):
        make_env("meta-maze", **kwargs)
