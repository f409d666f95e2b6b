"""Exact resume across processes (docs/runs.md): the same seed in two fresh processes gives
identical parameters and metrics (hash of every leaf) and different seeds differ; a run
SIGKILLed in the middle of writing its second checkpoint, then resumed with
``plastix train --resume``, ends bitwise equal to a run that never stopped (parameters and
metrics.csv without duplicate rows); the half-written checkpoint is ignored."""

import csv
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

# 16 updates of 4 sequences, a log point every 2 updates (8 points), a checkpoint every 4 points
ARGS = ["train", "adding", "--core", "elman", "--hidden", "8", "--seq-len", "6", "--batch-size", "4",
        "--total-steps", "64", "--log-every", "8", "--seeds", "2", "--checkpoint-every", "4", "--quiet", "--no-plot"]
MAIN = "import sys; from plastix.cli import main; sys.exit(main(sys.argv[1:]))"
ENV = {**os.environ, "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}

# The killed run: the second checkpoint's first file is written, then the process hangs (and is
# killed there), exactly as a crash in the middle of a save.
HANG_IN_SECOND_SAVE = textwrap.dedent("""
    import sys, time
    from plastix import checkpoint
    from plastix.cli import main
    real, calls = checkpoint._fsync_write, []
    def write(file, fn):
        real(file, fn)
        calls.append(file)
        if len(calls) == 4:  # 3 files per checkpoint: the 4th write belongs to the second one
            print("HANGING", flush=True)
            time.sleep(600)
    checkpoint._fsync_write = write
    sys.exit(main(sys.argv[1:]))
""")


def cli(args, cwd):
    return subprocess.Popen([sys.executable, "-c", MAIN, *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leaf_hashes(run_dir: Path) -> dict[str, str]:
    with np.load(run_dir / "params.npz") as data:
        return {k: hashlib.sha256(data[k].tobytes()).hexdigest() for k in data.files}


def metric_table(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "wall_time"} for row in csv.DictReader(fh)]


def wait(proc, timeout=240):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


@pytest.mark.slow
def test_same_seed_identical_across_processes_and_kill_resume_is_exact(tmp_path):
    straight = [cli([*ARGS, "--out", name], tmp_path) for name in ("a", "b")]
    killed = subprocess.Popen([sys.executable, "-c", HANG_IN_SECOND_SAVE, *ARGS, "--out", "c"], cwd=tmp_path, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert killed.stdout.readline().strip() == "HANGING"
    ckpts = tmp_path / "c" / "checkpoints"
    partial = [p for p in ckpts.iterdir() if p.name.startswith(".tmp-")]
    assert [p.name for p in ckpts.iterdir() if p.name.startswith("step_")] == ["step_00000032"]
    assert len(partial) == 1 and (partial[0] / "state.npz").exists()  # killed during the save
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "c" / "params.npz").exists()
    for proc in straight:
        wait(proc)
    a, b, c = (tmp_path / n for n in "abc")
    # same seed, two fresh processes: every parameter leaf and every metric identical
    assert leaf_hashes(a) == leaf_hashes(b)
    assert metric_table(a) == metric_table(b)
    # different seeds (0 and 1, vmapped) give different parameters
    with np.load(a / "params.npz") as data:
        assert all(not np.array_equal(data[k][0], data[k][1]) for k in data.files if data[k][0].size > 1)
    # resume the killed run: it continues from step 32 and ends bitwise equal to the straight run
    wait(cli(["train", "adding", "--resume", "c", "--quiet", "--no-plot"], tmp_path))
    assert leaf_hashes(c) == leaf_hashes(a)
    rows = metric_table(c)
    assert rows == metric_table(a)
    assert [int(r["step"]) for r in rows] == [8, 8, 16, 16, 24, 24, 32, 32, 40, 40, 48, 48, 56, 56, 64, 64]
    log = (c / "train.log").read_text()
    assert "resumed from checkpoint step_00000032 (log point 4)" in log
    assert "log point 8, step 64: checkpoint step_00000064" in log
    assert "log point 4, step 32" in log and log.count("log point 4, step 32") == 1  # not redone
    names = sorted(p.name for p in (c / "checkpoints").iterdir())
    assert names == ["step_00000032", "step_00000064"]  # the partial save was cleaned up
