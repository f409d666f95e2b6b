"""Action distributions of a policy head: discrete (softmax) and bounded continuous actions.

A distribution is a frozen (hashable, static) dataclass that reads the policy head's output
``params`` (``param_size`` numbers) of ONE step; batch with ``jax.vmap``::

    params = V_π h_t + c_π                       (param_size,)
    a_t    = dist.sample(key, params)            action_shape, action_dtype
    dist.log_prob(params, a_t) -> ()             log π(a_t | s_t), differentiable in params
    dist.entropy(params)       -> ()             H(π(· | s_t))  (see each class for what exactly)
    dist.mode(params)          -> action         the deterministic (greedy) action

``Categorical``: a_t ∈ {0..A−1}, π = softmax(params) (the same numbers as
``plastix.rl.losses.log_prob`` / ``entropy``).

``TanhGaussian`` (Haarnoja et al. 2018, "Soft Actor-Critic", appendix C): params = (u, s),
σ = exp(clip(s, −5, 2)), x = u + σ ε, a = low + (high − low)(tanh(x) + 1)/2; its log-density
is the Gaussian's minus the change-of-variables terms (SAC eq. 21, plus the affine rescale).

``Beta`` (Chou, Maturana & Scherer 2017, "Improving stochastic policy gradients in continuous
control with deep reinforcement learning using the Beta distribution"): params = (p, q),
α = 1 + softplus(p), β = 1 + softplus(q) (so the density is unimodal and bounded),
a = low + (high − low) y, y ~ Beta(α, β): no probability mass outside the bounds.

``make_distribution(env, kind)`` picks one from the environment: ``Categorical`` when
``env.action_spec`` is None (discrete), else ``TanhGaussian`` (kind "gaussian") or ``Beta``
(kind "beta") over ``env.action_spec = ContinuousActions(dim, low, high)``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betaln, digamma

from plastix.envs.base import ContinuousActions
from plastix.errors import PlastixError, check_positive_int, unknown_name

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0  # the clip of the Gaussian's log-std (as in SAC implementations)
TANH_EDGE = 1.0 - 1e-6  # the inverse tanh is taken of y clipped to ±TANH_EDGE: finite log-prob at the bounds
BETA_EDGE = 1e-6  # Beta: y clipped to [BETA_EDGE, 1 − BETA_EDGE] before the log-density
KINDS = ("gaussian", "beta")
LOG_2PI = math.log(2.0 * math.pi)


def bounds(name: str, value, dim: int) -> tuple[float, ...]:
    """A scalar or a length-``dim`` sequence of finite floats -> a tuple of ``dim`` floats."""
    arr = np.broadcast_to(np.asarray(value, np.float64), (dim,)) if np.ndim(value) == 0 else np.asarray(value, np.float64)
    if arr.shape != (dim,) or not np.all(np.isfinite(arr)):
        raise PlastixError(f"{name} must be a finite number or {dim} finite numbers, got {value!r}.")
    return tuple(float(v) for v in arr)


@dataclasses.dataclass(frozen=True)
class Bounded:
    """Shared part of the continuous distributions: d actions in the box [low, high]. Abstract."""

    action_dim: int
    low: Any = -1.0  # a float or d floats (stored as a tuple)
    high: Any = 1.0

    action_dtype: ClassVar[Any] = jnp.float32

    def __post_init__(self):
        check_positive_int("action_dim", self.action_dim)
        low, high = bounds("low", self.low, self.action_dim), bounds("high", self.high, self.action_dim)
        if not all(lo < hi for lo, hi in zip(low, high, strict=True)):
            raise PlastixError(f"every low must be below its high, got low {low} and high {high}.")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def param_size(self) -> int:
        return 2 * self.action_dim

    @property
    def action_shape(self) -> tuple[int, ...]:
        return (self.action_dim,)

    def box(self, dtype) -> tuple[jax.Array, jax.Array]:
        """(low, high) as arrays (d,) of ``dtype``."""
        return jnp.asarray(self.low, dtype), jnp.asarray(self.high, dtype)

    def halves(self, params: jax.Array) -> tuple[jax.Array, jax.Array]:
        return params[: self.action_dim], params[self.action_dim:]


@dataclasses.dataclass(frozen=True)
class Categorical:
    """π(a|s) = softmax(params)[a] over ``num_actions`` discrete actions; params = logits (A,). Final."""

    num_actions: int

    action_shape: ClassVar[tuple] = ()
    action_dtype: ClassVar[Any] = jnp.int32

    def __post_init__(self):
        check_positive_int("num_actions", self.num_actions)

    @property
    def param_size(self) -> int:
        return self.num_actions

    def sample(self, key: jax.Array, params: jax.Array) -> jax.Array:
        """a ~ softmax(params): ``jax.random.categorical``, () int32."""
        return jax.random.categorical(key, params).astype(jnp.int32)

    def log_prob(self, params: jax.Array, action: jax.Array) -> jax.Array:
        """log softmax(params)[a], ()."""
        logp = jax.nn.log_softmax(params, axis=-1)
        return jnp.take_along_axis(logp, jnp.asarray(action, jnp.int32)[None], axis=-1)[0]

    def entropy(self, params: jax.Array) -> jax.Array:
        """−Σ_a π(a) log π(a), exact, ()."""
        logp = jax.nn.log_softmax(params, axis=-1)
        return -jnp.sum(jnp.exp(logp) * logp, axis=-1)

    def mode(self, params: jax.Array) -> jax.Array:
        """argmax_a params[a], () int32."""
        return jnp.argmax(params).astype(jnp.int32)


def log1m_tanh_sq(x: jax.Array) -> jax.Array:
    """log(1 − tanh²x) = 2 (log 2 − x − softplus(−2x)), finite for every finite x (SAC, eq. 21)."""
    return 2.0 * (math.log(2.0) - x - jax.nn.softplus(-2.0 * x))


@dataclasses.dataclass(frozen=True)
class TanhGaussian(Bounded):
    """A diagonal Gaussian squashed by tanh into [low, high] (Haarnoja et al. 2018, appendix C). Final.

    params (2d,) = (u, s): x ~ N(u, diag σ²), σ = exp(clip(s, −5, 2)), y = tanh(x),
    a = low + (high − low)(y + 1)/2. Its log-density (SAC eq. 21 plus the affine map):

        log π(a) = Σ_i [ log N(x_i; u_i, σ_i) − log(1 − tanh² x_i) − log((high_i − low_i)/2) ]

    with x = artanh(clip(y, ±(1 − 1e-6))) recovered from the action (finite at the bounds).
    ``entropy`` is the closed form of the PRE-squash Gaussian, Σ_i (½ log 2πe + log σ_i): the
    squashed distribution's entropy has no closed form (Stable-Baselines3 returns none for it
    either), and this is the usual bonus. ``log_std_init`` is where ``ActorCritic`` starts the
    head's log-std bias. ``mode`` is the squashed mean low + (high − low)(tanh u + 1)/2.
    """

    log_std_init: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if not (np.isfinite(self.log_std_init) and LOG_STD_MIN <= self.log_std_init <= LOG_STD_MAX):
            raise PlastixError(f"log_std_init must lie in [{LOG_STD_MIN}, {LOG_STD_MAX}], got {self.log_std_init!r}.")

    def mean_log_std(self, params: jax.Array) -> tuple[jax.Array, jax.Array]:
        u, s = self.halves(params)
        return u, jnp.clip(s, LOG_STD_MIN, LOG_STD_MAX)

    def squash(self, x: jax.Array) -> jax.Array:
        low, high = self.box(x.dtype)
        return low + (high - low) * (jnp.tanh(x) + 1.0) * 0.5

    def sample(self, key: jax.Array, params: jax.Array) -> jax.Array:
        u, log_std = self.mean_log_std(params)
        eps = jax.random.normal(key, u.shape, u.dtype)
        return self.squash(u + jnp.exp(log_std) * eps)

    def log_prob(self, params: jax.Array, action: jax.Array) -> jax.Array:
        u, log_std = self.mean_log_std(params)
        low, high = self.box(u.dtype)
        y = 2.0 * (jnp.asarray(action, u.dtype) - low) / (high - low) - 1.0
        x = jnp.arctanh(jnp.clip(y, -TANH_EDGE, TANH_EDGE))
        z = (x - u) * jnp.exp(-log_std)
        gauss = -0.5 * z**2 - log_std - 0.5 * LOG_2PI
        return jnp.sum(gauss - log1m_tanh_sq(x) - jnp.log(0.5 * (high - low)))

    def entropy(self, params: jax.Array) -> jax.Array:
        _, log_std = self.mean_log_std(params)
        return jnp.sum(log_std + 0.5 * (LOG_2PI + 1.0))

    def mode(self, params: jax.Array) -> jax.Array:
        return self.squash(self.mean_log_std(params)[0])


@dataclasses.dataclass(frozen=True)
class Beta(Bounded):
    """A Beta distribution per action dimension, rescaled to [low, high] (Chou et al. 2017). Final.

    params (2d,) = (p, q): α = 1 + softplus(p), β = 1 + softplus(q); y ~ Beta(α, β),
    a = low + (high − low) y. With scale c = high − low and y = (a − low)/c:

        log π(a) = Σ_i [ (α_i − 1) log y_i + (β_i − 1) log(1 − y_i) − B(α_i, β_i) − log c_i ]
        H        = Σ_i [ B(α_i, β_i) − (α_i − 1) ψ(α_i) − (β_i − 1) ψ(β_i) + (α_i + β_i − 2) ψ(α_i + β_i) + log c_i ]

    (B = log of the Beta function, ψ the digamma function; the entropy is exact, of the
    rescaled distribution). y is clipped to [1e-6, 1 − 1e-6] so the log-density stays finite at
    the bounds. ``mode`` returns the MEAN low + c α/(α + β), the deterministic action: the true
    mode (α − 1)/(α + β − 2) is 0/0 at the initial α = β ≈ 1.
    """

    def alpha_beta(self, params: jax.Array) -> tuple[jax.Array, jax.Array]:
        p, q = self.halves(params)
        return 1.0 + jax.nn.softplus(p), 1.0 + jax.nn.softplus(q)

    def sample(self, key: jax.Array, params: jax.Array) -> jax.Array:
        alpha, beta = self.alpha_beta(params)
        low, high = self.box(alpha.dtype)
        y = jax.random.beta(key, alpha, beta, dtype=alpha.dtype)
        return jnp.clip(low + (high - low) * y, low, high)

    def log_prob(self, params: jax.Array, action: jax.Array) -> jax.Array:
        alpha, beta = self.alpha_beta(params)
        low, high = self.box(alpha.dtype)
        y = jnp.clip((jnp.asarray(action, alpha.dtype) - low) / (high - low), BETA_EDGE, 1.0 - BETA_EDGE)
        return jnp.sum((alpha - 1.0) * jnp.log(y) + (beta - 1.0) * jnp.log1p(-y) - betaln(alpha, beta)
                       - jnp.log(high - low))

    def entropy(self, params: jax.Array) -> jax.Array:
        alpha, beta = self.alpha_beta(params)
        low, high = self.box(alpha.dtype)
        return jnp.sum(betaln(alpha, beta) - (alpha - 1.0) * digamma(alpha) - (beta - 1.0) * digamma(beta)
                       + (alpha + beta - 2.0) * digamma(alpha + beta) + jnp.log(high - low))

    def mode(self, params: jax.Array) -> jax.Array:
        alpha, beta = self.alpha_beta(params)
        low, high = self.box(alpha.dtype)
        return low + (high - low) * alpha / (alpha + beta)


Distribution = Categorical | TanhGaussian | Beta


def make_distribution(env, kind: str = "gaussian", *, log_std_init: float = 0.0) -> Distribution:
    """The policy distribution for ``env``: ``Categorical(env.num_actions)`` if its
    ``action_spec`` is None (or absent: discrete), else ``TanhGaussian`` (``kind="gaussian"``) or
    ``Beta`` (``kind="beta"``) over its ``ContinuousActions(dim, low, high)``."""
    if kind not in KINDS:
        raise unknown_name("action distribution", kind, KINDS)
    spec = getattr(env, "action_spec", None)
    if spec is None:
        return Categorical(env.num_actions)
    if not isinstance(spec, ContinuousActions):
        raise PlastixError(f"env.action_spec must be None (discrete) or a ContinuousActions(dim, low, high), "
                           f"got {spec!r}.")
    if kind == "beta":
        return Beta(spec.dim, spec.low, spec.high)
    return TanhGaussian(spec.dim, spec.low, spec.high, log_std_init=log_std_init)
