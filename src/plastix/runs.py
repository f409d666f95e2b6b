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
    .lock           while a process trains or resumes the run: {pid, host, started, command}

Two processes, interrupted saves, full disks (docs/runs.md, "Concurrent runs and atomic writes"):

* A new run directory is made with one ``os.mkdir`` (no ``exist_ok``), so of two processes
  asking for the same name only one gets it; a default name that is taken gets ``-1``, ``-2``, ...
  An explicit ``--out`` that exists and is empty is accepted, and then the lock decides.
* The process that trains a run (or resumes it) holds ``RUN_DIR/.lock`` with an exclusive
  ``fcntl.flock`` for the life of the run (``lock_run``); a second process is refused with a
  PlastixError naming the holder. The operating system drops a flock when its process dies, so a
  lock file left by a killed run is taken over, with a warning naming the old pid.
* Every file is written to a unique temporary name in the same folder (``<name>.<pid>-<hex>.tmp``),
  fsynced and renamed over the target with ``os.replace`` (``atomic_write``); a write that fails
  (e.g. ``ENOSPC``) removes its temporary file and re-raises, so a full disk leaves the previous
  file whole and no debris.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import errno
import io
import json
import os
import platform
import secrets
import socket
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from plastix.errors import PlastixError

CONFIG = "config.json"
METRICS = "metrics.csv"
PARAMS = "params.npz"
LOG = "train.log"
LOCK = ".lock"


def versions() -> dict[str, str]:
    import jax

    from plastix import __version__

    return {"plastix": __version__, "jax": jax.__version__, "python": platform.python_version()}


def default_run_name(task: str, core: str, algo: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{task}-{core}-{algo}-{stamp}"


def create_run_dir(out: str | None, default_name: str, config: Any, seeds: list[int]) -> Path:
    """Make a new run directory and write ``config.json`` (``claim_run_dir``, its lock released
    at once). Never overwrites: an explicit ``out`` that exists and is not empty is an error; a
    default name that is taken gets a suffix ``-1``, ``-2``, ..."""
    path, lock = claim_run_dir(out, default_name, config, seeds)
    lock.release()
    return path


def claim_run_dir(out: str | None, default_name: str, config: Any, seeds: list[int],
                  command: str = "") -> tuple[Path, RunLock]:
    """Create a new run directory atomically, lock it (``lock_run``) and write ``config.json``.
    Returns (path, the held lock). Of several processes claiming the same ``out`` (or the same
    default name in the same second) exactly one gets it: ``os.mkdir`` fails for all but one,
    an existing empty ``out`` goes to whoever takes the lock first, and under the lock the
    directory must still hold nothing else (no ``config.json`` of another process)."""
    created = True
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path)
        except FileExistsError:
            check_out_free(path)  # an existing directory: only an empty one
            created = False
    else:
        root = Path("runs")
        root.mkdir(parents=True, exist_ok=True)
        path, n = root / default_name, 0
        while True:
            try:
                os.mkdir(path)
                break
            except FileExistsError:
                n += 1
                path = root / f"{default_name}-{n}"
    lock = lock_run(path, command)
    try:
        others = sorted(p.name for p in path.iterdir() if p.name != LOCK)
        if others:  # another process made the directory its run between our checks and the lock
            raise PlastixError(f"run directory {str(path)!r} already exists and is not empty (it holds "
                               f"{', '.join(others[:3])}); choose another --out (or continue it with --resume).")
        cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        payload = {"config": cfg, "seeds": seeds, "versions": versions()}
        write_text(path / CONFIG, json.dumps(payload, indent=2, sort_keys=True))
    except BaseException:
        lock.release()
        if created:  # e.g. a full disk: leave no empty directory behind (rmdir fails if it is not empty)
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    warn_stale(lock)
    return path, lock


