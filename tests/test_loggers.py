"""Experiment tracking (docs/runs.md, "Experiment tracking"; ``plastix.loggers``): every log point
reaches metrics.csv and the loggers as soon as it is computed, whatever the checkpoint interval,
with the numbers of one uninterrupted jitted call; a ``--wandb`` run in offline mode writes W&B
runs whose history (read back from the .wandb files) holds the metrics of metrics.csv at every
log point; an interrupt between two checkpoints and a resume leave every series (metrics.csv,
TensorBoard, W&B) with each step exactly once; a missing wandb is a clear error; the W&B mode
defaults to offline without credentials."""

import builtins
import csv
import json
from pathlib import Path

import jax
import numpy as np
import pytest

import plastix
from plastix import checkpoint
from plastix.errors import PlastixError
from plastix.loggers import has_wandb_credentials, wandb_mode
from plastix.mdp.runner import GridConfig

# q-learning on cliff-walking: 600 steps, a log point every 100 (6 points), a checkpoint every 4
GRID = GridConfig(task="cliff-walking", total_steps=600, log_every=100)
STEPS = [100, 200, 300, 400, 500, 600]
NAMES = ["charts/episodic_return", "charts/greedy_return", "charts/episodes", "charts/epsilon",
         "charts/learning_rate", "losses/td_error"]


@pytest.fixture(autouse=True)
def wandb_offline(monkeypatch, tmp_path):
    """W&B never tries the network here: offline, silent, its settings and cache under tmp_path."""
    for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-default"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def csv_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def same(a, b) -> bool:
    """Exactly equal, NaN equal to NaN (a return is NaN at a log point where no episode ended)."""
    return float(a) == float(b) or (np.isnan(float(a)) and np.isnan(float(b)))


def without_wall_time(rows):
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]


class Recorder:
    """A logger (the plastix.loggers.Logger protocol) that keeps what it is given and, at each
    call, how many data rows metrics.csv has and how many checkpoints exist."""

    def __init__(self, run_dir: Path, stop_after: int | None = None):
        self.run_dir, self.stop_after = run_dir, stop_after
        self.calls, self.closed = [], False

    def log(self, step, metrics, *, seed=None, wall_time=None):
        in_csv = len(csv_rows(self.run_dir))
        self.calls.append((step, seed, dict(metrics), in_csv, len(checkpoint.list_checkpoints(self.run_dir))))
        if self.stop_after is not None and len(self.calls) == self.stop_after:
            raise KeyboardInterrupt("interrupted between two checkpoints")

    def close(self):
        self.closed = True


# ---------------------------------------------------------------- reading W&B's offline files back
BLOCK = 32 * 1024  # the .wandb file is a LevelDB-style log: 32 KiB blocks of 7-byte-headed chunks


def wandb_records(file: Path):
    """Every record payload of a .wandb file: header ":W&B" + magic (2) + version (1), then chunks
    crc32c (4) | length (2, little endian) | type (1: full, 2: first, 3: middle, 4: last) | data,
    never across a block boundary (a tail shorter than a header is padding)."""
    data = file.read_bytes()
    assert data[:4] == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:
            pos += BLOCK - pos % BLOCK
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 1:
            yield chunk
        elif kind in (2, 3):
            pending += chunk
        elif kind == 4:
            yield pending + chunk
            pending = b""


def wandb_history(run_dir: Path, run_id: str):
    """(run record, [history rows]) of every offline directory of W&B run ``run_id`` under
    ``run_dir/wandb``, in the order the directories were written."""
    from wandb.proto import wandb_internal_pb2

    found = []
    for folder in sorted((run_dir / "wandb").glob(f"offline-run-*-{run_id}")):
        run, rows = None, []
        for payload in wandb_records(folder / f"run-{run_id}.wandb"):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run = record.run
            elif kind == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                             for item in record.history.item})
        found.append((run, rows))
    return found


