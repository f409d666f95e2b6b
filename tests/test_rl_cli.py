"""`plastix train <RL task>` and `plastix eval` in-process, through the real dispatcher."""

import csv
import json

import jax
import numpy as np
import pytest

import plastix.cli as cli
from plastix.driver import load
from plastix.rl.trainer import build_setup, evaluate
from plastix.runs import load_params

PNG = b"\x89PNG\r\n\x1a\n"
COLUMNS = ["step", "wall_time", "seed", "charts/episodic_return", "losses/policy_loss", "losses/value_loss",
           "losses/entropy", "losses/skipped_updates", "diagnostics/eta", "diagnostics/mean_abs_M",
           "diagnostics/hebb_at_clip", "diagnostics/max_abs_E"]
SMALL = ["--preset", "easy", "--env-opt", "episode_length=6", "--hidden", "4", "--episodes", "3",
         "--total-steps", "72", "--log-every", "36", "--seeds", "2", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cue-run"
    assert cli.main(["train", "cue-reward", *SMALL, "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_train_writes_config_metrics_params_and_plot(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seeds"] == [0, 1]
    resolved = config["config"]["resolved"]
    # defaults for cue-reward: Backpropamine's neuromodulated RNN (retroactive) trained by a2c
    assert resolved["core"] == "neuromod-rnn" and resolved["algo"] == "a2c" and resolved["gamma"] == 0.9
    assert resolved["env_settings"] == [["episode_length", 6]]
    assert resolved["num_updates"] == 4 and resolved["updates_per_log"] == 2  # 72 / (3 × 6), 36 / 18
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == COLUMNS
    assert [int(r["step"]) for r in rows] == [36, 36, 72, 72]
    assert [int(r["seed"]) for r in rows] == [0, 1, 0, 1]
    assert all(0.0 < float(r["losses/entropy"]) <= np.log(2) + 1e-6 for r in rows)  # per-step entropy of 2 actions
    assert (run_dir / "curves.png").read_bytes()[:8] == PNG
    cfg = load(run_dir).config
    setup = build_setup(cfg)
    params = load_params(run_dir, setup.agent.init(jax.random.PRNGKey(0)), seed_index=1)
    assert params.core.W.shape == (4, 4) and params.policy.V.shape == (2, 4)


@pytest.mark.slow
def test_eval_json_prints_one_object_equal_to_a_direct_evaluation(run_dir, capsys):
    capsys.readouterr()
    assert cli.main(["eval", str(run_dir), "--episodes", "5", "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # the whole stdout is one JSON object
    assert result["episodes"] == 5 and result["policy"] == "sampled" and result["seeds"] == [0, 1]
    cfg = load(run_dir).config
    setup = build_setup(cfg)
    template = setup.agent.init(jax.random.PRNGKey(0))
    run = jax.jit(lambda p: evaluate(setup, p, jax.random.PRNGKey(0), 5))
    direct = [float(np.mean(run(load_params(run_dir, template, i)))) for i in range(2)]
    np.testing.assert_allclose(result["per_seed"], direct, rtol=1e-6)
    assert result["mean_return"] == pytest.approx(np.mean(direct))


@pytest.mark.slow
def test_train_bandit_with_reinforce_and_a_feed_forward_core(tmp_path):
    out = tmp_path / "bandit"
    argv = ["train", "bandit", "--algo", "reinforce", "--baseline", "batch-mean", "--core", "mlp", "--hidden", "4",
            "--episodes", "4", "--total-steps", "40", "--lr-end", "0", "--quiet", "--no-plot", "--out", str(out)]
    assert cli.main(argv) == 0
    resolved = json.loads((out / "config.json").read_text())["config"]["resolved"]
    assert resolved["algo"] == "reinforce" and resolved["baseline"] == "batch-mean" and resolved["num_updates"] == 10
    assert resolved["lr_end"] == 0.0 and resolved["lr"] > 0  # --lr-end reaches the policy-gradient trainer
    assert not (out / "curves.png").exists()


@pytest.mark.parametrize("flags, message", [
    (["--algo", "supervised"], "task 'cue-reward' is an environment: use --algo a2c or reinforce or ppo or dqn"),
    (["--core", "lstmm"], "Did you mean 'lstm'"),
    (["--gamma", "1.5"], r"gamma must lie in \[0, 1\]"),
    (["--preset", "hard"], "unknown cue-reward preset 'hard'"),
    (["--env-opt", "n_cue=2"], "Did you mean 'n_cues'"),
    (["--episodes", "0"], "episodes must be a positive integer"),
    (["--seq-len", "5"], r"do not apply to --algo a2c on task 'cue-reward': --seq-len \(accepted by supervised, ppo, dqn, lm\)"),
    (["--epsilon", "0.2"], r"--epsilon \(accepted by q-learning, sarsa\)"),
])
def test_bad_flags_exit_2_with_a_helpful_message(tmp_path, capsys, flags, message):
    out = tmp_path / "never"
    assert cli.main(["train", "cue-reward", *flags, "--total-steps", "10000", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "plastix: error:" in err
    assert __import__("re").search(message, err), err
    assert not out.exists()


def test_an_unknown_algorithm_is_refused_by_the_parser_listing_the_choices(tmp_path, capsys):
    assert cli.main(["train", "cue-reward", "--algo", "trpo", "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert "invalid choice 'trpo'" in err and "'reinforce'" in err and "'sarsa'" in err
    assert not (tmp_path / "never").exists()


def test_eval_rejects_a_directory_that_is_not_an_rl_run(tmp_path, capsys):
    assert cli.main(["eval", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