def check_out_free(out: str | Path) -> None:
    """PlastixError unless ``out`` may hold a new run: it does not exist, or is an empty
    directory (a lock file left by a dead process aside). A directory in use names its holder."""
    path = Path(out)
    if not path.exists():
        return
    if not path.is_dir():
        raise PlastixError(f"run directory {str(path)!r} exists and is not a directory; choose another --out.")
    others = [p.name for p in path.iterdir() if p.name != LOCK]
    if not others:
        return
    holder = _read_holder(path / LOCK, tries=20) if (path / LOCK).exists() else None
    if holder is not None and _alive(holder):
        raise PlastixError(in_use_message(path, holder))
    raise PlastixError(f"run directory {str(path)!r} already exists and is not empty; choose another --out "
                       "(or continue it with --resume).")


# ---------------------------------------------------------------- the run lock
class RunLock:
    """An exclusive ``fcntl.flock`` on ``RUN_DIR/.lock``, held from ``lock_run`` to ``release``
    (or the death of the process: the kernel drops it then). The file holds JSON
    ``{pid, host, started, command}`` naming the holder; ``previous``: what a lock file left by
    a dead process said (None if there was none)."""

    def __init__(self, file: Path, fd: int | None, info: dict, previous: dict | None = None):
        self.file, self.fd, self.info, self.previous = file, fd, info, previous

    @property
    def run_dir(self) -> Path:
        return self.file.parent

    def release(self) -> None:
        """Remove the lock file, then drop the lock (a process that opened the file just before
        sees it gone after its flock and starts over with a new file). Safe to call twice."""
        if self.fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                if os.stat(self.file).st_ino == os.fstat(self.fd).st_ino:
                    os.unlink(self.file)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_run(run_dir: str | Path, command: str = "") -> RunLock:
    """Take the run's lock (``RUN_DIR/.lock``) or raise PlastixError naming the process that
    holds it (pid, host, since when, its command). A lock file whose flock is free was left by
    a process that died: it is taken over (``RunLock.previous``; ``warn_stale`` reports it)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the run goes unlocked
        return RunLock(Path(run_dir) / LOCK, None, {})
    file = Path(run_dir) / LOCK
    while True:
        fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise PlastixError(in_use_message(Path(run_dir), _read_holder(file))) from None
        except BaseException:
            os.close(fd)
            raise
        try:  # released (file removed) between our open and our flock: lock the new file instead
            same = os.stat(file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    lock = RunLock(file, fd, {"pid": os.getpid(), "host": socket.gethostname(),
                              "started": _now(), "command": command or " ".join(sys.argv)})
    try:
        old = os.pread(fd, 1 << 16, 0)
        lock.previous = _parse_holder(old) or ({"pid": "unknown"} if old.strip() else None)
        text = json.dumps(lock.info, sort_keys=True).encode()
        os.ftruncate(fd, 0)
        if os.pwrite(fd, text, 0) != len(text):
            raise OSError(errno.ENOSPC, "short write", str(file))
    except OSError as err:
        lock.release()
        raise PlastixError(f"cannot write the lock file {str(file)!r} ({err}).") from None
    return lock


def warn_stale(lock: RunLock) -> None:
    """Report a lock file that a dead process left (to stderr and the run's train.log)."""
    old = lock.previous
    if old is None:
        return
    text = (f"warning: {str(lock.run_dir)!r} was locked by process {old.get('pid')} on {old.get('host', '?')} "
            f"(since {old.get('started', '?')}), which has ended without releasing it; taking the lock over.")
    print(text, file=sys.stderr, flush=True)
    log_line(lock.run_dir, text)


def in_use_message(path: Path, holder: dict | None) -> str:
    """The one-line refusal for a run directory another process holds."""
    if holder is None:
        who = "another process (it has not written its pid yet)"
    else:
        who = (f"process {holder.get('pid')} on {holder.get('host', '?')} since {holder.get('started', '?')} "
               f"({holder.get('command', '')})")
    return (f"run directory {str(path)!r} is in use: {who} holds its lock {LOCK}; wait for it to finish or stop "
            "it, or choose another --out.")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_holder(data: bytes) -> dict | None:
    try:
        info = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return info if isinstance(info, dict) and "pid" in info else None


def _read_holder(file: Path, tries: int = 50) -> dict | None:
    """The holder written in a lock file; a holder that has just taken it may not have written
    it yet, so a few short retries (10 ms)."""
    for _ in range(tries):
        with contextlib.suppress(OSError):
            info = _parse_holder(file.read_bytes())
            if info is not None:
                return info
        time.sleep(0.01)
    return None


def _alive(holder: dict) -> bool:
    """Whether the holder's process still runs (assumed so on another host)."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True
    return True


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

    def write(fh) -> None:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    return atomic_write(Path(path) / METRICS, write, binary=False)


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Rows of ``metrics.csv`` as floats; PlastixError naming the file and line of a row that is
    cut short (a run killed mid-write) or holds a cell that is not a number."""
    file = Path(path) / METRICS
    _check_run_dir(Path(path), METRICS)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PlastixError(f"{str(file)!r} is not readable ({err}).") from None
    if text and not text.endswith("\n"):  # every writer ends each row with a newline
        line = text.count("\n") + 1
        raise PlastixError(f"{str(file)!r} line {line} is cut mid-line (no newline at the end of the file): the run "
                           "was stopped while writing it or the disk was full.")
    rows = []
    try:
        with io.StringIO(text, newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                line = reader.line_num
                if None in row or None in row.values():  # too many cells, or too few (filled with None)
                    cells = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None, []))
                    raise PlastixError(f"{str(file)!r} line {line} has {cells} cells where the header has "
                                       f"{len(reader.fieldnames)}: the file is cut short or corrupt.")
                try:
                    rows.append({k: float(v) for k, v in row.items()})
                except ValueError:
                    bad = next(k for k, v in row.items() if not _is_number(v))
                    raise PlastixError(f"{str(file)!r} line {line}: column {bad!r} holds {row[bad]!r}, expected a "
                                       "number (the file is cut short or corrupt).") from None
    except csv.Error as err:
        raise PlastixError(f"{str(file)!r} is not a readable CSV file ({err}).") from None
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_config(path: Path) -> dict[str, Any]:
    """The run's ``config.json``; PlastixError if ``path`` does not exist, is not a directory,
    has no config.json, or the file is not valid JSON (naming the file and position)."""
    path = Path(path)
    file = path / CONFIG
    _check_run_dir(path, CONFIG)
    try:
        saved = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise PlastixError(f"{str(file)!r} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}): "
                           "the file is cut short or corrupt.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PlastixError(f"{str(file)!r} is not readable ({err}).") from None
    if not isinstance(saved, dict):
        raise PlastixError(f"{str(file)!r} holds a JSON {type(saved).__name__}, expected an object.")
    return saved


def _check_run_dir(path: Path, name: str) -> None:
    if not path.exists():
        raise PlastixError(f"no such run directory: {str(path)!r} does not exist, so it is not a run directory.")
    if not path.is_dir():
        raise PlastixError(f"{str(path)!r} is a file, not a run directory (expected a directory holding {name}).")
    if not (path / name).is_file():
        raise PlastixError(f"{str(path)!r} is not a run directory: no {name} in it.")


def atomic_write(file: str | Path, write, *, binary: bool = True) -> Path:
    """Write ``file`` all or nothing: ``write(fh)`` fills a new temporary file in the same folder
    (``<name>.<pid>-<random>.tmp``, so two processes never share one), which is fsynced and
    renamed over ``file``. If anything fails (e.g. ``OSError(ENOSPC)`` mid-file) the temporary
    file is removed, ``file`` keeps its previous content, and the error is re-raised."""
    file = Path(file)
    tmp = file.with_name(f"{file.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return file


def write_text(file: str | Path, text: str) -> Path:
    """``atomic_write`` of a text."""
    return atomic_write(file, lambda fh: fh.write(text), binary=False)


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
    lock: RunLock | None = None  # held for the life of the run; ``close_run`` releases it


def open_run(options: Any, default_name: str, payload: dict, seeds: list[int], describe: str = "") -> RunControl:
    """A new run directory (``options.out`` or ``runs/<default_name>``), or with ``options.resume``
    the existing ``options.out``, whose ``config.json`` must hold the same resolved config and
    seeds. ``options``: a ``plastix.driver.RunOptions``; ``describe``: the run, for train.log.
    Either way the returned control holds the run's lock (``lock_run``): the caller releases it
    with ``close_run`` when the run ends, normally or not."""
    from plastix.checkpoint import config_hash

    digest = config_hash(payload["resolved"])
    if options.resume:
        path = Path(options.out)
        _check_run_dir(path, CONFIG)
        lock = lock_run(path, describe)
        try:
            saved = read_config(path)
            if config_hash(saved["config"].get("resolved")) != digest or saved.get("seeds") != seeds:
                raise PlastixError(f"the config in {str(path / CONFIG)!r} does not resolve to the same training "
                                   "(settings or seeds differ); resume with the flags it was started with.")
        except BaseException:
            lock.release()
            raise
        warn_stale(lock)
        # nothing else is written here: the driver logs the resume once its checkpoint has loaded
    else:
        path, lock = claim_run_dir(options.out, default_name, payload, seeds, describe)
        log_line(path, f"started: {describe} (seeds {seeds}); config in {CONFIG}")
    wandb = None
    try:
        if getattr(options, "wandb", False):
            from plastix.loggers import WandbSettings

            wandb = WandbSettings(options.wandb_project, options.wandb_entity, options.wandb_mode)
    except BaseException:
        lock.release()
        raise
    return RunControl(path, list(seeds), digest, bool(options.resume), options.checkpoint_every,
                      options.keep_checkpoints, options.max_skipped, options.tensorboard, wandb, lock)


def close_run(control: RunControl | None) -> None:
    """Release the run's lock (removing ``.lock``); a no-op without one. Call it in a ``finally``."""
    if control is not None and control.lock is not None:
        control.lock.release()


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


def check_skipped(metrics: dict, seeds: list[int], max_skipped: int, first_new: int, names,
                  checkpoint: Path | None = None) -> None:
    """Raise PlastixError when a seed's skipped-update count (``losses/skipped_updates``,
    cumulative, (S, L)) exceeds ``max_skipped`` at a log point >= ``first_new``, giving the step,
    the seed's last log point whose metrics were all finite, and what can be done: with no
    ``checkpoint`` (the run's newest, ``run_dir/checkpoints/step_N``) yet, only a new run; with
    one, ``--resume`` from it, which may raise ``--max-skipped`` (an option a resume may change,
    ``plastix.driver.RESUME_FREE``) but not change ``--lr`` (a different config: a new run)."""
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
        f"by step {step}{prev}, more than --max-skipped {max_skipped}. {last}. {_after_skipped(checkpoint)}")


def _after_skipped(checkpoint: Path | None) -> str:
    if checkpoint is None:
        return ("No checkpoint was written yet, so there is nothing to resume: start a new run, e.g. with a lower "
                "--lr or --clip-norm (or a higher --max-skipped).")
    run_dir = Path(checkpoint).parent.parent
    return (f"The last good checkpoint is intact ({checkpoint.name}): continue with --resume {str(run_dir)!r}, "
            "which may raise --max-skipped; a lower --lr or --clip-norm changes the config, so it needs a new run.")


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
        self.checkpoint = prior.path if prior is not None else None  # the newest checkpoint written
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
                      [k for k in merged if k != "step" and not k.startswith("diagnostics/")], self.checkpoint)
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
        self.segment, self.checkpoint = self.segment + 1, path
        log_line(c.run_dir, f"log point {done}, step {step}: checkpoint {path.name}")

    def close(self) -> None:
        from plastix.loggers import close_all

        if self.loggers is not None:
            close_all(self.loggers)
