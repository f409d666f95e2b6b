"""Training a language model on a text file with truncated BPTT over contiguous streams.

``make_trainer(config)`` returns a ``plastix.train.harness.Trainer``: ``train(key)`` is one pure
function, so ``jax.jit(jax.vmap(trainer.train))(keys)`` trains many seeds at once. One update
(``plastix.lm.batches`` for the stream layout)::

    carries ← fresh carries            if k = 0 (the start of a pass over the training split)
    L, g = ∇ mean_{b,t} ℓ over segment k of every stream, from carries (held constant)
    θ ← θ + Adam(clip(g));  carries ← the carries the segment ended with;  k ← (k + 1) mod K

Every ``updates_per_log`` updates the validation and test splits are scored, each with a carry
run over the whole split (``eval_streams`` streams). Metrics per log point: ``step`` (training
tokens), ``losses/train_loss`` (mean ℓ in nats over the chunk), ``charts/val_bits_per_token``,
``charts/val_perplexity``, ``charts/test_bits_per_token``, ``charts/test_perplexity``,
``charts/baseline`` (the unigram model's validation bits per token), ``charts/passes``
(passes over the training split so far) and ``losses/skipped_updates``.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from plastix.cores import CORES, make_core
from plastix.cores.base import reset_where, resolve_dtype
from plastix.errors import PlastixError, check_positive_int, check_step_sizes, unknown_name
from plastix.lm.batches import EvalStreams, eval_streams, fresh_carries, num_segments, segment, stream_matrix
from plastix.lm.config import LMConfig
from plastix.lm.model import LanguageModel, LMParams, segment_loss, split_nll
from plastix.lm.text import LEVELS, TextData, load_text, text_path
from plastix.train.harness import Trainer, assemble_trainer, make_optimizer

LN2 = math.log(2.0)
NOT_TRAINABLE = {"esn": "its reservoir is fixed and its readout is fitted by ridge regression",
                 "jordan": "it feeds its own real-valued output back, not a distribution over tokens"}


class LMState(NamedTuple):
    params: LMParams
    opt_state: Any  # optax ApplyIfFiniteState
    carries: Any  # the core's carry with a leading axis B: where each stream's next segment starts
    segment: jax.Array  # () int32, index k of the next segment (0 = a new pass, fresh carries)
    update: jax.Array  # () int32, updates done


class LMSetup(NamedTuple):
    """The static parts of a language-model training (built once by ``make_trainer``)."""

    config: LMConfig
    data: TextData
    model: LanguageModel
    optimizer: optax.GradientTransformation
    streams: np.ndarray  # (B, L) training streams
    valid: EvalStreams
    test: EvalStreams

    @property
    def segments_per_pass(self) -> int:
        return num_segments(self.streams.shape[1], self.config.seq_len)


def validate(config: LMConfig) -> None:
    """Check the settings that need no file (PlastixError)."""
    if config.level not in LEVELS:
        raise unknown_name("level", config.level, LEVELS)
    if config.core not in CORES:
        raise unknown_name("core", config.core, CORES)
    if config.core in NOT_TRAINABLE:
        raise PlastixError(f"core {config.core!r} cannot be a language model's core: "
                           f"{NOT_TRAINABLE[config.core]} (expected a core trained by gradient, e.g. lstm).")
    for name in ("hidden", "batch_size", "seq_len", "num_updates", "updates_per_log", "eval_streams"):
        check_positive_int(name, getattr(config, name))
    if isinstance(config.embed, bool) or not isinstance(config.embed, int) or config.embed < 0:
        raise PlastixError(f"embed must be an integer >= 0 (0: one-hot inputs), got {config.embed!r}.")
    check_step_sizes(config.lr, config.lr_end)
    if config.clip_norm is not None and not (np.isfinite(config.clip_norm) and config.clip_norm > 0):
        raise PlastixError(f"clip_norm must be positive (or None), got {config.clip_norm!r}.")
    if config.num_updates % config.updates_per_log:
        raise PlastixError(f"num_updates ({config.num_updates}) must be a multiple of updates_per_log "
                           f"({config.updates_per_log}).")
    resolve_dtype(config.dtype)


def read_data(config: LMConfig) -> TextData:
    """The config's text file as ids; PlastixError when it changed since training (its SHA-256)."""
    path = text_path(config.task)
    data = load_text(path, config.level, config.min_count, config.max_vocab, config.val_fraction,
                     config.test_fraction)
    if config.text_sha256 and data.sha256 != config.text_sha256:
        raise PlastixError(f"text file {str(path)!r} changed since this run was trained (SHA-256 {data.sha256[:12]}..., "
                           f"the run has {config.text_sha256[:12]}...): its vocabulary and splits would differ.")
    return data


