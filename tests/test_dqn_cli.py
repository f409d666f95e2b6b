"""`plastix train cartpole --algo dqn` in-process through the real dispatcher, the run directory,
and the greedy evaluation of a dqn run (``plastix.algorithms.evaluate`` of ``plastix.load``)."""

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plastix.cli as cli
from plastix.errors import PlastixError
from plastix.dqn import evaluate
from plastix.algorithms import DQN_METRICS as DQN_METRIC_NAMES
from plastix.algorithms import evaluate as evaluate_loaded
from plastix.driver import load
from plastix.dqn.trainer import build_setup
from plastix.runs import load_params

SMALL = ["--algo", "dqn", "--hidden", "8", "--batch-size", "8", "--num-envs", "1",
         "--buffer-size", "400", "--learning-starts", "100", "--target-every", "50", "--train-every", "2",
         "--total-steps", "400", "--log-every", "200", "--seeds", "2", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "dqn-run"
    assert cli.main(["train", "cartpole", *SMALL, "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_train_writes_config_metrics_params_and_plot(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seeds"] == [0, 1]
    resolved = config["config"]["resolved"]
    assert resolved["core"] == "mlp" and resolved["total_steps"] == 400 and resolved["steps_per_log"] == 200
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["step", "wall_time", "seed", *DQN_METRIC_NAMES]
    assert [int(r["step"]) for r in rows] == [200, 200, 400, 400]
    # ε at step 400 of 400 with the defaults 1 → 0.05 over half the run
    assert float(rows[-1]["charts/epsilon"]) == pytest.approx(0.05)
    assert (run_dir / "params.npz").exists() and (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert load(run_dir).algorithm.name == "dqn"


@pytest.mark.slow
def test_evaluate_run_is_greedy_evaluation_of_saved_params(run_dir):
    loaded = load(run_dir)
    out = evaluate_loaded(loaded, episodes=4, seed=3)
    config, seeds = loaded.config, loaded.seeds
    setup = build_setup(config)
    template = setup.network.init(jax.random.PRNGKey(0))
    run = jax.jit(lambda p: evaluate(setup, p, jax.random.PRNGKey(3), 4))
    for i in range(len(seeds)):
        want = float(jnp.mean(run(load_params(run_dir, template, seed_index=i))))
        assert out["per_seed"][i] == pytest.approx(want)
    assert out["mean_return"] == pytest.approx(np.mean(out["per_seed"])) and out["policy"] == "greedy"


def test_flags_reach_the_config():
    from plastix.cli.args import TrainArgs
    from plastix.dqn.resolve import resolve_dqn_config

    args = TrainArgs(task="cartpole", algo="dqn", double=True, dueling=True, per=True, n_step=3, core="gru",
                     burn_in=4, optimizer="rmsprop", loss="mse", per_alpha=0.5, per_beta=0.3, total_steps=20_000)
    config = resolve_dqn_config(args)
    assert (config.double, config.dueling, config.per, config.n_step) == (True, True, True, 3)
    assert (config.core, config.burn_in, config.seq_len) == ("gru", 4, 8)  # seq_len: recurrent default
    assert (config.optimizer, config.loss, config.per_alpha, config.per_beta) == ("rmsprop", "mse", 0.5, 0.3)
    # the cartpole defaults of plastix.dqn.resolve.DQN_DEFAULTS (PureJaxRL's), 50 log points of 400 steps:
    # a multiple of the cadence, an update every 10 env steps over 10 environments
    assert (config.buffer_size, config.target_every, config.train_every, config.steps_per_log) == (10_000, 500, 10, 400)
    assert (config.num_envs, config.batch_size, config.learning_starts, config.lr, config.lr_end) == (
        10, 128, 10_000, 2.5e-4, None)


def test_head_hidden_defaults_to_purejaxrls_network_on_cartpole_and_follows_hidden_elsewhere():
    """cartpole: PureJaxRL's 120-84 network; --hidden alone sizes both layers (as on every other
    task); --head-hidden sizes the head's layer alone. The built network has those shapes."""
    from plastix.cli.args import TrainArgs
    from plastix.dqn.resolve import resolve_dqn_config
    from plastix.dqn.trainer import build_setup

    def sizes(**flags):
        config = resolve_dqn_config(TrainArgs(algo="dqn", **flags))
        params = build_setup(config).network.init(jax.random.PRNGKey(0))
        return (config.hidden, config.head_hidden), params.advantage.hidden.V.shape

    assert sizes(task="cartpole") == ((120, 84), (84, 120))
    assert sizes(task="cartpole", hidden=64) == ((64, 0), (64, 64))
    assert sizes(task="cartpole", head_hidden=32) == ((120, 32), (32, 120))
    assert sizes(task="gymnax:Acrobot-v1") == ((64, 0), (64, 64))
    with pytest.raises(PlastixError, match="head-hidden.*accepted by"):
        TrainArgs(task="cartpole", algo="a2c", head_hidden=8)


def test_cartpole_defaults_to_huber_with_a_tanh_torso_and_the_flags_give_purejaxrls():
    """The Huber loss and the mlp torso's tanh on cartpole as elsewhere (the reliable pair; Huber
    with ReLU diverges there), a global-norm clip of 10 everywhere; the flags give PureJaxRL's
    squared error and ReLU torso, and turn the clip off."""
    from plastix.cli.args import TrainArgs
    from plastix.dqn.resolve import resolve_dqn_config

    def resolved(**flags):
        config = resolve_dqn_config(TrainArgs(algo="dqn", **flags))
        return config.loss, config.clip_norm, config.core_options

    assert resolved(task="cartpole") == ("huber", 10.0, ())
    assert resolved(task="cartpole", loss="mse", core_opt=["activation=relu"], clip_norm=0.0) == (
        "mse", None, (("activation", "relu"),))
    assert resolved(task="gymnax:Acrobot-v1") == ("huber", 10.0, ())
    assert resolved(task="gymnax:Acrobot-v1", clip_norm=0.0) == ("huber", None, ())


def test_num_envs_reaches_the_config_with_the_cadence_rounded_up_to_it():
    from plastix.cli.args import TrainArgs
    from plastix.dqn.resolve import resolve_dqn_config

    config = resolve_dqn_config(TrainArgs(task="gymnax:CartPole-v1", algo="dqn", num_envs=4))
    # the default cadence (an update every 2 env steps) rounded up to a multiple of 4 environments
    assert (config.num_envs, config.train_every) == (4, 4)
    config = resolve_dqn_config(TrainArgs(task="cartpole", algo="dqn", num_envs=4, train_every=20))
    assert (config.num_envs, config.train_every) == (4, 20)
    assert resolve_dqn_config(TrainArgs(task="cartpole", algo="dqn")).num_envs == 10  # the task's default
    assert resolve_dqn_config(TrainArgs(task="cartpole", algo="dqn", num_envs=1)).train_every == 10
    assert resolve_dqn_config(TrainArgs(task="gymnax:CartPole-v1", algo="dqn")).num_envs == 1


def test_num_envs_run_counts_env_steps_over_all_environments(tmp_path):
    out = tmp_path / "vec"
    flags = ["--algo", "dqn", "--hidden", "8", "--batch-size", "8", "--buffer-size", "400", "--learning-starts", "100",
             "--target-every", "40", "--num-envs", "4", "--train-every", "4", "--total-steps", "400", "--log-every", "200",
             "--quiet"]
    assert cli.main(["train", "cartpole", *flags, "--out", str(out)]) == 0
    with open(out / "metrics.csv", newline="") as fh:
        steps = [int(float(row["step"])) for row in csv.DictReader(fh)]
    assert steps == [200, 400]  # the budget and the log points count the transitions of all 4 environments


@pytest.mark.parametrize("flags, match", [
    (["--num-envs", "3", "--train-every", "4"], "must be a multiple of num_envs"),
    (["--train-every", "4"], "'cartpole' steps 10 by default (--num-envs)"),
    (["--buffer-size", "4", "--batch-size", "8"], "smaller than a batch"),
    (["--epsilon-start", "0.01", "--epsilon-end", "0.5"], "must not increase"),
    (["--env-opt", "episode_length=0"], "episode_length"),
])
def test_bad_flags_are_errors_before_training(tmp_path, capsys, flags, match):
    out = tmp_path / "bad"
    assert cli.main(["train", "cartpole", "--algo", "dqn", "--quiet", "--out", str(out), *flags]) != 0
    assert match in capsys.readouterr().err
    assert not out.exists()
