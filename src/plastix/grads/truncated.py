"""Truncated BPTT(h, h′) (Williams & Peng 1990).

Every h′ steps, at time e, the losses of the last h′ steps are backpropagated h ≥ h′ steps::

    g_e = ∂/∂θ Σ_{τ=e−h′}^{e−1} w_τ ℓ_τ,   through steps e−h, ..., e−1 only,

the carry entering step e−h being held constant (``stop_gradient``): the δ recursion of
eq. 23 is cut after h steps. Chunk k covers the steps [k h′, e_k), e_k = min((k+1) h′, T); when
T is not a multiple of h′ the last chunk is partial, and near the start the window is cut at
step 0 (there is nothing before it). With h = h′ = T there is one chunk and one window: BPTT.

Implementation (fixed shapes, one ``jit``, a ``lax.scan`` over the K = ⌈T/h′⌉ chunks):

* ``truncated_bptt(window, stride)`` — a ``GradMethod``: one stop-gradient forward pass stores
  the carry entering every step; chunk k recomputes the h steps from max(0, e_k − h) (a window
  of fixed length h, which h ≤ T allows) with its losses masked to [k h′, e_k), and the
  chunks' gradients, all at the same parameters, are summed. With h = h′ = T: BPTT's gradient.
* ``truncated_bptt_online(...)`` — continuous training: an optimizer update after every chunk,
  O(h) memory, independent of T. Each window is the h − h′ steps before the chunk (kept in a
  small history buffer) plus the chunk's h′ steps; they are recomputed with the *current*
  parameters (instead of storing the last h weight sets), and the carry
  carried forward is the one of that recomputation. Steps that do not exist (before step 0,
  padding after T) are marked invalid: they leave the carry unchanged and carry no loss. When T
  is not a multiple of h′ the stream is padded to whole chunks, so the last, partial chunk is
  backpropagated only to K h′ − h (its window is the grid's, not [T − h, T)).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from plastix.cores.base import reset_where
from plastix.errors import PlastixError
from plastix.grads.base import Batch, GradMethod, ModelParams, SeqModel

PyTree = Any


class Window(NamedTuple):
    """The h steps of one window (history h − h′ then the chunk h′)."""

    xs: jax.Array  # (h, d)
    targets: jax.Array  # (h, out) or (h,)
    weights: jax.Array  # (h,) zero outside the chunk
    resets: jax.Array  # (h,) bool
    valid: jax.Array  # (h,) bool, false for steps before 0 or after T


class History(NamedTuple):
    """The h − h′ steps before the next chunk, and the carry entering the first of them."""

    carry: PyTree
    xs: jax.Array  # (h − h′, d)
    resets: jax.Array  # (h − h′,)
    valid: jax.Array  # (h − h′,)


def check_window(window: int, stride: int, T: int) -> None:
    """Require h ≥ h′ ≥ 1 and h ≤ T (Python ints)."""
    for name, v in (("window h", window), ("stride h'", stride)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise PlastixError(f"truncated-bptt {name} must be a positive integer, got {v!r}.")
    if stride > window:
        raise PlastixError(f"truncated-bptt needs window h >= stride h', got h={window}, h'={stride}.")
    if window > T:
        raise PlastixError(f"truncated-bptt window h={window} is longer than the sequence (T={T}).")


def resolve_window(window: int | None, stride: int | None, T: int) -> tuple[int, int]:
    """(h, h′): window None means the whole sequence T, stride None means h."""
    h = T if window is None else window
    hp = h if stride is None else stride
    check_window(h, hp, T)
    return h, hp


def _masked_scan(core, params_core, carry0, window: Window):
    """Run the window; invalid steps leave the carry unchanged. Returns (hs (h, n), carries)."""
    fresh = core.initial_carry()

    def body(carry, inp):
        x, done, valid = inp
        c = reset_where(done, fresh, carry)
        new, h = core.step(params_core, c, x)
        new = reset_where(valid, new, carry)  # keep the old carry where the step is invalid
        return new, (h, new)

    _, (hs, carries) = lax.scan(body, carry0, (window.xs, window.resets, window.valid))
    return hs, carries


def window_loss(model: SeqModel, params: ModelParams, carry0, window: Window, stride: int):
    """Σ of the chunk's weighted losses; aux: (step losses (h′,), carry entering the next window)."""
    hs, carries = _masked_scan(model.core, params.core, carry0, window)
    ys = jax.vmap(model.output, in_axes=(None, 0))(params, hs)
    losses = window.weights * jax.vmap(model.step_loss)(ys, window.targets)
    next_carry = jax.tree.map(lambda c: lax.stop_gradient(c[stride - 1]), carries)
    return jnp.sum(losses), (losses[-stride:], next_carry)


