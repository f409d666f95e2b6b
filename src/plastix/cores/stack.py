"""Multi-layer and bidirectional wrappers (Schuster & Paliwal 1997; Graves et al.
2013; Peters et al. 2018, ELMo).

``Stacked`` is a core: layer k reads layer k−1's output at the same time step::

    h^1_t = core_1(h^1_{t-1}, x_t),   h^k_t = core_k(h^k_{t-1}, h^{k-1}_t),   output h^K_t

Its carry is the tuple of the layers' carries, so it runs online and works with every
gradient method (BPTT, truncated BPTT, RTRL).

``Bidirectional`` is *not* a step core: its backward half reads the future, so it needs the
whole sequence and cannot run online; RTRL and other online methods do not apply to it. It
runs the forward core on x_1..x_T and the backward core on x_T..x_1 and concatenates::

    hs = [h^→_t ; h^←_t],   h^←_t = backward core after reading x_T, ..., x_t (within an episode)

With episode resets, the backward pass restarts at every episode *end*.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, scan_core
from plastix.errors import PlastixError


class StackedParams(NamedTuple):
    layers: tuple  # (params of layer 1, ..., params of layer K)


class StackedCarry(NamedTuple):
    layers: tuple  # (carry of layer 1, ..., carry of layer K)


@dataclasses.dataclass(frozen=True, init=False)
class Stacked(Core):
    """K cores in series. ``Stacked(cores)``; input_size, hidden_size and dtype are derived
    (input of the first layer, output of the last, the common dtype) and, if given, checked."""

    cores: tuple = ()

    def __init__(self, cores, input_size=None, hidden_size=None, dtype=None):
        cores = tuple(cores)
        _check_layers(cores)
        derived = {"input_size": cores[0].input_size, "hidden_size": cores[-1].output_size, "dtype": cores[0].dtype}
        for name, given in (("input_size", input_size), ("hidden_size", hidden_size), ("dtype", dtype)):
            if given is not None and given != derived[name]:
                raise PlastixError(f"Stacked.{name} is derived from the layers ({derived[name]!r}), got {given!r}.")
            object.__setattr__(self, name, derived[name])
        object.__setattr__(self, "cores", cores)
        self.__post_init__()

    @property
    def output_size(self) -> int:
        return self.cores[-1].output_size

    def init(self, key):
        keys = jax.random.split(key, len(self.cores))
        return StackedParams(tuple(core.init(k) for core, k in zip(self.cores, keys)))

    def initial_carry(self):
        return StackedCarry(tuple(core.initial_carry() for core in self.cores))

    def step(self, params, carry, x):
        carries = []
        h = x
        for core, p, c in zip(self.cores, params.layers, carry.layers):
            c, h = core.step(p, c, h)
            carries.append(c)
        return StackedCarry(tuple(carries)), h


def _check_layers(cores) -> None:
    if not cores or not all(isinstance(c, Core) for c in cores):
        raise PlastixError(f"Stacked needs a non-empty sequence of cores, got {cores!r}.")
    for k, core in enumerate(cores):
        if getattr(core, "teacher_forcing", False):
            raise PlastixError(f"Stacked layer {k}: a teacher-forced Jordan core cannot be stacked.")
        if core.dtype != cores[0].dtype:
            raise PlastixError(f"Stacked layers must share one dtype: layer 0 is {cores[0].dtype!r}, layer {k} is {core.dtype!r}.")
        if k and core.input_size != cores[k - 1].output_size:
            raise PlastixError(
                f"Stacked layer {k} expects inputs of size {core.input_size}, "
                f"but layer {k - 1} outputs size {cores[k - 1].output_size}."
            )


def make_stack(name: str, input_size: int, hidden_sizes, **options) -> Stacked:
    """K layers of the core ``name`` with sizes ``hidden_sizes`` and the same ``options``."""
    from plastix.cores import make_core  # noqa: PLC0415 (plastix.cores imports this module)

    hidden_sizes = tuple(hidden_sizes)
    if not hidden_sizes:
        raise PlastixError("make_stack needs at least one hidden size, got ().")
    cores, size = [], input_size
    for hidden in hidden_sizes:
        core = make_core(name, size, hidden, **options)
        cores.append(core)
        size = core.output_size
    return Stacked(tuple(cores))


class BidirectionalParams(NamedTuple):
    forward: object  # params of the forward core
    backward: object  # params of the backward core


@dataclasses.dataclass(frozen=True)
class Bidirectional:
    """Forward and backward cores over one whole sequence (not online; see module docstring)."""

    forward: Core
    backward: Core

    def __post_init__(self):
        f, b = self.forward, self.backward
        if not isinstance(f, Core) or not isinstance(b, Core):
            raise PlastixError(f"Bidirectional needs two cores, got {type(f).__name__} and {type(b).__name__}.")
        if f.input_size != b.input_size or f.dtype != b.dtype:
            raise PlastixError(
                f"Bidirectional cores must share input_size and dtype, got ({f.input_size}, {f.dtype!r}) "
                f"and ({b.input_size}, {b.dtype!r})."
            )
        if getattr(f, "teacher_forcing", False) or getattr(b, "teacher_forcing", False):
            raise PlastixError("Bidirectional does not take teacher-forced Jordan cores.")

    @property
    def input_size(self) -> int:
        return self.forward.input_size

    @property
    def output_size(self) -> int:
        """n_f + n_b."""
        return self.forward.output_size + self.backward.output_size

    def init(self, key) -> BidirectionalParams:
        kf, kb = jax.random.split(key)
        return BidirectionalParams(self.forward.init(kf), self.backward.init(kb))

    def check_input(self, xs) -> None:
        self.forward.check_input(xs)

    def apply(self, params: BidirectionalParams, xs, resets=None):
        """hs (T, n_f + n_b) for xs (T, d); ``resets`` (T,) marks episode starts."""
        _, hs_f = scan_core(self.forward, params.forward, xs, resets=resets)
        back_resets = None
        if resets is not None:
            resets = jnp.asarray(resets, bool)
            ends = jnp.concatenate([resets[1:], jnp.zeros((1,), bool)])  # t is the last step of an episode
            back_resets = ends[::-1]
        _, hs_b = scan_core(self.backward, params.backward, xs[::-1], resets=back_resets)
        return jnp.concatenate([hs_f, hs_b[::-1]], axis=1)
