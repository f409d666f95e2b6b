"""Experiment tracking: where every log point's metrics go (docs/runs.md, "Experiment tracking").

The training driver (``plastix.driver``) hands each log point of each seed to every logger of
the run, as soon as the jitted computation of that log point has finished (not only at a
checkpoint)::

    logger.log(step, {"charts/episodic_return": 0.7, "losses/value_loss": 0.1, ...}, seed=0, wall_time=12.5)
    ...
    logger.close()

``step`` is the seed's budget units so far (training sequences or environment steps), the
metric names are CleanRL's namespaced ones (``charts/...``, ``losses/...``; Huang et al. 2022,
"CleanRL: high-quality single-file implementations of deep reinforcement learning algorithms",
JMLR 23(274)), the same as the columns of ``metrics.csv``. Three loggers are built in:

    CSVLogger           metrics.csv (always)
    TensorBoardLogger   tensorboard/seed_<seed>/ event files     --tensorboard  (plastix.tb)
    WandbLogger         one Weights & Biases run per seed        --wandb

and ``plastix.run(config, loggers=[...])`` adds any object with the same two methods (the
``Logger`` protocol). Resume without duplicates: each built-in logger is opened with the log
points of the checkpoint the run continues from (``history``): the CSV file and the TensorBoard
directory are rewritten from them, a W&B run (which cannot forget what it was sent) skips every
step it already has (``wandb.json`` in the run directory records the last step sent per seed),
so after an interrupt and ``--resume`` each series has every step exactly once, in order.
"""

from __future__ import annotations

import csv
import json
import netrc
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from plastix.errors import PlastixError, unknown_name
from plastix.runs import CONFIG, METRICS, atomic_write, write_text

WANDB_STATE = "wandb.json"
WANDB_MODES = ("online", "offline", "disabled")
WANDB_HOST = "api.wandb.ai"
WandbMode = Literal["online", "offline", "disabled"]


@runtime_checkable
class Logger(Protocol):
    """What the driver calls: ``log`` once per (log point, seed), in order of log point then
    seed, and ``close`` once at the end (also when the run stops with an error)."""

    def log(self, step: int, metrics: Mapping[str, float], *, seed: int | None = None,
            wall_time: float | None = None) -> None:
        """One log point of one seed: ``metrics`` {namespaced name: value} at budget ``step``;
        ``wall_time``: seconds since the run started."""

    def close(self) -> None:
        """Flush and release files or connections."""


class Row(NamedTuple):
    """One (log point, seed) of the run so far, as the loggers receive it."""

    step: int
    seed: int
    wall_time: float
    metrics: dict[str, float]


def rows_of(metrics: Mapping[str, Any], seeds: Sequence[int], walls: Sequence[float],
            names: Sequence[str]) -> list[Row]:
    """{name: (S, L)} metrics (with ``step``) and (L,) wall times -> rows by log point, then seed."""
    rows = []
    for i in range(metrics["step"].shape[-1]):
        for s, seed in enumerate(seeds):
            rows.append(Row(int(metrics["step"][s, i]), int(seed), round(float(walls[i]), 3),
                            {name: float(metrics[name][s, i]) for name in names if name in metrics}))
    return rows


