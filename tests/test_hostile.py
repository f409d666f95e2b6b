"""The command line under hostile input: every failure the user can cause ends in one line on
stderr (no traceback) and a non-zero exit code, and no file that existed before is changed.

Each probe runs the real ``plastix`` command line in a subprocess (``python -c MAIN``); faults the
user cannot easily cause on demand (a full disk, a file system turning read-only mid-run, an
internal bug) are injected into that subprocess by patching one writer before ``main`` runs.
Directory checksums before and after each refused command show that nothing was overwritten.
The races between two processes on one run directory, the lock, and resuming after an
interrupted save are tested in tests/test_run_safety.py; the memory estimates in
tests/test_size_checks.py.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

MAIN = "import sys; from plastix.cli import main; sys.exit(main(sys.argv[1:]))"
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONWARNINGS": "ignore"}
# a supervised run of a few seconds: 16 updates, 8 log points, a checkpoint every 2
TINY = ["train", "adding", "--core", "elman", "--hidden", "8", "--seq-len", "6", "--batch-size", "4",
        "--total-steps", "64", "--log-every", "8", "--checkpoint-every", "2", "--quiet", "--no-plot"]
TINY_RL = ["train", "cartpole", "--algo", "a2c", "--core", "mlp", "--hidden", "8", "--episodes", "2",
           "--total-steps", "2000", "--quiet", "--no-plot"]


def plastix(args, cwd, code: str = MAIN, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def checksums(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> sha256)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def metric_table(run_dir: Path) -> list[dict]:
    """metrics.csv without its wall-clock column."""
    import csv

    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "wall_time"} for row in csv.DictReader(fh)]


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str, code: int = 2) -> str:
    """Exit ``code``, no traceback, and one stderr line ``plastix: error: ...`` holding every needle."""
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], err[-3000:])
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("plastix: error: ")]
    assert len(lines) == 1, err
    line = lines[0]
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def refused(args, cwd: Path, *needles: str) -> str:
    """Run a command that must be refused; assert nothing under ``cwd`` changed and no file appeared."""
    before = checksums(cwd)
    line = assert_one_line_error(plastix(args, cwd), *needles)
    assert checksums(cwd) == before, f"{args} changed files"
    return line


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A finished supervised run ``sup`` and a finished a2c run ``rl`` in one folder."""
    root = tmp_path_factory.mktemp("runs")
    for name, args in (("sup", TINY), ("rl", TINY_RL)):
        proc = plastix([*args, "--out", name], root)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def copy_run(runs: Path, name: str, dest: Path) -> Path:
    import shutil

    return Path(shutil.copytree(runs / name, dest / name))


