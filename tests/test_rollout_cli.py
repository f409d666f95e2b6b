"""``plastix rollout``: demonstrations from a trained run and from the planner, read back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plastix.cli import main
from plastix.imitation import load_demos, planner_policy
from plastix.mdp import make_grid


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("rollout") / "run"
    flags = ["--core", "mlp", "--hidden", "4", "--episodes", "2", "--env-opt", "episode_length=5", "--total-steps",
             "20", "--log-every", "10", "--seeds", "2", "--quiet", "--no-plot"]
    assert main(["train", "bandit", "--algo", "reinforce", *flags, "--out", str(out)]) == 0
    return out


def test_rollout_of_a_trained_run_writes_demos_that_load_back(run_dir, tmp_path, capsys):
    out = tmp_path / "demos.npz"
    assert main(["rollout", str(run_dir), "--episodes", "6", "--out", str(out), "--run-seed", "1", "--greedy",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    demos = load_demos(out)
    assert demos.num_episodes == summary["episodes"] == 6
    assert demos.num_steps == 6 * 5  # the bandit's episodes last episode_length = 5 pulls, never end early
    np.testing.assert_array_equal(np.flatnonzero(demos.episode_starts), np.arange(0, 30, 5))
    assert demos.discrete and set(np.unique(demos.actions)) <= {0, 1}
    assert demos.meta["run_seed"] == 1 and demos.meta["policy"] == "greedy" and demos.meta["task"] == "bandit"
    # a greedy policy of a memoryless (mlp) core: the same observation always gives the same action
    seen = {}
    for o, a in zip(map(tuple, demos.observations), demos.actions, strict=True):
        assert seen.setdefault(o, a) == a


def test_rollout_of_the_planner_follows_the_optimal_policy(tmp_path, capsys):
    out = tmp_path / "p.npz"
    assert main(["rollout", "--planner", "lecture-grid", "--episodes", "5", "--out", str(out)]) == 0
    assert "5 episodes" in capsys.readouterr().out
    demos = load_demos(out)
    assert demos.num_episodes == 5 and demos.returns.shape == (5,)
    policy = planner_policy(make_grid("lecture-grid"))
    np.testing.assert_array_equal(demos.actions, policy[demos.observations.argmax(axis=1)])


@pytest.mark.parametrize("argv, message", [
    (["--episodes", "3"], "give either a RUN_DIR or --planner TASK"),
    (["--planner", "lecture-grid", "--sample"], "the planner's policy is deterministic"),
    (["--planner", "lecture-grid", "--greedy", "--sample"], "--greedy and --sample exclude each other"),
    (["--planner", "lecture-grid", "--out", "d.csv"], "--out must name an .npz file"),
    (["--planner", "no-such-grid"], "unknown grid task 'no-such-grid'"),
])
def test_rollout_refuses_bad_flags(tmp_path, capsys, argv, message):
    assert main(["rollout", *argv]) == 2
    assert message in capsys.readouterr().err


def test_rollout_refuses_a_seed_the_run_does_not_have(run_dir, tmp_path, capsys):
    assert main(["rollout", str(run_dir), "--run-seed", "7", "--out", str(tmp_path / "d.npz")]) == 2
    assert "--run-seed 7 is not a seed of" in capsys.readouterr().err
