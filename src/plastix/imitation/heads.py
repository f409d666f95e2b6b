"""Action heads: the distribution a policy's readout z = V h + c parameterises.

Each head is a frozen dataclass with ``size`` (the length of z) and pure functions of ONE
unbatched z (batch with ``vmap``)::

    log_prob(z, a) -> ()        log π(a | z), the behavioural-cloning likelihood
    mode(z)        -> action    the most probable action (for a mixture: the mean of its heaviest component)
    sample(key, z) -> action

``Categorical(A)``: discrete actions, π(a) = softmax(z)_a.

``DiagGaussian(k)``: one Gaussian with diagonal covariance, z = [μ (k), log σ (k)],
log π(a) = Σ_d −½((a_d − μ_d)/σ_d)² − log σ_d − ½ log 2π. Fit to two modes (−1 and +1) it puts
its mean between them (maximum likelihood of one Gaussian matches the data's mean).

``MixtureGaussian(k, K)``: a mixture density network (Bishop 1994, "Mixture density networks",
eqs. 23–27), z = [logits w (K), μ (K, k), log σ (K, k)],
log π(a) = logsumexp_j (log softmax(w)_j + log N(a; μ_j, diag σ_j²)).

``Discretised(k, B, low, high)``: each action dimension cut into B equal bins of width
Δ = (high − low)/B with an independent categorical per dimension (as in the discretised action
heads of Tang & Agrawal 2020, "Discretizing continuous action space for on-policy optimization",
and of behaviour transformers, Shafiullah et al. 2022, without their residual offsets),
z = [logits (k, B)], and a density uniform within a bin: log π(a) = Σ_d log softmax(z_d)_{b_d(a)} − log Δ,
b_d(a) = clip(⌊(a_d − low)/Δ⌋, 0, B − 1). ``sample`` draws the bin, then a point uniformly in it.

log σ is clipped to [``LOG_STD_MIN``, ``LOG_STD_MAX``] so the likelihood stays bounded.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from plastix.errors import PlastixError, check_positive_int

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_std(raw: jax.Array) -> jax.Array:
    return jnp.clip(raw, LOG_STD_MIN, LOG_STD_MAX)


def gaussian_log_density(a: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """Σ over the last axis of log N(a_d; μ_d, σ_d²); a, mean, log_std: (..., k) -> (...)."""
    z = (a - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z * z - log_std - HALF_LOG_2PI, axis=-1)


@dataclasses.dataclass(frozen=True)
class Categorical:
    """A categorical over ``num_actions`` discrete actions. Final."""

    num_actions: int
    discrete = True

    def __post_init__(self):
        check_positive_int("Categorical.num_actions", self.num_actions)

    @property
    def size(self) -> int:
        return self.num_actions

    def log_prob(self, z: jax.Array, a: jax.Array) -> jax.Array:
        return jax.nn.log_softmax(z)[a]

    def mode(self, z: jax.Array) -> jax.Array:
        return jnp.argmax(z).astype(jnp.int32)

    def sample(self, key: jax.Array, z: jax.Array) -> jax.Array:
        return jax.random.categorical(key, z).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class DiagGaussian:
    """One Gaussian N(μ, diag σ²) over a continuous action (dim,). Final."""

    dim: int
    discrete = False

    def __post_init__(self):
        check_positive_int("DiagGaussian.dim", self.dim)

    @property
    def size(self) -> int:
        return 2 * self.dim

    def split(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        return z[: self.dim], _log_std(z[self.dim:])

    def log_prob(self, z: jax.Array, a: jax.Array) -> jax.Array:
        return gaussian_log_density(a, *self.split(z))

    def mode(self, z: jax.Array) -> jax.Array:
        return self.split(z)[0]

    def sample(self, key: jax.Array, z: jax.Array) -> jax.Array:
        mean, log_std = self.split(z)
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)


@dataclasses.dataclass(frozen=True)
class MixtureGaussian:
    """A mixture of ``components`` diagonal Gaussians over an action (dim,) (Bishop 1994). Final."""

    dim: int
    components: int = 5
    discrete = False

    def __post_init__(self):
        check_positive_int("MixtureGaussian.dim", self.dim)
        check_positive_int("MixtureGaussian.components", self.components)

    @property
    def size(self) -> int:
        return self.components * (1 + 2 * self.dim)

    def split(self, z: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(log weights (K,), means (K, k), log σ (K, k))."""
        K, k = self.components, self.dim
        log_w = jax.nn.log_softmax(z[:K])
        mean = z[K: K + K * k].reshape(K, k)
        return log_w, mean, _log_std(z[K + K * k:].reshape(K, k))

    def init_bias(self, key: jax.Array, dtype) -> jax.Array:
        """The readout's bias at init: equal weights, unit σ and component means drawn U(−1, 1),
        so the components start apart (with equal means they would receive equal gradients and
        stay together: one wide Gaussian)."""
        K, k = self.components, self.dim
        means = jax.random.uniform(key, (K * k,), dtype, -1.0, 1.0)
        return jnp.concatenate([jnp.zeros((K,), dtype), means, jnp.zeros((K * k,), dtype)])

    def log_prob(self, z: jax.Array, a: jax.Array) -> jax.Array:
        log_w, mean, log_std = self.split(z)
        return jax.nn.logsumexp(log_w + gaussian_log_density(a[None, :], mean, log_std))

    def mode(self, z: jax.Array) -> jax.Array:
        log_w, mean, _ = self.split(z)
        return mean[jnp.argmax(log_w)]

    def sample(self, key: jax.Array, z: jax.Array) -> jax.Array:
        k_comp, k_noise = jax.random.split(key)
        log_w, mean, log_std = self.split(z)
        j = jax.random.categorical(k_comp, log_w)
        return mean[j] + jnp.exp(log_std[j]) * jax.random.normal(k_noise, (self.dim,), mean.dtype)


