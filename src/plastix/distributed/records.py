"""The run directory of an asynchronous run, laid out like every plastix run (``plastix.runs``):
``config.json``, ``metrics.csv`` (a row per gradient that reached the learner, written as it
arrives), ``train.log``, ``params.npz`` (one seed), a final checkpoint in ``checkpoints/`` and
``curves.png``.

``config.json`` stores the run's ``RLConfig`` (or PPO config) as ``resolved``, so ``plastix eval
RUN_DIR`` and ``plastix.load`` read an A3C run as the a2c run of the same setting, and the
actor settings under ``distributed``.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

RATE_WINDOW = 20  # arrivals over which updates/s and env steps/s are measured


class Recorder:
    """Opens the run directory and writes one metrics.csv row per arriving gradient."""

    def __init__(self, out: str | None, task: str, core: str, algo: str, resolved: Any, distributed: dict, seed: int,
                 names: tuple[str, ...], flags: dict | None = None):
        from plastix.loggers import CSVLogger
        from plastix.runs import create_run_dir, default_run_name, log_line

        self.payload = {"algo": algo, "resolved": dataclasses.asdict(resolved),
                        "distributed": dict(distributed), "args": flags or {},
                        "task": {"name": task}}
        self.seed, self.names = seed, names
        self.run_dir = create_run_dir(out, default_run_name(task.replace(":", "-"), core, algo), self.payload, [seed])
        log_line(self.run_dir, f"started: {algo} on {task}, {core} (seed {seed}); config in config.json")
        self.csv = CSVLogger(self.run_dir, names)
        self.start = time.perf_counter()
        self.rows: list[dict] = []
        self.window: collections.deque = collections.deque(maxlen=RATE_WINDOW + 1)  # (time, applied, env steps)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def rates(self, applied: int, env_steps: int) -> tuple[float, float]:
        """(updates/s, env steps/s) over the last ``RATE_WINDOW`` arrivals (NaN at the first)."""
        self.window.append((self.elapsed(), applied, env_steps))
        (t0, a0, s0), (t1, a1, s1) = self.window[0], self.window[-1]
        if t1 <= t0:
            return float("nan"), float("nan")
        return (a1 - a0) / (t1 - t0), (s1 - s0) / (t1 - t0)

    def log(self, step: int, metrics: dict) -> None:
        wall = self.elapsed()
        self.csv.log(step, metrics, seed=self.seed, wall_time=wall)
        self.rows.append({"step": step, "wall_time": wall, **metrics})

    def metrics(self) -> dict:
        """{name: (L,)} of every row so far, ``step`` and ``wall_time`` included."""
        names = ("step", "wall_time", *self.names)
        return {n: np.asarray([r.get(n, np.nan) for r in self.rows], float) for n in names}

    def close(self) -> None:
        """Close metrics.csv (every row written so far stays)."""
        if not self.csv.handle.closed:
            self.csv.close()

    def finish(self, state: Any, params: Any, env_steps: int, summary: str, plot_title: str, no_plot: bool) -> None:
        """Close metrics.csv; write params.npz, the final checkpoint, curves.png and the summary."""
        from plastix import checkpoint
        from plastix.runs import log_line, save_params

        self.close()
        stacked = jax.tree.map(lambda x: np.asarray(x)[None], jax.device_get(params))
        save_params(self.run_dir, stacked)
        table = {k: v[None] for k, v in self.metrics().items() if k != "wall_time"}
        checkpoint.save(self.run_dir, jax.tree.map(lambda x: np.asarray(x)[None], jax.device_get(state)), table,
                        self.metrics()["wall_time"], done=len(self.rows), segment=1, step=env_steps,
                        config_digest=checkpoint.config_hash(self.payload["resolved"]), keep=1)
        if not no_plot and self.rows:
            from plastix.plot import plot_runs
            from plastix.runs import read_metrics

            plot_runs([(self.payload["algo"], read_metrics(self.run_dir))],
                      ["charts/episodic_return", "distributed/staleness"], Path(self.run_dir) / "curves.png",
                      ylabels=["mean episode reward", "policy staleness (updates)"], title=plot_title)
        log_line(self.run_dir, summary)


class LearnerState(NamedTuple):
    """What the final checkpoint holds: the learner's parameters, optimizer state and version."""

    params: Any
    opt_state: Any
    version: Any  # () int32, gradients applied


__all__ = ["LearnerState", "Recorder"]
