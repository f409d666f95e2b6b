"""``plastix train`` flags -> a ``SupervisedConfig`` (the sequence task's defaults filled in).

Defaults: ``SupervisedConfig``'s fields (core ``lstm``, hidden 64, batch 32, clip norm 1), the
task's T, learning rate and budget, about ``plastix.options.LOG_POINTS`` log points per run.
"""

from __future__ import annotations

from plastix.errors import PlastixError, check_positive_int
from plastix.options import clip_norm, core_options, pick, updates_per_log
from plastix.tasks import get_task
from plastix.train.supervised import SupervisedConfig, validate

_DEFAULT = SupervisedConfig()  # the defaults are SupervisedConfig's field defaults, nowhere else
DEFAULT_CORE = _DEFAULT.core  # lstm
DEFAULT_HIDDEN = _DEFAULT.hidden  # 64
DEFAULT_BATCH = _DEFAULT.batch_size  # 32
DEFAULT_CLIP = _DEFAULT.clip_norm  # 1.0


def resolve_config(flags) -> SupervisedConfig:
    """The flags of ``plastix train`` (attributes task, core, hidden, grad, seq_len, total_steps,
    batch_size, lr, lr_end, clip_norm, log_every, trunc_window, trunc_stride, teacher_forcing,
    modulation, core_opt, dtype; None = the default) -> a validated SupervisedConfig."""
    task = get_task(flags.task)
    batch = check_positive_int("batch_size", pick(flags.batch_size, DEFAULT_BATCH))
    budget = check_positive_int("total_steps", pick(flags.total_steps, task.default_budget))
    num_updates = budget // batch
    if num_updates < 1:
        raise PlastixError(f"total_steps ({budget}) must be at least batch_size ({batch}).")
    per_log = updates_per_log(num_updates, flags.log_every, batch)
    config = SupervisedConfig(
        task=task.name, core=pick(flags.core, DEFAULT_CORE), hidden=pick(flags.hidden, DEFAULT_HIDDEN),
        grad=flags.grad, trunc_window=flags.trunc_window, trunc_stride=flags.trunc_stride,
        seq_len=pick(flags.seq_len, task.default_T), batch_size=batch, lr=pick(flags.lr, task.default_lr),
        lr_end=flags.lr_end, clip_norm=clip_norm(flags.clip_norm, DEFAULT_CLIP),
        num_updates=(num_updates // per_log) * per_log, updates_per_log=per_log, dtype=flags.dtype,
        p_teacher=flags.teacher_forcing, core_options=core_options(flags))
    validate(config)
    return config
