"""Run directories: resolved config, metrics CSV, checkpoints, plots, a log (docs/runs.md).

Layout of a run directory::

    config.json     resolved arguments + versions (plastix, jax, python) + the seed list
    metrics.csv     long format, one row per (step, seed): step, wall_time, seed, <metric>...
                    metric names are namespaced, e.g. charts/eval_loss, losses/train_loss;
                    a row is appended at every log point (``plastix.loggers.CSVLogger``)
    checkpoints/    step_XXXXXXXX/ atomic checkpoints, the newest N (``plastix.checkpoint``)
    params.npz      final parameters, leaves stacked over seeds (``save_params``, ``plastix.checkpoint.save_tree``)
    curves.png      learning curves (median and inter-quartile range over seeds)
    train.log       what the run printed, with timestamps (appended to by a resume)
    tensorboard/    with --tensorboard: seed_<seed>/ event files (``plastix.tb``)
    wandb/          with --wandb: the W&B runs' local files; wandb.json their ids (``plastix.loggers``)
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from plastix.errors import PlastixError

CONFIG = "config.json"
METRICS = "metrics.csv"
PARAMS = "params.npz"
LOG = "train.log"


def versions() -> dict[str, str]:
    import jax

    from plastix import __version__

    return {"plastix": __version__, "jax": jax.__version__, "python": platform.python_version()}


def default_run_name(task: str, core: str, algo: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{task}-{core}-{algo}-{stamp}"


def create_run_dir(out: str | None, default_name: str, config: Any, seeds: list[int]) -> Path:
    """Make a new run directory and write ``config.json``. Never overwrites an existing one:
    an explicit ``out`` that exists and is not empty is an error; a default name that is taken
    (two runs in the same second) gets a suffix ``-1``, ``-2``, ..."""
    if out:
        path = Path(out)
        if path.exists() and any(path.iterdir()):
            raise PlastixError(f"run directory {str(path)!r} already exists and is not empty; choose another --out "
                               "(or continue it with --resume).")
    else:
        path = Path("runs") / default_name
        n = 0
        while path.exists():
            n += 1
            path = Path("runs") / f"{default_name}-{n}"
    path.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    payload = {"config": cfg, "seeds": seeds, "versions": versions()}
    _atomic_write(path / CONFIG, json.dumps(payload, indent=2, sort_keys=True))
    return path


def log_line(path: Path, text: str) -> None:
    """Append ``text`` (one or more lines) to the run's ``train.log`` with a UTC timestamp."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(Path(path) / LOG, "a") as fh:
        for line in str(text).splitlines() or [""]:
            fh.write(f"{stamp} {line}\n")