def _chunks(batch: Batch, stride: int) -> Window:
    """The stream padded to K h′ steps and reshaped to (K, h′, ...) chunks."""
    T = batch.xs.shape[0]
    K = -(-T // stride)
    pad = K * stride - T

    def split(a, fill=0):
        widths = [(0, pad)] + [(0, 0)] * (a.ndim - 1)
        a = jnp.pad(a, widths, constant_values=fill)
        return a.reshape((K, stride) + a.shape[1:])

    valid = jnp.ones((T,), bool)
    return Window(split(batch.xs), split(batch.targets), split(batch.weights),
                  split(batch.resets, False), split(valid, False))


def _empty_history(model: SeqModel, batch: Batch, window: int, stride: int) -> History:
    n_hist = window - stride
    d = batch.xs.shape[1:]
    return History(model.core.initial_carry(), jnp.zeros((n_hist,) + d, batch.xs.dtype),
                   jnp.zeros((n_hist,), bool), jnp.zeros((n_hist,), bool))


def _window_of(history: History, chunk: Window, stride: int) -> Window:
    n_hist = history.xs.shape[0]
    hist_targets = jnp.zeros((n_hist,) + chunk.targets.shape[1:], chunk.targets.dtype)
    cat = lambda a, b: jnp.concatenate([a, b], axis=0)  # noqa: E731
    return Window(cat(history.xs, chunk.xs), cat(hist_targets, chunk.targets),
                  cat(jnp.zeros((n_hist,), chunk.weights.dtype), chunk.weights * chunk.valid),
                  cat(history.resets, chunk.resets), cat(history.valid, chunk.valid))


def _next_history(window: Window, next_carry, stride: int) -> History:
    return History(next_carry, window.xs[stride:], window.resets[stride:], window.valid[stride:])


_window_grad = jax.value_and_grad(window_loss, argnums=1, has_aux=True)


def _carries_entering(core, params_core, batch: Batch):
    """The carry entering each step t (before step t's reset), stop-gradient'ed: (T, ...) leaves."""
    fresh = core.initial_carry()

    def body(carry, inp):
        x, done = inp
        new, _ = core.step(params_core, reset_where(done, fresh, carry), x)
        return new, carry

    _, carries = lax.scan(body, fresh, (batch.xs, batch.resets))
    return jax.tree.map(lax.stop_gradient, carries)


def _window_at(batch: Batch, start, lo, hi, h: int) -> Window:
    """Steps [start, start + h) with the loss weights masked to the chunk [lo, hi)."""
    cut = lambda a: lax.dynamic_slice_in_dim(a, start, h, axis=0)  # noqa: E731
    t = start + jnp.arange(h)
    mask = (t >= lo) & (t < hi)
    return Window(cut(batch.xs), cut(batch.targets), cut(batch.weights) * mask, cut(batch.resets),
                  jnp.ones((h,), bool))


def truncated_value_and_grad(model: SeqModel, params: ModelParams, batch: Batch,
                             window: int | None = None, stride: int | None = None):
    """Σ_t w_t ℓ_t and Σ_k g_{e_k} for one sequence (see module docstring).

    One stop-gradient forward pass stores the carry entering every step; chunk k = [lo, e) then
    recomputes the h steps [max(0, e − h), max(0, e − h) + h) from the stored carry, its loss
    weights masked to [lo, e) (steps after e cannot affect those losses). Memory: the T carries
    and one window of h steps.
    """
    T = batch.xs.shape[0]
    h, hp = resolve_window(window, stride, T)
    carries = _carries_entering(model.core, params.core, batch)
    lo = jnp.arange(-(-T // hp)) * hp
    hi = jnp.minimum(lo + hp, T)
    start = jnp.maximum(hi - h, 0)

    def body(grads, chunk):
        lo_k, hi_k, s = chunk
        carry0 = jax.tree.map(lambda c: c[s], carries)
        (loss, _), g = _window_grad(model, params, carry0, _window_at(batch, s, lo_k, hi_k, h), 1)
        return jax.tree.map(jnp.add, grads, g), loss

    grads, losses = lax.scan(body, jax.tree.map(jnp.zeros_like, params), (lo, hi, start))
    return jnp.sum(losses), grads


def truncated_bptt(window: int | None = None, stride: int | None = None) -> GradMethod:
    """BPTT(h, h′) as a ``GradMethod`` (name "truncated-bptt").

    ``window`` h: steps backpropagated, None = the sequence length T at call time (then the
    gradient is BPTT's). ``stride`` h′: steps between truncation points, None = h.
    h ≥ h′ ≥ 1 and h ≤ T are checked when the sequence length is known.
    """
    if window is not None or stride is not None:  # check now what can be checked before T
        h = window if window is not None else stride
        check_window(h, stride if stride is not None else h, h)

    def value_and_grad(model, params, batch):
        return truncated_value_and_grad(model, params, batch, window, stride)

    return GradMethod("truncated-bptt", value_and_grad)


class OnlineTruncatedState(NamedTuple):
    params: ModelParams
    opt_state: PyTree
    history: History


def truncated_bptt_online(model: SeqModel, optimizer, params: ModelParams, opt_state, batch: Batch,
                          window: int, stride: int | None = None):
    """Continuous training on one stream with BPTT(h, h′): an update after every h′ steps.

    Chunk k: g_k = gradient of the chunk's losses through the last h steps at θ_k, then
    θ_{k+1} = θ_k + optimizer.update(g_k). The network state runs on across updates.

    Args:
      optimizer: an ``optax.GradientTransformation``.
      batch: one unbatched stream (T steps); window h and stride h′ (None = h), h ≥ h′ ≥ 1, h ≤ T.

    Returns:
      (params, opt_state, losses) with losses (T,) the weighted step losses w_t ℓ_t, each
      computed with the parameters in force when its chunk ran.
    """
    T = batch.xs.shape[0]
    h, hp = resolve_window(window, stride, T)

    def body(state: OnlineTruncatedState, chunk):
        win = _window_of(state.history, chunk, hp)
        (_, (losses, nxt)), g = _window_grad(model, state.params, state.history.carry, win, hp)
        updates, opt_state = optimizer.update(g, state.opt_state, state.params)
        new = optax.apply_updates(state.params, updates)
        return OnlineTruncatedState(new, opt_state, _next_history(win, nxt, hp)), losses

    init = OnlineTruncatedState(params, opt_state, _empty_history(model, batch, h, hp))
    final, losses = lax.scan(body, init, _chunks(batch, hp))
    return final.params, final.opt_state, losses.reshape(-1)[:T]
