"""Q-networks: an optional conv torso, any plastix core, a ReLU layer and a (dueling) head.

One unbatched step of the Q-network (Mnih et al. 2015; Wang et al. 2016 for the dueling head)::

    x_t          = conv_torso(o_t)  if the observation is an image (H, W, C), else o_t
    carry_t, h_t = core.step(θ_core, reset(carry_{t−1}), x_t)            (any plastix core;
                                                                         "mlp" = memoryless)
    plain:    Q(o_≤t, ·) = W_q relu(W_1 h_t + b_1) + b_q                 (A,)
    dueling:  V = w_v relu(W_v h_t + b_v) + c_v            ()
              A = W_a relu(W_a1 h_t + b_a1) + c_a          (A,)
              Q(o_≤t, a) = V + A(a) − (1/|A|) Σ_a′ A(a′)   (Wang et al. 2016, eq. 9)

The conv torso is the MinAtar network of Young & Tian (2019): one 3×3 convolution with 16
filters, stride 1, SAME padding, ReLU, flattened (H·W·16), written with ``lax.conv_general_dilated``.

A window of a stored trajectory is unrolled with ``unroll`` (a ``lax.scan``): the carry starts
at ``initial_carry()`` (R2D2's "zero state" strategy) and is reset before every step that opens
an episode. At every step it also evaluates the Q-values of the TRUE next observation
``next_obs_t`` (``info["terminal_obs"]``) from the carry after step t, so the TD target of a
truncated step bootstraps from the real s′ and never from the auto-reset observation.
A memoryless network (``core="mlp"``) needs no unroll: ``q_values`` evaluates every position
of a batch of windows at once, the head as one matmul per layer (h W_1ᵀ over the batch).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.cores.base import Core, Readout, init_readout, reset_where, uniform_init

CONV_FEATURES = 16  # MinAtar's conv torso (Young & Tian 2019)


class ConvParams(NamedTuple):
    kernel: jax.Array  # (3, 3, C, 16) HWIO
    bias: jax.Array  # (16,)


class HeadParams(NamedTuple):
    hidden: Readout  # W_1 (m, n), b_1 (m,)
    out: Readout  # W_q (A, m), b_q (A,)


class QParams(NamedTuple):
    conv: Any  # ConvParams, or () without a conv torso
    core: Any  # the core's params
    value: HeadParams | tuple  # dueling: the V stream (out (1, m)); plain: ()
    advantage: HeadParams  # the A stream (dueling) or the Q head (plain)


class Unrolled(NamedTuple):
    """Q-values along a window (L,) of one stored trajectory."""

    q: jax.Array  # (L, A) Q(o_≤t, ·)
    q_next: jax.Array  # (L, A) Q(o_≤t, next_obs_t, ·): the values of s′_t


def dueling_aggregate(value: jax.Array, advantage: jax.Array) -> jax.Array:
    """Q(a) = V + A(a) − mean_a′ A(a′) (Wang et al. 2016, eq. 9). value (...), advantage (..., A)."""
    return value[..., None] + advantage - jnp.mean(advantage, axis=-1, keepdims=True)


def conv_torso(params: ConvParams, image: jax.Array) -> jax.Array:
    """relu(conv3×3(image) + b) flattened: (H, W, C) -> (H·W·16,)."""
    out = lax.conv_general_dilated(image[None], params.kernel, (1, 1), "SAME",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))[0]
    return jax.nn.relu(out + params.bias[None, None, :]).reshape(-1)


def init_head(key, n: int, m: int, out: int, dtype) -> HeadParams:
    k1, k2 = jax.random.split(key)
    return HeadParams(init_readout(k1, n, m, dtype), init_readout(k2, m, out, dtype))


def apply_head(params: HeadParams, h: jax.Array) -> jax.Array:
    """W_q relu(W_1 h + b_1) + b_q for h (..., n), written h W_1ᵀ: a batch of h (and a batch of
    seeds over it) is one plain (batched) matmul, without the transposes of W_1 h."""
    lead = (1,) * (h.ndim - 1)  # the biases broadcast over the batch axes
    z = jax.nn.relu(h @ params.hidden.V.T + params.hidden.c.reshape(lead + (-1,)))
    return z @ params.out.V.T + params.out.c.reshape(lead + (-1,))


@dataclasses.dataclass(frozen=True)
class QNetwork:
    """A Q-network (module docstring). Final.

    Attributes:
      core: any plastix core; its input_size is the observation size (or H·W·16 with a conv torso).
      num_actions: A.
      head_hidden: m, units of the ReLU layer of each head stream.
      dueling: the dueling head (Wang et al. 2016) instead of a plain Q head.
      image_shape: (H, W, C) to run the conv torso on observations reshaped to it; () for none.
    """

    core: Core
    num_actions: int
    head_hidden: int
    dueling: bool = False
    image_shape: tuple[int, ...] = ()

    @property
    def recurrent(self) -> bool:
        """True when the core remembers something (a non-empty carry)."""
        return len(jax.tree_util.tree_leaves(self.core.initial_carry())) > 0

    def init(self, key: jax.Array) -> QParams:
        """Conv kernel U(±1/sqrt(9C)), then the core's init, then each head U(±1/sqrt(fan_in))."""
        k_conv, k_core, k_v, k_a = jax.random.split(key, 4)
        dt, n, m = self.core.jdtype, self.core.output_size, self.head_hidden
        conv: Any = ()
        if self.image_shape:
            c = self.image_shape[-1]
            conv = ConvParams(uniform_init(k_conv, (3, 3, c, CONV_FEATURES), 9 * c, dt),
                              jnp.zeros((CONV_FEATURES,), dt))
        value = init_head(k_v, n, m, 1, dt) if self.dueling else ()
        return QParams(conv, self.core.init(k_core), value, init_head(k_a, n, m, self.num_actions, dt))

    def initial_carry(self):
        return self.core.initial_carry()

    def features(self, params: QParams, obs: jax.Array) -> jax.Array:
        """The core's input x_t for one observation (flat or image)."""
        x = obs.astype(self.core.jdtype)
        if self.image_shape:
            return conv_torso(params.conv, x.reshape(self.image_shape))
        return x.reshape(-1)

    def head(self, params: QParams, h: jax.Array) -> jax.Array:
        """Q-values (..., A) from the core's output h (..., n)."""
        adv = apply_head(params.advantage, h)
        if not self.dueling:
            return adv
        return dueling_aggregate(apply_head(params.value, h)[..., 0], adv)

    def step(self, params: QParams, carry, obs: jax.Array, episode_start: jax.Array):
        """(carry_{t−1}, o_t, start_t) -> (carry_t, Q (A,)); the carry is reset where start_t."""
        carry = reset_where(episode_start, self.core.initial_carry(), carry)
        carry, h = self.core.step(params.core, carry, self.features(params, obs))
        return carry, self.head(params, h)

    def q_values(self, params: QParams, obs: jax.Array) -> jax.Array:
        """Q (L, A) of a memoryless network at each of L observations (L, ...), independently:
        the core from its empty carry at every position, the head on the whole batch (no scan)."""
        torso = lambda o: self.core.step(params.core, self.initial_carry(), self.features(params, o))[1]  # noqa: E731
        return self.head(params, jax.vmap(torso)(obs))

    def unroll(self, params: QParams, obs: jax.Array, next_obs: jax.Array, start: jax.Array) -> Unrolled:
        """Q along one window from a zero carry: obs, next_obs (L, ...), start (L,) bool."""

        def body(carry, inp):
            o, o_next, s = inp
            carry, q = self.step(params, carry, o, s)
            _, q_next = self.step(params, carry, o_next, jnp.zeros((), bool))
            return carry, (q, q_next)

        _, (q, q_next) = lax.scan(body, self.initial_carry(), (obs, next_obs, start))
        return Unrolled(q, q_next)


def image_shape_of(env) -> tuple[int, ...]:
    """(H, W, C) if the environment declares a 3-d ``observation_shape``, else ()."""
    shape = tuple(int(s) for s in getattr(env, "observation_shape", ()) or ())
    return shape if len(shape) == 3 else ()


def core_input_size(env, image_shape: tuple[int, ...]) -> int:
    """The core's input size: H·W·16 behind a conv torso, else the flat observation size."""
    if image_shape:
        return image_shape[0] * image_shape[1] * CONV_FEATURES
    return int(math.prod(getattr(env, "observation_shape", ()) or (env.observation_size,)))