class _Tee:
    def __init__(self, stream, path: Path):
        self.stream, self.path = stream, path

    def write(self, text: str) -> int:
        if text.strip():
            log_line(self.path, text.rstrip("\n"))
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def tee_log(path: Path):
    """Inside the block, whatever is printed to stdout also goes to the run's ``train.log``."""
    old = sys.stdout
    sys.stdout = _Tee(old, Path(path))
    try:
        yield
    finally:
        sys.stdout = old


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write long-format metric rows (dicts with the same keys) to ``metrics.csv`` atomically."""
    if not rows:
        raise PlastixError("no metrics to write")
    fields = list(rows[0])
    tmp = path / (METRICS + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path / METRICS)
    return path / METRICS


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Rows of ``metrics.csv`` as floats."""
    file = Path(path) / METRICS
    if not file.exists():
        raise PlastixError(f"{str(path)!r} is not a run directory: no {METRICS} in it.")
    with open(file, newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def read_config(path: Path) -> dict[str, Any]:
    file = Path(path) / CONFIG
    if not file.exists():
        raise PlastixError(f"{str(path)!r} is not a run directory: no {CONFIG} in it.")
    return json.loads(file.read_text())


def _atomic_write(file: Path, text: str) -> None:
    tmp = file.with_suffix(file.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, file)


def save_params(path: Path, params: Any) -> Path:
    """Save a parameter pytree (leaves stacked over seeds) to ``params.npz``, atomically, with
    the one pytree serializer (``plastix.checkpoint.save_tree``: arrays named by pytree path)."""
    from plastix.checkpoint import save_tree

    return save_tree(Path(path) / PARAMS, params)


def load_params(path: Path, template: Any, seed_index: int = 0) -> Any:
    """Load one seed's parameters from ``params.npz`` into the structure of ``template``
    (unbatched parameters of the same model). Raises PlastixError naming any mismatch."""
    from plastix.checkpoint import read_arrays, tree_from_arrays

    file = Path(path) / PARAMS
    if not file.exists():
        raise PlastixError(f"{str(path)!r} has no {PARAMS}: it holds no trained parameters (grid runs keep q_table.npy instead).")
    arrays = read_arrays(file, "parameter")
    return tree_from_arrays(arrays, template, str(file), index=seed_index, what="parameter")


# ---------------------------------------------------------------- resumable training driver
SKIPPED = "losses/skipped_updates"


class RunControl(NamedTuple):
    """Where and how a segmented training run saves itself (``open_run`` builds it)."""

    run_dir: Path
    seeds: list[int]
    config_digest: str  # plastix.checkpoint.config_hash of the resolved config
    resume: bool = False
    checkpoint_every: int | None = None  # log points between checkpoints (None: every segment)
    keep: int = 3
    max_skipped: int = 100
    tensorboard: bool = False
    wandb: Any = None  # plastix.loggers.WandbSettings, None = no W&B


def open_run(options: Any, default_name: str, payload: dict, seeds: list[int], describe: str = "") -> RunControl:
    """A new run directory (``options.out`` or ``runs/<default_name>``), or with ``options.resume``
    the existing ``options.out``, whose ``config.json`` must hold the same resolved config and
    seeds. ``options``: a ``plastix.driver.RunOptions``; ``describe``: the run, for train.log."""
    from plastix.checkpoint import config_hash

    digest = config_hash(payload["resolved"])
    if options.resume:
        path = Path(options.out)
        saved = read_config(path)
        if config_hash(saved["config"].get("resolved")) != digest or saved.get("seeds") != seeds:
            raise PlastixError(f"the config in {str(path / CONFIG)!r} does not resolve to the same training "
                               "(settings or seeds differ); resume with the flags it was started with.")
        # nothing is written here: the driver logs the resume once its checkpoint has loaded
    else:
        path = create_run_dir(options.out, default_name, payload, seeds)
        log_line(path, f"started: {describe} (seeds {seeds}); config in {CONFIG}")
    wandb = None
    if getattr(options, "wandb", False):
        from plastix.loggers import WandbSettings

        wandb = WandbSettings(options.wandb_project, options.wandb_entity, options.wandb_mode)
    return RunControl(path, list(seeds), digest, bool(options.resume), options.checkpoint_every,
                      options.keep_checkpoints, options.max_skipped, options.tensorboard, wandb)


def plan_segments(num_logs: int, checkpoint_every: int | None, segments: int = 10) -> list[int]:
    """Log points per driver segment (a checkpoint after each): chunks of ``checkpoint_every``
    (the last one shorter), or ``segments`` nearly equal parts."""
    if checkpoint_every is None:
        segments = max(1, min(segments, num_logs))
        base, extra = divmod(num_logs, segments)
        return [base + (i < extra) for i in range(segments)]
    full, rest = divmod(num_logs, checkpoint_every)
    return [checkpoint_every] * full + ([rest] if rest else [])


def metric_rows(metrics: dict, seeds: list[int], walls, names) -> list[dict]:
    """Long format: one row per (log point, seed) with step, wall_time, seed and the metrics."""
    from plastix.loggers import rows_of

    return [{"step": r.step, "wall_time": r.wall_time, "seed": r.seed, **r.metrics}
            for r in rows_of(metrics, seeds, walls, names)]


def check_skipped(metrics: dict, seeds: list[int], max_skipped: int, first_new: int, names) -> None:
    """Raise PlastixError when a seed's skipped-update count (``losses/skipped_updates``,
    cumulative, (S, L)) exceeds ``max_skipped`` at a log point >= ``first_new``, giving the step
    and the seed's last log point whose metrics were all finite."""
    if SKIPPED not in metrics:
        return
    over = np.asarray(metrics[SKIPPED]) > max_skipped
    cols = np.flatnonzero(over[:, first_new:].any(axis=0))
    if cols.size == 0:
        return
    i = first_new + int(cols[0])
    s = int(np.flatnonzero(over[:, i])[0])
    step = int(metrics["step"][s, i])
    prev = f" (previous log at step {int(metrics['step'][s, i - 1])})" if i > 0 else ""
    checked = [n for n in names if n in metrics and not n.startswith("diagnostics/")]  # diagnostics may be NaN
    finite = [j for j in range(i) if all(np.isfinite(metrics[n][s, j]) for n in checked)]
    if finite:
        j = finite[-1]
        last = f"last finite metrics at step {int(metrics['step'][s, j])}: " + ", ".join(
            f"{n}={float(metrics[n][s, j]):.6g}" for n in names)
    else:
        last = "no log point had all metrics finite"
    raise PlastixError(
        f"seed {seeds[s]}: {int(metrics[SKIPPED][s, i])} updates were skipped for a non-finite loss or gradient "
        f"by step {step}{prev}, more than --max-skipped {max_skipped}. {last}. The last good checkpoint is "
        "intact: lower --lr or --clip-norm, or raise --max-skipped, and continue with --resume.")


class SegmentSaver:
    """``after_segment`` hook of ``plastix.train.harness.run_segments``, called after every log
    point (the driver runs one jitted segment per log point): appends the log point's metrics,
    enforces ``max_skipped``, hands every seed's metrics to the run's loggers (metrics.csv,
    TensorBoard, W&B, the user's: ``plastix.loggers``), and at the end of each planned segment
    (``ends``: log points done at each checkpoint) writes a checkpoint.

    A resume (``prior``: the restored checkpoint) opens the loggers with the checkpoint's log
    points, so metrics.csv and TensorBoard are rewritten from them and W&B skips what it has:
    log points computed after that checkpoint and before the interrupt are not duplicated."""

    def __init__(self, control: RunControl, names, walls: list, prior=None, ends=None, extra=()):
        self.control, self.walls = control, walls
        self.names = None if names is None else list(names)  # None: every metric but step and diagnostics/*
        self.metrics = dict(prior.metrics) if prior is not None else {}
        self.segment = prior.segment if prior is not None else 0
        self.ends = None if ends is None else set(ends)  # None: a checkpoint after every call
        self.extra, self.loggers = list(extra), None
        if prior is not None:
            log_line(control.run_dir, f"resumed from checkpoint {prior.path.name} (log point {prior.done})")
            self._open(self.metrics)

    def _open(self, metrics: dict) -> None:
        """The loggers, once the metric names are known (from the first metrics seen)."""
        from plastix.loggers import open_loggers, rows_of

        c = self.control
        if self.names is None:
            self.names = [k for k in metrics if k != "step" and not k.startswith("diagnostics/")]
        self.names = [n for n in self.names if n in metrics]
        history = rows_of(self.metrics, c.seeds, self.walls, self.names) if self.metrics else []
        self.loggers = open_loggers(c.run_dir, c.seeds, self.names, history, tensorboard=c.tensorboard,
                                    wandb=c.wandb, extra=self.extra)

    def __call__(self, done: int, states: Any, part: dict) -> None:
        from plastix import checkpoint
        from plastix.loggers import rows_of

        c = self.control
        first_new = self.metrics["step"].shape[-1] if self.metrics else 0
        merged = {k: np.concatenate([self.metrics[k], v], axis=-1) if self.metrics else np.asarray(v)
                  for k, v in part.items()}
        check_skipped(merged, c.seeds, c.max_skipped, first_new, self.names or
                      [k for k in merged if k != "step" and not k.startswith("diagnostics/")])
        if self.loggers is None:
            self._open(merged)
        self.metrics = merged
        for row in rows_of(part, c.seeds, self.walls[first_new:done], self.names):
            for logger in self.loggers:
                logger.log(row.step, row.metrics, seed=row.seed, wall_time=row.wall_time)
        if self.ends is not None and done not in self.ends:
            return
        step = int(np.max(merged["step"][:, -1]))
        path = checkpoint.save(c.run_dir, states, merged, self.walls[:done], done=done, segment=self.segment + 1,
                               step=step, config_digest=c.config_digest, keep=c.keep)
        self.segment += 1
        log_line(c.run_dir, f"log point {done}, step {step}: checkpoint {path.name}")

    def close(self) -> None:
        from plastix.loggers import close_all

        if self.loggers is not None:
            close_all(self.loggers)
