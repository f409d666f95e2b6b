"""Hand-derived BPTT: the core's scan over time gets a written-out backward pass.

Only the recurrence is hand-written; the readout y_t = V h_t + c and the loss stay autodiff::

    hs = hand_scan(core, core_params, xs, resets)          # custom_vjp, (T, n)
    L  = Σ_t w_t ℓ(V h_t + c, target_t)                     # jax.value_and_grad

``hand_scan`` is a ``jax.custom_vjp``: its forward is a ``lax.scan`` that keeps only what the
recursions need (hidden vectors, gate activations, trace checkpoints — never JAX residuals),
its backward a reverse ``lax.scan`` that implements the published recursions explicitly:

* ``elman``          — BPTT on the unfolded net (Werbos 1990) (``hand_rnn.py``).
* ``peephole-lstm``  — Graves (2012) §4.6, backward pass (``hand_rnn.py``).
* ``plastic-rnn`` / ``neuromod-rnn`` — derived in ``hand_plastic.py`` (Miconi et al. 2018, 2019).

Episode resets cut the backward recursion: where ``resets[t]`` the carry entering step t is
the zero initial carry, so no adjoint flows from step t to step t−1 (the unfolded graph is
truncated at an episode boundary). The gradient w.r.t. ``xs`` is returned too; the
resets get none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from plastix.cores.base import Core
from plastix.cores.elman import Elman
from plastix.cores.lstm_peephole import PeepholeLSTM
from plastix.cores.plastic import NeuromodRNN, PlasticRNN
from plastix.errors import PlastixError
from plastix.grads import hand_plastic, hand_rnn
from plastix.grads.base import Batch, GradMethod, ModelParams, SeqModel

# registry name -> (exact core class, forward, backward)
_RULES: dict[str, tuple[type, Callable, Callable]] = {
    "elman": (Elman, hand_rnn.elman_forward, hand_rnn.elman_backward),
    "peephole-lstm": (PeepholeLSTM, hand_rnn.lstm_forward, hand_rnn.lstm_backward),
    "plastic-rnn": (PlasticRNN, hand_plastic.plastic_forward, hand_plastic.plastic_backward),
    "neuromod-rnn": (NeuromodRNN, hand_plastic.plastic_forward, hand_plastic.plastic_backward),
}
HAND_BPTT_CORES: tuple[str, ...] = tuple(_RULES)


def _core_name(core) -> str | None:
    """Registry name of ``core`` (a Core instance or a name), None if unsupported."""
    if isinstance(core, str):
        return core if core in _RULES else None
    for name, (cls, _, _) in _RULES.items():
        if type(core) is cls:  # exact: a subclass may change the step
            return name
    return None


def supports_hand_bptt(core) -> bool:
    """True if hand-bptt has a backward for ``core`` (a Core instance or registry name)."""
    return _core_name(core) is not None


def _check_supported(core) -> str:
    name = _core_name(core)
    if name is None:
        label = core if isinstance(core, str) else type(core).__name__
        if not isinstance(core, str):  # a core object of the user's (bring-your-own) or a subclass
            label = type(getattr(core, "inner", None) or getattr(core, "cell", None) or core).__name__
        raise PlastixError(
            f"hand-bptt has no hand-derived backward for core {label!r}: it needs one of the plastix "
            f"cores {list(HAND_BPTT_CORES)} (built by make_core; not a subclass, your own core or an "
            f"adapted cell). Use 'bptt', 'truncated-bptt' or 'rtrl' (autodiff) for this core."
        )
    return name


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def hand_scan(core: Core, core_params, xs: jax.Array, resets: jax.Array) -> jax.Array:
    """Hidden outputs hs (T, n) of ``core`` over xs (T, d) with episode resets (T,) bool.

    Same values as ``scan_core(core, core_params, xs, resets=resets)[1]``; its VJP is the
    hand-derived backward of the core (see the module docstring).
    """
    _, forward, _ = _RULES[_check_supported(core)]
    return forward(core, core_params, xs, resets)[0]


def _hand_scan_fwd(core, core_params, xs, resets):
    _, forward, _ = _RULES[_check_supported(core)]
    hs, saved = forward(core, core_params, xs, resets)
    return hs, (core_params, xs, resets, hs, saved)


def _hand_scan_bwd(core, res, g_hs):
    core_params, xs, resets, hs, saved = res
    _, _, backward = _RULES[_check_supported(core)]
    d_params, d_xs = backward(core, core_params, xs, resets, hs, saved, g_hs)
    return d_params, d_xs, None


hand_scan.defvjp(_hand_scan_fwd, _hand_scan_bwd)


def hand_bptt_value_and_grad(model: SeqModel, params: ModelParams, batch: Batch):
    """(loss, grads) of one sequence, same contract as ``grads.base.bptt_value_and_grad``."""
    _check_supported(model.core)
    resets = jnp.asarray(batch.resets, bool)

    def loss(p: ModelParams) -> jax.Array:
        hs = hand_scan(model.core, p.core, batch.xs, resets)
        return model.loss_from_hidden(p, hs, batch)

    return jax.value_and_grad(loss)(params)


def hand_bptt() -> GradMethod:
    """Epochwise BPTT with hand-written backward recursions (cores in ``HAND_BPTT_CORES``)."""
    return GradMethod("hand-bptt", hand_bptt_value_and_grad)