# ---------------------------------------------------------------- metrics.csv
class CSVLogger:
    """``metrics.csv``, long format: ``step, wall_time, seed, <names>...``, one row per (log point,
    seed), appended and flushed at every log point. Opening it writes the header and the
    ``history`` rows (a resume's checkpointed log points) over any existing file, atomically."""

    def __init__(self, run_dir: str | Path, names: Sequence[str], history: Sequence[Row] = ()):
        self.file = Path(run_dir) / METRICS
        self.fields = ["step", "wall_time", "seed", *names]

        def write(fh) -> None:
            writer = csv.DictWriter(fh, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(self._record(row.step, row.metrics, row.seed, row.wall_time) for row in history)

        atomic_write(self.file, write, binary=False)  # a unique temporary name, removed if the write fails
        self.handle = open(self.file, "a", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=self.fields)

    def _record(self, step, metrics, seed, wall_time) -> dict:
        return {"step": int(step), "wall_time": wall_time, "seed": seed,
                **{k: float(v) for k, v in metrics.items() if k in self.fields}}

    def log(self, step: int, metrics: Mapping[str, float], *, seed: int | None = None,
            wall_time: float | None = None) -> None:
        self.writer.writerow(self._record(step, metrics, seed, None if wall_time is None else round(wall_time, 3)))
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


# ---------------------------------------------------------------- TensorBoard
class TensorBoardLogger:
    """``run_dir/tensorboard/seed_<seed>/`` event files (``plastix.tb``): one scalar per metric,
    tag = its name, at its step. Opening it deletes the directory and
    writes the ``history`` rows again (a resume never duplicates a step)."""

    def __init__(self, run_dir: str | Path, seeds: Sequence[int], history: Sequence[Row] = ()):
        from plastix.tb import TensorBoardLog

        self.events = TensorBoardLog(run_dir, seeds, rewrite={})
        for row in history:
            self.log(row.step, row.metrics, seed=row.seed, wall_time=row.wall_time)

    def log(self, step: int, metrics: Mapping[str, float], *, seed: int | None = None,
            wall_time: float | None = None) -> None:
        self.events.add(seed, step, metrics)

    def close(self) -> None:
        self.events.close()


# ---------------------------------------------------------------- Weights & Biases
class WandbSettings(NamedTuple):
    """Where the W&B runs go: ``project``, ``entity`` (None = the account's default) and
    ``mode`` (None = ``online`` when credentials are present, else ``offline``)."""

    project: str = "plastix"
    entity: str | None = None
    mode: WandbMode | None = None


def has_wandb_credentials(environ: Mapping[str, str] | None = None) -> bool:
    """Whether W&B could log in: ``WANDB_API_KEY`` is set, or the netrc file (``NETRC`` or
    ``~/.netrc``) has an entry for the W&B host (``WANDB_BASE_URL``'s, else api.wandb.ai).
    Only the presence of an entry is looked at."""
    environ = os.environ if environ is None else environ
    if environ.get("WANDB_API_KEY"):
        return True
    host = environ.get("WANDB_BASE_URL", WANDB_HOST).split("://")[-1].split("/")[0].split(":")[0]
    file = Path(environ.get("NETRC") or Path.home() / ".netrc")
    try:
        return file.is_file() and netrc.netrc(str(file)).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_mode(mode: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The mode a W&B run starts in: ``mode`` if given, else ``WANDB_MODE`` if set, else
    ``online`` with credentials and ``offline`` without (never a login prompt)."""
    environ = os.environ if environ is None else environ
    mode = mode or environ.get("WANDB_MODE") or ("online" if has_wandb_credentials(environ) else "offline")
    if mode == "dryrun":  # W&B's old name of offline
        mode = "offline"
    if mode not in WANDB_MODES:
        raise unknown_name("wandb mode", mode, WANDB_MODES)
    return mode


def import_wandb():
    try:
        import wandb
    except ImportError:
        raise PlastixError("--wandb needs Weights & Biases: pip install \"plastix[wandb]\" "
                           "(or pip install wandb).") from None
    return wandb


def wait_for_a_fresh_run_dir(base: Path, run_id: str) -> None:
    """W&B names a run's local directory by the second it starts and the run's id
    (``offline-run-YYYYmmdd_HHMMSS-<id>``, ``run-...`` online). A resume that starts within the
    second the interrupted process started the same run would write into that directory and lose
    its files, so wait for the next second (seen in the resume test on a fast machine: the
    interrupted and the resumed process left one offline directory instead of two)."""
    import datetime
    import time

    for _ in range(3):
        stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
        if not any((base / f"{prefix}-{stamp}-{run_id}").exists() for prefix in ("offline-run", "run")):
            return
        time.sleep(1.0 - time.time() % 1.0 + 0.01)


class WandbLogger:
    """One W&B run per seed (Biewald 2020, "Experiment tracking with Weights and Biases"),
    grouped by the run directory's name, with the run's config.json as its config; the history
    has one row per log point with the metrics of ``metrics.csv`` and W&B's ``_step`` = the
    plastix ``step``. Files go to ``run_dir/wandb/`` (offline runs: ``offline-run-*-<id>/``, to
    upload later with ``wandb sync``).

    The run ids and the last step sent per seed are kept in ``run_dir/wandb.json``: a resume
    continues the same W&B runs (``resume="allow"``) in the project they started in and sends
    only the steps they do not have yet, from ``history`` (the checkpoint's log points) on."""

    def __init__(self, run_dir: str | Path, seeds: Sequence[int], settings: WandbSettings = WandbSettings(),
                 history: Sequence[Row] = ()):
        wandb = import_wandb()
        self.run_dir, self.seeds = Path(run_dir), [int(s) for s in seeds]
        self.state_file = self.run_dir / WANDB_STATE
        state = self._read_state(settings)
        self.state = state
        config = _config_of(self.run_dir)
        mode = wandb_mode(settings.mode)
        self.runs = {}
        try:
            for seed in self.seeds:
                wait_for_a_fresh_run_dir(self.run_dir / "wandb", state["ids"][str(seed)])
                self.runs[seed] = wandb.init(
                    project=state["project"], entity=state["entity"], id=state["ids"][str(seed)], resume="allow",
                    group=self.run_dir.name, name=f"{self.run_dir.name}-seed{seed}", job_type=config.get("algo"),
                    config={**config, "seed": seed}, dir=str(self.run_dir), mode=mode, reinit="create_new",
                    settings=wandb.Settings(console="off", silent=True, save_code=False, disable_git=True,
                                            x_disable_stats=True))
        except Exception as err:  # noqa: BLE001  (W&B raises several kinds: login, network, usage)
            self.close()
            raise PlastixError(f"Weights & Biases could not start a run in {mode} mode: {err}. Check the project "
                               "and entity, or log locally with --wandb-mode offline.") from err
        self._write_state()
        for row in history:
            self.log(row.step, row.metrics, seed=row.seed, wall_time=row.wall_time)

    def _read_state(self, settings: WandbSettings) -> dict:
        if self.state_file.exists():
            state = json.loads(self.state_file.read_text())
        else:
            state = {"project": settings.project, "entity": settings.entity, "ids": {}, "last_step": {}}
        for seed in self.seeds:
            state["ids"].setdefault(str(seed), secrets.token_hex(4))  # W&B run ids: unique in a project
        return state

    def _write_state(self) -> None:
        write_text(self.state_file, json.dumps(self.state, indent=2, sort_keys=True))

    def log(self, step: int, metrics: Mapping[str, float], *, seed: int | None = None,
            wall_time: float | None = None) -> None:
        key = str(self.seeds[0] if seed is None else seed)
        last = self.state["last_step"].get(key)
        if last is not None and int(step) <= last:
            return  # sent before an interrupt: the resumed run recomputes the same values
        self.runs[int(key)].log({k: float(v) for k, v in metrics.items()}, step=int(step))
        self.state["last_step"][key] = int(step)
        self._write_state()

    def close(self) -> None:
        for run in self.runs.values():
            run.finish()


def _config_of(run_dir: Path) -> dict:
    file = run_dir / CONFIG
    if not file.exists():
        return {}
    saved = json.loads(file.read_text())
    return {**saved.get("config", {}), "seeds": saved.get("seeds"), "versions": saved.get("versions")}


# ---------------------------------------------------------------- the run's loggers
def open_loggers(run_dir: str | Path, seeds: Sequence[int], names: Sequence[str], history: Sequence[Row] = (), *,
                 tensorboard: bool = False, wandb: WandbSettings | None = None,
                 extra: Sequence[Logger] = ()) -> list[Logger]:
    """The loggers of a run: metrics.csv, TensorBoard (``tensorboard``), W&B (``wandb`` settings,
    None = off) and the user's ``extra`` ones (given new log points only). ``history``: the rows
    a resumed run already has (its checkpoint's). If one fails to open, those opened are closed."""
    opened: list[Logger] = []
    try:
        opened.append(CSVLogger(run_dir, names, history))
        if tensorboard:
            opened.append(TensorBoardLogger(run_dir, seeds, history))
        if wandb is not None:
            opened.append(WandbLogger(run_dir, seeds, wandb, history))
    except BaseException:
        close_all(opened)
        raise
    return opened + list(extra)


def check_loggers(loggers: Sequence[Any]) -> list[Logger]:
    """User-supplied loggers must have ``log`` and ``close``."""
    loggers = list(loggers)
    for logger in loggers:
        if not isinstance(logger, Logger):
            raise PlastixError(f"loggers: expected objects with log(step, metrics, *, seed, wall_time) and close() "
                               f"methods (plastix.loggers.Logger), got {type(logger).__name__}.")
    return loggers


def close_all(loggers: Sequence[Logger]) -> None:
    """Close every logger (all of them, even if one raises; the first error is raised after)."""
    error = None
    for logger in loggers:
        try:
            logger.close()
        except Exception as err:  # noqa: BLE001  (closing the others matters more)
            error = error or err
    if error is not None:
        raise error


__all__ = ["CSVLogger", "Logger", "Row", "TensorBoardLogger", "WandbLogger", "WandbSettings", "check_loggers",
           "close_all", "has_wandb_credentials", "open_loggers", "rows_of", "wandb_mode"]