# ---------------------------------------------------------------- nothing overwritten without --force
@pytest.mark.slow
def test_influence_refuses_to_overwrite_and_names_the_file_it_writes(tmp_path):
    (tmp_path / "fig.png").write_bytes(b"precious")
    refused(["influence", "--steps", "5", "--out", "fig.png"], tmp_path, "'fig.png' already exists", "--force")
    refused(["influence", "--steps", "5", "--out", "afile"], tmp_path, "--out must name a .png file", "'afile'")
    refused(["influence", "--steps", "5", "--out", "x.txt"], tmp_path, "--out must name a .png file")
    proc = plastix(["influence", "--steps", "5", "--out", "fig.png", "--force"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "wrote fig.png"
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]  # no temporary file left


@pytest.mark.slow
def test_plot_rollout_and_hopfield_refuse_existing_outputs(runs, tmp_path):
    run = copy_run(runs, "sup", tmp_path)
    (tmp_path / "c.png").write_bytes(b"keep")
    (tmp_path / "d.npz").write_bytes(b"keep")
    (tmp_path / "h.png").write_bytes(b"keep")
    refused(["plot", run, "--out", "c.png"], tmp_path, "'c.png' already exists", "--force")
    rl = copy_run(runs, "rl", tmp_path)
    refused(["rollout", rl, "--episodes", "2", "--out", "d.npz"], tmp_path, "'d.npz' already exists")
    refused(["hopfield", "capacity", "--n", "20", "--draws", "1", "--out", "h.png"], tmp_path, "'h.png' already exists")
    proc = plastix(["plot", run, "--out", "c.png", "--force"], tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("wrote c.png"), proc.stderr


# ---------------------------------------------------------------- the file system and corrupt files
@pytest.mark.slow
def test_out_that_is_a_file_or_under_one_is_refused(tmp_path):
    (tmp_path / "afile").write_text("data")
    refused([*TINY, "--out", "afile"], tmp_path, "--out 'afile' is a file, not a directory")
    refused([*TINY, "--out", "afile/sub"], tmp_path, "lies under 'afile', which is a file")
    refused(["train", "--resume", "afile"], tmp_path, "afile")


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root; the EROFS probe below covers it")
def test_out_in_a_read_only_directory_is_refused(tmp_path):
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        refused([*TINY, "--out", "ro/run"], tmp_path, "cannot write in", "ro")
    finally:
        os.chmod(tmp_path / "ro", 0o755)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["eval", "plot", "compare", "resume"])
def test_corrupt_config_json_is_one_line(runs, tmp_path, command):
    run = copy_run(runs, "sup", tmp_path)
    (run / "config.json").write_text('{"config": {"resolved": {"task": "add')  # cut short mid-string
    args = {"eval": ["eval", run], "plot": ["plot", run, "--out", "x.png"], "compare": ["compare", run, run],
            "resume": ["train", "--resume", run]}[command]
    refused(args, tmp_path, "config.json")


@pytest.mark.parametrize("command", ["plot", "compare"])
def test_metrics_csv_cut_mid_line_is_one_line(runs, tmp_path, command):
    run = copy_run(runs, "sup", tmp_path)
    text = (run / "metrics.csv").read_text()
    cut = text.index("\n", len(text) // 2) + 7  # a few characters into a row
    (run / "metrics.csv").write_text(text[:cut])
    args = ["plot", run, "--out", "x.png"] if command == "plot" else ["compare", run, run]
    refused(args, tmp_path, "metrics.csv")


@pytest.mark.slow
def test_missing_run_directory_is_named_as_missing(tmp_path):
    for args in (["eval", "nope"], ["plot", "nope"], ["compare", "nope", "nope"], ["train", "--resume", "nope"]):
        line = refused(args, tmp_path, "nope")
        assert "no such" in line and "no config.json in it" not in line, line


# a writer that fails like a full disk (or a file system remounted read-only) at the given save
FAULT = textwrap.dedent("""
    import errno, os, sys
    from plastix import checkpoint
    from plastix.cli import main
    ERR, AT = getattr(errno, os.environ["FAULT_ERRNO"]), int(os.environ["FAULT_AT"])
    real, calls = checkpoint._fsync_write, []
    def write(file, fn):
        calls.append(file)
        if len(calls) >= AT:
            with open(file, "wb") as fh:  # a part of the file reaches the disk, then the device is full
                fh.write(b"partial")
            raise OSError(ERR, os.strerror(ERR), str(file))
        real(file, fn)
    checkpoint._fsync_write = write
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow
@pytest.mark.parametrize("errno_name, words", [("ENOSPC", "no space left"), ("EROFS", "read-only file system")])
def test_failing_disk_mid_run_is_one_line_logged_and_resumable(tmp_path, errno_name, words):
    ENV["FAULT_ERRNO"], ENV["FAULT_AT"] = errno_name, "4"  # the second checkpoint's first file
    try:
        proc = plastix([*TINY, "--out", "run"], tmp_path, code=FAULT)
    finally:
        del ENV["FAULT_ERRNO"], ENV["FAULT_AT"]
    assert_one_line_error(proc, words, errno_name)
    run = tmp_path / "run"
    log = (run / "train.log").read_text()
    assert words in log and "Traceback" in log  # the line and its traceback are kept for the record
    leftovers = [p for p in run.rglob("*") if ".tmp" in p.name]
    assert not leftovers, leftovers
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_00000016"]
    resumed = plastix(["train", "--resume", "run", "--quiet"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from checkpoint step_00000016 (log point 2 of 8)" in resumed.stdout  # the summary names it
    straight = plastix([*TINY, "--out", "straight"], tmp_path)
    assert straight.returncode == 0
    assert metric_table(run) == metric_table(tmp_path / "straight")
    assert checksums(run)["params.npz"] == checksums(tmp_path / "straight")["params.npz"]


@pytest.mark.slow
def test_a_file_size_limit_hit_by_the_first_checkpoint_is_one_line_and_resumable(tmp_path):
    """RLIMIT_FSIZE: the kernel refuses to grow any file past 4 KiB (EFBIG), the way a nearly full
    disk refuses a checkpoint's state file: the run stops at its first save, cleanly."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = subprocess.run([sys.executable, "-c", MAIN, *TINY, "--out", "run"], cwd=tmp_path, env=ENV, text=True,
                          capture_output=True, timeout=300, preexec_fn=limit)
    assert_one_line_error(proc, "file too large")
    run = tmp_path / "run"
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]
    assert not list((run / "checkpoints").iterdir())  # the interrupted first save left nothing behind
    resumed = plastix(["train", "--resume", "run", "--quiet"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from the start (no checkpoint had been saved)" in resumed.stdout
    straight = plastix([*TINY, "--out", "straight"], tmp_path)
    assert straight.returncode == 0
    assert metric_table(run) == metric_table(tmp_path / "straight")
    assert checksums(run)["params.npz"] == checksums(tmp_path / "straight")["params.npz"]


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, line", [(signal.SIGINT, 130, "plastix: interrupted (Ctrl-C)."),
                                             (signal.SIGTERM, 143, "plastix: terminated (SIGTERM).")])
def test_ctrl_c_or_sigterm_is_one_line_and_the_run_resumes(tmp_path, sig, code, line):
    # 400k steps: about 15 s of training after the first checkpoint on a quiet core (40k left 1.5 s,
    # and a loaded machine once let the run finish before the signal arrived)
    long = ["train", "adding", "--core", "elman", "--hidden", "8", "--seq-len", "6", "--batch-size", "4",
            "--total-steps", "400000", "--log-every", "400", "--checkpoint-every", "2", "--quiet", "--no-plot"]
    # an xdist worker ignores SIGINT and a child inherits that (Python then installs no Ctrl-C
    # handler): restore the default, as a terminal's shell does
    proc = subprocess.Popen([sys.executable, "-c", MAIN, *long, "--out", "run"], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    ckpts = tmp_path / "run" / "checkpoints"
    deadline = time.monotonic() + 240
    while not (ckpts.is_dir() and any(p.name.startswith("step_") for p in ckpts.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(line), err
    assert "--resume" in err
    assert f"stopped: {line.removeprefix('plastix: ')}" in (tmp_path / "run" / "train.log").read_text()
    assert not [p for p in (tmp_path / "run").rglob("*") if ".tmp" in p.name]
    resumed = plastix(["train", "--resume", "run"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (tmp_path / "run" / "params.npz").exists()


BUG = textwrap.dedent("""
    import sys
    from plastix import driver
    def finish(*args, **kwargs):
        raise RuntimeError("an internal bug")
    driver.finish = finish
    from plastix.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow
def test_an_internal_bug_keeps_its_traceback_marked_as_a_bug_and_logged(tmp_path):
    proc = plastix([*TINY, "--out", "run"], tmp_path, code=BUG)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "RuntimeError: an internal bug" in proc.stderr
    assert "bug in plastix" in proc.stderr.strip().splitlines()[-1]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "RuntimeError: an internal bug" in log and "Traceback" in log


# ---------------------------------------------------------------- numbers and sizes
@pytest.mark.parametrize("args, needle", [
    (["train", "cartpole", "--algo", "dqn", "--total-steps", "99999999999999999999"], "total"),
    (["train", "cartpole", "--algo", "ppo", "--total-steps", "99999999999999999999"], "total"),
    (["train", "adding", "--seq-len", "100000000000"], "seq"),
    (["train", "adding", "--hidden", "100000000"], "hidden"),
    (["train", "adding", "--grad", "rtrl", "--hidden", "2048"], "RTRL"),
    (["train", "adding", "--seed", "99999999999999999999"], "the last seed"),
    (["eval", "nowhere", "--seed", "99999999999999999999"], "--seed must be at most"),
    (["check-grads", "--core", "elman", "--hidden", "99999999"], "RTRL sensitivities"),
    (["hopfield", "capacity", "--n", "99999999", "--out", "h.png"], "weights"),
    (["rollout", "--planner", "cliff-walking", "--episodes", "999999999", "--out", "e.npz"], "episodes"),
    (["compare", "a", "b", "--taus", "99999999999"], "--taus must be an integer in"),
])
@pytest.mark.slow
def test_impossible_sizes_are_refused_before_any_file(tmp_path, args, needle):
    if args[0] == "train":
        args = [*args, "--out", "run", "--quiet"]
    line = refused(args, tmp_path, needle)  # the message carries the estimate or the limit: refused up front
    assert not (tmp_path / "run").exists(), line


# ---------------------------------------------------------------- flags and messages
@pytest.mark.parametrize("args, needles", [
    (["train", "cliff-walking", "--core", "lstm", "--hidden", "5", "--grad", "rtrl"],
     ["do not apply to --algo q-learning", "--core", "--hidden", "--grad"]),
    (["train", "adding", "--gamma", "0.5", "--preset", "easy", "--episodes", "3"],
     ["do not apply to --algo supervised", "--gamma", "--preset", "--episodes"]),
    (["train", "cartpole", "--algo", "a2c", "--baseline", "none"], ["--baseline (accepted by reinforce)"]),
    (["train", "cartpole", "--algo", "dqn", "--learning-starts", "5000", "--total-steps", "1000"],
     ["learning_starts (5,000) must be below total_steps (1,000)"]),
    (["train", "cliff-walking", "--algo", "dqn"], ["grid task", "q-learning or sarsa"]),
    (["train", "gymnax:CartPole-v1", "--algo", "q-learning"], ["a2c or reinforce or ppo or dqn"]),
    (["train", "gymnasium:Ant-v4", "--core", "mlp"], ["missing optional dependency", "mujoco"]),
    (["train", "--algo", "a2c"], ["needs a TASK"]),
    (["train", "adding", "--algo", "nope"], ["--algo: invalid choice 'nope'"]),
    (["nope"], ["unknown command 'nope'"]),
])
@pytest.mark.slow
def test_inapplicable_flags_and_wrong_names_are_refused_with_what_fits(tmp_path, args, needles):
    line = refused([*args, "--out", "run"] if args[0] == "train" and len(args) > 1 and not args[1].startswith("--")
                   else args, tmp_path, *needles)
    assert "None" not in line and "it has: ." not in line


def test_influence_from_an_rl_run_names_what_it_needs(runs, tmp_path):
    rl = copy_run(runs, "rl", tmp_path)
    refused(["influence", "--from-run", rl, "--out", "i.png"], tmp_path, "trained with --algo a2c", "supervised")


def test_plot_of_an_unknown_metric_lists_what_the_run_has(runs, tmp_path):
    run = copy_run(runs, "sup", tmp_path)
    refused(["plot", run, "--metric", "nope", "--out", "x.png"], tmp_path, "'nope'", "charts/eval_loss")


BOOM_ENV = textwrap.dedent("""
    import sys
    import gymnasium as gym
    import numpy as np

    class Boom(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.zeros(2, np.float32), {}

        def step(self, action):
            self.t += 1
            if self.t == 3:
                raise ValueError("the simulator diverged")
            return np.zeros(2, np.float32), 1.0, False, False, {}

    gym.register(id="Boom-v0", entry_point=Boom, max_episode_steps=10)
    from plastix.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow
def test_an_exception_inside_a_gymnasium_environment_is_one_line_and_logged(tmp_path):
    pytest.importorskip("gymnasium")
    proc = plastix(["train", "gymnasium:Boom-v0", "--core", "mlp", "--hidden", "4", "--episodes", "1",
                    "--total-steps", "100", "--quiet", "--no-plot", "--out", "run"], tmp_path, code=BOOM_ENV)
    assert_one_line_error(proc, "gymnasium:Boom-v0", "step() raised ValueError: the simulator diverged",
                          "step 3 of environment 0")
    log = (tmp_path / "run" / "train.log").read_text()
    assert "the simulator diverged" in log and "Traceback" in log
