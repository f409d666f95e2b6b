"""The CTC trainer (plastix.ctc.trainer) and its registry entry: config checks, the loss it
optimises against ``ctc_loss`` by hand, `plastix train ctc-symbols` / `eval` / `list` / resume
through the real dispatcher, and (learning tier) a bidirectional LSTM reaching a label error rate
threshold."""

import csv
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import plastix.cli as cli
from plastix import checkpoint
from plastix.cores import Bidirectional
from plastix.ctc import ctc_loss, run_bidirectional
from plastix.ctc.config import CTCConfig
from plastix.ctc.task import sample_batch
from plastix.ctc.trainer import make_trainer, mean_loss
from plastix.errors import PlastixError

SMALL = ["--hidden", "4", "--batch-size", "4", "--total-steps", "48", "--log-every", "16", "--seeds", "2",
         "--max-len", "3", "--quiet"]


def test_config_is_checked_at_the_boundary():
    with pytest.raises(PlastixError, match="cannot be trained with CTC"):
        make_trainer(CTCConfig(core="esn"))
    with pytest.raises(PlastixError, match="multiple of updates_per_log"):
        make_trainer(CTCConfig(num_updates=30, updates_per_log=20))
    with pytest.raises(PlastixError, match="unknown core 'lstn'"):
        make_trainer(CTCConfig(core="lstn"))
    with pytest.raises(PlastixError, match="takes no core="):
        make_trainer(CTCConfig(), core=object())


@pytest.mark.slow
def test_trained_loss_is_the_mean_ctc_loss_of_the_bidirectional_network():
    config = CTCConfig(hidden=3, bidirectional=True, max_len=3, dtype="float64")
    setup = make_trainer(config).setup
    params = setup.core.init(jax.random.PRNGKey(0))
    trainer_params = make_trainer(config).init(jax.random.PRNGKey(1)).params._replace(core=params)
    batch = sample_batch(setup.task, jax.random.PRNGKey(2), 5, jnp.float64)
    assert isinstance(setup.core, Bidirectional)
    V, c = trainer_params.readout
    logits = jnp.stack([run_bidirectional(setup.core, params, batch.xs[b], batch.input_lengths[b]) @ V.T + c[None, :]
                        for b in range(5)])
    want = jnp.mean(ctc_loss(logits, batch.input_lengths, batch.labels, batch.label_lengths))
    assert float(mean_loss(trainer_params, setup, batch)) == pytest.approx(float(want), rel=1e-12)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ctc-run"
    assert cli.main(["train", "ctc-symbols", "--core", "lstm", "--bidirectional", *SMALL, "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_train_writes_metrics_config_and_curves(run_dir):
    saved = json.loads((run_dir / "config.json").read_text())
    resolved = saved["config"]["resolved"]
    assert saved["config"]["algo"] == "ctc" and resolved["bidirectional"] and resolved["max_len"] == 3
    assert resolved["num_updates"] == 12 and resolved["updates_per_log"] == 4  # 48 / 4, 16 / 4
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"charts/label_error_rate", "charts/eval_loss", "losses/train_loss"} <= set(rows[0])
    assert len(rows) == 2 * 3 and [float(r["step"]) for r in rows if r["seed"] == "0"] == [16.0, 32.0, 48.0]
    assert all(0.0 <= float(r["charts/label_error_rate"]) for r in rows)  # above 1 possible: insertions count
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_eval_json_gives_best_path_and_beam_label_error_rates(run_dir, capsys):
    capsys.readouterr()
    assert cli.main(["eval", str(run_dir), "--json", "--episodes", "6"]) == 0
    result = json.loads(capsys.readouterr().out)
    rates = result["label_error_rate"]
    assert result["algo"] == "ctc" and result["seeds"] == [0, 1] and rates["beam_width"] == 8
    assert len(rates["greedy"]) == len(rates["beam"]) == 2 and result["per_seed"] == rates["greedy"]
    assert all(r >= 0 for r in rates["greedy"] + rates["beam"])
    assert cli.main(["eval", str(run_dir), "--episodes", "6"]) == 0
    text = capsys.readouterr().out
    assert "label error rate (best path) on 6 fresh sequences" in text and "prefix beam search (width 8)" in text


def test_list_and_wrong_algorithm(capsys):
    assert cli.main(["list", "--json"]) == 0
    tasks = {t["name"]: t for t in json.loads(capsys.readouterr().out)["tasks"]}
    assert tasks["ctc-symbols"]["algorithms"] == "ctc" and "ctc" in json.dumps(tasks["ctc-symbols"])
    assert cli.main(["train", "ctc-symbols", "--algo", "supervised", "--quiet"]) == 2
    assert "use --algo ctc" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_equals_an_uninterrupted_run(tmp_path):
    straight, stopped = tmp_path / "a", tmp_path / "b"
    argv = [*SMALL, "--checkpoint-every", "1", "--no-plot"]
    assert cli.main(["train", "ctc-symbols", *argv, "--out", str(straight)]) == 0
    assert cli.main(["train", "ctc-symbols", *argv, "--out", str(stopped)]) == 0
    shutil.rmtree(checkpoint.list_checkpoints(stopped)[-1])  # as if stopped after log point 2 of 3
    (stopped / "params.npz").unlink()
    assert cli.main(["train", "--resume", str(stopped), "--quiet"]) == 0
    with np.load(straight / "params.npz") as a, np.load(stopped / "params.npz") as b:
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])


@pytest.mark.learning
def test_bidirectional_lstm_learns_ctc_symbols():
    # 160 updates of 32 sequences (5,120 sequences), an easier noise level than the default
    config = CTCConfig(core="lstm", hidden=24, bidirectional=True, noise=0.5, num_updates=160, updates_per_log=40)
    _, metrics = jax.jit(make_trainer(config).train)(jax.random.PRNGKey(0))
    ler = np.asarray(metrics["charts/label_error_rate"])
    assert ler[0] > ler[-1] and ler[-1] < 0.2, ler