def build_model(config: LMConfig, vocab_size: int) -> LanguageModel:
    core = make_core(config.core, config.embed or vocab_size, config.hidden, dtype=config.dtype,
                     **dict(config.core_options))
    return LanguageModel(core, vocab_size, config.embed)


def update_step(setup: LMSetup, state: LMState, _=None) -> tuple[LMState, jax.Array]:
    """One optimizer step on the next segment of every stream (module docstring)."""
    model, cfg = setup.model, setup.config
    fresh = fresh_carries(model.initial_carry(), cfg.batch_size)
    carries = reset_where(state.segment == 0, fresh, state.carries)
    inputs, targets = segment(jnp.asarray(setup.streams), state.segment, cfg.seq_len)
    (loss, new), grads = jax.value_and_grad(segment_loss, argnums=1, has_aux=True)(
        model, state.params, carries, inputs, targets)
    updates, opt_state = setup.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new = reset_where(jnp.isfinite(loss), new, fresh)  # a non-finite segment does not poison the carry
    nxt = (state.segment + 1) % setup.segments_per_pass
    return LMState(params, opt_state, new, nxt.astype(jnp.int32), state.update + 1), loss


def split_bits(setup: LMSetup, params: LMParams, split: EvalStreams) -> jax.Array:
    """Mean bits per token of a split (``plastix.lm.model.split_nll``)."""
    total, count = split_nll(setup.model, params, jnp.asarray(split.inputs), jnp.asarray(split.targets),
                             jnp.asarray(split.weights, setup.model.core.jdtype))
    return total / count / LN2


def log_chunk(setup: LMSetup, state: LMState, _=None) -> tuple[LMState, dict]:
    """``updates_per_log`` updates (a scan), then the validation and test splits scored."""
    state, losses = lax.scan(functools.partial(update_step, setup), state, None, setup.config.updates_per_log)
    val, test = split_bits(setup, state.params, setup.valid), split_bits(setup, state.params, setup.test)
    finite = jnp.isfinite(losses)
    dt = val.dtype
    metrics = {
        "step": state.update * setup.config.tokens_per_update,
        "losses/train_loss": jnp.sum(jnp.where(finite, losses, 0.0)) / jnp.maximum(jnp.sum(finite), 1),
        "charts/val_bits_per_token": val,
        "charts/val_perplexity": 2.0 ** val,
        "charts/test_bits_per_token": test,
        "charts/test_perplexity": 2.0 ** test,
        "charts/baseline": jnp.asarray(setup.data.unigram_bits, dt),
        "charts/passes": state.update.astype(dt) / setup.segments_per_pass,
        "losses/skipped_updates": state.opt_state.total_notfinite,
    }
    return state, metrics


def init_state(setup: LMSetup, key: jax.Array) -> LMState:
    params = setup.model.init(key)
    carries = fresh_carries(setup.model.initial_carry(), setup.config.batch_size)
    zero = jnp.zeros((), jnp.int32)
    return LMState(params, setup.optimizer.init(params), carries, zero, zero)


def make_setup(config: LMConfig) -> LMSetup:
    """Validate ``config``, read its text and lay out the streams (PlastixError on bad input)."""
    validate(config)
    data = read_data(config)
    model = build_model(config, data.vocab.size)
    streams = stream_matrix(data.train, config.batch_size, config.seq_len)
    optimizer = make_optimizer("adam", config.lr, config.lr_end, config.clip_norm, config.num_updates)
    return LMSetup(config, data, model, optimizer, streams, eval_streams(data.valid, config.eval_streams),
                   eval_streams(data.test, config.eval_streams))


def make_trainer(config: LMConfig) -> Trainer:
    """The ``Trainer`` of a language-model config (``plastix.train.harness``)."""
    return assemble_trainer(make_setup(config), init_state, log_chunk)


def evaluate_params(setup: LMSetup, params: LMParams) -> dict[str, float]:
    """Bits per token and perplexity of one seed's parameters on the validation and test splits."""
    bits = jax.jit(lambda p: (split_bits(setup, p, setup.valid), split_bits(setup, p, setup.test)))(params)
    val, test = (float(b) for b in bits)
    return {"val_bits_per_token": val, "val_perplexity": 2.0 ** val, "test_bits_per_token": test,
            "test_perplexity": 2.0 ** test}


def run_label(config: LMConfig) -> str:
    """``text-<file stem>`` for run directory names."""
    return "text-" + Path(config.task.split(":", 1)[1]).stem
