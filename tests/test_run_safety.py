"""Run directories under two processes at once, interrupted saves and full disks (plastix.runs,
plastix.checkpoint; docs/runs.md, "Concurrent runs and atomic writes"): exactly one of two
processes claims a directory or resumes a run, a lock left by a dead process is taken over,
a save that fails with ENOSPC leaves the previous checkpoint and no temporary files (and the
resume is bitwise the run that never failed), damaged files give one-line errors."""

import errno
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import jax
import numpy as np
import pytest

import plastix
from plastix import checkpoint
from plastix.errors import PlastixError
from plastix.runs import (LOCK, RunControl, SegmentSaver, atomic_write, check_skipped, claim_run_dir,
                          create_run_dir, lock_run, open_run, read_config, read_metrics, write_metrics)
from plastix.train import SupervisedConfig

# 4 updates of 2 sequences, a log point every update: 4 log points (a checkpoint after each)
TINY = SupervisedConfig(task="adding", core="elman", hidden=4, seq_len=4, batch_size=2, num_updates=4,
                        updates_per_log=1, eval_batch_size=4)
TRIALS = 100


def run_options(out, resume=False):
    """What ``open_run`` reads of ``plastix.driver.RunOptions``."""
    return types.SimpleNamespace(out=str(out), resume=resume, checkpoint_every=None, keep_checkpoints=3,
                                 max_skipped=100, tensorboard=False, wandb=False)


def temp_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".tmp" in p.name)


# ---------------------------------------------------------------- two processes at once
def claimer(mode: str, root: str, trials: int, start, end, results) -> None:
    """One of two processes: in each trial, released with the other by ``start``, claim run
    directory ``root/t<i>`` (``open_run``: a new run, or a resume of an existing one), report,
    and hold what it got until ``end`` (both have tried and the parent has looked)."""
    payload = {"resolved": {"a": 1}}
    for i in range(trials):
        out, control = Path(root) / f"t{i}", None
        start.wait()
        try:
            control = open_run(run_options(out, resume=mode == "resume"), "unused", payload, [0], describe=mode)
            results.put((i, os.getpid(), "ok", str(control.run_dir)))
        except PlastixError as err:
            results.put((i, os.getpid(), "refused", str(err)))
        end.wait()
        if control is not None:
            control.lock.release()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["new", "empty", "resume"])
def test_two_processes_on_one_run_directory_exactly_one_proceeds(tmp_path, mode):
    """100 trials each: two processes released at the same instant on the same --out (new: it
    does not exist; empty: an existing empty directory; resume: a run both try to --resume)."""
    if mode != "new":
        for i in range(TRIALS):
            (tmp_path / f"t{i}").mkdir()
            if mode == "resume":
                create_run_dir(str(tmp_path / f"t{i}"), "unused", {"resolved": {"a": 1}}, [0])
    ctx = multiprocessing.get_context("spawn")  # JAX runs threads: no fork
    start, end, results = ctx.Barrier(2), ctx.Barrier(3), ctx.Queue()
    workers = [ctx.Process(target=claimer, args=(mode, str(tmp_path), TRIALS, start, end, results))
               for _ in range(2)]
    for w in workers:
        w.start()
    try:
        for i in range(TRIALS):
            got = sorted([results.get(timeout=120), results.get(timeout=120)], key=lambda r: r[2])
            assert [r[0] for r in got] == [i, i]
            assert [r[2] for r in got] == ["ok", "refused"], got
            winner, message = got[0][1], got[1][3]
            assert f"process {winner} on " in message and "is in use" in message, message
            assert "\n" not in message
            saved = read_config(tmp_path / f"t{i}")
            assert saved["config"] == {"resolved": {"a": 1}}
            assert json.loads((tmp_path / f"t{i}" / LOCK).read_text())["pid"] == winner
            end.wait(timeout=120)
    finally:
        for w in workers:
            w.join(timeout=60)
            if w.is_alive():
                w.kill()
    assert [w.exitcode for w in workers] == [0, 0]
    assert not list(tmp_path.rglob(LOCK))  # every lock released and removed
    assert temp_files(tmp_path) == []


