"""Bring your own core: any object with the core protocol, and cells of Flax and Equinox.

plastix needs three pure functions of a core (``plastix.cores.base``)::

    params = core.init(key)                    # any pytree of arrays
    carry = core.initial_carry()               # any pytree of arrays, the episode-start state
    carry, h = core.step(params, carry, x)     # x (input_size,) -> h (output_size,)

``as_core(obj, input_size)`` accepts any object that has them (it need not subclass
``Core``), checks it once at the boundary with ``jax.eval_shape`` (no computation) and wraps it
in ``ProtocolCore``, a ``Core`` that forwards the three calls unchanged — so the parameters the
trainers see are exactly the object's own. It is called wherever a core enters plastix
(``make_core``, ``SeqModel``, the actor-critic and the Q-network builders), so an object is
accepted wherever a core name is. Checked: the three methods exist; ``step`` maps an input of
size ``input_size`` to a 1-d output; ``step`` returns a carry with the same structure, shapes
and dtypes as it received (``lax.scan`` needs a fixed carry); the dtype is float32 or float64.

Three adapters turn the recurrent cells of other JAX libraries into plastix cores:

* ``LinenCell(cell, input_size)`` — a ``flax.linen`` cell (``GRUCell``, ``LSTMCell``,
  ``OptimizedLSTMCell``, ``SimpleCell``, ``MGUCell``): ``cell.apply(params, carry, x)``.
* ``NNXCell(make_cell, input_size)`` — a ``flax.nnx`` cell built by ``make_cell(rngs)``.
* ``EquinoxCell(make_cell, input_size)`` — an ``equinox.nn.GRUCell`` / ``LSTMCell`` built by
  ``make_cell(key)``; equinox is optional and imported only here.

Gradients: bptt, truncated-bptt and rtrl differentiate ``step`` with JAX and so work on any of
these. hand-bptt has hand-written backward recursions only for four plastix cores (elman,
peephole-lstm, plastic-rnn, neuromod-rnn) and refuses the others.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from plastix.cores.base import DTYPES, Core
from plastix.errors import PlastixError

PROTOCOL = ("init", "initial_carry", "step")


def describe(obj) -> str:
    return type(obj).__name__


def infer_input_size(obj, input_size: int | None) -> int:
    """The input size the core is built for: ``input_size`` if given (then it must agree with
    the object's own ``input_size`` attribute, if any), else the object's attribute."""
    own = getattr(obj, "input_size", None)
    if input_size is None and own is None:
        raise PlastixError(f"core {describe(obj)!r} has no input_size attribute and none was given: "
                           "pass input_size to as_core (or give the object an input_size).")
    if input_size is not None and own is not None and int(own) != int(input_size):
        raise PlastixError(f"core {describe(obj)!r} expects inputs of size {own}, but the task or "
                           f"environment gives inputs of size {input_size}.")
    return int(input_size if input_size is not None else own)


def dtype_name(dtype) -> str | None:
    """'float32' / 'float64' for a dtype-like (string or numpy/jax dtype), else None."""
    if isinstance(dtype, str):
        return dtype if dtype in DTYPES else None
    try:
        name = jnp.dtype(dtype).name
    except TypeError:
        return None
    return name if name in DTYPES else None


def structure(tree) -> tuple:
    """(treedef, [(shape, dtype) per leaf]) of a pytree of arrays or ShapeDtypeStructs."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, [(tuple(leaf.shape), jnp.dtype(leaf.dtype)) for leaf in leaves]


def check_protocol(obj, input_size: int) -> tuple[int, str]:
    """Check ``obj`` against the core protocol without computing; returns (output size, dtype name)."""
    missing = [m for m in PROTOCOL if not callable(getattr(obj, m, None))]
    if missing:
        raise PlastixError(f"a core must have the methods init(key), initial_carry() and step(params, carry, x); "
                           f"{describe(obj)!r} has no {', '.join(missing)}.")
    try:
        params = jax.eval_shape(obj.init, jax.random.PRNGKey(0))
        carry = jax.eval_shape(obj.initial_carry)
    except Exception as err:  # noqa: BLE001 - any failure of the user's code is reported as such
        raise PlastixError(f"core {describe(obj)!r}: init(key) / initial_carry() failed: {err}") from err
    dtype = getattr(obj, "dtype", None)
    dtype = dtype_name(dtype) if dtype is not None else None
    if dtype is None:
        floats = [leaf.dtype for leaf in jax.tree_util.tree_leaves(params) if jnp.issubdtype(leaf.dtype, jnp.floating)]
        dtype = dtype_name(floats[0]) if floats else "float32"
    if dtype is None:
        raise PlastixError(f"core {describe(obj)!r}: parameters must be float32 or float64.")
    x = jax.ShapeDtypeStruct((input_size,), DTYPES[dtype])
    try:
        new_carry, h = jax.eval_shape(obj.step, params, carry, x)
    except Exception as err:  # noqa: BLE001
        raise PlastixError(f"core {describe(obj)!r}: step(params, carry, x) failed on an input of shape "
                           f"({input_size},): {err}") from err
    if structure(new_carry) != structure(carry):
        raise PlastixError(f"core {describe(obj)!r}: step must return a carry with the structure, shapes and "
                           f"dtypes of initial_carry() (lax.scan needs it); got {structure(new_carry)[1]}, "
                           f"expected {structure(carry)[1]}.")
    if not hasattr(h, "shape") or len(h.shape) != 1 or h.shape[0] < 1:
        raise PlastixError(f"core {describe(obj)!r}: step must return an output h of shape (output_size,), "
                           f"got {getattr(h, 'shape', type(h).__name__)}.")
    own = getattr(obj, "output_size", None)
    if own is not None and int(own) != h.shape[0]:
        raise PlastixError(f"core {describe(obj)!r}: output_size is {own} but step returns h of shape {h.shape}.")
    return int(h.shape[0]), dtype


@dataclasses.dataclass(frozen=True)
class ProtocolCore(Core):
    """A ``Core`` around an object with the core protocol (module docstring). Final.

    ``inner`` is compared and hashed by identity (``inner_id``), so two wrappers are equal only
    if they wrap the same object; ``hidden_size`` is the object's output size."""

    inner: Any = dataclasses.field(default=None, compare=False, repr=False)
    inner_id: int = 0

    def init(self, key):
        return self.inner.init(key)

    def initial_carry(self):
        return self.inner.initial_carry()

    def step(self, params, carry, x):
        return self.inner.step(params, carry, x)


def is_core_like(obj) -> bool:
    """True for a ``Core`` or an object with the three protocol methods."""
    return isinstance(obj, Core) or all(callable(getattr(obj, m, None)) for m in PROTOCOL)


def as_core(obj, input_size: int | None = None) -> Core:
    """``obj`` as a plastix ``Core`` (unchanged if it already is one).

    Raises PlastixError if ``obj`` lacks the protocol, its step does not fit an input of size
    ``input_size``, or its input size disagrees with ``input_size``.
    """
    if isinstance(obj, Core):
        if input_size is not None and obj.input_size != int(input_size):
            raise PlastixError(f"core {describe(obj)!r} has input_size {obj.input_size}, but the task or "
                               f"environment gives inputs of size {input_size}.")
        return obj
    if isinstance(obj, str):
        raise PlastixError(f"as_core takes a core object; for the core name {obj!r} use make_core.")
    size = infer_input_size(obj, input_size)
    out, dtype = check_protocol(obj, size)
    return ProtocolCore(input_size=size, hidden_size=out, dtype=dtype, inner=obj, inner_id=id(obj))


# ---------------------------------------------------------------- Flax linen
def cast_floats(tree, dtype):
    """Every floating leaf of ``tree`` cast to ``dtype`` (integer leaves kept)."""
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


@dataclasses.dataclass(frozen=True)
class LinenCell(Core):
    """A ``flax.linen`` recurrent cell as a plastix core. Final.

    ``cell`` is a linen ``RNNCellBase`` (e.g. ``flax.linen.GRUCell(features=n)``); the step is
    ``carry_t, h_t = cell.apply(params, carry_{t-1}, x_t)``, the parameters are linen's variable
    dict ``{"params": ...}`` cast to ``dtype``, and the initial carry is
    ``cell.initialize_carry(PRNGKey(0), (input_size,))`` (zeros for every linen cell; the fixed
    key keeps a random ``carry_init`` identical at every episode start). Build with
    ``LinenCell.wrap(cell, input_size)``, which reads ``hidden_size`` from ``cell.features``.
    """

    cell: Any = None

    @classmethod
    def wrap(cls, cell, input_size: int, dtype: str = "float32") -> LinenCell:
        features = getattr(cell, "features", None)
        if not (hasattr(cell, "initialize_carry") and hasattr(cell, "apply")) or features is None:
            raise PlastixError(f"LinenCell needs a flax.linen recurrent cell (with features, initialize_carry and "
                               f"apply), got {describe(cell)!r}.")
        return cls(input_size=input_size, hidden_size=int(features), dtype=dtype, cell=cell)

    def init(self, key):
        x = jnp.zeros((self.input_size,), self.jdtype)
        return cast_floats(self.cell.init(key, self.initial_carry(), x), self.jdtype)

    def initial_carry(self):
        return cast_floats(self.cell.initialize_carry(jax.random.PRNGKey(0), (self.input_size,)), self.jdtype)

    def step(self, params, carry, x):
        return self.cell.apply(params, carry, x)


# ---------------------------------------------------------------- Flax nnx
@dataclasses.dataclass(frozen=True)
class NNXCell(Core):
    """A ``flax.nnx`` recurrent cell as a plastix core. Final.

    ``make_cell(rngs)`` builds the cell (e.g. ``lambda rngs: nnx.GRUCell(d, n, rngs=rngs)``);
    ``init(key)`` builds it with ``nnx.Rngs(key)`` and returns its state as a plain nested dict
    (``nnx.to_pure_dict``); ``step`` merges the dict back into the cell and calls
    ``cell(carry, x) -> (carry, h)``. The initial carry is ``cell.initialize_carry((input_size,),
    nnx.Rngs(0))``. Build with ``NNXCell.wrap(make_cell, input_size, hidden_size)``.
    """

    make_cell: Callable | None = None

    @classmethod
    def wrap(cls, make_cell: Callable, input_size: int, hidden_size: int, dtype: str = "float32") -> NNXCell:
        return cls(input_size=input_size, hidden_size=hidden_size, dtype=dtype, make_cell=make_cell)

    @functools.cached_property
    def template(self):
        """(graphdef, a concrete cell) of a cell built with Rngs(0), for merging and the carry."""
        from flax import nnx

        cell = self.make_cell(nnx.Rngs(0))
        return nnx.split(cell)[0], cell

    def init(self, key):
        from flax import nnx

        return cast_floats(nnx.to_pure_dict(nnx.split(self.make_cell(nnx.Rngs(key)))[1]), self.jdtype)

    def initial_carry(self):
        from flax import nnx

        return cast_floats(self.template[1].initialize_carry((self.input_size,), nnx.Rngs(0)), self.jdtype)

    def step(self, params, carry, x):
        from flax import nnx

        graphdef, cell = self.template
        state = nnx.split(cell)[1]
        nnx.replace_by_pure_dict(state, params)
        return nnx.merge(graphdef, state)(carry, x)


# ---------------------------------------------------------------- Equinox
def import_equinox():
    """The equinox module, or a PlastixError saying how to install it."""
    try:
        import equinox
    except ImportError as err:
        raise PlastixError("EquinoxCell needs equinox, an optional dependency: pip install plastix[equinox]") from err
    return equinox


@dataclasses.dataclass(frozen=True)
class EquinoxCell(Core):
    """An Equinox recurrent cell as a plastix core. Final.

    ``make_cell(key)`` builds the cell (e.g. ``lambda key: eqx.nn.GRUCell(d, n, key=key)``).
    ``init(key)`` keeps its arrays (``eqx.partition(cell, eqx.is_array)``); the step recombines
    them with the static part and calls the cell. Equinox cells take ``cell(x, carry)``: a
    ``GRUCell`` returns h (carry = h), an ``LSTMCell`` returns (h, c) (output h). The initial
    carry is zeros of the cell's ``hidden_size``.
    """

    make_cell: Callable | None = None

    @classmethod
    def wrap(cls, make_cell: Callable, input_size: int, dtype: str = "float32") -> EquinoxCell:
        eqx = import_equinox()
        cell = make_cell(jax.random.PRNGKey(0))
        if not isinstance(cell, (eqx.nn.GRUCell, eqx.nn.LSTMCell)):
            raise PlastixError(f"EquinoxCell supports equinox.nn.GRUCell and equinox.nn.LSTMCell, "
                               f"got {describe(cell)!r}.")
        if cell.input_size != input_size:
            raise PlastixError(f"the equinox cell has input_size {cell.input_size}, expected {input_size}.")
        return cls(input_size=input_size, hidden_size=int(cell.hidden_size), dtype=dtype, make_cell=make_cell)

    @functools.cached_property
    def static(self):
        eqx = import_equinox()
        return eqx.partition(self.make_cell(jax.random.PRNGKey(0)), eqx.is_array)[1]

    @functools.cached_property
    def is_lstm(self) -> bool:
        return isinstance(self.make_cell(jax.random.PRNGKey(0)), import_equinox().nn.LSTMCell)

    def init(self, key):
        eqx = import_equinox()
        return cast_floats(eqx.partition(self.make_cell(key), eqx.is_array)[0], self.jdtype)

    def initial_carry(self):
        h = jnp.zeros((self.hidden_size,), self.jdtype)
        return (h, h) if self.is_lstm else h

    def step(self, params, carry, x):
        cell = import_equinox().combine(params, self.static)
        carry = cell(x, carry)
        return carry, carry[0] if self.is_lstm else carry
