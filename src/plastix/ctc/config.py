"""The settings of a CTC run (``CTCConfig``), their validation, and the resolution of the
``plastix train ctc-symbols`` flags into them."""

from __future__ import annotations

import dataclasses
from typing import Any

from plastix.ctc.task import CTC_TASKS, SymbolTask
from plastix.errors import (PlastixError, check_at_most, check_clip_norm, check_positive_int, check_step_sizes,
                            unknown_name)
from plastix.options import clip_norm, core_options, pick, updates_per_log

NOT_CTC_CORES = {"esn": "its reservoir is fixed and its readout is fitted by ridge regression",
                 "jordan": "it feeds back its own output layer, which CTC replaces by a blank-and-symbols readout"}


@dataclasses.dataclass(frozen=True)
class CTCConfig:
    """Resolved settings of one CTC run (every field concrete). Budgets count training sequences."""

    task: str = "ctc-symbols"
    core: str = "lstm"
    hidden: int = 32  # units n per direction
    bidirectional: bool = False  # a forward and a backward core, outputs concatenated (2n features)
    core_options: tuple[tuple[str, Any], ...] = ()
    # ---- the task (plastix.ctc.task.SymbolTask)
    symbols: int = 5
    min_len: int = 2
    max_len: int = 6
    min_dur: int = 2
    max_dur: int = 5
    gap_prob: float = 0.5
    max_gap: int = 2
    noise: float = 1.0
    features: int = 8
    # ---- training
    batch_size: int = 32
    lr: float = 3e-3
    lr_end: float | None = None
    clip_norm: float | None = 1.0
    num_updates: int = 600  # a multiple of updates_per_log
    updates_per_log: int = 20
    eval_batch_size: int = 256
    beam_width: int = 8  # prefix beam search width of `plastix eval`
    dtype: str = "float32"

    @property
    def num_logs(self) -> int:
        return self.num_updates // self.updates_per_log

    @property
    def log_every(self) -> int:
        """Training sequences per log point (the driver's budget unit)."""
        return self.updates_per_log * self.batch_size

    @property
    def symbol_task(self) -> SymbolTask:
        return SymbolTask(self.symbols, self.min_len, self.max_len, self.min_dur, self.max_dur, self.gap_prob,
                          self.max_gap, self.noise, self.features)


def validate(config: CTCConfig) -> SymbolTask:
    """Check a config at the boundary; returns its task. Raises PlastixError."""
    from plastix.cores import CORES
    from plastix.cores.base import resolve_dtype

    if config.task not in CTC_TASKS:
        raise unknown_name("CTC task", config.task, CTC_TASKS)
    if config.core not in CORES:
        raise unknown_name("core", config.core, CORES)
    if config.core in NOT_CTC_CORES:
        raise PlastixError(f"core {config.core!r} cannot be trained with CTC here: {NOT_CTC_CORES[config.core]}.")
    for name in ("hidden", "batch_size", "num_updates", "updates_per_log", "eval_batch_size", "beam_width"):
        check_positive_int(name, getattr(config, name))
    if config.num_updates % config.updates_per_log:
        raise PlastixError(f"num_updates ({config.num_updates}) must be a multiple of updates_per_log "
                           f"({config.updates_per_log}).")
    check_at_most("num_updates × batch_size (the sequences counted by the step metric)",
                  config.num_updates * config.batch_size)
    check_step_sizes(config.lr, config.lr_end)
    check_clip_norm(config.clip_norm)
    resolve_dtype(config.dtype)
    return config.symbol_task


def resolve_ctc_config(flags) -> CTCConfig:
    """The flags of ``plastix train ctc-symbols`` (``plastix.cli.args.CTCArgs``) -> a validated
    CTCConfig; a flag left at None takes ``CTCConfig``'s default."""
    d = CTCConfig()
    batch = check_positive_int("batch_size", pick(flags.batch_size, d.batch_size))
    total = check_positive_int("total_steps", pick(flags.total_steps, d.num_updates * d.batch_size))
    num_updates = total // batch
    if num_updates < 1:
        raise PlastixError(f"total_steps ({total}) must be at least one batch ({batch} sequences).")
    per_log = updates_per_log(num_updates, flags.log_every, batch)
    config = CTCConfig(
        task=flags.task, core=pick(flags.core, d.core), hidden=pick(flags.hidden, d.hidden),
        bidirectional=flags.bidirectional, core_options=core_options(flags), symbols=flags.symbols,
        min_len=pick(flags.min_len, d.min_len), max_len=pick(flags.max_len, d.max_len), min_dur=flags.min_dur,
        max_dur=flags.max_dur,
        gap_prob=flags.gap_prob, noise=flags.noise, batch_size=batch, lr=pick(flags.lr, d.lr),
        lr_end=flags.lr_end, clip_norm=clip_norm(flags.clip_norm, d.clip_norm),
        num_updates=(num_updates // per_log) * per_log, updates_per_log=per_log, beam_width=flags.beam_width,
        dtype=flags.dtype)
    validate(config)
    return config


__all__ = ["CTCConfig", "NOT_CTC_CORES", "resolve_ctc_config", "validate"]
