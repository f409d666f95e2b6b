"""The Mackey–Glass chaotic time series (Mackey & Glass 1977, Science 197:287), the benchmark
of Jaeger 2001 (GMD Report 148) and Jaeger & Haas 2004 (Science 304:78).

    dx/dt = β x(t − τ) / (1 + x(t − τ)^p) − γ x(t),   β = 0.2, γ = 0.1, p = 10, τ = 17,

with the constant history x(t) = x0 = 1.2 for t ≤ 0. With τ = 17 the solution is chaotic
(mildly: largest Lyapunov exponent ≈ 0.006 per time unit) and stays in ≈ [0.2, 1.4].

The series is generated deterministically (no data files) on the grid t_k = k·dt, τ/dt = m an
integer, and sampled every ``sample_every`` time units. Two integration schemes:

* ``"rk4"`` (default): classical Runge–Kutta 4. The delayed value is needed at t_k − τ,
  t_k − τ + dt/2 and t_k − τ + dt; the grid holds the first and last, the midpoint comes from
  cubic Lagrange interpolation of the four grid values around it,
  x(t_j + dt/2) ≈ (−x_{j−1} + 9 x_j + 9 x_{j+1} − x_{j+2}) / 16  (error O(dt⁴)), one-sided
  next to the breaking points t = 0, τ (x' jumps at 0, x'' at τ), so the scheme converges at
  fourth order (checked in tests/test_esn.py).
* ``"euler"``: x_{k+1} = x_k + dt (β x_{k−m} / (1 + x_{k−m}^p) − γ x_k), the scheme Jaeger used
  (dt = 1/10, then every 10th value kept, i.e. one sample per time unit). It is only first-order
  accurate, so its series is a (different) chaotic trajectory, not the exact MG solution.

Jaeger's preprocessing for ESN training is y = tanh(x − 1) (``jaeger_squash``), which maps the
MG range into ≈ [−0.66, 0.38].
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.cores.base import resolve_dtype
from plastix.errors import PlastixError, check_positive_int

SCHEMES = ("rk4", "euler")


class MackeyGlassParams(NamedTuple):
    """Coefficients of dx/dt = β x_τ / (1 + x_τ^p) − γ x (floats)."""

    beta: float = 0.2
    gamma: float = 0.1
    power: float = 10.0
    tau: float = 17.0


def _rhs(p: MackeyGlassParams, x: jax.Array, x_delayed: jax.Array) -> jax.Array:
    return p.beta * x_delayed / (1 + x_delayed**p.power) - p.gamma * x


# Midpoint x(t_j + dt/2) from 4 grid values: centred (x_{j-1..j+2}), forward (x_{j..j+3}) and
# backward (x_{j-2..j+1}) cubic Lagrange weights. The one-sided ones are used where the centred
# stencil would straddle a breaking point of the solution (t = 0, τ, ...: x' jumps at 0, x'' at
# τ), where a centred cubic is only O(dt) / O(dt²) accurate.
_CENTRED = (0.0, -1 / 16, 9 / 16, 9 / 16, -1 / 16, 0.0)
_FORWARD = (0.0, 0.0, 5 / 16, 15 / 16, -5 / 16, 1 / 16)
_BACKWARD = (1 / 16, -5 / 16, 15 / 16, 5 / 16, 0.0, 0.0)


def _delayed_midpoint(buf: jax.Array, j: jax.Array, m: int) -> jax.Array:
    """x(t_j + dt/2) from buf[0:6] = x_{j-2..j+3}, with j = k − m the delayed grid index."""
    w = jnp.where(
        j % m == 0,
        jnp.asarray(_FORWARD, buf.dtype),
        jnp.where((j + 1) % m == 0, jnp.asarray(_BACKWARD, buf.dtype), jnp.asarray(_CENTRED, buf.dtype)),
    )
    return w @ buf[:6]


def _rk4_step(p: MackeyGlassParams, dt: float, m: int, buf: jax.Array, k: jax.Array) -> jax.Array:
    """buf (m + 3,) holds x_{k−m−2}, ..., x_k (so buf[2] = x_{k−m}); returns x_{k+1}."""
    x = buf[-1]
    d0, d1 = buf[2], buf[3]
    d_half = _delayed_midpoint(buf, k - m, m)
    k1 = _rhs(p, x, d0)
    k2 = _rhs(p, x + 0.5 * dt * k1, d_half)
    k3 = _rhs(p, x + 0.5 * dt * k2, d_half)
    k4 = _rhs(p, x + dt * k3, d1)
    return x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def _euler_step(p: MackeyGlassParams, dt: float, m: int, buf: jax.Array, k: jax.Array) -> jax.Array:
    return buf[-1] + dt * _rhs(p, buf[-1], buf[2])


def _grid_ratio(name: str, value: float, dt: float) -> int:
    ratio = value / dt
    if not (math.isfinite(ratio) and ratio >= 1 and abs(ratio - round(ratio)) < 1e-9 * max(1.0, ratio)):
        raise PlastixError(f"{name} / dt must be a positive integer, got {name} = {value!r}, dt = {dt!r}.")
    return round(ratio)


def mackey_glass(
    n_samples: int,
    *,
    params: MackeyGlassParams = MackeyGlassParams(),
    dt: float = 0.1,
    sample_every: float = 1.0,
    x0: float = 1.2,
    discard: int = 0,
    scheme: str = "rk4",
    dtype: str = "float64",
) -> jax.Array:
    """Sample the Mackey–Glass series: x at t = (discard + i) · sample_every, i = 0..n_samples−1.

    Args:
      n_samples: number of samples returned.
      params: β, γ, p, τ (defaults: the chaotic τ = 17 system).
      dt: integration step; τ/dt (≥ 3) and sample_every/dt must be integers.
      x0: the constant history x(t) = x0 for t ≤ 0.
      discard: samples dropped at the start (the transient from the constant history).
      scheme: "rk4" or "euler" (module docstring).
      dtype: "float64" (default; needs jax_enable_x64) or "float32".

    Returns:
      (n_samples,) array.
    """
    check_positive_int("mackey_glass n_samples", n_samples)
    if isinstance(discard, bool) or not isinstance(discard, int) or discard < 0:
        raise PlastixError(f"mackey_glass discard must be an integer >= 0, got {discard!r}.")
    if scheme not in SCHEMES:
        raise PlastixError(f"mackey_glass scheme must be one of {list(SCHEMES)}, got {scheme!r}.")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise PlastixError(f"mackey_glass dt must be a finite number > 0, got {dt!r}.")
    m = _grid_ratio("tau", params.tau, dt)
    sub = _grid_ratio("sample_every", sample_every, dt)
    if m < 3:
        raise PlastixError(f"mackey_glass needs tau / dt >= 3 (delay interpolation), got {m}.")
    return _integrate(params, float(dt), m, sub, float(x0), discard + n_samples, scheme, resolve_dtype(dtype))[discard:]


def _integrate(p, dt, m, sub, x0, total, scheme, dtype) -> jax.Array:
    step = _rk4_step if scheme == "rk4" else _euler_step

    def micro(i, buf):  # x_{k+1} from the window ending at x_k, k = i
        return jnp.concatenate([buf[1:], step(p, dt, m, buf, i)[None]])

    def sample(buf, s):
        buf = lax.fori_loop(s * sub, (s + 1) * sub, micro, buf)
        return buf, buf[-1]

    buf0 = jnp.full((m + 3,), x0, dtype)  # constant history x(t ≤ 0) = x0
    _, xs = lax.scan(sample, buf0, jnp.arange(total - 1))
    return jnp.concatenate([buf0[-1:], xs])


def jaeger_squash(x: jax.Array) -> jax.Array:
    """Jaeger's preprocessing y = tanh(x − 1) of the MG series."""
    return jnp.tanh(x - 1)


def jaeger_unsquash(y: jax.Array) -> jax.Array:
    """Inverse of ``jaeger_squash``: x = 1 + artanh(y)."""
    return 1 + jnp.arctanh(y)


def nrmse(pred: jax.Array, target: jax.Array, variance: jax.Array | None = None) -> jax.Array:
    """Normalised RMSE sqrt(mean((pred − target)²) / σ²), σ² = var(target) unless given.

    Jaeger & Haas 2004 normalise by the variance of the (squashed) MG signal; pass it as
    ``variance`` when ``target`` is a handful of points (e.g. all trials at horizon 84).
    """
    var = jnp.var(target) if variance is None else variance
    return jnp.sqrt(jnp.mean((pred - target) ** 2) / var)
