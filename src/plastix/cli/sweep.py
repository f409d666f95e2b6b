"""``plastix sweep CONFIG``: grid / random search and population-based training on Ray Tune.

Writes to the output directory: ``summary.json`` (metric, mode, best trial, every trial's
config and final metric), ``trials.csv`` (one row per trial) and ``ray/`` (Tune's own trial
directories and checkpoints). See docs/scaling.md for the config format and clusters.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import json
import sys
from pathlib import Path
from typing import Annotated

import tyro

from plastix.errors import PlastixError
from plastix.runs import atomic_write, write_text

SUMMARY = "summary.json"
TRIALS = "trials.csv"


@dataclasses.dataclass(frozen=True)
class SweepArgs:
    """Search hyperparameters of a plastix trainer (grid, random, PBT) with Ray Tune."""

    config: Annotated[str, tyro.conf.Positional]
    """Sweep config, a .json or .toml file (trainer, fixed settings, search space, scheduler)."""
    address: str | None = None
    """Address of a running Ray cluster (e.g. auto, or ray://HEAD:10001); None = start a local Ray."""
    num_cpus: int = 2
    """CPUs of the local Ray (ignored with --address); one trial runs per CPU."""
    cpus_per_trial: float = 1.0
    """CPUs Ray reserves for each trial."""
    out: str | None = None
    """Output directory (must not exist or be empty); default sweeps/<name>-<time>."""
    storage: str | None = None
    """Where Tune keeps trial checkpoints; None = OUT/ray. On a multi-node cluster give a path
    every node shares (NFS) or a URI such as s3://bucket/path."""
    json: bool = False
    """Print only the summary as one JSON object on stdout."""

    def run(self) -> int:
        return run_sweep_command(self)


def output_dir(args: SweepArgs, name: str):
    """The sweep's new output directory, made atomically (``os.mkdir``; an existing empty one is
    taken too) and locked for the life of the sweep: (path, the held ``plastix.runs.RunLock``)."""
    import os

    from plastix.cli.outputs import check_run_dir
    from plastix.runs import LOCK, lock_run

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(args.out) if args.out else Path("sweeps") / f"{name}-{stamp}"
    check_run_dir(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    lock = lock_run(path, f"plastix sweep {args.config}")
    if any(p.name != LOCK for p in path.iterdir()):
        lock.release()
        raise PlastixError(f"output directory {str(path)!r} already exists and is not empty; choose another --out.")
    return path, lock


def write_trials_csv(path: Path, summary: dict) -> None:
    keys = sorted({k for t in summary["trials"] for k in t["config"]})
    fields = ["trial_id", *keys, summary["metric"], "update", "iterations", "restored_from_trial", "error"]

    def write(fh) -> None:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for t in summary["trials"]:
            writer.writerow({"trial_id": t["trial_id"], **t["config"], summary["metric"]: t["metric"],
                             "update": t["update"], "iterations": t["iterations"],
                             "restored_from_trial": t["restored_from_trial"], "error": t["error"] or ""})

    atomic_write(path, write, binary=False)


def _cell(value) -> str:
    """A config value in the table: floats to 4 significant digits, anything else whole."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_table(summary: dict, out: Path) -> None:
    from plastix.cli import tables

    keys = sorted({k for t in summary["trials"] for k in t["config"]})
    best_id = summary["best"]["trial_id"] if summary["best"] else None
    rows = []
    for t in summary["trials"]:
        mark = " *" if t["trial_id"] == best_id else ""
        metric = "error" if t["error"] else f"{t['metric']:.4g}"
        rows.append([t["trial_id"] + mark, *(_cell(t["config"].get(k)) for k in keys), metric, str(t["update"])])
    tables.print_table(f"{summary['name']}: {summary['metric']} ({summary['mode']}; * = best)",
                       ["trial", *keys, summary["metric"], "update"], rows, no_wrap=("trial",))
    tables.print_wrapped(f"best: {json.dumps(summary['best']['config']) if summary['best'] else 'none (every trial failed)'}")
    print(f"results: {out / SUMMARY}")


def run_sweep_command(args: SweepArgs) -> int:
    from plastix.sweep import load_spec, require_ray, run_sweep, summarize

    require_ray()
    spec = load_spec(args.config)  # validated, one trainer built: errors before Ray starts
    out, lock = output_dir(args, spec.name)
    with lock, contextlib.redirect_stdout(sys.stderr):  # Ray's own messages never mix with --json output
        grid = run_sweep(spec, args.storage or out / "ray", address=args.address, num_cpus=args.num_cpus,
                         cpus_per_trial=args.cpus_per_trial)
        summary = summarize(spec, grid)
        write_text(out / SUMMARY, json.dumps(summary, indent=2, default=str))
        write_trials_csv(out / TRIALS, summary)
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print_table(summary, out)
    if summary["best"] is None:
        raise PlastixError(f"every trial failed; see {out / SUMMARY} and the trial logs under {out / 'ray'}.")
    return 0


__all__ = ["SweepArgs", "run_sweep_command"]