def default_claimer(root: str, trials: int, start, results) -> None:
    os.chdir(root)
    for i in range(trials):
        start.wait()
        path, lock = claim_run_dir(None, f"task-core-algo-{i}", {"who": os.getpid()}, [0])
        results.put((i, str(path)))
        lock.release()


def test_default_names_claimed_at_the_same_instant_get_different_directories(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=default_claimer, args=(str(tmp_path), TRIALS, start, results)) for _ in range(2)]
    for w in workers:
        w.start()
    paths = [results.get(timeout=120)[1] for _ in range(2 * TRIALS)]
    for w in workers:
        w.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert len(set(paths)) == 2 * TRIALS and len(list((tmp_path / "runs").iterdir())) == 2 * TRIALS
    for i in range(TRIALS):  # one got the name, the other the name with -1; each wrote its own config
        names = [f"task-core-algo-{i}", f"task-core-algo-{i}-1"]
        assert all((tmp_path / "runs" / n).is_dir() for n in names)
        pids = {read_config(tmp_path / "runs" / n)["config"]["who"] for n in names}
        assert len(pids) == 2


CLI = "import sys; from plastix.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.slow
def test_two_plastix_train_processes_on_one_out_one_runs_one_exits_2(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "adding", "--core", "elman", "--hidden", "4", "--seq-len", "4", "--batch-size", "2",
            "--total-steps", "8", "--log-every", "4", "--quiet", "--no-plot", "--out", str(out)]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([sys.executable, "-c", CLI, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=tmp_path) for _ in range(2)]
    outcomes = sorted((p.wait(timeout=300), *p.communicate()) for p in procs)
    (ok, _, _), (refused, _, err) = outcomes
    assert (ok, refused) == (0, 2), outcomes
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("plastix: error: run directory"), err
    assert "is in use" in lines[0] or "already exists" in lines[0]
    assert (out / "params.npz").is_file() and not (out / LOCK).exists()
    assert read_config(out)["seeds"] == [0]


# ---------------------------------------------------------------- a lock left by a dead process
HOLDER = """
import sys, time
from plastix.runs import lock_run
lock = lock_run(sys.argv[1], "holder")
print("locked", flush=True)
time.sleep(600)
"""


def test_lock_of_a_killed_process_is_taken_over_with_a_warning(tmp_path, capsys):
    run = create_run_dir(str(tmp_path / "r"), "x", {"resolved": {"a": 1}}, [0])
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(PlastixError, match=rf"is in use: process {holder.pid} on .*\(holder\)"):
        open_run(run_options(run, resume=True), "x", {"resolved": {"a": 1}}, [0])
    holder.send_signal(signal.SIGKILL)  # dies holding the lock: the kernel drops its flock, the file stays
    holder.wait()
    assert json.loads((run / LOCK).read_text())["pid"] == holder.pid
    control = open_run(run_options(run, resume=True), "x", {"resolved": {"a": 1}}, [0], describe="second")
    try:
        warning = f"was locked by process {holder.pid} on "
        assert warning in capsys.readouterr().err
        assert warning in (run / "train.log").read_text()
        assert json.loads((run / LOCK).read_text())["pid"] == os.getpid()
        with pytest.raises(PlastixError, match=rf"process {os.getpid()} on .* \(second\)"):
            lock_run(run)  # one process, two claims: refused as well
    finally:
        control.lock.release()
    assert not (run / LOCK).exists()


def test_a_new_run_on_an_empty_directory_with_a_stale_lock_file(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": 999999999, "host": "elsewhere", "started": "then"}))
    path, lock = claim_run_dir(str(out), "x", {"a": 1}, [0])
    lock.release()
    assert "was locked by process 999999999 on elsewhere (since then)" in capsys.readouterr().err
    assert read_config(path)["config"] == {"a": 1}


# ---------------------------------------------------------------- full disks
def test_atomic_write_that_fails_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    file = tmp_path / "metrics.csv"
    file.write_text("old\n")

    def fills_the_disk(fh):
        fh.write("step,loss\n1,0.5\n")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as info:
        atomic_write(file, fills_the_disk, binary=False)
    assert info.value.errno == errno.ENOSPC
    assert file.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]
    write_metrics(tmp_path, [{"step": 1, "loss": 0.25}])
    assert read_metrics(tmp_path) == [{"step": 1.0, "loss": 0.25}]


