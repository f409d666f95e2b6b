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
from jax import lax

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


# Batch layout of the plastic cores' recursions under ``vmap`` (B episodes): "map" runs them one
# episode at a time (``lax.map``; the episode's (n, n) traces stay in the core's cache), "vmap"
# vectorises them (every step touches all B episodes' traces, B·2n² floats: 9.6 MB at the released
# n = 200, B = 30, more than a core's L2). Measured on a 2-core EPYC (1 MiB L2 per core, 32 MiB
# L3), retroactive, n = 200, B = 30, T = 120: value and gradient 0.90 s with "map" against 2.60 s
# with "vmap" (benchmarks/bench_rl.py prints both). Elman and LSTM (matmul-bound) stay vectorised.
# "auto" (default) picks "map" when one episode's working set in the backward — its K + 4 (K ≈ 2√T)
# (n, n) trace arrays per trace (Hebb, E) — exceeds the L2 cache, else "vmap" (at n = 64 the
# per-episode loop lost to vectorising: plastic-rnn, B = 30, 8 vmapped seeds, 15k against 27k steps/s).
EPISODE_LAYOUTS = ("auto", "map", "vmap")
_layout = {"plastic": "auto"}


def _l2_bytes() -> int:
    """Size of this machine's L2 cache (Linux sysfs), 1 MiB if unknown."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size", encoding="ascii") as f:
            text = f.read().strip()
        return int(text[:-1]) * {"K": 2**10, "M": 2**20}[text[-1]] if text[-1] in "KM" else int(text)
    except (OSError, ValueError, KeyError, IndexError):
        return 2**20


L2_BYTES = _l2_bytes()


def _per_episode_map(core, T: int) -> bool:
    """True if the plastic ``core``'s recursions should run one episode at a time (see above)."""
    if _layout["plastic"] != "auto":
        return _layout["plastic"] == "map"
    traces = 2 if getattr(core, "modulation", None) == "retroactive" else 1
    K, _ = hand_plastic.segments(T)
    return (K + 4) * traces * core.hidden_size**2 * jnp.dtype(core.jdtype).itemsize > L2_BYTES