@dataclasses.dataclass(frozen=True)
class Discretised:
    """``bins`` equal bins per action dimension on [low, high], a categorical for each. Final."""

    dim: int
    bins: int = 21
    low: float = -1.0
    high: float = 1.0
    discrete = False

    def __post_init__(self):
        check_positive_int("Discretised.dim", self.dim)
        check_positive_int("Discretised.bins", self.bins)
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise PlastixError(f"Discretised needs finite low < high, got low {self.low!r}, high {self.high!r}.")

    @property
    def size(self) -> int:
        return self.dim * self.bins

    @property
    def width(self) -> float:
        return (self.high - self.low) / self.bins

    def bin_of(self, a: jax.Array) -> jax.Array:
        """b_d(a) = clip(⌊(a_d − low)/Δ⌋, 0, B − 1), (k,) int32."""
        return jnp.clip(jnp.floor((a - self.low) / self.width), 0, self.bins - 1).astype(jnp.int32)

    def centre(self, b: jax.Array, dtype) -> jax.Array:
        return self.low + (b.astype(dtype) + 0.5) * self.width

    def log_prob(self, z: jax.Array, a: jax.Array) -> jax.Array:
        logp = jax.nn.log_softmax(z.reshape(self.dim, self.bins), axis=-1)
        picked = jnp.take_along_axis(logp, self.bin_of(a)[:, None], axis=-1)[:, 0]
        return jnp.sum(picked) - self.dim * math.log(self.width)

    def mode(self, z: jax.Array) -> jax.Array:
        return self.centre(jnp.argmax(z.reshape(self.dim, self.bins), axis=-1), z.dtype)

    def sample(self, key: jax.Array, z: jax.Array) -> jax.Array:
        k_bin, k_in = jax.random.split(key)
        b = jax.random.categorical(k_bin, z.reshape(self.dim, self.bins), axis=-1)
        u = jax.random.uniform(k_in, (self.dim,), z.dtype, -0.5, 0.5)
        return self.centre(b, z.dtype) + u * self.width


Head = Categorical | DiagGaussian | MixtureGaussian | Discretised
HEADS = ("categorical", "gaussian", "mixture", "discretised")


def make_head(name: str, *, num_actions: int | None = None, dim: int | None = None, **options) -> Head:
    """A head by name: ``categorical`` (needs ``num_actions``) or ``gaussian`` / ``mixture``
    (``components``) / ``discretised`` (``bins``, ``low``, ``high``) (need ``dim``)."""
    from plastix.errors import unknown_name

    if name not in HEADS:
        raise unknown_name("action head", name, HEADS)
    if name == "categorical":
        if num_actions is None:
            raise PlastixError("head 'categorical' needs num_actions.")
        return Categorical(num_actions, **options)
    if dim is None:
        raise PlastixError(f"head {name!r} needs dim, the action's size.")
    return {"gaussian": DiagGaussian, "mixture": MixtureGaussian, "discretised": Discretised}[name](dim, **options)
