"""``plastix train reversal|sorting|addition`` flags -> a ``Seq2SeqConfig`` (task defaults filled in).

Defaults: ``Seq2SeqConfig``'s fields (lstm encoder and decoder, Luong attention, 128 units,
embeddings of 32, batch 128, clip norm 1) and, per task, ``TASK_DEFAULTS``: the trained lengths,
the budget in training problems and the step size, annealed linearly to a tenth of itself
(``LR_END_FRACTION``) unless ``--lr-end`` says otherwise; about ``plastix.options.LOG_POINTS`` log points.
"""

from __future__ import annotations

from plastix.errors import PlastixError, check_positive_int
from plastix.options import clip_norm, core_options, pick, updates_per_log
from plastix.seq2seq.tasks import check_task
from plastix.seq2seq.train import Seq2SeqConfig, validate

_DEFAULT = Seq2SeqConfig()
LR_END_FRACTION = 0.1  # the step size decays linearly from lr to lr · LR_END_FRACTION

# task -> (min_len, max_len, budget in problems, lr)
TASK_DEFAULTS: dict[str, tuple[int, int, int, float]] = {
    "addition": (1, 3, 768_000, 5e-3),
    "reversal": (1, 5, 128_000, 3e-3),
    "sorting": (1, 5, 128_000, 3e-3),
}


def resolve_seq2seq(flags) -> Seq2SeqConfig:
    """The flags of ``plastix train`` (attributes task, core, decoder_core, attention, hidden,
    embed, min_len, max_len, batch_size, total_steps, lr, lr_end, clip_norm, log_every, sampling,
    sampling_schedule, beam, length_penalty, modulation, core_opt, dtype; None = the default)
    -> a validated Seq2SeqConfig."""
    task = check_task(flags.task)
    min_len, max_len, budget, lr = TASK_DEFAULTS[task]
    batch = check_positive_int("batch_size", pick(flags.batch_size, _DEFAULT.batch_size))
    budget = check_positive_int("total_steps", pick(flags.total_steps, budget))
    num_updates = budget // batch
    if num_updates < 1:
        raise PlastixError(f"total_steps ({budget}) must be at least batch_size ({batch}).")
    per_log = updates_per_log(num_updates, flags.log_every, batch)
    config = Seq2SeqConfig(
        task=task, core=pick(flags.core, _DEFAULT.core), decoder_core=flags.decoder_core, attention=flags.attention,
        hidden=pick(flags.hidden, _DEFAULT.hidden), embed=pick(flags.embed, _DEFAULT.embed),
        min_len=pick(flags.min_len, min_len), max_len=pick(flags.max_len, max_len), batch_size=batch,
        lr=pick(flags.lr, lr), lr_end=pick(flags.lr_end, pick(flags.lr, lr) * LR_END_FRACTION),
        clip_norm=clip_norm(flags.clip_norm, _DEFAULT.clip_norm),
        num_updates=(num_updates // per_log) * per_log, updates_per_log=per_log, sampling=flags.sampling,
        sampling_schedule=flags.sampling_schedule, beam=flags.beam, length_penalty=flags.length_penalty,
        dtype=flags.dtype, core_options=core_options(flags))
    validate(config)
    return config