@pytest.mark.slow
def test_enospc_in_the_third_checkpoint_keeps_the_second_and_resume_is_bitwise(tmp_path, monkeypatch, capsys):
    options = {"seeds": 2, "checkpoint_every": 1, "progress": False, "no_plot": True}
    straight = plastix.run(TINY, out=str(tmp_path / "a"), **options)
    real, calls = checkpoint.write_tree, []

    def disk_full_on_third_save(target, tree):
        calls.append(1)
        if len(calls) == 3:
            target.write(b"PK\x03\x04" + bytes(64))  # half a file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(target, tree)

    monkeypatch.setattr(checkpoint, "write_tree", disk_full_on_third_save)
    run = tmp_path / "b"
    with pytest.raises(OSError) as info:
        plastix.run(TINY, out=str(run), **options)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.setattr(checkpoint, "write_tree", real)
    assert [p.name for p in checkpoint.list_checkpoints(run)] == ["step_00000002", "step_00000004"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000002", "step_00000004"]
    assert temp_files(run) == [] and not (run / LOCK).exists()
    template = jax.eval_shape(lambda: straight.state)
    assert checkpoint.restore(run, template).done == 2  # the previous checkpoint reads back
    capsys.readouterr()
    resumed = plastix.run(TINY, resume=str(run), progress=False, no_plot=True)
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"resuming {run} from checkpoint step_00000004 (log point 2 of 4)"
    for got, want in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(straight.state), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))  # params, Adam moments, keys
    for name in straight.metrics:
        np.testing.assert_array_equal(resumed.metrics[name], straight.metrics[name])
    assert "resumed from checkpoint step_00000004 (log point 2)" in (run / "train.log").read_text()
    a, b = read_metrics(tmp_path / "a"), read_metrics(run)
    assert [{k: v for k, v in r.items() if k != "wall_time"} for r in a] == \
           [{k: v for k, v in r.items() if k != "wall_time"} for r in b]
    assert temp_files(run) == [] and not (run / LOCK).exists()


def small_state(seed):
    return {"w": jax.random.normal(jax.random.PRNGKey(seed), (1, 3)), "n": np.asarray([seed], np.int32)}


def save(run_dir, seed, step):
    metrics = {"step": np.asarray([[step]]), "losses/x": np.asarray([[float(seed)]])}
    return checkpoint.save(run_dir, small_state(seed), metrics, [1.0], done=1, segment=1, step=step,
                           config_digest="d", keep=5)


def test_restore_skips_a_damaged_newest_checkpoint_and_says_which_it_used(tmp_path, capsys):
    save(tmp_path, 1, 8)
    newest = save(tmp_path, 2, 16)
    (newest / "state.npz").write_bytes((newest / "state.npz").read_bytes()[:-10])  # sha256 differs now
    unfinished = tmp_path / "checkpoints" / "step_00000024"
    unfinished.mkdir()
    (unfinished / "state.npz").write_bytes(b"half")
    (tmp_path / "checkpoints" / ".tmp-step_00000032-1-ab").mkdir()  # a save killed half-way
    (tmp_path / "checkpoints" / "x.npz.1-ab.tmp").write_bytes(b"junk")
    got = checkpoint.restore(tmp_path, jax.eval_shape(lambda: small_state(0)), "d")
    assert got.step == 8 and int(got.state["n"][0]) == 1
    np.testing.assert_array_equal(np.asarray(got.state["w"]), np.asarray(small_state(1)["w"]))
    err = capsys.readouterr().err
    assert "resuming from checkpoint step_00000008, skipping newer checkpoint(s) step_00000024: its save did " \
           "not finish (no manifest.json); step_00000016: checkpoint file" in err
    assert "state.npz' is corrupt" in err
    assert "resuming from checkpoint step_00000008" in (tmp_path / "train.log").read_text()


