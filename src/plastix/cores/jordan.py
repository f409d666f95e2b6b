"""Jordan network (Jordan 1986).

The previous *output* y_{t-1}, not the hidden state, is fed back::

    h_t = f(U x_t + W_y y_{t-1} + b)          U: (n, d), W_y: (n, out), b: (n,)
    y_t = V h_t + c                           V: (out, n), c: (out,)     (linear output)

The core owns its output layer, so ``step`` returns y_t (size ``output_size``) and the
carry holds y_{t-1}; use it with ``SeqModel(core, output_size, readout=False)``.

Teacher forcing (Williams & Zipser 1989: the target, not the previous output, is fed back) and scheduled sampling (Bengio et al.
2015) enter as *pure inputs*, so every gradient method works unchanged. With
``teacher_forcing=True`` each step receives x̃_t = [x_t, ŷ_{t-1}, m_t] (size
``step_input_size`` = d + out + 1, built by ``teacher_inputs``) and feeds back::

    ỹ_{t-1} = m_t ŷ_{t-1} + (1 − m_t) y_{t-1},       m_t ~ Bernoulli(p_teacher)

where ŷ is the target. p = 1 is teacher forcing, 0 < p < 1 scheduled sampling, p = 0 free
running (equal to the core with ``teacher_forcing=False``). The carry always keeps the
model's own y_{t-1}.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, uniform_init
from plastix.cores.elman import ACTIVATIONS
from plastix.errors import PlastixError, check_positive_int


class JordanParams(NamedTuple):
    U: jax.Array  # (n, d) input -> hidden
    W_y: jax.Array  # (n, out) previous output -> hidden
    b: jax.Array  # (n,)
    V: jax.Array  # (out, n) hidden -> output
    c: jax.Array  # (out,)


class JordanCarry(NamedTuple):
    y: jax.Array  # (out,) the model's previous output y_{t-1}


@dataclasses.dataclass(frozen=True)
class Jordan(Core):
    """Jordan RNN core with its own linear output layer.

    Attributes:
      input_size: d, the size of the raw input x_t (what a task provides).
      output_size: out, the size of y_t (returned by ``step``, fed back next step).
      activation: the hidden nonlinearity f ("tanh", "sigmoid", "relu").
      teacher_forcing: if True, ``step`` expects x̃_t = [x_t, ŷ_{t-1}, m_t] of size
        ``step_input_size`` (see ``teacher_inputs``).
    """

    output_size: int = 1
    activation: str = "tanh"
    teacher_forcing: bool = False

    def __post_init__(self):
        super().__post_init__()
        check_positive_int("Jordan.output_size", self.output_size)
        if self.activation not in ACTIVATIONS:
            raise PlastixError(f"Jordan activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}.")
        if not isinstance(self.teacher_forcing, bool):
            raise PlastixError(f"Jordan.teacher_forcing must be a bool, got {self.teacher_forcing!r}.")

    @property
    def step_input_size(self) -> int:
        """Size of the vector ``step`` takes: d, or d + out + 1 with teacher forcing."""
        return self.input_size + (self.output_size + 1 if self.teacher_forcing else 0)

    def check_input(self, xs) -> None:
        """Raise unless ``xs`` is (T, step_input_size) or (B, T, step_input_size)."""
        shape = getattr(xs, "shape", None)
        size = self.step_input_size
        if shape is None or len(shape) not in (2, 3) or shape[-1] != size:
            hint = " (x_t, target y_{t-1}, mask: build them with teacher_inputs)" if self.teacher_forcing else ""
            raise PlastixError(f"Jordan expects inputs of shape (T, {size}) or (batch, T, {size}){hint}, got {shape}.")

    def init(self, key):
        n, d, out, dt = self.hidden_size, self.input_size, self.output_size, self.jdtype
        ku, kw, kv = jax.random.split(key, 3)
        return JordanParams(
            U=uniform_init(ku, (n, d), n, dt),
            W_y=uniform_init(kw, (n, out), n, dt),
            b=jnp.zeros((n,), dt),
            V=uniform_init(kv, (out, n), n, dt),
            c=jnp.zeros((out,), dt),
        )

    def initial_carry(self):
        return JordanCarry(jnp.zeros((self.output_size,), self.jdtype))

    def fed_back(self, carry, x):
        """(raw x_t (d,), ỹ_{t-1} (out,)): the model's y_{t-1}, or the teacher mix."""
        if not self.teacher_forcing:
            return x, carry.y
        d, out = self.input_size, self.output_size
        x_raw, y_hat, m = x[:d], x[d : d + out], x[d + out]
        return x_raw, m * y_hat + (1.0 - m) * carry.y

    def step(self, params, carry, x):
        x_raw, y_prev = self.fed_back(carry, x)
        h = ACTIVATIONS[self.activation](params.U @ x_raw + params.W_y @ y_prev + params.b)
        y = params.V @ h + params.c
        return JordanCarry(y), y

    def teacher_inputs(self, xs, targets, key, p_teacher, resets=None):
        """``teacher_inputs`` after checking shapes against this core."""
        if getattr(xs, "shape", None) is None or xs.shape[-1] != self.input_size:
            raise PlastixError(f"Jordan.teacher_inputs expects xs (T, {self.input_size}) (vmap for a batch), got {getattr(xs, 'shape', None)}.")
        if getattr(targets, "shape", None) is None or targets.shape[-1] != self.output_size:
            raise PlastixError(
                f"Jordan.teacher_inputs expects float targets (T, {self.output_size}), got {getattr(targets, 'shape', None)}."
            )
        return teacher_inputs(xs, targets, key, p_teacher, resets)


def teacher_inputs(xs, targets, key, p_teacher, resets=None):
    """Augmented inputs x̃_t = [x_t, ŷ_{t-1}, m_t] for a teacher-forced Jordan core.

    Args:
      xs: (T, d) raw inputs; targets: (T, out) float targets ŷ_t.
      key: PRNG key for the mask; p_teacher: probability that m_t = 1 (may be traced, for a
        sampling schedule). p = 1 teacher forcing, p = 0 free running.
      resets: optional (T,) bools (episode starts). At an episode start (and at t = 0) there
        is no previous target: ŷ_{t-1} = 0 and m_t = 0, so the fresh carry y = 0 is fed.

    Returns:
      (T, d + out + 1) inputs, in xs's dtype.
    """
    if xs.ndim != 2 or targets.ndim != 2 or xs.shape[0] != targets.shape[0]:
        raise PlastixError(f"teacher_inputs expects xs (T, d) and targets (T, out), got {xs.shape} and {targets.shape}.")
    if isinstance(p_teacher, (int, float)) and not 0.0 <= p_teacher <= 1.0:
        raise PlastixError(f"p_teacher must be in [0, 1], got {p_teacher!r}.")
    T = xs.shape[0]
    y_prev = jnp.concatenate([jnp.zeros_like(targets[:1]), targets[:-1]]).astype(xs.dtype)
    first = jnp.arange(T) == 0
    if resets is not None:
        first = first | jnp.asarray(resets, bool)
    mask = jax.random.bernoulli(key, p_teacher, (T,)) & ~first
    y_prev = jnp.where(first[:, None], jnp.zeros_like(y_prev), y_prev)
    return jnp.concatenate([xs, y_prev, mask.astype(xs.dtype)[:, None]], axis=1)
