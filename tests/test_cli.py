"""`plastix train / plot / list` in-process through the real dispatcher (plastix.cli.main)."""

import csv
import json

import numpy as np
import pytest

import plastix.cli as cli

PNG = b"\x89PNG\r\n\x1a\n"
COLUMNS = ["step", "wall_time", "seed", "losses/train_loss", "charts/eval_loss", "charts/eval_metric",
           "charts/baseline", "losses/skipped_updates"]
SMALL = ["--core", "elman", "--hidden", "4", "--seq-len", "5", "--batch-size", "4",
         "--total-steps", "48", "--log-every", "16", "--seeds", "2", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "adding-run"
    assert cli.main(["train", "adding", *SMALL, "--out", str(out)]) == 0
    return out


def test_train_writes_config_metrics_and_plot(run_dir, capsys):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seeds"] == [0, 1]
    resolved = config["config"]["resolved"]
    assert resolved["task"] == "adding" and resolved["core"] == "elman" and resolved["seq_len"] == 5
    assert resolved["num_updates"] == 12 and resolved["updates_per_log"] == 4  # 48 / 4, 16 / 4
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == COLUMNS
    assert len(rows) == 3 * 2  # 3 log points x 2 seeds
    assert [int(r["step"]) for r in rows] == [16, 16, 32, 32, 48, 48]
    assert [int(r["seed"]) for r in rows] == [0, 1] * 3
    assert all(float(r["charts/baseline"]) == pytest.approx(1 / 6) for r in rows)
    assert all(np.isfinite(float(r["charts/eval_metric"])) for r in rows)
    # the metric is plain MSE, the SeqModel loss is ½ of it (on the same eval batch)
    for r in rows:
        assert float(r["charts/eval_metric"]) == pytest.approx(2 * float(r["charts/eval_loss"]), rel=1e-5)
    assert (run_dir / "curves.png").read_bytes()[:8] == PNG


def test_existing_run_dir_is_refused_and_untouched(run_dir, capsys):
    def snapshot():
        return {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}

    before = snapshot()
    assert cli.main(["train", "adding", *SMALL, "--out", str(run_dir)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert snapshot() == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "addnig"], "Did you mean 'adding'"),
        (["train", "adding", "--core", "lsmt"], "Did you mean 'lstm'"),
        (["train", "adding", "--grad", "rtlr"], "'rtrl'"),  # a Literal: tyro lists the choices
        (["train", "adding", "--hidden", "0"], "hidden must be a positive integer"),
        (["train", "adding", "--seeds", "0"], "seeds must be a positive integer"),
        (["train", "adding", "--batch-size", "-3"], "batch_size must be a positive integer"),
        (["train", "adding", "--lr", "0"], "lr must be a positive"),
        (["train", "adding", "--seq-len", "1"], "seq_len >= 2"),
        (["train", "adding", "--algo", "q-learning"], "use --algo supervised"),
        (["train", "adding", "--total-steps", "3"], "at least batch_size"),
        (["train", "adding", "--grad", "hand-bptt"], "hand-derived backward"),  # lstm: traced at the boundary
    ],
)
def test_bad_input_exits_non_zero_with_a_helpful_message(argv, message, tmp_path, capsys):
    out = tmp_path / "never"
    assert cli.main([*argv, "--out", str(out), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # refused before anything was written


def test_unknown_flag_exits_non_zero(capsys):
    assert cli.main(["train", "adding", "--hiden", "3"]) == 2
    assert "--hidden" in capsys.readouterr().err  # tyro names the closest flag


def test_unknown_command_suggests_closest(capsys):
    assert cli.main(["trian"]) == 2
    assert "Did you mean 'train'" in capsys.readouterr().err


@pytest.mark.slow
def test_core_options_reach_the_core(tmp_path):
    """--modulation and --core-opt are passed to the core (and bad ones are refused)."""
    out = tmp_path / "nm"
    argv = ["train", "adding", "--core", "neuromod-rnn", "--modulation", "simple", "--core-opt", "alpha=neuron",
            "--hidden", "4", "--seq-len", "6", "--batch-size", "4", "--total-steps", "8", "--log-every", "4",
            "--quiet", "--no-plot"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    resolved = json.loads((out / "config.json").read_text())["config"]["resolved"]
    assert dict(map(tuple, resolved["core_options"])) == {"alpha": "neuron", "modulation": "simple"}
    assert cli.main([*argv[:-8], "--core-opt", "rule=hebbish", *argv[-6:], "--out", str(tmp_path / "bad")]) == 2


def test_plot_compares_runs_and_refuses_to_overwrite(run_dir, tmp_path, capsys):
    out = tmp_path / "cmp.png"
    assert cli.main(["plot", str(run_dir), str(run_dir), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG
    before = out.read_bytes()
    assert cli.main(["plot", str(run_dir), "--out", str(out)]) == 2
    assert out.read_bytes() == before
    assert cli.main(["plot", str(run_dir), "--out", str(tmp_path / "x.png"), "--metric", "charts/nope"]) == 2
    assert "charts/eval_loss" in capsys.readouterr().err
    assert cli.main(["plot", str(tmp_path), "--out", str(tmp_path / "y.png")]) == 2


def test_list_json_names_everything(capsys):
    assert cli.main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    from plastix.cores import CORES
    from plastix.tasks import SEQUENCE_TASKS

    assert data["cores"] == list(CORES)
    names = [t["name"] for t in data["tasks"]]
    assert set(SEQUENCE_TASKS) <= set(names)
    assert "supervised" in data["algorithms"] and "bptt" in data["gradient_methods"]
    assert data["distributed_algorithms"] == ["a3c", "dppo"]


@pytest.mark.slow
def test_grid_tasks_dispatch_to_tabular_rl_with_q_learning_by_default(tmp_path, capsys):
    out = tmp_path / "grid"
    assert cli.main(["train", "lecture-grid", "--total-steps", "1000", "--log-every", "500", "--out", str(out),
                     "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["args"]["algo"] == "q-learning"
    assert cli.main(["plot", str(out), "--out", str(tmp_path / "g.png"), "--metric", "charts/episodic_return"]) == 0
    assert (out / "policy.png").read_bytes()[:8] == PNG
    assert cli.main(["train", "lecture-grid", "--algo", "supervised", "--out", str(tmp_path / "no")]) == 2
    assert "q-learning" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["train", "cliff-walking", "--core", "lstm", "--hidden", "8", "--modulation", "simple"],
     # the algorithms after dqn (lm and those registered later) also take these flags
     "do not apply to --algo q-learning on task 'cliff-walking': --core (accepted by supervised, a2c, reinforce, ppo, dqn"),
    (["train", "adding", "--rl-grad", "rollout"], "--rl-grad (accepted by a2c, reinforce)"),
    (["train", "cartpole", "--grad", "rtrl"], "--grad (accepted by supervised)"),
    (["train", "cartpole", "--baseline", "none"], "--baseline (accepted by reinforce)"),
    (["train", "gymnasium:CartPole-v1", "--algo", "dqn"], "Use --algo a2c or reinforce for gymnasium:<id> tasks"),
    (["train"], "needs a TASK"),
])
def test_options_that_do_not_apply_are_refused_before_anything_is_written(argv, message, tmp_path, capsys):
    out = tmp_path / "never"
    assert cli.main([*argv, "--out", str(out), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_rl_grad_reaches_the_policy_gradient_config():
    from plastix.cli.args import TrainArgs
    from plastix.rl.resolve import resolve_rl_config

    assert resolve_rl_config(TrainArgs(task="bandit", rl_grad="bptt", total_steps=2000)).grad == "bptt"
    assert resolve_rl_config(TrainArgs(task="bandit", total_steps=2000)).grad == "auto"


@pytest.mark.slow
def test_resume_needs_only_the_run_directory(tmp_path, capsys):
    straight, stopped = tmp_path / "a", tmp_path / "b"
    argv = [*SMALL, "--checkpoint-every", "1", "--no-plot"]
    assert cli.main(["train", "adding", *argv, "--out", str(straight)]) == 0
    assert cli.main(["train", "adding", *argv, "--out", str(stopped)]) == 0
    import shutil

    from plastix import checkpoint

    shutil.rmtree(checkpoint.list_checkpoints(stopped)[-1])  # as if stopped after log point 2 of 3
    (stopped / "params.npz").unlink()
    assert cli.main(["train", "--resume", str(stopped), "--quiet"]) == 0
    assert "resumed from checkpoint step_00000032 (log point 2)" in (stopped / "train.log").read_text()
    with np.load(straight / "params.npz") as a, np.load(stopped / "params.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])
    assert (straight / "metrics.csv").read_text().count("\n") == (stopped / "metrics.csv").read_text().count("\n")


def test_a_data_file_task_trains_with_the_supervised_algorithm(tmp_path, capsys):
    """`plastix train data:FILE.npz` routes to the supervised trainer (no --algo needed)."""
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(12, 4, 2))
    ys = np.cumsum(xs[..., :1], axis=1)  # (N, T, 1) float targets: an mse task
    path = tmp_path / "tiny.npz"
    np.savez(path, xs=xs, ys=ys)
    out = tmp_path / "run"
    argv = ["train", f"data:{path}", "--core", "lstm", "--hidden", "4", "--batch-size", "4", "--total-steps", "16",
            "--log-every", "8", "--quiet", "--no-plot", "--out", str(out)]
    assert cli.main(argv) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["algo"] == "supervised" and saved["config"]["resolved"]["seq_len"] == 4
    with open(out / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [8, 16]
    assert all(np.isfinite(float(r["charts/eval_metric"])) for r in rows)
    # the baseline is the data's constant predictor (held-out mse), not adding's 1/6
    from plastix.tasks.data import split_indices

    train, held = split_indices(12, 0.2, 0)
    want = float(np.mean(np.sum((ys[held] - ys[train].mean(axis=(0, 1))) ** 2, axis=-1).mean(axis=1)))
    assert float(rows[0]["charts/baseline"]) == pytest.approx(want, rel=1e-5)
    assert f"data:{path}: final eval mse" in capsys.readouterr().out


@pytest.mark.parametrize("argv, want", [
    # (hidden, lr, clip_norm, gamma, value_coef, entropy_coef, core, episodes): docs/rl-training.md
    (["cue-reward"], (200, 1e-4, 2.0, 0.9, 0.1, 0.03, "neuromod-rnn", 30)),  # Backpropamine (Miconi et al. 2019)
    (["cue-reward", "--preset", "quick"], (64, 1e-3, 2.0, 0.9, 0.1, 0.03, "neuromod-rnn", 30)),
    (["cue-reward", "--preset", "easy"], (50, 1e-3, 2.0, 0.9, 0.1, 0.03, "neuromod-rnn", 30)),
    (["cartpole"], (32, 1e-2, 1.0, 0.99, 0.5, 0.0, "mlp", 32)),
    (["bandit", "--algo", "reinforce", "--gamma", "0.5", "--hidden", "7"],
     (7, 3e-2, 2.0, 0.5, 0.1, 0.03, "neuromod-rnn", 30)),
])
def test_policy_gradient_args_resolve_to_the_named_preset(argv, want):
    from plastix.cli.train import parse
    from plastix.rl.resolve import resolve_rl_config

    args = parse([*argv, "--total-steps", "100000"])
    assert type(args).__name__ == ("ReinforceArgs" if "reinforce" in argv else "PolicyGradientArgs")
    c = resolve_rl_config(args)
    assert (c.hidden, c.lr, c.clip_norm, c.gamma, c.value_coef, c.entropy_coef, c.core, c.batch_size) == want


def test_each_algorithm_parses_its_own_args_and_help(capsys):
    """The task (and --algo) pick the Args class; --help shows that algorithm's flags only."""
    from plastix.cli.train import parse

    assert cli.main(["train", "cartpole", "--algo", "dqn", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--double" in text and "--seed " in text and "--grad " not in text and "--episodes" not in text
    assert cli.main(["train", "adding", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--grad" in text and "--double" not in text and "--epsilon" not in text
    args = parse(["cliff-walking", "--algo", "sarsa", "--epsilon", "0.2", "--seeds", "3", "--out", "x"])
    assert (type(args).__name__, args.algo, args.epsilon, args.options.seeds) == ("TabularArgs", "sarsa", 0.2, 3)
    assert args.options.to_options().out == "x" and not args.options.to_options().resume
