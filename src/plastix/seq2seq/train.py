"""Training an encoder–decoder on a seq2seq task: the ``seq2seq`` trainer of the registry.

The loss of one problem is the cross-entropy of the target tokens, EOS included, summed over the
real (unpadded) positions; a batch's loss is that sum over the batch divided by its target tokens.
The decoder reads the previous target token (teacher forcing), or — **scheduled sampling**
(Bengio, Vinyals, Jaitly & Shazeer 2015, §2.4) — with probability ε(u) at update u a token sampled
from its own previous output distribution (no gradient through the sample)::

    ε(u) = ε_max                                   constant
    ε(u) = ε_max · u / N                           linear (N updates)
    ε(u) = ε_max · σ(10 (u / N − 1/2))             inverse-sigmoid

(the paper decays the probability 1 − ε of the true token; its inverse-sigmoid decay k/(k + exp(u/k))
is written here on the run's own time scale). Evaluation decodes freely, greedily or by beam
search (``beam`` > 1, ``plastix.seq2seq.beam``), and scores the **exact match**: the fraction of
problems whose whole output, EOS included, equals the target. Every log point evaluates
``eval_batch_size`` held-out problems (``plastix.seq2seq.tasks``) of the trained lengths
(``charts/eval_metric``) and of twice the longest trained length (``charts/eval_long``).

``make_trainer(config)`` returns the ``plastix.train.harness.Trainer`` every plastix algorithm
has, so ``jax.jit(jax.vmap(trainer.train))(keys)`` trains many seeds at once.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from plastix.cores import CORES
from plastix.cores.base import resolve_dtype
from plastix.errors import PlastixError, check_positive_int, check_step_sizes, unknown_name
from plastix.seq2seq.beam import beam_decode, check_beam
from plastix.seq2seq.model import ATTENTIONS, Seq2Seq, Seq2SeqParams, greedy_decode, make_seq2seq
from plastix.seq2seq.tasks import BOS, Seq2SeqBatch, check_lengths, check_task, sample_batch, target_size
from plastix.train.harness import Trainer, assemble_trainer, make_optimizer

SCHEDULES = ("constant", "linear", "inverse-sigmoid")
NOT_SEQ2SEQ = {"esn": "its reservoir is fixed (no gradient training)",
               "jordan": "it feeds back its own output layer, not a token embedding",
               "tdnn": "it has no carry to hand over"}
METRICS = ("losses/train_loss", "charts/eval_metric", "charts/eval_long", "charts/token_accuracy",
           "charts/sampling", "losses/skipped_updates")


@dataclasses.dataclass(frozen=True)
class Seq2SeqConfig:
    """Resolved settings of one encoder–decoder run (``resolve_seq2seq`` fills them from the
    ``plastix train`` flags and the task's defaults, ``TASK_DEFAULTS``)."""

    task: str = "addition"
    core: str = "lstm"  # the encoder core
    decoder_core: str | None = None  # None = the encoder's kind
    attention: str = "luong"  # none | bahdanau | luong | luong-dot
    hidden: int = 128
    embed: int = 32
    min_len: int = 1
    max_len: int = 3
    batch_size: int = 128
    lr: float = 5e-3
    lr_end: float | None = None
    clip_norm: float | None = 1.0
    num_updates: int = 2000  # a multiple of updates_per_log
    updates_per_log: int = 50
    eval_batch_size: int = 500
    sampling: float = 0.0  # ε_max, scheduled sampling (0 = teacher forcing)
    sampling_schedule: str = "linear"
    beam: int = 1  # evaluation: 1 = greedy, K > 1 = beam search of width K
    length_penalty: float = 0.0  # GNMT's α of the beam search
    dtype: str = "float32"
    core_options: tuple[tuple[str, Any], ...] = ()

    @property
    def num_logs(self) -> int:
        return self.num_updates // self.updates_per_log

    @property
    def long_len(self) -> int:
        """The length of the longer evaluation problems: twice the longest trained one."""
        return 2 * self.max_len


class Seq2SeqState(NamedTuple):
    params: Seq2SeqParams
    opt_state: Any  # optax ApplyIfFiniteState
    key: jax.Array  # (2,) PRNG key for the next batch
    update: jax.Array  # () int32, updates done


class Setup(NamedTuple):
    config: Seq2SeqConfig
    model: Seq2Seq
    optimizer: optax.GradientTransformation


def check_core(name: str, what: str) -> None:
    if name not in CORES:
        raise unknown_name(what, name, CORES)
    if name in NOT_SEQ2SEQ:
        raise PlastixError(f"{what} {name!r} cannot serve in an encoder–decoder: {NOT_SEQ2SEQ[name]}.")


def validate(config: Seq2SeqConfig) -> None:
    """Check a config at the boundary (PlastixError naming what was expected)."""
    check_task(config.task)
    check_core(config.core, "core")
    if config.decoder_core is not None:
        check_core(config.decoder_core, "decoder core")
    if config.attention not in ATTENTIONS:
        raise unknown_name("attention", config.attention, ATTENTIONS)
    for name in ("hidden", "embed", "batch_size", "num_updates", "updates_per_log", "eval_batch_size"):
        check_positive_int(name, getattr(config, name))
    check_lengths(config.min_len, config.max_len)
    check_step_sizes(config.lr, config.lr_end)
    if config.clip_norm is not None and not (np.isfinite(config.clip_norm) and config.clip_norm > 0):
        raise PlastixError(f"clip_norm must be positive (or None), got {config.clip_norm!r}.")
    if not 0.0 <= config.sampling <= 1.0:
        raise PlastixError(f"sampling (scheduled sampling's ε_max) must be in [0, 1], got {config.sampling!r}.")
    if config.sampling_schedule not in SCHEDULES:
        raise unknown_name("sampling schedule", config.sampling_schedule, SCHEDULES)
    check_beam(config.beam, config.length_penalty)
    if config.num_updates % config.updates_per_log:
        raise PlastixError(f"num_updates ({config.num_updates}) must be a multiple of updates_per_log "
                           f"({config.updates_per_log}).")
    resolve_dtype(config.dtype)


def core_options_of(name: str, options: dict, config: Seq2SeqConfig) -> dict:
    """A core's options; a transformer's window defaults to a whole long problem (source and
    output of twice the trained length, with room to spare)."""
    if name == "transformer" and "context" not in options:
        return {**options, "context": 2 * (2 * config.long_len + 3)}
    return dict(options)


def build_model(config: Seq2SeqConfig) -> Seq2Seq:
    """The encoder–decoder of ``config``: ``core_options`` go to the encoder, and to the decoder
    when it is of the same kind."""
    options = dict(config.core_options)
    dec_name = config.core if config.decoder_core is None else config.decoder_core
    dec_options = options if dec_name == config.core else {}
    return make_seq2seq(config.core, config.hidden, decoder_core=config.decoder_core, attention=config.attention,
                        embed=config.embed, dtype=config.dtype,
                        core_options=core_options_of(config.core, options, config),
                        decoder_options=core_options_of(dec_name, dec_options, config))


# ---------------------------------------------------------------- the loss
def sampling_probability(config: Seq2SeqConfig, update):
    """ε(u): the probability of feeding the model's own sample at update u (module docstring)."""
    frac = jnp.asarray(update, jnp.float32) / config.num_updates
    if config.sampling_schedule == "constant":
        return jnp.asarray(config.sampling, jnp.float32)
    if config.sampling_schedule == "linear":
        return config.sampling * frac
    return config.sampling * jax.nn.sigmoid(10.0 * (frac - 0.5))


def problem_loss(model: Seq2Seq, params: Seq2SeqParams, ex: Seq2SeqBatch, key, epsilon, sample: bool):
    """(Σ_i −log p(y_i | ŷ_<i, x) over the real target positions, their count) of one problem.
    ŷ_{i−1} is the target token, or with probability ``epsilon`` (when ``sample``) a token drawn
    from the decoder's own previous output distribution."""
    enc = model.encode(params, ex.src, ex.src_len)
    T = ex.tgt.shape[0]
    teacher = jnp.concatenate([jnp.full((1,), BOS, jnp.int32), ex.tgt[:-1]])
    k_use, k_draw = jax.random.split(key)
    own = jax.random.bernoulli(k_use, epsilon, (T,)) & (jnp.arange(T) > 0) if sample else jnp.zeros((T,), bool)

    def body(c, inp):
        state, prev_logits = c
        token, use_own, k = inp
        if sample:
            drawn = jax.random.categorical(k, lax.stop_gradient(prev_logits)).astype(jnp.int32)
            token = jnp.where(use_own, drawn, token)
        state, logits, _ = model.decode_step(params, enc, state, token)
        return (state, logits), logits

    start = (model.initial_state(params, enc), jnp.zeros((model.vocab,), enc.outputs.dtype))
    _, logits = lax.scan(body, start, (teacher, own, jax.random.split(k_draw, T)))
    nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), ex.tgt[:, None], axis=1)[:, 0]
    mask = jnp.arange(T) < ex.tgt_len
    return jnp.sum(jnp.where(mask, nll, 0.0)), jnp.sum(mask)


