"""Training a recurrent (or bidirectional) network with CTC on ``ctc-symbols``, PureJaxRL style.

The network (Graves et al. 2006, sec. 3): a core (or a ``Bidirectional`` pair of cores) over the
frames, then a linear readout to K + 1 logits per frame, blank first::

    h_t = core(x_1..x_t)   or   [h^→_t ; h^←_t]   (plastix.ctc.bidirectional)
    y^t = softmax(V h_t + c)                                       (K + 1,)

One update: a fresh batch, the mean over it of ctc_loss = −ln p(z | x) (eq. 14 summed over the
batch, divided by B), its gradient by autodiff through the scans (BPTT), Adam after clipping to
a global norm, skipped when not finite (``plastix.train.harness.make_optimizer``).

``make_trainer(config)`` returns a ``plastix.train.harness.Trainer``: ``init``, ``run`` (log
chunks, each ``updates_per_log`` updates then an evaluation on a fresh batch) and ``train``, so
``jax.jit(jax.vmap(trainer.train))(keys)`` trains many seeds at once. Metrics per log point:
``step`` (training sequences), ``losses/train_loss`` (mean CTC loss of the chunk's finite
updates), ``charts/eval_loss`` (mean CTC loss on the evaluation batch),
``charts/label_error_rate`` (best-path decoding, eq. 1 of ``plastix.ctc.ler``) and
``losses/skipped_updates``. Prefix beam search runs on the host: ``evaluate_params``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from plastix.cores import Bidirectional, Core, Readout, init_readout, make_core
from plastix.ctc.bidirectional import run_core
from plastix.ctc.config import CTCConfig, validate
from plastix.ctc.decode import beam_decode_batch, greedy_decode_batch
from plastix.ctc.ler import label_error_rate, label_error_rate_padded
from plastix.ctc.loss import ctc_loss
from plastix.ctc.task import CTCBatch, SymbolTask, sample_batch
from plastix.errors import PlastixError
from plastix.train.harness import Trainer, assemble_trainer, make_optimizer

class CTCParams(NamedTuple):
    core: Any  # the core's parameters (BidirectionalParams for a bidirectional network)
    readout: Readout  # V (K + 1, n_out), c (K + 1,)


class TrainState(NamedTuple):
    params: CTCParams
    opt_state: Any  # optax ApplyIfFiniteState
    key: jax.Array  # (2,) PRNG key of the next batch
    update: jax.Array  # () int32, updates done


class Setup(NamedTuple):
    """The static parts of a CTC trainer."""

    config: CTCConfig
    task: SymbolTask
    core: Core | Bidirectional
    optimizer: optax.GradientTransformation


def build_core(config: CTCConfig) -> Core | Bidirectional:
    """The named core over the task's features; with ``bidirectional`` two of them (independent
    parameters), forward and backward, n units each."""
    options = dict(config.core_options)

    def one():
        return make_core(config.core, config.features, config.hidden, dtype=config.dtype, **options)

    return Bidirectional(one(), one()) if config.bidirectional else one()


def init_params(setup: Setup, key: jax.Array) -> CTCParams:
    k_core, k_out = jax.random.split(key)
    return CTCParams(setup.core.init(k_core), init_readout(k_out, setup.core.output_size, setup.task.classes,
                                                           _dtype(setup)))


def frame_logits(setup: Setup, params: CTCParams, xs: jax.Array, length: jax.Array) -> jax.Array:
    """(T, K + 1) logits V h_t + c of one padded sequence."""
    hs = run_core(setup.core, params.core, xs, length)
    return hs @ params.readout.V.T + params.readout.c[None, :]


def batch_logits(setup: Setup, params: CTCParams, batch: CTCBatch) -> jax.Array:
    return jax.vmap(functools.partial(frame_logits, setup, params))(batch.xs, batch.input_lengths)


def mean_loss(params: CTCParams, setup: Setup, batch: CTCBatch) -> jax.Array:
    """Mean over the batch of −ln p(z | x) (every label of ``ctc-symbols`` is feasible)."""
    logits = batch_logits(setup, params, batch)
    return jnp.mean(ctc_loss(logits, batch.input_lengths, batch.labels, batch.label_lengths))


def update_step(setup: Setup, state: TrainState, _=None) -> tuple[TrainState, jax.Array]:
    key, k_batch = jax.random.split(state.key)
    batch = sample_batch(setup.task, k_batch, setup.config.batch_size, _dtype(setup))
    loss, grads = jax.value_and_grad(mean_loss)(state.params, setup, batch)
    updates, opt_state = setup.optimizer.update(grads, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, updates), opt_state, key, state.update + 1), loss


def evaluate(setup: Setup, params: CTCParams, key: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """(mean CTC loss, best-path label error rate) on ``batch_size`` fresh sequences."""
    batch = sample_batch(setup.task, key, batch_size, _dtype(setup))
    logits = batch_logits(setup, params, batch)
    loss = jnp.mean(ctc_loss(logits, batch.input_lengths, batch.labels, batch.label_lengths))
    hyps, counts = greedy_decode_batch(logits, batch.input_lengths)
    return loss, label_error_rate_padded(hyps, counts, batch.labels, batch.label_lengths)


def _dtype(setup: Setup):
    core = setup.core
    return (core.forward if isinstance(core, Bidirectional) else core).jdtype


def log_chunk(setup: Setup, state: TrainState, _=None) -> tuple[TrainState, dict]:
    state, losses = lax.scan(functools.partial(update_step, setup), state, None, setup.config.updates_per_log)
    key, k_eval = jax.random.split(state.key)
    eval_loss, ler = evaluate(setup, state.params, k_eval, setup.config.eval_batch_size)
    finite = jnp.isfinite(losses)
    return state._replace(key=key), {
        "step": state.update * setup.config.batch_size,
        "losses/train_loss": jnp.sum(jnp.where(finite, losses, 0.0)) / jnp.maximum(jnp.sum(finite), 1),
        "charts/eval_loss": eval_loss,
        "charts/label_error_rate": ler.astype(eval_loss.dtype),
        "losses/skipped_updates": state.opt_state.total_notfinite,
    }


def init_state(setup: Setup, key: jax.Array) -> TrainState:
    k_params, k_train = jax.random.split(key)
    params = init_params(setup, k_params)
    return TrainState(params, setup.optimizer.init(params), k_train, jnp.zeros((), jnp.int32))


def make_trainer(config: CTCConfig, *, core=None, env=None, data=None) -> Trainer:
    """Validate ``config`` and build the pure functions (``plastix.train.harness.Trainer``)."""
    if core is not None or env is not None or data is not None:
        raise PlastixError("the CTC trainer builds its core from the config and samples its task itself; it takes "
                           "no core=, env= or data=.")
    task = validate(config)
    optimizer = make_optimizer("adam", config.lr, config.lr_end, config.clip_norm, config.num_updates)
    return assemble_trainer(Setup(config, task, build_core(config), optimizer), init_state, log_chunk)


def evaluate_params(setup: Setup, params: CTCParams, key: jax.Array, sequences: int, width: int) -> dict:
    """Label error rates of one trained network on ``sequences`` fresh sequences: best path
    (jitted) and prefix beam search of ``width`` (host), each by eq. 1 over the whole set."""
    batch = sample_batch(setup.task, key, sequences, _dtype(setup))
    logits = jax.jit(functools.partial(batch_logits, setup))(params, batch)
    log_probs = np.asarray(jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1), np.float64)
    lengths, labels, label_lengths = map(np.asarray, (batch.input_lengths, batch.labels, batch.label_lengths))
    targets = [tuple(labels[b, : label_lengths[b]].tolist()) for b in range(sequences)]
    hyps, counts = map(np.asarray, greedy_decode_batch(jnp.asarray(log_probs), batch.input_lengths))
    greedy = [tuple(hyps[b, : counts[b]].tolist()) for b in range(sequences)]
    beam = beam_decode_batch(log_probs, lengths, width)
    return {"greedy": label_error_rate(greedy, targets), "beam": label_error_rate(beam, targets)}


def evaluate_run(run, sequences: int = 100, seed: int = 0) -> dict:
    """``plastix eval`` of a CTC run (``plastix.load``): per trained seed, the label error rate
    on ``sequences`` fresh sequences (the same for every seed, from ``seed``) by best path and by
    prefix beam search of the run's ``beam_width``. ``score`` is the best-path rate, the metric
    training logs."""
    config = run.config
    setup = make_trainer(config).setup
    key = jax.random.PRNGKey(seed)
    rates = [evaluate_params(setup, jax.tree.map(lambda a, i=i: jnp.asarray(a[i]), run.params), key, sequences,
                             config.beam_width) for i in range(len(run.seeds))]
    greedy, beam = [r["greedy"] for r in rates], [r["beam"] for r in rates]
    core = f"{'bidirectional ' if config.bidirectional else ''}{config.core}"
    return {"mean_return": float(np.mean(greedy)), "score": float(np.mean(greedy)), "per_seed": greedy,
            "what": f"eval label error rate (best path) on {sequences} fresh sequences", "episodes": sequences,
            "seeds": list(run.seeds), "policy": "best path", "task": config.task, "preset": None, "core": core,
            "algo": "ctc", "label_error_rate": {"greedy": greedy, "beam": beam, "beam_width": config.beam_width,
                                                "greedy_mean": float(np.mean(greedy)),
                                                "beam_mean": float(np.mean(beam))}}


__all__ = ["CTCParams", "Setup", "TrainState", "build_core", "evaluate", "evaluate_params",
           "evaluate_run", "frame_logits", "init_params", "make_trainer", "mean_loss"]