# ---------------------------------------------------------------- tests
def test_every_log_point_reaches_csv_and_loggers_before_its_checkpoint_with_one_calls_numbers(tmp_path):
    from plastix.algorithms import get_algorithm
    from plastix.train.harness import seed_keys

    out = tmp_path / "run"
    recorder = Recorder(out)
    result = plastix.run(GRID, seeds=2, out=str(out), checkpoint_every=4, progress=False, no_plot=True,
                         loggers=[recorder])
    # one call per (log point, seed), in order, while metrics.csv already holds that row: the
    # first checkpoint comes after log point 4, the rows of log points 1-3 are on disk before it
    assert [(c[0], c[1]) for c in recorder.calls] == [(s, seed) for s in STEPS for seed in (0, 1)]
    assert [c[3] for c in recorder.calls] == list(range(1, 13))
    assert [c[4] for c in recorder.calls] == [0] * 8 + [1] * 4  # checkpoints at log points 4 and 6
    assert recorder.closed
    rows = csv_rows(out)
    assert len(rows) == 12
    for (step, seed, metrics, _, _), row in zip(recorder.calls, rows):
        assert (step, seed) == (int(row["step"]), int(row["seed"]))
        assert list(metrics) == NAMES == [k for k in row if k not in ("step", "wall_time", "seed")]
        assert all(same(metrics[k], row[k]) for k in NAMES)
    # the numbers are those of jit(vmap(train)) in one call (the per-log-point calls change none)
    trainer = get_algorithm("q-learning").make_trainer(GRID)
    _, whole = jax.jit(jax.vmap(trainer.train))(seed_keys([0, 1]))
    for name in NAMES + ["step"]:
        np.testing.assert_array_equal(np.asarray(result.metrics[name]), np.asarray(whole[name]))
        by_seed = [[float(r[name]) for r in rows if int(r["seed"]) == s] for s in (0, 1)]
        np.testing.assert_array_equal(np.asarray(by_seed), np.asarray(whole[name], dtype=np.float64))


@pytest.mark.slow
def test_wandb_offline_history_has_the_metrics_of_metrics_csv_at_every_log_point(tmp_path):
    from plastix.cli import main

    out = tmp_path / "run"
    assert main(["train", "cliff-walking", "--total-steps", "600", "--log-every", "100", "--seeds", "2",
                 "--checkpoint-every", "4", "--quiet", "--no-plot", "--wandb", "--wandb-project", "tracking-test",
                 "--out", str(out)]) == 0
    state = json.loads((out / "wandb.json").read_text())
    assert state["project"] == "tracking-test" and state["last_step"] == {"0": 600, "1": 600}
    rows = csv_rows(out)
    for seed in (0, 1):
        (run, history), = wandb_history(out, state["ids"][str(seed)])  # one offline run per seed
        assert run.project == "tracking-test" and run.run_group == out.name
        expected = [r for r in rows if int(r["seed"]) == seed]
        assert [h["_step"] for h in history] == [int(r["step"]) for r in expected] == STEPS
        for h, r in zip(history, expected):
            assert sorted(k for k in h if not k.startswith("_")) == sorted(NAMES)
            assert all(same(h[k], r[k]) for k in NAMES)


@pytest.mark.slow
def test_interrupt_between_checkpoints_then_resume_continues_every_series_once(tmp_path):
    from plastix.tb import read_scalars

    options = dict(seeds=2, checkpoint_every=2, progress=False, no_plot=True, tensorboard=True, wandb=True,
                   wandb_project="tracking-test")
    straight = plastix.run(GRID, out=str(tmp_path / "a"), **options).run_dir
    b = tmp_path / "b"
    # interrupted at log point 3 (after it was logged, before the checkpoint of log point 4)
    stopper = Recorder(b, stop_after=5)
    with pytest.raises(KeyboardInterrupt):
        plastix.run(GRID, out=str(b), loggers=[stopper], **options)
    assert stopper.closed
    assert [p.name for p in checkpoint.list_checkpoints(b)] == ["step_00000200"]
    assert [int(r["step"]) for r in csv_rows(b)] == [100, 100, 200, 200, 300]  # streamed past the checkpoint
    ids = json.loads((b / "wandb.json").read_text())["ids"]
    assert json.loads((b / "wandb.json").read_text())["last_step"] == {"0": 300, "1": 200}

    plastix.run(GRID, resume=str(b), progress=False, no_plot=True, tensorboard=True, wandb=True)
    expected = without_wall_time(csv_rows(straight))
    assert without_wall_time(csv_rows(b)) == expected  # no duplicate, none missing
    assert "resumed from checkpoint step_00000200 (log point 2)" in (b / "train.log").read_text()
    for seed in (0, 1):
        mine = [r for r in expected if int(r["seed"]) == seed]
        scalars = read_scalars(b, seed)
        for name in NAMES:
            want = [(int(r["step"]), pytest.approx(float(r[name]), rel=1e-6, nan_ok=True)) for r in mine]
            assert scalars[name] == want  # float32 in the event files
        parts = wandb_history(b, ids[str(seed)])
        assert len(parts) == 2  # the interrupted process's offline run and the resumed one's
        history = [h for _, rows in parts for h in rows]
        assert [h["_step"] for h in history] == STEPS  # each step once, in order, across both
        assert [h["_step"] for h in parts[0][1]] == ([100, 200, 300] if seed == 0 else [100, 200])
        for h, r in zip(history, mine):
            assert all(same(h[k], r[k]) for k in NAMES)