def batch_loss(params, model: Seq2Seq, batch: Seq2SeqBatch, key, epsilon, sample: bool):
    """Mean cross-entropy per target token over the batch."""
    keys = jax.random.split(key, batch.src.shape[0])
    total, count = jax.vmap(problem_loss, in_axes=(None, None, 0, 0, None, None))(model, params, batch, keys,
                                                                                  epsilon, sample)
    return jnp.sum(total) / jnp.sum(count)


# ---------------------------------------------------------------- decoding and scores
def exact_match(pred, batch: Seq2SeqBatch):
    """(exact-match fraction, token accuracy) of predictions pred (B, T) against the targets:
    a problem counts when every target position, EOS included, is right (predictions are PAD
    after their first EOS, so nothing can follow)."""
    mask = jnp.arange(batch.tgt.shape[1])[None, :] < batch.tgt_len[:, None]
    right = (pred == batch.tgt) | ~mask
    tokens = jnp.sum(jnp.where(mask, pred == batch.tgt, False)) / jnp.sum(mask)
    return jnp.mean(jnp.all(right, axis=1)), tokens


def decode_batch(model: Seq2Seq, params, batch: Seq2SeqBatch, max_len: int, beam: int = 1, alpha: float = 0.0):
    """Predicted tokens (B, max_len): greedy (beam 1) or the best hypothesis of a beam search."""
    if beam == 1:
        return jax.vmap(lambda s, n: greedy_decode(model, params, s, n, max_len)[0])(batch.src, batch.src_len)
    return jax.vmap(lambda s, n: beam_decode(model, params, s, n, beam=beam, max_len=max_len,
                                             alpha=alpha).tokens[0])(batch.src, batch.src_len)


