"""The settings of a language-model run (``LMConfig``), importable without JAX."""

from __future__ import annotations

import dataclasses
from typing import Any

SHIPPED_CORPUS = "examples/tales.txt"


@dataclasses.dataclass(frozen=True)
class LMConfig:
    """Resolved settings of one language-model run (``plastix.lm.resolve.resolve_lm_config``
    fills them from the ``plastix train text:<file>`` flags).

    Training: the training split is cut into ``batch_size`` contiguous streams; each update
    backpropagates through the next ``seq_len`` tokens of every stream, starting from the carry
    the previous segment ended with (``plastix.lm.batches``)."""

    task: str = f"text:{SHIPPED_CORPUS}"  # text:<file>
    level: str = "char"  # char | word
    core: str = "lstm"
    hidden: int = 128
    embed: int = 0  # input embedding size; 0 = one-hot tokens straight into the core
    batch_size: int = 16  # B parallel streams
    seq_len: int = 32  # T tokens per segment (the truncation length)
    lr: float = 1e-2  # with B 16, T 32: 0.84-0.87 test bits/char on examples/tales.txt (B 32, T 64, 3e-3: 2.3-2.6)
    lr_end: float | None = None
    clip_norm: float | None = 1.0
    num_updates: int = 500  # a multiple of updates_per_log
    updates_per_log: int = 25
    min_count: int = 1  # word level: words seen fewer times in training read as <unk>
    max_vocab: int | None = None  # word level: at most this many tokens (the most frequent)
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    eval_streams: int = 1  # each evaluation split as this many contiguous streams (1: one scan)
    text_sha256: str = ""  # the file's SHA-256 when trained ("" = not checked)
    dtype: str = "float32"
    core_options: tuple[tuple[str, Any], ...] = ()

    @property
    def num_logs(self) -> int:
        return self.num_updates // self.updates_per_log

    @property
    def tokens_per_update(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def log_every(self) -> int:
        """Training tokens between log points (the driver's progress unit)."""
        return self.updates_per_log * self.tokens_per_update
