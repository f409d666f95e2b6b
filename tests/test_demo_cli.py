"""`plastix demo`: a neuromodulated and a non-plastic agent side by side, through the real dispatcher."""

import csv
import json

import numpy as np
import pytest

import plastix.cli as cli
from plastix.cli.demo import AGENTS, parameter_count, summary_line

PNG = b"\x89PNG\r\n\x1a\n"


def _last_returns(run_dir):
    """Per seed, the episodic return at the last log point, read from metrics.csv with csv."""
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    last = max(int(r["step"]) for r in rows)
    return {int(r["seed"]): float(r["charts/episodic_return"]) for r in rows if int(r["step"]) == last}


def test_equal_parameter_counts():
    # easy preset: 10 inputs (4 cue bits + Go + bias + t/T + reward + 2 action bits), 2 actions.
    # neuromod-rnn 32: W_in 320 + W 1024 + α 1024 + η 1 + b 32 + w_M 32 + b_M 1, heads 66 + 33
    # elman 44: W_in 440 + W 1936 + b 44, heads 90 + 45
    assert parameter_count("neuromod-rnn") == 320 + 1024 + 1024 + 1 + 32 + 32 + 1 + 66 + 33 == 2533
    assert parameter_count("elman") == 440 + 1936 + 44 + 90 + 45 == 2555


@pytest.mark.slow
def test_demo_runs_end_to_end_with_a_tiny_budget(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--seeds", "2", "--updates", "2", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "comparison.png").read_bytes()[:8] == PNG
    for label in AGENTS:
        assert (out / label / "curves.png").read_bytes()[:8] == PNG
        config = json.loads((out / label / "config.json").read_text())["config"]["resolved"]
        assert config["preset"] == "easy" and config["core"] == label and config["num_updates"] == 2
        # 2 log points: the final performance (last 10 % of them) is the last one
        last = _last_returns(out / label)
        np.testing.assert_allclose(summary["scores"][label], [last[0], last[1]], rtol=1e-6)
    assert printed.strip().splitlines()[-1] == summary["summary"]
    assert summary["summary"].startswith("neuromod-rnn: ") and "elman: " in summary["summary"]


def test_summary_line_reports_median_and_quartiles():
    line = summary_line({"a": np.array([1.0, 2.0, 3.0, 10.0]), "b": np.array([0.0, 0.0, 0.0, 0.0])})
    # numpy's linear percentiles of [1, 2, 3, 10]: 25 % = 1.75, 50 % = 2.5, 75 % = 4.75
    assert line.startswith("a: 2.50 (IQR 1.75 to 4.75), b: 0.00 (IQR 0.00 to 0.00) of a possible ~12 (chance 0)")


def test_existing_output_directory_is_refused(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    assert cli.main(["demo", "--out", str(tmp_path / "x")]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.learning
def test_modulated_agent_learns_and_the_elman_network_does_not(tmp_path):
    """The demo's claim on 2 seeds: neuromod-rnn far above chance, elman at chance (≈ 70 s)."""
    out = tmp_path / "demo"
    assert cli.main(["demo", "--seeds", "2", "--out", str(out), "--quiet"]) == 0
    scores = json.loads((out / "summary.json").read_text())["scores"]
    assert min(scores["neuromod-rnn"]) > 6.0
    assert max(abs(s) for s in scores["elman"]) < 1.0
