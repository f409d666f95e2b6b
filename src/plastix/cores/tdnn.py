"""Time-delay neural network (Waibel, Hanazawa, Hinton, Shikano & Lang 1989).

A TDNN is a stack of layers, each of which sees a *window* of the last D outputs of the layer
below (the input for the first layer) — a causal convolution over time with shared weights.
Layer k (k = 1..K, h^0_t = x_t) with window D_k and tap spacing (dilation) δ_k::

    h^k_t = f( Σ_{j=0}^{D_k−1} W^k_j h^{k−1}_{t − j δ_k} + b^k )      W^k_j: (n, m_{k−1}), b^k: (n,)

and the core's output is h^K_t (size n). In the paper's words a unit with "N delays" sees N + 1
frames: Waibel et al.'s phoneme net (1989, Fig. 1) is 16 inputs → 8 units over 3 frames (2
delays) → 3 units over 5 frames of that layer (4 delays), i.e. ``window=3,5``. The output layer
of the paper, which sums its units over time, is left to the readout.

**Sub-sampling** (``stride``). The standard sub-sampled TDNN computes layer k only every s_k
frames and layer k+1 convolves over consecutive computed outputs (Waibel et al. 1989 §III; the
frame rate is reduced layer by layer as in Peddinti, Povey & Khudanpur 2015, "A time delay
neural network architecture for efficient modeling of long temporal contexts"). An online core
must give an output at every step, so here every layer is computed at every step and layer k+1
taps every s_k-th output of layer k instead: the tap spacing is the product of the strides
below,

    δ_1 = 1,   δ_{k+1} = s_1 s_2 ⋯ s_k.

At every step t the output equals that of the sub-sampled network whose sampling grid ends at
t (the two differ only in *when* a value is computed, not in which inputs it sees — a dilated
causal convolution). The receptive field, the number of past inputs an output depends on, is

    R = 1 + Σ_k (D_k − 1) δ_k            (docs/tdnn.md draws it).

**The delay line is the carry.** ``TDNNCarry.buffers[k]`` holds the last (D_k − 1) δ_k inputs of
layer k (oldest first), so the core runs step by step like every other core and works with
BPTT, truncated BPTT and RTRL. ``initial_carry`` fills the buffers with zeros: at an episode
start the window is zero-padded (a causal convolution with zero padding) and nothing of the
previous episode is seen.

Options: ``window`` (an int, or one per layer as a tuple or a string "3,5"), ``layers`` (None =
the number of windows given, 1 for a single int), ``stride`` (an int for every gap between two
layers, or K − 1 values "2,3"; 1 = no sub-sampling), ``activation`` (tanh | sigmoid | relu).
Every layer has ``hidden_size`` units.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, uniform_init
from plastix.cores.elman import ACTIVATIONS
from plastix.errors import PlastixError, check_positive_int


class TDNNLayer(NamedTuple):
    W: jax.Array  # (D, n, m): W[j] multiplies the layer input j·δ steps back
    b: jax.Array  # (n,)


class TDNNParams(NamedTuple):
    layers: tuple  # (TDNNLayer of layer 1, ..., layer K)


class TDNNCarry(NamedTuple):
    buffers: tuple  # buffers[k]: ((D_k − 1) δ_k, m_{k−1}) past inputs of layer k, oldest first


def _int_tuple(name: str, value) -> tuple[int, ...]:
    """An int, a sequence of ints or a string "3,5" -> a tuple of positive ints."""
    if isinstance(value, str):
        try:
            value = tuple(int(v) for v in value.replace(" ", "").split(",") if v)
        except ValueError:
            raise PlastixError(f"TDNN.{name} must be an int or comma-separated ints like '3,5', "
                               f"got {value!r}.") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise PlastixError(f"TDNN.{name} must be an int or a non-empty sequence of ints, got {value!r}.")
    for v in value:
        check_positive_int(f"TDNN.{name} (each value)", v)
    return tuple(value)


@dataclasses.dataclass(frozen=True)
class TDNN(Core):
    """Time-delay network core (see the module docstring for the equations). Final.

    Attributes:
      window: D_k, taps per layer (the current input and D_k − 1 delayed ones); an int for
        every layer, or one per layer (a tuple or "3,5").
      layers: K, the number of layers; None = the number of windows given.
      stride: s_k, sub-sampling between layer k and k + 1 (K − 1 values, or an int for all).
      activation: f ("tanh", "sigmoid", "relu").
    """

    window: int | str | tuple = 3
    layers: int | None = None
    stride: int | str | tuple = 1
    activation: str = "tanh"

    def __post_init__(self):
        super().__post_init__()
        windows = _int_tuple("window", self.window)
        if self.layers is not None:
            check_positive_int("TDNN.layers", self.layers)
            if len(windows) == 1:
                windows = windows * self.layers
            elif len(windows) != self.layers:
                raise PlastixError(f"TDNN.window gives {len(windows)} windows {windows} but layers={self.layers}.")
        strides = _int_tuple("stride", self.stride)
        gaps = len(windows) - 1
        if len(strides) == 1 and gaps != 1:
            if strides[0] != 1 and gaps == 0:
                raise PlastixError(f"TDNN.stride sub-samples between layers; a 1-layer TDNN has none, "
                                   f"got stride={strides[0]}.")
            strides = strides * gaps
        if len(strides) != gaps:
            raise PlastixError(f"TDNN.stride needs {gaps} values (one per gap between {len(windows)} layers), "
                               f"got {strides}.")
        if self.activation not in ACTIVATIONS:
            raise PlastixError(f"TDNN activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}.")
        object.__setattr__(self, "window", windows)
        object.__setattr__(self, "stride", strides)
        object.__setattr__(self, "layers", len(windows))

    @property
    def dilations(self) -> tuple[int, ...]:
        """δ_k, the tap spacing of layer k: δ_1 = 1, δ_{k+1} = s_1 ⋯ s_k."""
        return tuple(math.prod(self.stride[:k]) for k in range(self.layers))

    @property
    def receptive_field(self) -> int:
        """R = 1 + Σ_k (D_k − 1) δ_k: h_t depends on x_{t−R+1}, ..., x_t (within an episode)."""
        return 1 + sum((d - 1) * dil for d, dil in zip(self.window, self.dilations))

    def _sizes(self) -> list[tuple[int, int, int, int]]:
        """(D_k, δ_k, m_{k−1}, buffer length (D_k − 1) δ_k) per layer."""
        ins = (self.input_size,) + (self.hidden_size,) * (self.layers - 1)
        return [(d, dil, m, (d - 1) * dil) for d, dil, m in zip(self.window, self.dilations, ins)]

    def init(self, key):
        """W^k ~ U(±1/sqrt(D_k m_{k−1})) (PyTorch's Conv1d fan-in), b = 0."""
        n, dt = self.hidden_size, self.jdtype
        keys = jax.random.split(key, self.layers)
        return TDNNParams(tuple(
            TDNNLayer(uniform_init(k, (d, n, m), d * m, dt), jnp.zeros((n,), dt))
            for k, (d, _, m, _) in zip(keys, self._sizes())
        ))

    def initial_carry(self):
        return TDNNCarry(tuple(jnp.zeros((length, m), self.jdtype) for _, _, m, length in self._sizes()))

    def step(self, params, carry, x):
        f = ACTIVATIONS[self.activation]
        h, buffers = x, []
        for (d, dil, _, _), layer, buf in zip(self._sizes(), params.layers, carry.buffers):
            line = jnp.concatenate([buf, h[None, :]], axis=0)  # ((D−1)δ + 1, m), oldest first
            taps = line[::-1][::dil]  # (D, m): taps[j] = the layer input j·δ steps back
            h = f(jnp.einsum("jnm,jm->n", layer.W, taps) + layer.b)
            buffers.append(line[1:])
        return TDNNCarry(tuple(buffers)), h
