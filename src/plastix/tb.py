"""TensorBoard event files for a run directory (``plastix train --tensorboard``).

One writer per seed, ``run_dir/tensorboard/seed_<seed>/``, so TensorBoard overlays the seeds
as runs; every metric is a scalar tagged by its namespaced name (``charts/episodic_return``,
``losses/value_loss``) at its ``step`` (training sequences or environment steps per seed).

Resume without duplicates: event files are derived data. Events are written only for log
points already saved in a checkpoint, and ``TensorBoardLog(..., rewrite=metrics)`` (used on
resume) deletes the directory and writes every saved log point again, so the steps in the
files are exactly the checkpoint's, increasing, each once.

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

    ``write(metrics)`` takes one segment's metrics ``{name: (S, L)}`` with a ``step`` entry and
    adds every other finite-or-not scalar at its step; ``close()`` flushes the files."""

    def __init__(self, run_dir: str | Path, seeds: list[int], rewrite: dict | None = None):
        writer_class = _summary_writer()
        self.root = Path(run_dir) / DIRNAME
        if rewrite is not None and self.root.exists():
            shutil.rmtree(self.root)
        self.seeds = list(seeds)
        self.writers = [writer_class(logdir=str(self.root / f"seed_{seed}")) for seed in self.seeds]
        if rewrite:
            self.write(rewrite)

    def write(self, metrics: dict) -> None:
        steps = np.asarray(metrics["step"])
        names = [k for k in metrics if k != "step"]
        for s, writer in enumerate(self.writers):
            for i in range(steps.shape[-1]):
                for name in names:
                    writer.add_scalar(name, float(np.asarray(metrics[name])[s, i]), int(steps[s, i]))
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
