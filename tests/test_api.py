"""The Python front door: ``plastix.run`` / ``plastix.load`` (plastix.driver), resume through the
API bitwise equal to a run that never stopped, evaluation of a tabular run, and ``import plastix``
loading no trainer module."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

import plastix
import plastix.cli
from plastix import checkpoint
from plastix.errors import PlastixError
from plastix.train import SupervisedConfig

# 8 updates of 4 sequences, a log point every 2 updates (4 points), a checkpoint every 2 points
CONFIG = SupervisedConfig(task="adding", core="elman", hidden=6, seq_len=5, batch_size=4, num_updates=8,
                          updates_per_log=2, eval_batch_size=8)
OPTIONS = {"seeds": 2, "checkpoint_every": 2, "progress": False, "no_plot": True}


def leaves(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.mark.slow
def test_resume_through_the_api_is_bitwise_equal_to_not_stopping(tmp_path, monkeypatch, capsys):
    straight = plastix.run(CONFIG, out=str(tmp_path / "a"), **OPTIONS)
    # the interrupted run: the process dies while writing its second checkpoint
    real, calls = checkpoint.save, []

    def dies_on_second_save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save", dies_on_second_save)
    with pytest.raises(KeyboardInterrupt):
        plastix.run(CONFIG, out=str(tmp_path / "b"), **OPTIONS)
    monkeypatch.setattr(checkpoint, "save", real)
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path / "b")] == ["step_00000016"]
    assert not (tmp_path / "b" / "params.npz").exists()
    with pytest.raises(PlastixError, match="continues the run with its saved seeds 2; got 3"):
        plastix.run(CONFIG, resume=str(tmp_path / "b"), seeds=3, progress=False)
    # seeds and checkpoint plan come from the run directory
    resumed = plastix.run(CONFIG, resume=str(tmp_path / "b"), progress=False, no_plot=True)
    for got, want in zip(leaves(resumed.state), leaves(straight.state), strict=True):
        np.testing.assert_array_equal(got, want)  # params, Adam moments, keys, counters
    assert set(resumed.metrics) == set(straight.metrics)
    for name in straight.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], straight.metrics[name])
    assert "resumed from checkpoint step_00000016 (log point 2)" in (tmp_path / "b" / "train.log").read_text()
    # a resume with another config is refused before anything is written
    other = SupervisedConfig(**{**CONFIG.__dict__, "lr": 0.5})
    with pytest.raises(PlastixError, match="does not resolve to the same training"):
        plastix.run(other, resume=str(tmp_path / "b"), **OPTIONS)


def test_load_gives_back_the_config_parameters_and_metrics(tmp_path, capsys):
    result = plastix.run(CONFIG, out=str(tmp_path / "r"), seed=3, **{**OPTIONS, "seeds": 2})
    run = plastix.load(tmp_path / "r")
    assert run.algorithm.name == "supervised" and run.config == CONFIG and run.seeds == [3, 4]
    for got, want in zip(leaves(run.params), leaves(result.state.params), strict=True):
        np.testing.assert_array_equal(got, want)
    for name, values in result.metrics.items():  # metrics.csv holds every value exactly
        np.testing.assert_array_equal(run.metrics[name], np.asarray(values, np.float64))
    assert run.metrics["step"].tolist() == [[8, 16, 24, 32]] * 2


def test_run_refuses_a_non_config_and_unknown_options(tmp_path):
    with pytest.raises(PlastixError, match="expected an algorithm config"):
        plastix.run({"task": "adding"})
    with pytest.raises(PlastixError, match="unknown run option"):
        plastix.run(CONFIG, out=str(tmp_path / "x"), sedes=2)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_tabular_run_trains_through_the_same_path_and_evaluates(tmp_path, capsys):
    from plastix.mdp import make_grid
    from plastix.mdp.runner import GridConfig
    from plastix.mdp.tabular import greedy_return

    config = GridConfig(task="lecture-grid", gamma=0.9, total_steps=2000, log_every=200, max_episode_steps=50)
    result = plastix.run(config, out=str(tmp_path / "g"), seeds=2, progress=False)
    assert (tmp_path / "g" / "policy.png").exists() and (tmp_path / "g" / "curves.png").exists()
    assert result.metrics["charts/greedy_return"].shape == (2, 10)
    run = plastix.load(tmp_path / "g")
    assert run.algorithm.name == "q-learning" and run.params.shape == (2, 6, 4)
    np.testing.assert_array_equal(run.params, np.asarray(result.state.agent.q))
    capsys.readouterr()
    assert plastix.cli.main(["eval", str(tmp_path / "g"), "--episodes", "7", "--seed", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    mdp = make_grid("lecture-grid", 0.9).mdp
    want = [float(greedy_return(jax.random.PRNGKey(2), mdp, jax.numpy.asarray(q), 50, 7)) for q in run.params]
    assert out["per_seed"] == pytest.approx(want) and out["algo"] == "q-learning"


def test_import_plastix_loads_no_trainer_and_no_jax():
    code = ("import sys, plastix; print(sorted(m for m in sys.modules if m == 'jax' or m.startswith(("
            "'plastix.rl', 'plastix.dqn', 'plastix.mdp', 'plastix.train', 'plastix.cli', 'plastix.driver'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import plastix; from plastix import make_core, SeqModel, PlastixError, run, load; print(plastix.rl.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "plastix.rl"


def test_a_run_on_in_memory_data_is_labelled_scored_and_plotted_as_that_data(tmp_path, monkeypatch, capsys):
    """data= replaces config.task ("adding", where lower mse is better): the summary, run name,
    saved direction, plot baseline, compare and evaluate all follow the data's accuracy task."""
    from plastix.algorithms import evaluate
    from plastix.tasks.data import split_indices

    rng = np.random.default_rng(1)
    xs = rng.normal(size=(10, 5, 3))
    labels = (xs[:, :, 0] > 0).astype(np.int64)  # (N, T) integer labels: a 2-class accuracy task
    labels[:, 0] = 1  # class 1 is the majority of every training split
    monkeypatch.chdir(tmp_path)
    config = SupervisedConfig(task="adding", core="elman", hidden=4, seq_len=5, batch_size=4, num_updates=4,
                              updates_per_log=2, eval_batch_size=8)
    result = plastix.run(config, data=(xs, labels), seeds=2, progress=False)
    out = capsys.readouterr().out
    train, held = split_indices(10, 0.2, 0)
    majority = int(np.argmax(np.bincount(labels[train].ravel(), minlength=2)))
    baseline = float(np.mean((labels[held] == majority).mean(axis=1)))  # constant predictor's held-out accuracy
    assert "data:arrays: final eval accuracy per seed" in out and f"baseline {baseline:.4g}" in out
    assert "adding" not in out and "0.1667" not in out
    assert result.run_dir.resolve().parent == tmp_path / "runs"
    assert result.run_dir.name.startswith("data-arrays-elman-supervised")
    record = json.loads((result.run_dir / "config.json").read_text())["config"]["task"]
    assert record == {"name": "data:arrays", "metric": "accuracy", "higher_is_better": True,
                      "baseline": pytest.approx(baseline)}
    # plot draws the data's baseline (no adding task looked up); compare reads the saved direction
    assert plastix.cli.main(["plot", str(result.run_dir), "--out", str(tmp_path / "p.png")]) == 0
    assert plastix.cli.main(["compare", str(result.run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["higher_is_better"] is True
    # evaluate scores the held-out data with the loaded run's own data
    loaded = plastix.load(result.run_dir, data=(xs, labels))
    scored = evaluate(loaded, seed=0)
    assert scored["task"] == "data:arrays" and scored["what"].startswith("eval accuracy")
    assert all(0.0 <= v <= 1.0 for v in scored["per_seed"])
