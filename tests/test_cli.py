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
        (["train", "adding", "--grad", "rtlr"], "Did you mean 'rtrl'"),
        (["train", "adding", "--hidden", "0"], "hidden must be a positive integer"),
        (["train", "adding", "--seeds", "0"], "seeds must be a positive integer"),
        (["train", "adding", "--batch-size", "-3"], "batch_size must be a positive integer"),
        (["train", "adding", "--lr", "0"], "lr must be a positive"),
        (["train", "adding", "--seq-len", "1"], "seq_len >= 2"),
        (["train", "adding", "--algo", "q-learning"], "use --algo supervised"),
        (["train", "adding", "--total-steps", "3"], "at least batch_size"),
        (["train", "adding", "--grad", "hand-bptt"], "no hand-derived backward"),  # lstm: traced at the boundary
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
