"""Supervised training of a sequence model on a sequence task, PureJaxRL style.

``make_train(config)`` returns a pure ``train(key) -> (TrainState, metrics)``: the whole loop
is one ``lax.scan`` over log chunks, each a nested ``lax.scan`` over ``updates_per_log``
updates followed by an evaluation on a fresh batch, so many seeds train at once with::

    states, metrics = jax.jit(jax.vmap(make_train(config)))(keys)      # keys: (S, 2)

One update (Adam, Kingma & Ba 2015, after clipping to a global norm)::

    batch ~ task(key_t);  L, g = mean_b value_and_grad_method(θ; batch_b)
    θ ← θ + Adam(clip(g)),   skipped (θ and the optimizer state kept) if g is not finite

``make_trainer`` exposes the same computation as a ``plastix.train.harness.Trainer``
(``init`` + ``run(state, num_logs)``) so the driver (``plastix.driver``) can run it in a few
jitted segments: ``run_segments`` gives the bitwise-same result as one call
(tests/test_supervised.py).

Metrics per log point (arrays with a trailing log axis): ``step`` (training sequences seen),
``losses/train_loss`` (mean SeqModel loss over the chunk's finite updates),
``charts/eval_loss`` (SeqModel loss on a fresh batch), ``charts/eval_metric`` (the task
metric, e.g. MSE or accuracy), ``charts/baseline`` (the metric's baseline) and
``losses/skipped_updates`` (updates skipped so far for a non-finite gradient).
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

from plastix.cores import CORES, core_class, is_core_like, make_core
from plastix.cores.base import resolve_dtype
from plastix.errors import PlastixError, check_at_most, check_positive_int, check_step_sizes, unknown_name
from plastix.grads.base import Batch, GradMethod, ModelParams, SeqModel, batched_value_and_grad, bptt
from plastix.tasks import TaskSpec, as_data_task, get_task
from plastix.train.harness import Trainer, assemble_trainer, make_optimizer
from plastix.train.harness import run_segments, seed_keys, split_logs  # noqa: F401 (re-exported for older imports)

NOT_TRAINABLE = {"esn": "its reservoir is fixed and its readout is fitted by ridge regression"}


@dataclasses.dataclass(frozen=True)
class SupervisedConfig:
    """Resolved settings of one supervised run (every field concrete; ``resolve_config`` fills
    them from the ``plastix train`` flags and the task's defaults)."""

    task: str = "adding"
    core: str = "lstm"
    hidden: int = 64
    grad: str = "bptt"
    trunc_window: int | None = None  # truncated-bptt window h
    trunc_stride: int | None = None  # truncated-bptt stride h'
    seq_len: int = 100  # task's T
    batch_size: int = 32
    lr: float = 1e-3
    lr_end: float | None = None  # anneal the step size linearly from lr to lr_end over the updates (None: constant)
    clip_norm: float | None = 1.0
    num_updates: int = 1000  # a multiple of updates_per_log
    updates_per_log: int = 20
    eval_batch_size: int = 256
    dtype: str = "float32"
    p_teacher: float = 0.0  # jordan only: probability of feeding back the target
    core_options: tuple[tuple[str, Any], ...] = ()  # extra keyword options of the core, e.g. (("modulation", "simple"),)

    @property
    def num_logs(self) -> int:
        return self.num_updates // self.updates_per_log


class TrainState(NamedTuple):
    params: ModelParams
    opt_state: Any  # optax ApplyIfFiniteState
    key: jax.Array  # (2,) PRNG key for the next batch
    update: jax.Array  # () int32, updates done


class Setup(NamedTuple):
    """Everything static a training step needs (built once by ``make_trainer``)."""

    config: SupervisedConfig
    task: TaskSpec
    model: SeqModel
    method: GradMethod
    optimizer: optax.GradientTransformation


def available_grad_methods() -> tuple[str, ...]:
    try:
        from plastix.grads import GRAD_METHODS  # provided by the gradient-methods module
    except ImportError:
        return ("bptt",)
    return tuple(GRAD_METHODS)


def make_grad(name: str, window: int | None, stride: int | None) -> GradMethod:
    """The named gradient method (plain BPTT when the registry is not installed)."""
    try:
        from plastix.grads import make_grad_method
    except ImportError:
        if name != "bptt":
            raise unknown_name("gradient method", name, available_grad_methods()) from None
        return bptt()
    return make_grad_method(name, window=window, stride=stride)


def check_core_name(config: SupervisedConfig) -> None:
    """The named core exists, is installed and is trainable by gradient."""
    if config.core not in CORES:
        raise unknown_name("core", config.core, CORES)
    try:
        core_class(config.core)
    except ImportError as err:
        raise PlastixError(f"core {config.core!r} is not available in this installation ({err}).") from None
    if config.core in NOT_TRAINABLE:
        raise PlastixError(f"core {config.core!r} cannot be trained by gradient: {NOT_TRAINABLE[config.core]}.")


def validate(config: SupervisedConfig, *, core=None, data=None) -> TaskSpec:
    """Check a config at the boundary; returns the task. Raises PlastixError.

    ``core``: a core object used instead of ``config.core`` (``plastix.cores.adapter``);
    ``data``: arrays or a file used instead of ``config.task`` (``plastix.tasks.data.as_data_task``)."""
    task = get_task(config.task) if data is None else as_data_task(data)
    if core is None:
        check_core_name(config)
    elif not is_core_like(core):
        raise PlastixError(f"core must be a core object with init(key), initial_carry() and step(params, carry, x), "
                           f"got {type(core).__name__}.")
    if config.grad not in available_grad_methods():
        raise unknown_name("gradient method", config.grad, available_grad_methods())
    for name in ("hidden", "batch_size", "num_updates", "updates_per_log", "eval_batch_size"):
        check_positive_int(name, getattr(config, name))
    task.check_T(config.seq_len)
    check_at_most("seq_len", config.seq_len)
    check_at_most("num_updates × batch_size (the sequences counted by the step metric)",
                  config.num_updates * config.batch_size)
    check_step_sizes(config.lr, config.lr_end)
    if config.clip_norm is not None and not (np.isfinite(config.clip_norm) and config.clip_norm > 0):
        raise PlastixError(f"clip_norm must be positive (or None), got {config.clip_norm!r}.")
    if not 0.0 <= config.p_teacher <= 1.0:
        raise PlastixError(f"p_teacher must be in [0, 1], got {config.p_teacher!r}.")
    if config.p_teacher > 0 and (core is not None or config.core != "jordan"):
        raise PlastixError(f"teacher forcing needs an output-feedback core (jordan), got {config.core!r}.")
    if config.p_teacher > 0 and task.loss != "mse":
        raise PlastixError(f"teacher forcing needs real-valued targets (an mse task), {task.name!r} has labels.")
    if config.num_updates % config.updates_per_log:
        raise PlastixError(f"num_updates ({config.num_updates}) must be a multiple of updates_per_log ({config.updates_per_log}).")
    resolve_dtype(config.dtype)
    return task


def build_model(config: SupervisedConfig, task: TaskSpec, core=None) -> SeqModel:
    """Core + readout for the task. A Jordan core owns its output layer (no extra readout).
    ``core``: a core object instead of ``config.core`` (checked against the task's input size)."""
    if core is not None:
        return SeqModel(make_core(core, task.input_size, config.hidden), task.output_size, task.loss)
    if config.core == "jordan":
        core = make_core("jordan", task.input_size, config.hidden, output_size=task.output_size,
                         teacher_forcing=config.p_teacher > 0, dtype=config.dtype, **dict(config.core_options))
        return SeqModel(core, task.output_size, task.loss, readout=False)
    core = make_core(config.core, task.input_size, config.hidden, dtype=config.dtype, **dict(config.core_options))
    return SeqModel(core, task.output_size, task.loss)


def sample_batch(setup: Setup, key: jax.Array, batch_size: int, p_teacher, held_out: bool = False) -> Batch:
    """A task batch; for a teacher-forced Jordan core the inputs become [x_t, ŷ_{t-1}, m_t].
    ``held_out``: from the task's evaluation sampler (the held-out part of a dataset)."""
    k_data, k_tf = jax.random.split(key)
    cfg = setup.config
    sample = setup.task.sample_eval if held_out else setup.task.sample
    batch = sample(k_data, batch_size, cfg.seq_len, setup.model.core.jdtype)
    if cfg.p_teacher > 0:
        from plastix.cores.jordan import teacher_inputs

        keys = jax.random.split(k_tf, batch_size)
        xs = jax.vmap(teacher_inputs, in_axes=(0, 0, 0, None))(batch.xs, batch.targets, keys, p_teacher)
        batch = batch._replace(xs=xs)
    return batch


def update_step(setup: Setup, state: TrainState, _=None) -> tuple[TrainState, jax.Array]:
    """One optimizer step on a fresh batch; returns the new state and the batch loss."""
    key, k_batch = jax.random.split(state.key)
    batch = sample_batch(setup, k_batch, setup.config.batch_size, setup.config.p_teacher)
    loss, grads = batched_value_and_grad(setup.method, setup.model, state.params, batch)
    updates, opt_state = setup.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, opt_state, key, state.update + 1), loss


