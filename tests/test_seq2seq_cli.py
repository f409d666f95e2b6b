"""The seq2seq family through the command line: flags resolve to a config (task defaults, the
other families' flags refused), `plastix list` names the tasks, and (slow tier) a tiny run that
`plastix eval --json` and `plastix plot` read back, attention picture included."""

import json

import pytest

from plastix import cli
from plastix.algorithms import get_algorithm
from plastix.cli.train import parse
from plastix.errors import PlastixError
from plastix.seq2seq.resolve import LR_END_FRACTION, TASK_DEFAULTS
from plastix.seq2seq.tasks import SEQ2SEQ_TASKS

PNG = b"\x89PNG\r\n\x1a\n"


def resolve(argv):
    args = parse(argv)
    return get_algorithm(args.algo).resolve(args)


def test_flags_resolve_to_the_task_defaults():
    cfg = resolve(["addition", "--core", "gru", "--attention", "bahdanau", "--beam", "4", "--decoder-core", "lstm"])
    lo, hi, budget, lr = TASK_DEFAULTS["addition"]
    assert (cfg.task, cfg.core, cfg.decoder_core, cfg.attention, cfg.beam) == ("addition", "gru", "lstm", "bahdanau", 4)
    assert (cfg.min_len, cfg.max_len, cfg.lr) == (lo, hi, lr)
    assert cfg.lr_end == pytest.approx(lr * LR_END_FRACTION)
    assert cfg.num_updates * cfg.batch_size <= budget and cfg.num_updates % cfg.updates_per_log == 0
    cfg = resolve(["reversal", "--min-len", "2", "--max-len", "7", "--total-steps", "6400", "--batch-size", "32",
                   "--sampling", "0.3", "--sampling-schedule", "constant"])
    assert (cfg.min_len, cfg.max_len, cfg.num_updates, cfg.sampling) == (2, 7, 200, 0.3)


@pytest.mark.parametrize("argv, message", [
    (["addition", "--grad", "rtrl"], "supervised"),
    (["addition", "--algo", "supervised"], "seq2seq"),
    (["adding", "--attention", "luong"], "seq2seq"),
    (["sorting", "--min-len", "5", "--max-len", "2"], "min_len"),
    (["reversal", "--core", "esn"], "esn"),
])
def test_wrong_flags_are_refused(argv, message):
    with pytest.raises(PlastixError, match=message):
        resolve(argv)


def test_list_names_the_tasks(capsys):
    assert cli.main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "seq2seq" in data["algorithms"]
    rows = {t["name"]: t for t in data["tasks"]}
    for task in SEQ2SEQ_TASKS:
        assert rows[task]["algorithms"] == "seq2seq" and rows[task]["metric"] == "exact_match"


@pytest.mark.slow
def test_train_eval_plot_round_trip(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "reversal", "--core", "gru", "--attention", "bahdanau", "--hidden", "8", "--embed", "4",
                     "--max-len", "3", "--batch-size", "8", "--total-steps", "32", "--log-every", "16", "--seeds", "2",
                     "--out", str(out), "--quiet"]) == 0
    assert (out / "attention.png").read_bytes()[:8] == PNG
    capsys.readouterr()
    assert cli.main(["eval", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["algo"] == "seq2seq" and result["seeds"] == [0, 1] and result["long_len"] == 6
    assert all(0.0 <= v <= 1.0 for v in result["per_seed"] + result["per_seed_long"])
    assert cli.main(["plot", str(out), "--out", str(tmp_path / "c.png"), "--force"]) == 0
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG


def test_mixed_cores_get_their_own_options():
    """An lstm encoder with a transformer decoder: the window option goes to the transformer only
    (its default holds a whole problem of twice the trained length), and no carry is handed over."""
    from plastix.seq2seq.train import build_model

    cfg = resolve(["sorting", "--core", "lstm", "--decoder-core", "transformer", "--attention", "luong",
                   "--max-len", "6"])
    model = build_model(cfg)
    assert model.decoder.context == 2 * (2 * 12 + 3) and not model.hands_over_carry
    assert model.decoder.input_size == cfg.embed + cfg.hidden  # [E y; h̃] with input feeding
