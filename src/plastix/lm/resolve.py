"""``plastix train text:<file>`` flags -> an ``LMConfig`` (defaults filled in, the file checked).

Defaults are ``LMConfig``'s fields; the budget ``total_steps`` counts training tokens per seed
(None: ``DEFAULT_PASSES`` passes over the training split), cut into updates of B × T tokens and
at most ``LM_LOG_POINTS`` log points unless ``log_every`` says otherwise (each scores both
whole evaluation splits)."""

from __future__ import annotations

import dataclasses

from plastix.errors import PlastixError, check_positive_int
from plastix.lm.config import LMConfig
from plastix.lm.text import text_path
from plastix.lm.trainer import make_setup
from plastix.options import clip_norm, core_options, pick, updates_per_log

_DEFAULT = LMConfig()
DEFAULT_PASSES = 2
LM_LOG_POINTS = 10  # at most this many log points by default: each scores both whole evaluation splits


def resolve_lm_config(flags) -> LMConfig:
    """The flags (attributes task, level, core, hidden, embed, batch_size, seq_len, total_steps,
    lr, lr_end, clip_norm, log_every, min_count, max_vocab, val_fraction, test_fraction,
    eval_streams, modulation, core_opt, dtype; None = the default) -> a validated LMConfig whose
    ``text_sha256`` pins the file's contents."""
    text_path(flags.task)
    batch = check_positive_int("batch_size", pick(flags.batch_size, _DEFAULT.batch_size))
    seq_len = check_positive_int("seq_len", pick(flags.seq_len, _DEFAULT.seq_len))
    base = LMConfig(task=flags.task, level=flags.level, core=pick(flags.core, _DEFAULT.core),
                    hidden=pick(flags.hidden, _DEFAULT.hidden), embed=flags.embed, batch_size=batch, seq_len=seq_len,
                    lr=pick(flags.lr, _DEFAULT.lr), lr_end=flags.lr_end,
                    clip_norm=clip_norm(flags.clip_norm, _DEFAULT.clip_norm), min_count=flags.min_count,
                    max_vocab=flags.max_vocab, val_fraction=flags.val_fraction, test_fraction=flags.test_fraction,
                    eval_streams=flags.eval_streams, dtype=flags.dtype, core_options=core_options(flags),
                    num_updates=1, updates_per_log=1)
    setup = make_setup(base)  # reads the file: every error about it before a run directory exists
    per_update = batch * seq_len
    budget = pick(flags.total_steps, DEFAULT_PASSES * setup.segments_per_pass * per_update)
    num_updates = check_positive_int("total_steps", budget) // per_update
    if num_updates < 1:
        raise PlastixError(f"total_steps ({budget}) must be at least batch_size × seq_len ({per_update} tokens).")
    per_log = updates_per_log(num_updates, flags.log_every, per_update)
    per_log = max(per_log, -(-num_updates // LM_LOG_POINTS)) if flags.log_every is None else per_log
    per_log = min(per_log, num_updates)
    return dataclasses.replace(base, num_updates=(num_updates // per_log) * per_log, updates_per_log=per_log,
                               text_sha256=setup.data.sha256)
