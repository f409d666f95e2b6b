"""What the CLI prints for a person and for a program: tables readable at 80 columns when stdout
is not a terminal, with every name whole, and ``--json`` on the commands that print results
(one JSON object on stdout, its numbers checked against the run directory's files)."""

import csv
import io
import json
import re

import numpy as np
import pytest
from rich.console import Console

import plastix.cli as cli
from plastix.cli import tables


def whole(name: str, text: str) -> bool:
    """``name`` occurs in ``text`` as a whole token (not as part of a longer name)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


@pytest.fixture
def no_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # captured stdout is not a terminal: rich uses 80


def test_list_fits_80_columns_and_prints_every_name_whole(capsys, no_columns):
    assert cli.main(["list", "--json"]) == 0
    catalogue = json.loads(capsys.readouterr().out)
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    names = [t["name"] for t in catalogue["tasks"]] + catalogue["cores"] + catalogue["algorithms"]
    names += catalogue["gradient_methods"] + catalogue["distributed_algorithms"]
    assert "temporal-order" in names and "neuromod-rnn" in names
    missing = [name for name in names if not whole(name, out)]
    assert not missing, f"split or missing in `plastix list`: {missing}"
    for t in catalogue["tasks"]:  # each task's row starts with its whole name
        assert any(line.startswith(f"│ {t['name']} ") for line in out.splitlines()), t["name"]


ROWS = [["temporal-order-with-a-long-name", "supervised", "0.25 [0.1, 0.4]", "ok"],
        ["neuromod-rnn", "a2c, reinforce, dqn", "12.5 [11.9, 13.01]", "a long note that has to wrap somewhere"]]
COLUMNS = ["name", "algorithms", "IQM [95% CI]", "note"]


@pytest.mark.parametrize("width", [30, 50, 80, 120])
def test_print_table_never_splits_a_word_and_fits_the_width(width):
    buf = io.StringIO()
    tables.print_table("a title that is longer than thirty characters", COLUMNS, ROWS,
                       Console(file=buf, width=width), no_wrap=("name",))
    out = buf.getvalue()
    # only a word longer than the width may stick out, on a line of its own
    assert all(len(line) <= width or line.strip() == "temporal-order-with-a-long-name" for line in out.splitlines())
    for word in {w for row in ROWS for cell in row for w in cell.split()} | {"temporal-order-with-a-long-name"}:
        assert word in out, word  # whole, on one line
    # 80 columns: the minimum widths fit (31 + 19 + 6 + 9 + 3·4 + 1 = 78), so a real table; at 50: records
    assert ("┃" in out) == tables.table_fits(COLUMNS, ROWS, width)
    assert tables.table_fits(COLUMNS, ROWS, 80) and not tables.table_fits(COLUMNS, ROWS, 50)


def test_one_line_columns_prefers_the_named_ones_within_the_width():
    # longest words: the name 31; "algorithms" and "reinforce," 10; "[11.9," and "13.01]" 6; "somewhere" 9
    low = tables.min_widths(COLUMNS, ROWS)
    assert low == [31, 10, 6, 9]
    # whole cells: name 31 (+0), algorithms 19 (+9), IQM 18 (+12), note 38 (+29); the table needs
    # sum(low) + 3·4 + 1 = 69: the name (preferred) and the algorithms (78) fit, the IQM no more (90)
    assert tables.one_line_columns(COLUMNS, ROWS, 80, prefer=("name",)) == {0, 1}
    assert tables.one_line_columns(COLUMNS, ROWS, 90, prefer=("name",)) == {0, 1, 2}
    assert tables.one_line_columns(COLUMNS, ROWS, 200) == {0, 1, 2, 3}


def test_check_grads_table_fits_80_columns(capsys, no_columns):
    assert cli.main(["check-grads", "--core", "elman", "--hidden", "3", "--steps", "4"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert whole("hand-bptt", out) and whole("truncated-bptt", out) and " ok " in out


def test_sweep_table_fits_80_columns_or_becomes_records(capsys, no_columns, tmp_path):
    from plastix.cli.sweep import print_table

    trials = [{"trial_id": f"trial_{i:05d}", "config": {"learning_rate_of_the_policy": 0.001 * (i + 1),
                                                        "hidden_units_of_the_core": 16, "modulation": "retroactive"},
               "metric": 1.5 + i, "update": 100, "error": None} for i in range(3)]
    summary = {"name": "cue-reward-search", "metric": "charts/episodic_return", "mode": "max", "trials": trials,
               "best": trials[2]}
    print_table(summary, tmp_path)
    out = capsys.readouterr().out
    # every line fits, but the last: the path of summary.json, printed whole however long
    assert max(len(line) for line in out.splitlines()[:-1]) <= 80
    assert out.splitlines()[-1] == f"results: {tmp_path / 'summary.json'}"
    for name in ("learning_rate_of_the_policy", "hidden_units_of_the_core", "trial_00002 *", "retroactive"):
        assert name in out


def last_rows(run_dir):
    """Per metric, the values at the last logged step, in seed order, read with the csv module."""
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    last = max(float(r["step"]) for r in rows)
    final = sorted((r for r in rows if float(r["step"]) == last), key=lambda r: float(r["seed"]))
    return last, {k: [float(r[k]) for r in final] for k in rows[0] if k not in ("step", "seed", "wall_time")}


def test_train_json_prints_one_object_equal_to_metrics_csv(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "adding", "--core", "elman", "--hidden", "4", "--seq-len", "5", "--batch-size", "4",
            "--total-steps", "32", "--log-every", "16", "--seeds", "2", "--no-plot", "--out", str(out), "--json"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # the whole of stdout is one JSON object
    assert "run directory" in captured.err  # the human summary went to stderr
    step, final = last_rows(out)
    assert result["run_dir"] == str(out) and result["seeds"] == [0, 1] and result["algo"] == "supervised"
    assert result["task"] == "adding" and result["core"] == "elman" and result["final_step"] == step
    assert result["score_metric"] == "charts/eval_metric"
    for name, values in final.items():
        np.testing.assert_allclose(result["final"][name], values, rtol=1e-6)
    np.testing.assert_allclose(result["score"], final["charts/eval_metric"], rtol=1e-6)
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["args"]["json"] is False  # --json changes what is printed, not the run


@pytest.mark.slow
def test_demo_json_prints_its_summary(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--seeds", "1", "--updates", "1", "--out", str(out), "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert result["scores"] == summary["scores"] and result["summary"] == summary["summary"]
    assert result["out"] == str(out) and result["figure"] == str(out / "comparison.png")
