"""TensorBoard event files for a run directory (``plastix train --tensorboard``).

One writer per seed, ``run_dir/tensorboard/seed_<seed>/``, so TensorBoard overlays the seeds
as runs; every metric is a scalar tagged by its namespaced name (``charts/episodic_return``,
``losses/value_loss``) at its ``step`` (training sequences or environment steps per seed).

Events are written at every log point (``plastix.loggers.TensorBoardLogger`` calls ``add``).
Resume without duplicates: event files are derived data. ``TensorBoardLog(..., rewrite=metrics)``
(used on resume, with the checkpoint's metrics) deletes the directory and writes every saved log
point again, so the steps after a resume are the checkpoint's and then the new ones, increasing,
each once.

Needs tensorboardX (``pip install plastix[tensorboard]``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from plastix.errors import PlastixError

DIRNAME = "tensorboard"


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise PlastixError("--tensorboard needs tensorboardX: pip install 'plastix[tensorboard]' "
                           "(or pip install tensorboardX).") from None
    return SummaryWriter


class TensorBoardLog:
    """Per-seed scalar writers under ``run_dir/tensorboard``.

    ``write(metrics)`` takes metrics ``{name: (S, L)}`` with a ``step`` entry and adds every
    other finite-or-not scalar at its step; ``add(seed, step, metrics)`` one log point of one
    seed; ``close()`` flushes the files."""

    def __init__(self, run_dir: str | Path, seeds: list[int], rewrite: dict | None = None):
        writer_class = _summary_writer()
        self.root = Path(run_dir) / DIRNAME
        if rewrite is not None and self.root.exists():
            shutil.rmtree(self.root)
        self.seeds = [int(s) for s in seeds]
        self.writers = [writer_class(logdir=str(self.root / f"seed_{seed}")) for seed in self.seeds]
        if rewrite:
            self.write(rewrite)

    def write(self, metrics: dict) -> None:
        steps = np.asarray(metrics["step"])
        names = [k for k in metrics if k != "step"]
        for s, seed in enumerate(self.seeds):
            for i in range(steps.shape[-1]):
                self.add(seed, int(steps[s, i]), {name: float(np.asarray(metrics[name])[s, i]) for name in names})

    def add(self, seed: int | None, step: int, metrics: dict) -> None:
        """One log point of one seed (None: the first): every metric at ``step``, flushed."""
        writer = self.writers[0 if seed is None else self.seeds.index(int(seed))]
        for name, value in metrics.items():
            writer.add_scalar(name, float(value), int(step))
        writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def read_scalars(run_dir: str | Path, seed: int) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} in file order from a seed's event files (tensorboard's
    EventAccumulator when installed, else tensorboardX's protobuf reader)."""
    folder = Path(run_dir) / DIRNAME / f"seed_{seed}"
    files = sorted(folder.glob("events.out.tfevents.*"))
    if not files:
        raise PlastixError(f"no TensorBoard event files in {str(folder)!r}.")
    from tensorboardX.event_file_writer import event_pb2  # the Event protobuf of tensorboardX

    out: dict[str, list[tuple[int, float]]] = {}
    for file in files:
        for record in _records(file.read_bytes()):
            event = event_pb2.Event()
            event.ParseFromString(record)
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((int(event.step), float(value.simple_value)))
    return out


def _records(data: bytes):
    """TFRecord framing: uint64 length, uint32 crc, payload, uint32 crc."""
    pos = 0
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos:pos + 8], "little")
        start = pos + 12
        yield data[start:start + length]
        pos = start + length + 4
