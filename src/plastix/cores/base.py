"""The core protocol: a pure recurrent step over an explicit carry.

A *core* is a frozen dataclass holding the settings that fix shapes (sizes, options).
It owns three pure functions over explicit pytrees, for one unbatched example::

    params = core.init(key)                  # trainable parameters (a NamedTuple)
    carry = core.initial_carry()             # state at an episode start (h, c, Hebb, E, ...)
    carry, h = core.step(params, carry, x)   # x: (input_size,), h: (output_size,)

Time is a ``lax.scan`` around ``step`` and a batch is a ``vmap`` around that::

    def run(params, xs):                     # xs: (T, input_size)
        return lax.scan(lambda c, x: core.step(params, c, x), core.initial_carry(), xs)

    hs = jax.vmap(lambda xs: scan_core(core, params, xs)[1], in_axes=(0,))(xs_batch)

Plastic traces (Hebb, eligibility) live in the carry, never in the parameters, so that
``initial_carry`` resets them to zero at an episode start.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.errors import PlastixError, check_positive_int

PyTree = Any

DTYPES = {"float32": jnp.float32, "float64": jnp.float64}


def resolve_dtype(name: str):
    """Map a dtype name to a JAX dtype; float64 requires ``jax_enable_x64``."""
    if name not in DTYPES:
        raise PlastixError(f"dtype must be one of {sorted(DTYPES)}, got {name!r}.")
    if name == "float64" and not jax.config.jax_enable_x64:
        raise PlastixError(
            "dtype 'float64' needs 64-bit JAX: call jax.config.update('jax_enable_x64', True) "
            "before building the core."
        )
    return DTYPES[name]


@dataclasses.dataclass(frozen=True)
class Core(abc.ABC):
    """Abstract recurrent core (see module docstring for the protocol).

    Attributes:
      input_size: size of one input vector x_t.
      hidden_size: number of recurrent units n.
      dtype: "float32" or "float64"; parameters and carries use it.
    """

    input_size: int
    hidden_size: int
    dtype: str = "float32"

    def __post_init__(self):
        check_positive_int(f"{type(self).__name__}.input_size", self.input_size)
        check_positive_int(f"{type(self).__name__}.hidden_size", self.hidden_size)
        resolve_dtype(self.dtype)

    @property
    def jdtype(self):
        return resolve_dtype(self.dtype)

    @property
    def output_size(self) -> int:
        """Size of the feature h_t returned by ``step`` (fed to a readout)."""
        return self.hidden_size

    @abc.abstractmethod
    def init(self, key: jax.Array) -> PyTree:
        """Trainable parameters, drawn with ``key``."""

    @abc.abstractmethod
    def initial_carry(self) -> PyTree:
        """The carry at an episode start (all traces zero)."""

    @abc.abstractmethod
    def step(self, params: PyTree, carry: PyTree, x: jax.Array) -> tuple[PyTree, jax.Array]:
        """One time step: ``(carry_{t-1}, x_t) -> (carry_t, h_t)``."""

    def scan_params(self, params: PyTree) -> PyTree:
        """The parameters as ``step`` reads them inside ``scan_core`` (default: as they are).

        A scan's backward pass adds each step's gradient of every parameter it closes over into
        an accumulator. A step that slices a stacked weight (one gate of (3, n, n)) makes that a
        padded (3, n, n) add per step; a core that does so returns its weights unstacked here (a
        tuple per gate, which ``step`` must also accept), and the stacking's gradient is taken
        once, outside the scan."""
        return params

    def check_input(self, xs) -> None:
        """Raise a clear error unless ``xs`` is (T, input_size) or (B, T, input_size)."""
        shape = getattr(xs, "shape", None)
        if shape is None or len(shape) not in (2, 3) or shape[-1] != self.input_size:
            raise PlastixError(
                f"{type(self).__name__} expects inputs of shape (T, {self.input_size}) or "
                f"(batch, T, {self.input_size}), got {shape}."
            )


def uniform_init(key: jax.Array, shape: tuple[int, ...], fan_in: int, dtype) -> jax.Array:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the PyTorch RNN default, used across plastix."""
    bound = 1.0 / jnp.sqrt(jnp.asarray(fan_in, dtype))
    return jax.random.uniform(key, shape, dtype, -bound, bound)


def reset_where(done: jax.Array, fresh: PyTree, carry: PyTree) -> PyTree:
    """Replace ``carry`` by ``fresh`` where the scalar boolean ``done`` is true."""
    return jax.tree.map(lambda f, c: jnp.where(done, f, c), fresh, carry)


def scan_core(
    core: Core,
    params: PyTree,
    xs: jax.Array,
    carry0: PyTree | None = None,
    resets: jax.Array | None = None,
) -> tuple[PyTree, jax.Array]:
    """Run ``core`` over one sequence with ``lax.scan``.

    Args:
      xs: (T, input_size) inputs.
      carry0: carry before the first step; ``core.initial_carry()`` if None.
      resets: optional (T,) booleans; where ``resets[t]`` the carry is set back to
        ``core.initial_carry()`` *before* step t (an episode starts at t).

    Returns:
      (final carry, hs) with hs of shape (T, output_size).
    """
    fresh = core.initial_carry()
    carry0 = fresh if carry0 is None else carry0
    prepare = getattr(core, "scan_params", None)  # cores outside the Core class need not have it
    params = params if prepare is None else prepare(params)
    if resets is None:
        return lax.scan(lambda c, x: core.step(params, c, x), carry0, xs)

    def body(carry, inp):
        x, done = inp
        carry = reset_where(done, fresh, carry)
        return core.step(params, carry, x)

    return lax.scan(body, carry0, (xs, resets))


def sequence_outputs(core: Core, params: PyTree, xs: jax.Array, resets: jax.Array | None = None) -> jax.Array:
    """hs (T, output_size) of one sequence from ``core.initial_carry()``, resets as in ``scan_core``.

    A core with a whole-sequence form ``core.sequence(params, xs, resets)`` (the transformer: every
    step at once under a banded causal mask, equal to its step-by-step scan) is run that way,
    which differentiates far faster than a scan over its key/value cache; any other by ``scan_core``."""
    whole = getattr(core, "sequence", None)
    if callable(whole):  # a user's core may hold data under that name: only a method is the whole-sequence form
        return whole(params, xs, resets)
    return scan_core(core, params, xs, resets=resets)[1]


def loop_core(core: Core, params: PyTree, xs, carry0=None, resets=None):
    """``scan_core`` as a plain Python loop (a reference for tests)."""
    carry = core.initial_carry() if carry0 is None else carry0
    hs = []
    for t in range(xs.shape[0]):
        if resets is not None and bool(resets[t]):
            carry = core.initial_carry()
        carry, h = core.step(params, carry, xs[t])
        hs.append(h)
    return carry, jnp.stack(hs)


class Readout(NamedTuple):
    """Linear readout y_t = V h_t + c. V: (out, n), c: (out,)."""

    V: jax.Array
    c: jax.Array


def init_readout(key: jax.Array, in_size: int, out_size: int, dtype) -> Readout:
    return Readout(uniform_init(key, (out_size, in_size), in_size, dtype), jnp.zeros((out_size,), dtype))
