"""Language models from the command line: ``plastix train text:<file>`` (the lm algorithm of the
registry), ``plastix eval`` on both splits, ``plastix sample``, ``plastix compare``, bad input;
segmented training bitwise equal to one call; and (learning tier) a small model on the shipped
corpus beats the unigram baseline."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import plastix
from plastix import cli
from plastix.lm import LMConfig, make_corpus, make_trainer
from plastix.runs import read_metrics
from plastix.train.harness import run_segments, seed_keys

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--hidden", "8", "--batch-size", "4", "--seq-len", "16", "--total-steps", "256", "--log-every", "128",
        "--seeds", "2", "--quiet"]


@pytest.fixture(scope="module")
def tales(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "tales.txt"
    path.write_text(make_corpus(25, seed=1)[0])
    return path


@pytest.fixture(scope="module")
def run_dir(tales, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "lm"
    assert cli.main(["train", f"text:{tales}", "--core", "neuromod-lstm", *TINY, "--out", str(out)]) == 0
    return out


def test_train_writes_a_run_with_both_splits_scored(run_dir):
    rows = read_metrics(run_dir)
    assert len(rows) == 2 * 2  # 2 log points x 2 seeds
    assert {"charts/val_bits_per_token", "charts/test_perplexity", "charts/baseline"} <= set(rows[0])
    for row in rows:
        assert row["charts/test_perplexity"] == pytest.approx(2 ** row["charts/test_bits_per_token"], rel=1e-5)
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["config"]["algo"] == "lm" and len(saved["config"]["resolved"]["text_sha256"]) == 64
    assert (run_dir / "curves.png").exists() and (run_dir / "params.npz").exists()


def test_eval_json_scores_both_whole_splits_as_the_trainer_did(run_dir, capsys):
    capsys.readouterr()
    assert cli.main(["eval", str(run_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["algo"] == "lm" and result["seeds"] == [0, 1]
    final = {int(r["seed"]): r for r in read_metrics(run_dir) if r["step"] == 256}
    for i in range(2):  # the trainer's last log point and a fresh evaluation of the saved parameters
        assert result["test"]["bits_per_token"][i] == pytest.approx(final[i]["charts/test_bits_per_token"], rel=1e-5)
        assert result["validation"]["bits_per_token"][i] == pytest.approx(final[i]["charts/val_bits_per_token"],
                                                                          rel=1e-5)
    assert result["score"] == pytest.approx(np.mean(result["test"]["bits_per_token"]))


def test_sample_end_to_end(run_dir, capsys):
    capsys.readouterr()
    assert cli.main(["sample", str(run_dir), "--prompt", "in the", "--length", "30", "--temperature", "0",
                     "--json"]) == 0
    greedy = json.loads(capsys.readouterr().out)
    assert greedy["prompt"] == "in the" and len(greedy["text"]) == 30
    assert cli.main(["sample", str(run_dir), "--prompt", "in the", "--length", "30", "--temperature", "0",
                     "--seed", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == greedy["text"]  # greedy ignores the seed
    assert cli.main(["sample", str(run_dir), "--prompt", "QZ the", "--length", "5"]) == 0
    captured = capsys.readouterr()
    assert "read as <unk>: 'Q', 'Z'" in captured.err and captured.out.startswith("<unk><unk> the")
    assert cli.main(["sample", str(run_dir), "--prompt", "", "--length", "5"]) == 2
    assert "--prompt is empty" in capsys.readouterr().err
    assert cli.main(["sample", str(run_dir), "--prompt", "a", "--temperature", "-1"]) == 2
    assert cli.main(["sample", str(run_dir), "--prompt", "a", "--run-seed", "7"]) == 2
    assert "not a seed of" in capsys.readouterr().err


def test_compare_reads_lower_perplexity_as_better(run_dir, capsys):
    capsys.readouterr()
    assert cli.main(["compare", str(run_dir), "--metric", "charts/test_perplexity", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["higher_is_better"] is False


def test_word_level_from_the_command_line(tales, tmp_path, capsys):
    out = tmp_path / "words"
    argv = ["train", f"text:{tales}", "--level", "word", "--min-count", "2", "--hidden", "8", "--embed", "6",
            "--batch-size", "2", "--seq-len", "8", "--total-steps", "32", "--quiet", "--out", str(out)]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert cli.main(["sample", str(out), "--prompt", "the smith\n", "--length", "6", "--temperature", "0", "--json"]) == 0
    text = json.loads(capsys.readouterr().out)["text"]
    assert 1 <= len(text.split()) <= 6


@pytest.mark.parametrize("content, flags, message", [
    (None, [], "does not exist"),
    (b"", [], "is empty"),
    (b"\x7fELF\x02\x01\x01\x00\x00", [], "is a binary file"),
    (b"short text here", ["--batch-size", "4", "--seq-len", "16"], "cannot hold one segment"),
])
def test_bad_text_files_are_one_line_errors(tmp_path, capsys, content, flags, message):
    path = tmp_path / "in.txt"
    if content is not None:
        path.write_bytes(content * (4 if content.startswith(b"short") else 1))
    assert cli.main(["train", f"text:{path}", *flags, "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()  # refused before a run directory is made


def test_flags_of_other_algorithms_and_algorithms_of_other_tasks_are_refused(tales, capsys):
    assert cli.main(["train", f"text:{tales}", "--episodes", "3"]) == 2
    assert "--episodes (accepted by" in capsys.readouterr().err
    assert cli.main(["train", f"text:{tales}", "--algo", "supervised"]) == 2
    assert "is a text file: use --algo lm" in capsys.readouterr().err


def test_list_names_text_files(capsys):
    assert cli.main(["list"]) == 0
    assert "text:<file>" in capsys.readouterr().out


@pytest.mark.slow  # ~20 s on a busy core: two compilations of a plastic trainer
def test_segmented_training_is_bitwise_one_call(tales):
    """The carries and the segment index are part of the training state: stopping between log
    points (checkpoints, --resume) changes no number."""
    config = LMConfig(task=f"text:{tales}", core="plastic-lstm", hidden=6, batch_size=3, seq_len=12, num_updates=6,
                      updates_per_log=2)
    trainer = make_trainer(config)
    keys = seed_keys([0, 1])
    whole = jax.jit(jax.vmap(trainer.train))(keys)
    parts = run_segments(trainer, keys, [1, 2], shard=False)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(parts), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.learning
def test_a_small_lstm_beats_the_unigram_baseline_on_the_shipped_corpus(tmp_path):
    config = LMConfig(task=f"text:{ROOT / 'examples' / 'tales.txt'}", core="lstm", hidden=48, batch_size=16,
                      seq_len=32, lr=1e-2, num_updates=150, updates_per_log=150)
    result = plastix.run(config, seeds=1, out=str(tmp_path / "lm"), progress=False, no_plot=True)
    bits = float(result.metrics["charts/val_bits_per_token"][0, -1])
    unigram = float(result.metrics["charts/baseline"][0, -1])  # 4.19 bits per character
    assert bits < unigram - 0.5, (bits, unigram)