def test_missing_wandb_is_a_clear_error_before_anything_is_written(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb" or name.startswith("wandb."):
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(PlastixError, match=r'--wandb needs Weights & Biases: pip install "plastix\[wandb\]"'):
        plastix.run(GRID, out=str(tmp_path / "run"), wandb=True, progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(PlastixError, match=r"loggers: expected objects with log\(step, metrics, \*, seed, wall_time\) "
                                           r"and close\(\) methods .*, got int"):
        plastix.run(GRID, out=str(tmp_path / "run"), loggers=[3], progress=False)
    assert not (tmp_path / "run").exists()


def test_wandb_mode_is_offline_without_credentials_and_online_with_them(tmp_path):
    netrc = tmp_path / "netrc"
    env = {"NETRC": str(netrc)}
    assert not has_wandb_credentials(env) and wandb_mode(None, env) == "offline"  # no netrc file
    netrc.write_text("machine example.org login someone password placeholder\n")
    netrc.chmod(0o600)
    assert wandb_mode(None, env) == "offline"  # a netrc without the W&B host
    netrc.write_text("machine api.wandb.ai login user password placeholder\n")
    assert has_wandb_credentials(env) and wandb_mode(None, env) == "online"
    assert wandb_mode(None, {"NETRC": str(tmp_path / "none"), "WANDB_API_KEY": "placeholder"}) == "online"
    assert wandb_mode(None, {**env, "WANDB_MODE": "offline"}) == "offline"  # the environment's choice wins
    assert wandb_mode("disabled", {**env, "WANDB_MODE": "online"}) == "disabled"  # and the flag's over it
    with pytest.raises(PlastixError, match="wandb mode"):
        wandb_mode("sometimes", env)
    with pytest.raises(PlastixError, match=r"wandb_mode must be one of online, offline, disabled"):
        plastix.run(GRID, out=str(tmp_path / "run"), wandb_mode="sometimes", progress=False)


@pytest.mark.slow
def test_dqn_run_with_a_call_per_log_point_equals_one_call(tmp_path):
    """DQN keeps a replay buffer and a target network in its state: the driver's per-log-point
    calls still give every metric and parameter of one jit(vmap(train)) call, bitwise."""
    from plastix.dqn import make_trainer
    from plastix.dqn.config import DQNConfig
    from plastix.train.harness import seed_keys

    config = DQNConfig(task="cartpole", hidden=8, buffer_size=200, batch_size=8, learning_starts=40, train_every=2,
                       target_every=6, total_steps=80, steps_per_log=20)
    result = plastix.run(config, seeds=2, out=str(tmp_path / "run"), checkpoint_every=3, progress=False,
                         no_plot=True)
    state, whole = jax.jit(jax.vmap(make_trainer(config).train))(seed_keys([0, 1]))
    assert sorted(result.metrics) == sorted(whole)
    for name in whole:
        np.testing.assert_array_equal(np.asarray(result.metrics[name]), np.asarray(whole[name]))
    for a, b in zip(jax.tree.leaves(result.state.params), jax.tree.leaves(state.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_resume_waits_out_the_second_of_an_existing_wandb_directory(tmp_path):
    """W&B names a run directory by its start second and id: with a directory of this second
    present, the wait returns only once the second has changed (its name is then free)."""
    import datetime

    from plastix.loggers import wait_for_a_fresh_run_dir

    stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
    (tmp_path / f"offline-run-{stamp}-abc").mkdir()
    wait_for_a_fresh_run_dir(tmp_path, "abc")
    assert datetime.datetime.now().strftime("%Y%m%d_%H%M%S") != stamp
    wait_for_a_fresh_run_dir(tmp_path, "other")  # another id: nothing to wait for