def evaluate(setup: Setup, params, key, length: int | None = None, batch_size: int | None = None):
    """(exact match, token accuracy) on fresh held-out problems of the trained lengths, or of
    exactly ``length`` tokens (operand digits for addition)."""
    cfg = setup.config
    lo, hi = (cfg.min_len, cfg.max_len) if length is None else (length, length)
    batch = sample_batch(key, cfg.task, batch_size or cfg.eval_batch_size, lo, hi, held_out=True)
    pred = decode_batch(setup.model, params, batch, target_size(cfg.task, hi), cfg.beam, cfg.length_penalty)
    return exact_match(pred, batch)


# ---------------------------------------------------------------- the trainer
def update_step(setup: Setup, state: Seq2SeqState, _=None):
    cfg = setup.config
    key, k_batch, k_loss = jax.random.split(state.key, 3)
    batch = sample_batch(k_batch, cfg.task, cfg.batch_size, cfg.min_len, cfg.max_len)
    epsilon = sampling_probability(cfg, state.update)
    loss, grads = jax.value_and_grad(batch_loss)(state.params, setup.model, batch, k_loss, epsilon, cfg.sampling > 0)
    updates, opt_state = setup.optimizer.update(grads, state.opt_state, state.params)
    return Seq2SeqState(optax.apply_updates(state.params, updates), opt_state, key, state.update + 1), loss


def log_chunk(setup: Setup, state: Seq2SeqState, _=None):
    """``updates_per_log`` updates, then the evaluation at the trained and the doubled length."""
    cfg = setup.config
    state, losses = lax.scan(functools.partial(update_step, setup), state, None, cfg.updates_per_log)
    key, k_eval, k_long = jax.random.split(state.key, 3)
    state = state._replace(key=key)
    exact, tokens = evaluate(setup, state.params, k_eval)
    long_exact, _ = evaluate(setup, state.params, k_long, cfg.long_len)
    finite = jnp.isfinite(losses)
    metrics = {"step": state.update * cfg.batch_size,
               "losses/train_loss": jnp.sum(jnp.where(finite, losses, 0.0)) / jnp.maximum(jnp.sum(finite), 1),
               "charts/eval_metric": exact, "charts/eval_long": long_exact, "charts/token_accuracy": tokens,
               "charts/sampling": sampling_probability(cfg, state.update),
               "losses/skipped_updates": state.opt_state.total_notfinite}
    return state, metrics


def init_state(setup: Setup, key) -> Seq2SeqState:
    k_params, k_train = jax.random.split(key)
    params = setup.model.init(k_params)
    return Seq2SeqState(params, setup.optimizer.init(params), k_train, jnp.zeros((), jnp.int32))


def make_setup(config: Seq2SeqConfig) -> Setup:
    validate(config)
    model = build_model(config)
    return Setup(config, model, make_optimizer("adam", config.lr, config.lr_end, config.clip_norm, config.num_updates))


def make_trainer(config: Seq2SeqConfig, *, core=None, env=None, data=None) -> Trainer:
    """Validate ``config`` and build the ``Trainer`` (init, run, train). The encoder–decoder
    builds its cores from the registry: user-supplied core, env or data objects are refused."""
    given = [name for name, v in (("core", core), ("env", env), ("data", data)) if v is not None]
    if given:
        raise PlastixError(f"the seq2seq trainer builds its cores and tasks by name; it takes no {', '.join(given)}=.")
    return assemble_trainer(make_setup(config), init_state, log_chunk)
