"""Run-directory files: parameters saved and loaded exactly; bad files get clear errors and
leave the directory untouched; the influence diagnostic reads a trained run."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cli import main
from plastix.cli.grads import trained_influence
from plastix.cores import make_core
from plastix.errors import PlastixError
from plastix.grads import SeqModel
from plastix.grads.influence import input_influence
from plastix.runs import PARAMS, create_run_dir, load_params, save_params


def stacked_params(seeds=3):
    model = SeqModel(make_core("neuromod-rnn", 3, 4, dtype="float64"), 2)
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    return model, jax.vmap(model.init)(keys)


@pytest.mark.slow
def test_params_round_trip_every_seed_bitwise(tmp_path):
    model, params = stacked_params()
    save_params(tmp_path, params)
    template = model.init(jax.random.PRNGKey(99))
    for i in range(3):
        loaded = load_params(tmp_path, template, seed_index=i)
        for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(params), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[i])


def test_incompatible_and_corrupt_params_are_refused_and_untouched(tmp_path):
    _, params = stacked_params()
    save_params(tmp_path, params)
    before = (tmp_path / PARAMS).read_bytes()
    bigger = SeqModel(make_core("neuromod-rnn", 3, 5, dtype="float64"), 2).init(jax.random.PRNGKey(1))
    with pytest.raises(PlastixError, match=r"expected \(seeds, 5, 3\)"):
        load_params(tmp_path, bigger)
    other = SeqModel(make_core("elman", 3, 4, dtype="float64"), 2).init(jax.random.PRNGKey(1))
    with pytest.raises(PlastixError, match="lacks parameter"):
        load_params(tmp_path, other)
    assert (tmp_path / PARAMS).read_bytes() == before
    (tmp_path / PARAMS).write_bytes(before[: len(before) // 2])
    with pytest.raises(PlastixError, match="not a readable parameter file"):
        load_params(tmp_path, bigger)


def test_run_dir_is_never_overwritten(tmp_path):
    create_run_dir(str(tmp_path / "r"), "x", {"a": 1}, [0])
    before = (tmp_path / "r" / "config.json").read_text()
    with pytest.raises(PlastixError, match="already exists"):
        create_run_dir(str(tmp_path / "r"), "x", {"a": 2}, [0])
    assert (tmp_path / "r" / "config.json").read_text() == before
    assert json.loads(before)["seeds"] == [0]


@pytest.mark.slow
def test_influence_of_a_trained_run_uses_its_saved_network(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "adding", "--core", "elman", "--hidden", "4", "--seq-len", "6", "--batch-size", "4",
            "--total-steps", "16", "--log-every", "8", "--seeds", "2", "--quiet", "--no-plot", "--out", str(out)]
    assert main(argv) == 0
    label, norms = trained_influence(str(out), seed=3)
    # Independent: rebuild the same network by hand from the saved arrays and the same sequence.
    model = SeqModel(make_core("elman", 2, 4), 1)
    params = load_params(out, model.init(jax.random.PRNGKey(0)))
    from plastix.tasks import get_task

    xs = get_task("adding").sample(jax.random.PRNGKey(3), 1, 6, jnp.float32).xs[0]
    np.testing.assert_allclose(norms, input_influence(model, params, xs), rtol=1e-6)
    assert label.startswith("elman trained")
    untrained = input_influence(model, model.init(jax.random.PRNGKey(0)), xs)
    assert not np.allclose(norms, untrained)  # really the trained weights


def test_non_finite_final_metric_is_an_error_naming_the_seed(tmp_path, capsys):
    from plastix.algorithms import summarize_supervised
    from plastix.train.supervised import SupervisedConfig

    metrics = {"charts/eval_metric": np.array([[0.5, 0.1], [0.4, np.nan]]),
               "losses/skipped_updates": np.array([[0, 0], [0, 7]])}
    with pytest.raises(PlastixError, match=r"not finite for seed\(s\) \[4\].*\[0, 7\]"):
        summarize_supervised(tmp_path, SupervisedConfig(), metrics, [3, 4], False)
    summarize_supervised(tmp_path, SupervisedConfig(), {k: v[:1] for k, v in metrics.items()}, [3], False)
    assert "run directory" in capsys.readouterr().out


# ---------------------------------------------------------------- run directory contract (docs/runs.md)
SUPERVISED_COLUMNS = ["step", "wall_time", "seed", "losses/train_loss", "charts/eval_loss", "charts/eval_metric",
                      "charts/baseline", "losses/skipped_updates"]


@pytest.mark.slow
def test_tiny_cli_run_creates_the_documented_files_and_columns(tmp_path, capsys):
    import csv

    out = tmp_path / "run"
    argv = ["train", "adding", "--core", "elman", "--hidden", "8", "--seq-len", "5", "--batch-size", "4",
            "--total-steps", "24", "--log-every", "8", "--seeds", "2", "--seed", "5", "--checkpoint-every", "2",
            "--keep-checkpoints", "1", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "config.json", "curves.png", "metrics.csv",
                                                     "params.npz", "train.log"]
    config = json.loads((out / "config.json").read_text())
    assert config["seeds"] == [5, 6] and set(config["versions"]) == {"plastix", "jax", "python"}
    assert config["versions"]["jax"] == jax.__version__
    assert config["config"]["args"]["hidden"] == 8 and config["config"]["resolved"]["num_updates"] == 6
    with open(out / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == SUPERVISED_COLUMNS
    assert [(int(r["step"]), int(r["seed"])) for r in rows] == [(8, 5), (8, 6), (16, 5), (16, 6), (24, 5), (24, 6)]
    walls = [float(r["wall_time"]) for r in rows]
    assert walls == sorted(walls) and walls[0] >= 0
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_00000024"]  # keep 1: the last
    log = (out / "train.log").read_text()
    for line in printed.strip().splitlines():  # what was printed is in the log
        assert line in log
    assert "started: plastix train adding" in log
    # a corrupt checkpoint: --resume names the file and changes nothing in the run directory but its log
    state = out / "checkpoints" / "step_00000024" / "state.npz"
    state.write_bytes(state.read_bytes()[:-7] + b"corrupt")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["train", "adding", "--resume", str(out), "--quiet"]) == 2
    assert f"checkpoint file {str(state)!r} is corrupt" in capsys.readouterr().err
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    log = out / "train.log"  # the refusal is recorded in the run's log, appended: nothing else changes
    assert after[log].startswith(before[log]) and b"is corrupt" in after[log][len(before[log]):]
    assert {p: b for p, b in after.items() if p != log} == {p: b for p, b in before.items() if p != log}


@pytest.mark.parametrize("flags, message", [
    (["--hidden", "0"], "hidden must be a positive integer, got 0"),
    (["--lr", "-0.1"], "--lr must be a positive number, got -0.1"),
    (["--gamma", "1.5"], r"--gamma must lie in \[0, 1\], got 1.5"),
    (["--clip-norm", "nan"], "clip_norm must be a finite number"),
    (["--seeds", "0"], "seeds must be a positive integer"),
    (["--double"], r"do not apply to --algo supervised on task 'adding': --double \(accepted by dqn\)"),
    (["--dtype", "float16"], r"invalid choice 'float16' for argument '--dtype'"),
    (["--core", "lstmm"], "Did you mean 'lstm'"),
    (["--lr", "0.01", "--lr-end", "0.5"], r"lr_end must lie in \[0, lr = 0.01\]"),
    (["--lr-end", "-1"], r"--lr-end must lie in"),
])
def test_invalid_flags_exit_nonzero_before_any_file_is_written(tmp_path, capsys, flags, message):
    import re

    out = tmp_path / "never"
    assert main(["train", "adding", *flags, "--out", str(out), "--quiet"]) != 0
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


def test_unknown_flag_is_rejected_by_the_parser(capsys):
    assert main(["train", "adding", "--hiden", "4"]) != 0
    assert "--hiden" in capsys.readouterr().err


def test_discrete_algorithm_on_continuous_actions_is_refused():
    from plastix.rl.resolve import check_discrete_actions

    class Pendulum:  # a continuous action space: no finite number of actions
        num_actions = None

    with pytest.raises(PlastixError, match="--algo a2c needs a discrete action space.*'pendulum'"):
        check_discrete_actions("a2c", "pendulum", Pendulum())
    check_discrete_actions("a2c", "bandit", type("Bandit", (), {"num_actions": 2})())


def test_resume_refuses_flags_that_differ_and_names_them(tmp_path, capsys):
    import dataclasses

    from plastix.cli.args import TrainArgs

    args = TrainArgs(task="adding", core="elman", hidden=8, algo="supervised")
    create_run_dir(str(tmp_path / "r"), "x", {"args": dataclasses.asdict(args), "resolved": {}}, [0])
    before = (tmp_path / "r" / "config.json").read_bytes()
    assert main(["train", "adding", "--resume", str(tmp_path / "r"), "--hidden", "16", "--lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--hidden 16 (run has 8)" in err and "--lr 0.5 (run has None)" in err
    assert main(["train", "copy", "--resume", str(tmp_path / "r")]) == 2
    assert "'copy' (run has 'adding')" in capsys.readouterr().err
    assert main(["train", "adding", "--resume", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert (tmp_path / "r" / "config.json").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["config.json"]