# ---------------------------------------------------------------- damaged files: one-line errors
def test_readers_name_the_damaged_file(tmp_path):
    with pytest.raises(PlastixError, match=r"no such run directory: '.*nowhere' does not exist"):
        read_config(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(PlastixError, match=r"'.*file' is a file, not a run directory"):
        read_config(tmp_path / "file")
    run = create_run_dir(str(tmp_path / "r"), "x", {"a": 1}, [0])
    text = (run / "config.json").read_text()
    (run / "config.json").write_text(text[:20])  # cut short after 20 characters
    with pytest.raises(PlastixError) as info:
        read_config(run)
    message = str(info.value)
    with pytest.raises(json.JSONDecodeError) as parsed:  # the position, from Python's own parser
        json.loads(text[:20])
    position = f"line {parsed.value.lineno} column {parsed.value.colno}"
    assert "config.json' is not valid JSON" in message and position in message and "\n" not in message
    write_metrics(run, [{"step": 1, "seed": 0, "loss": 0.5}, {"step": 2, "seed": 0, "loss": 0.25}])
    full = (run / "metrics.csv").read_text()
    (run / "metrics.csv").write_text(full[:-4])  # the last row cut mid-number, no newline
    with pytest.raises(PlastixError, match=r"metrics\.csv' line 3 is cut mid-line"):
        read_metrics(run)
    (run / "metrics.csv").write_text(full.replace("0.25", "nan?"))
    with pytest.raises(PlastixError, match=r"metrics\.csv' line 3: column 'loss' holds 'nan\?', expected a number"):
        read_metrics(run)
    (run / "metrics.csv").write_text(full.replace(",0.25", ""))
    with pytest.raises(PlastixError, match=r"metrics\.csv' line 3 has 2 cells where the header has 3"):
        read_metrics(run)


# ---------------------------------------------------------------- --max-skipped: what is true
def skipped_part(step, skipped, loss):
    return {"step": np.asarray([[step]]), "losses/train_loss": np.asarray([[loss]]),
            "losses/skipped_updates": np.asarray([[skipped]])}


def test_max_skipped_before_the_first_checkpoint_says_start_a_new_run(tmp_path):
    control = RunControl(tmp_path, [0], "d", checkpoint_every=1, max_skipped=2)
    saver = SegmentSaver(control, ["losses/train_loss"], [0.1, 0.2], ends=[1, 2])
    with pytest.raises(PlastixError) as info:
        saver(1, small_state(0), skipped_part(4, 3, np.nan))
    saver.close()
    message = str(info.value)
    assert "No checkpoint was written yet, so there is nothing to resume: start a new run" in message
    assert "last good checkpoint" not in message and "--resume" not in message
    assert checkpoint.list_checkpoints(tmp_path) == []


def test_max_skipped_after_a_checkpoint_names_it_and_what_resume_can_change(tmp_path):
    control = RunControl(tmp_path, [0], "d", checkpoint_every=1, max_skipped=2)
    saver = SegmentSaver(control, ["losses/train_loss"], [0.1, 0.2], ends=[1, 2])
    saver(1, small_state(0), skipped_part(4, 0, 1.5))
    with pytest.raises(PlastixError) as info:
        saver(2, small_state(0), skipped_part(8, 3, np.nan))
    saver.close()
    message = str(info.value)
    assert "last finite metrics at step 4: losses/train_loss=1.5" in message
    assert f"The last good checkpoint is intact (step_00000004): continue with --resume {str(tmp_path)!r}, " \
           "which may raise --max-skipped; a lower --lr or --clip-norm changes the config, so it needs a new run" \
           in message
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["step_00000004"]
    from plastix.driver import RESUME_FREE

    assert "max_skipped" in RESUME_FREE  # what the message promises
    # without the saver: no checkpoint given means none was written
    metrics = {k: np.concatenate([a, b], axis=-1) for (k, a), b in
               zip(skipped_part(4, 0, 1.5).items(), skipped_part(8, 3, np.nan).values(), strict=True)}
    with pytest.raises(PlastixError, match="No checkpoint was written yet"):
        check_skipped(metrics, [0], 2, 1, ["losses/train_loss"])
