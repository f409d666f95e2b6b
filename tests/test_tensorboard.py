"""``plastix train --tensorboard``: per-seed event files readable back, every metric at its
step, the same values as metrics.csv, and after a kill and ``--resume`` each step exactly once
in increasing order. Also: a tabular run resumes bitwise (Q tables and metrics)."""

import builtins
import csv
import shutil

import pytest

from plastix import checkpoint
from plastix.cli import main
from plastix.errors import PlastixError
from plastix.tb import TensorBoardLog, read_scalars

FLAGS = ["--algo", "q-learning", "--total-steps", "600", "--log-every", "100", "--seeds", "2",
         "--checkpoint-every", "2", "--quiet", "--no-plot", "--tensorboard"]


def csv_columns(path, seed):
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["seed"]) == seed]
    return rows


@pytest.mark.slow
def test_events_match_metrics_and_steps_continue_once_across_resume(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "cliff-walking", *FLAGS, "--out", str(a)]) == 0
    # b: a copy of a killed after its first checkpoint (log points 1-2 saved; events may be
    # missing or, if killed after writing events, present) -- resume must not duplicate them
    shutil.copytree(a, b)
    for path in checkpoint.list_checkpoints(b)[1:]:
        shutil.rmtree(path)
    for name in ("q_table.npy", "metrics.csv", "summary.json"):
        (b / name).unlink()
    assert main(["train", "cliff-walking", "--resume", str(b), "--quiet", "--no-plot"]) == 0
    assert (b / "q_table.npy").read_bytes() == (a / "q_table.npy").read_bytes()
    for seed in (0, 1):
        rows = csv_columns(a / "metrics.csv", seed)
        assert [r["step"] for r in rows] == [r["step"] for r in csv_columns(b / "metrics.csv", seed)]
        for run in (a, b):
            scalars = read_scalars(run, seed)
            td = scalars["losses/td_error"]
            assert [s for s, _ in td] == [100, 200, 300, 400, 500, 600]  # each step once, increasing
            for name in ("losses/td_error", "charts/greedy_return", "charts/epsilon"):
                expected = [(int(r["step"]), float(r[name])) for r in rows]
                got = scalars[name]
                assert [s for s, _ in got] == [s for s, _ in expected]
                assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-6)


def test_missing_tensorboardx_is_a_clear_error(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tbx(name, *args, **kwargs):
        if name.startswith("tensorboardX"):
            raise ImportError("No module named 'tensorboardX'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tbx)
    with pytest.raises(PlastixError, match=r"pip install 'plastix\[tensorboard\]'"):
        TensorBoardLog(tmp_path, [0])