def evaluate(setup: Setup, params: ModelParams, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean SeqModel loss, task metric) on a fresh batch, free running (no teacher)."""
    model = setup.model
    batch = sample_batch(setup, key, setup.config.eval_batch_size, 0.0, held_out=True)
    ys = jax.vmap(model.apply, in_axes=(None, 0, 0))(params, batch.xs, batch.resets)  # (B, L, out)
    step_losses = jax.vmap(jax.vmap(model.step_loss))(ys, batch.targets)  # (B, L)
    loss = jnp.mean(jnp.sum(batch.weights * step_losses, axis=-1))
    return loss, setup.task.metric_fn(ys, batch)


def log_chunk(setup: Setup, state: TrainState, _=None) -> tuple[TrainState, dict]:
    """``updates_per_log`` updates (a scan), then one evaluation: one log point."""
    state, losses = lax.scan(functools.partial(update_step, setup), state, None, setup.config.updates_per_log)
    key, k_eval = jax.random.split(state.key)
    state = state._replace(key=key)
    eval_loss, metric = evaluate(setup, state.params, k_eval)
    finite = jnp.isfinite(losses)
    train_loss = jnp.sum(jnp.where(finite, losses, 0.0)) / jnp.maximum(jnp.sum(finite), 1)
    metrics = {
        "step": state.update * setup.config.batch_size,
        "losses/train_loss": train_loss,
        "charts/eval_loss": eval_loss,
        "charts/eval_metric": metric,
        "charts/baseline": jnp.asarray(setup.task.baseline(setup.config.seq_len), metric.dtype),
        "losses/skipped_updates": state.opt_state.total_notfinite,
    }
    return state, metrics


def init_state(setup: Setup, key: jax.Array) -> TrainState:
    k_params, k_train = jax.random.split(key)
    params = setup.model.init(k_params)
    return TrainState(params, setup.optimizer.init(params), k_train, jnp.zeros((), jnp.int32))




def check_traceable(setup: Setup) -> None:
    """Trace (without running) the gradient of one example, so that a core the gradient
    method does not support fails here, at the boundary, with the method's own error."""

    def one(key):
        params = setup.model.init(key)
        batch = sample_batch(setup, key, 1, setup.config.p_teacher)
        return setup.method.value_and_grad(setup.model, params, jax.tree.map(lambda a: a[0], batch))

    jax.eval_shape(one, jax.random.PRNGKey(0))


def make_trainer(config: SupervisedConfig, grad_method: GradMethod | None = None, *, core=None, env=None,
                 data=None) -> Trainer:
    """Validate ``config`` and build the pure functions. ``grad_method`` overrides config.grad;
    ``core`` (a core object) overrides config.core and ``data`` (arrays or a file, see
    ``plastix.tasks.data``) overrides config.task. ``env`` is for the RL trainers and rejected."""
    if env is not None:
        raise PlastixError("the supervised trainer learns from a task or data=, not from an environment (env=).")
    task = validate(config, core=core, data=data)
    model = build_model(config, task, core)
    method = grad_method or make_grad(config.grad, config.trunc_window, config.trunc_stride)
    optimizer = make_optimizer("adam", config.lr, config.lr_end, config.clip_norm, config.num_updates)
    setup = Setup(config, task, model, method, optimizer)
    check_traceable(setup)
    return assemble_trainer(setup, init_state, log_chunk)


def make_train(config: SupervisedConfig, grad_method: GradMethod | None = None):
    """``train(key) -> (TrainState, metrics)``, one pure function to ``jit(vmap(...))``."""
    return make_trainer(config, grad_method).train