def episode_group(core, T: int, batch: int) -> int | None:
    """Episodes an RL rollout of a plastic ``core`` should step at once (``lax.map`` in groups),
    or None to vectorise all ``batch`` (every non-plastic core, small plastic ones, layout "vmap").

    The same cache criterion as the hand-derived backward: when one episode's traces do not fit
    the L2 cache beside the backward's checkpoints, the rollout runs as many episodes at a time as
    their (n, n) traces fit in L2 (at least 1). Measured on a 2-core EPYC, retroactive n = 200,
    B = 30, T = 120: the rollout took 0.31–0.39 s vectorised against 0.17–0.19 s in groups of 3 to
    10, and 0.33 s one episode at a time."""
    if not isinstance(core, (PlasticRNN, NeuromodRNN)) or not _per_episode_map(core, T):
        return None
    traces = 2 if getattr(core, "modulation", None) == "retroactive" else 1
    per_episode = traces * core.hidden_size**2 * jnp.dtype(core.jdtype).itemsize
    return max(1, min(batch, L2_BYTES // per_episode))


def set_episode_layout(layout: str) -> str:
    """Set how the plastic cores' forward and backward are batched under ``vmap`` ("auto" |
    "map" | "vmap", see ``EPISODE_LAYOUTS``); read when a function is traced. Returns the previous one."""
    if layout not in EPISODE_LAYOUTS:
        raise PlastixError(f"episode layout must be one of {list(EPISODE_LAYOUTS)}, got {layout!r}.")
    previous, _layout["plastic"] = _layout["plastic"], layout
    return previous


def _one_episode_at_a_time(fn: Callable) -> Callable:
    """``fn`` whose ``vmap`` is ``lax.map`` over the batched axis (nested vmaps nest the maps).

    The unbatched arguments are closed over; every output is stacked along the batch axis.
    """
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, *args):
        flat, tree = jax.tree.flatten(args)
        flags = tree.flatten_up_to(tuple(in_batched))
        batched = [a for a, f in zip(flat, flags) if f]

        def one(items):
            it = iter(items)
            return wrapped(*tree.unflatten([next(it) if f else a for a, f in zip(flat, flags)]))

        out = lax.map(one, batched)
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


def _impl(core, which: int, T: int) -> Callable:
    """forward (which = 1) or backward (2) of ``core`` over T steps, laid out per ``set_episode_layout``."""
    entry = _RULES[_check_supported(core)]
    fn = functools.partial(entry[which], core)
    if entry[0] in (PlasticRNN, NeuromodRNN) and _per_episode_map(core, T):
        return _one_episode_at_a_time(fn)
    return fn


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def hand_scan(core: Core, core_params, xs: jax.Array, resets: jax.Array) -> jax.Array:
    """Hidden outputs hs (T, n) of ``core`` over xs (T, d) with episode resets (T,) bool.

    Same values as ``scan_core(core, core_params, xs, resets=resets)[1]``; its VJP is the
    hand-derived backward of the core (see the module docstring).
    """
    return _impl(core, 1, xs.shape[0])(core_params, xs, resets)[0]


def _hand_scan_fwd(core, core_params, xs, resets):
    hs, saved = _impl(core, 1, xs.shape[0])(core_params, xs, resets)
    return hs, (core_params, xs, resets, hs, saved)


def _hand_scan_bwd(core, res, g_hs):
    core_params, xs, resets, hs, saved = res
    d_params, d_xs = _impl(core, 2, xs.shape[0])(core_params, xs, resets, hs, saved, g_hs)
    return d_params, d_xs, None


hand_scan.defvjp(_hand_scan_fwd, _hand_scan_bwd)


def records_residuals(core) -> bool:
    """True if a rollout of ``core`` can record what its hand-derived backward needs (the
    plastic cores: hidden vectors and trace checkpoints), so ``hand_scan_recorded`` replaces
    ``hand_scan``'s forward pass."""
    return _core_name(core) in ("plastic-rnn", "neuromod-rnn")


def checkpoint_segments(T: int) -> tuple[int, int]:
    """(K steps per segment, segments) of the plastic cores' checkpointed backward over T steps:
    a recording rollout keeps the carry's traces at steps 0, K, 2K, … (``checkpoint_of``)."""
    return hand_plastic.segments(T)


def checkpoint_of(carry):
    """The traces of a plastic core's carry, as ``hand_scan_recorded`` takes them per segment."""
    return carry.hebb, carry.E


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def hand_scan_recorded(core: Core, core_params, xs: jax.Array, resets: jax.Array, hs: jax.Array, saved) -> jax.Array:
    """``hand_scan`` whose forward pass was already run by the rollout that produced ``xs``:
    ``hs`` (T, n) are the hidden vectors it computed with ``core_params`` and ``saved`` the
    carry's traces at the start of each segment (``checkpoint_segments``, ``checkpoint_of``),
    before that step's reset. Returns ``hs``; its VJP is ``hand_scan``'s backward from them.

    This drops the second pass over the episode that ``hand_scan`` makes (at Backpropamine's
    released size, n = 200, B = 30, T = 120: 0.16 s of a 0.71 s update). The values are those of
    the rollout, so the gradient is the gradient of the trajectory that was acted on."""
    return hs


def _recorded_fwd(core, core_params, xs, resets, hs, saved):
    return hs, (core_params, xs, resets, hs, saved)


def _recorded_bwd(core, res, g_hs):
    d_params, d_xs, _ = _hand_scan_bwd(core, res, g_hs)
    return d_params, d_xs, None, None, None


hand_scan_recorded.defvjp(_recorded_fwd, _recorded_bwd)


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
