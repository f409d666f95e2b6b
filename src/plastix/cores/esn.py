"""Echo state network: a fixed random reservoir and a ridge-regression readout.

Jaeger 2001 (GMD Report 148, "The echo state approach to analysing and training recurrent
neural networks"); Jaeger & Haas 2004, Science 304:78 ("Harnessing nonlinearity"). The reservoir is a leaky-integrator tanh network

    x_t = (1 − a) x_{t-1} + a tanh(W_in u_t + W x_{t-1} + W_fb y_{t-1} + b + ν_t)

with leak rate a ∈ (0, 1] (a = 1 is Jaeger & Haas's plain update x_t = tanh(...)), input
u_t (d,), state x_t (n,), fed-back output y_{t-1} (k,) (only when ``feedback_size`` k > 0)
and optional state noise ν_t (only while teacher forcing, see ``teacher_force``). Nothing in
the reservoir is trained; only the linear readout

    y_t = V f_t + c,    f_t = x_t  or  f_t = [x_t; u_t]

is fitted, in closed form, by ridge regression (``fit_ridge_readout``).

Output feedback (Jaeger & Haas's Mackey–Glass setting): during training the *teacher* y_{t-1}
is written into the carry before each step (teacher forcing, ``teacher_force``); afterwards
the network runs free, its own readout output fed back (``generate``). ``ESN.step`` reads
``carry.y`` but never writes it — whoever owns the readout does.

``ESN.init`` draws the reservoir once: W has each entry nonzero with probability ``density``,
nonzero entries U(−1, 1), then W ← W · ρ / ρ(W) where ρ(W) = max |eig(W)| is computed on the
host with ``numpy.linalg.eigvals`` (or ARPACK, ``radius_solver="arnoldi"``), called through
``jax.pure_callback`` so that ``init`` still works under ``jit`` and ``vmap`` over keys (one
host call per key; no gradient flows through it). W_in ~ U(−s_in, s_in),
W_fb ~ U(−s_fb, s_fb), b ~ U(−s_b, s_b), all dense.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from plastix.cores.base import Core, Readout
from plastix.errors import PlastixError


class ESNParams(NamedTuple):
    W_in: jax.Array  # (n, d) input -> reservoir
    W: jax.Array  # (n, n) reservoir -> reservoir, spectral radius ρ
    W_fb: jax.Array  # (n, k) fed-back output -> reservoir (k = feedback_size, may be 0)
    b: jax.Array  # (n,) bias


class ESNCarry(NamedTuple):
    x: jax.Array  # (n,) reservoir state x_{t-1}
    y: jax.Array  # (k,) output y_{t-1} fed back (teacher's or the readout's)


def _check_real(name: str, value, low: float, high: float, low_open: bool, high_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise PlastixError(f"ESN.{name} must be a finite number in {left}{low}, {high}{right}, got {value!r}.")


RADIUS_SOLVERS = ("dense", "arnoldi")


def spectral_radius_host(w: np.ndarray, solver: str = "dense") -> np.ndarray:
    """max |λ| over the eigenvalues λ of the square matrix ``w``, on the host in float64.

    "dense": all eigenvalues by ``numpy.linalg.eigvals`` (O(n³); seconds for n = 1000).
    "arnoldi": the largest-magnitude one by ARPACK (``scipy.sparse.linalg.eigs``, k = 1) on the
    sparse matrix from a fixed start vector (deterministic), much faster for large sparse
    reservoirs; falls back to "dense" if ARPACK does not converge.
    """
    w64 = np.asarray(w, np.float64)
    if solver == "arnoldi" and w64.shape[0] > 2:
        import scipy.sparse
        import scipy.sparse.linalg

        try:
            v0 = np.full(w64.shape[0], 1.0)  # fixed start vector: ARPACK's default is random
            lam = scipy.sparse.linalg.eigs(
                scipy.sparse.csr_matrix(w64), k=1, which="LM", return_eigenvectors=False, tol=1e-12, v0=v0
            )
            return np.asarray(np.max(np.abs(lam)), dtype=np.asarray(w).dtype)
        except scipy.sparse.linalg.ArpackNoConvergence:
            pass
    radius = np.max(np.abs(np.linalg.eigvals(w64)))
    return np.asarray(radius, dtype=np.asarray(w).dtype)


def rescale_spectral_radius(w: jax.Array, radius: float, solver: str = "dense") -> jax.Array:
    """W · radius / ρ(W), ρ(W) from ``spectral_radius_host`` called through ``jax.pure_callback``.

    A W whose eigenvalues are all 0 (e.g. too sparse to hold a cycle) is returned unchanged.
    """
    rho = jax.pure_callback(
        functools.partial(spectral_radius_host, solver=solver),
        jax.ShapeDtypeStruct((), w.dtype),
        lax.stop_gradient(w),
        vmap_method="sequential",
    )
    return w * jnp.where(rho > 0, radius / jnp.where(rho > 0, rho, 1), 1)


@dataclasses.dataclass(frozen=True)
class ESN(Core):
    """Echo state network reservoir (module docstring has the equations).

    Attributes:
      spectral_radius: ρ > 0, the largest |eigenvalue| of W after init (< 1 for the echo
        state property in practice; Jaeger & Haas 2004 used ≈ 0.8).
      leak_rate: a ∈ (0, 1]; 1 is the non-leaky x_t = tanh(...).
      input_scale: s_in ≥ 0, W_in ~ U(−s_in, s_in).
      density: fraction of nonzero entries of W, in (0, 1] (Jaeger & Haas: 0.01 for n = 1000).
      bias_scale: s_b ≥ 0, b ~ U(−s_b, s_b) (0: no bias; Jaeger used a constant input instead).
      feedback_size: k ≥ 0, size of the output fed back through W_fb (0: no feedback).
      feedback_scale: s_fb ≥ 0, W_fb ~ U(−s_fb, s_fb).
      radius_solver: how init finds ρ(W): "dense" (``numpy.linalg.eigvals``, default) or
        "arnoldi" (ARPACK, for large sparse reservoirs); see ``spectral_radius_host``.
    """

    spectral_radius: float = 0.9
    leak_rate: float = 1.0
    input_scale: float = 1.0
    density: float = 0.1
    bias_scale: float = 0.0
    feedback_size: int = 0
    feedback_scale: float = 1.0
    radius_solver: str = "dense"

    def __post_init__(self):
        super().__post_init__()
        _check_real("spectral_radius", self.spectral_radius, 0.0, math.inf, low_open=True, high_open=True)
        _check_real("leak_rate", self.leak_rate, 0.0, 1.0, low_open=True)
        _check_real("density", self.density, 0.0, 1.0, low_open=True)
        for name in ("input_scale", "bias_scale", "feedback_scale"):
            _check_real(name, getattr(self, name), 0.0, math.inf, low_open=False, high_open=True)
        k = self.feedback_size
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise PlastixError(f"ESN.feedback_size must be an integer >= 0 (0: no feedback), got {k!r}.")
        if self.radius_solver not in RADIUS_SOLVERS:
            raise PlastixError(f"ESN.radius_solver must be one of {list(RADIUS_SOLVERS)}, got {self.radius_solver!r}.")
        if self.radius_solver == "arnoldi" and importlib.util.find_spec("scipy") is None:
            raise PlastixError("ESN radius_solver='arnoldi' needs scipy (pip install scipy); or use 'dense'.")

    def init(self, key: jax.Array) -> ESNParams:
        """Draw the fixed reservoir (one compiled program per core configuration)."""
        return _draw_reservoir(self, key)

    def initial_carry(self) -> ESNCarry:
        return ESNCarry(jnp.zeros((self.hidden_size,), self.jdtype), jnp.zeros((self.feedback_size,), self.jdtype))

    def update(self, params: ESNParams, carry: ESNCarry, u: jax.Array, noise: jax.Array) -> jax.Array:
        """x_t = (1 − a) x_{t-1} + a tanh(W_in u_t + W x_{t-1} + W_fb y_{t-1} + b + ν_t); noise ν_t (n,)."""
        pre = params.W_in @ u + params.W @ carry.x + params.W_fb @ carry.y + params.b + noise
        return (1 - self.leak_rate) * carry.x + self.leak_rate * jnp.tanh(pre)

    def step(self, params: ESNParams, carry: ESNCarry, x: jax.Array) -> tuple[ESNCarry, jax.Array]:
        """One noiseless step on input u_t = x (d,); returns the new state x_t (n,) as h_t.

        ``carry.y`` (the fed-back y_{t-1}) is read, not written: see ``teacher_force`` and
        ``generate``.
        """
        new_x = self.update(params, carry, x, jnp.zeros_like(carry.x))
        return ESNCarry(new_x, carry.y), new_x


@functools.partial(jax.jit, static_argnums=0)
def _draw_reservoir(core: ESN, key: jax.Array) -> ESNParams:
    n, d, k, dt = core.hidden_size, core.input_size, core.feedback_size, core.jdtype
    k_mask, k_w, k_in, k_fb, k_b = jax.random.split(key, 5)
    mask = jax.random.bernoulli(k_mask, core.density, (n, n))
    w = jnp.where(mask, jax.random.uniform(k_w, (n, n), dt, -1.0, 1.0), jnp.zeros((), dt))
    return ESNParams(
        W_in=jax.random.uniform(k_in, (n, d), dt, -core.input_scale, core.input_scale),
        W=rescale_spectral_radius(w, core.spectral_radius, core.radius_solver),
        W_fb=jax.random.uniform(k_fb, (n, k), dt, -core.feedback_scale, core.feedback_scale),
        b=jax.random.uniform(k_b, (n,), dt, -core.bias_scale, core.bias_scale),
    )


def teacher_force(
    core: ESN,
    params: ESNParams,
    us: jax.Array,
    ys: jax.Array,
    carry0: ESNCarry | None = None,
    noise: float = 0.0,
    key: jax.Array | None = None,
) -> tuple[ESNCarry, jax.Array]:
    """Drive the reservoir with the teacher's outputs fed back (Jaeger & Haas 2004).

    Before step t the carry's y is set to the teacher y_{t-1} (``carry0.y`` for t = 0), and
    x_t = (1 − a) x_{t-1} + a tanh(W_in u_t + W x_{t-1} + W_fb y_{t-1} + b + ν_t) with
    ν_t ~ U(−noise, noise)^n drawn from ``key`` (noise makes the fitted readout robust when
    its own errors are fed back in ``generate``).

    Args:
      us: (T, d) inputs; ys: (T, k) teacher outputs y_t (the readout's targets at step t),
        k = ``core.feedback_size`` (without feedback use ``scan_core``).
      noise: a Python float (static under ``jit``).

    Returns:
      (carry after step T−1 with y = ys[T−1], states (T, n)). Continue with ``generate``.
    """
    _check_sequences(core, us, ys)
    carry0 = core.initial_carry() if carry0 is None else carry0
    n = core.hidden_size
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not (math.isfinite(noise) and noise >= 0):
        raise PlastixError(f"teacher_force noise must be a finite Python number >= 0, got {noise!r}.")
    if noise > 0 and key is None:
        raise PlastixError("teacher_force needs a PRNG key when noise > 0.")
    nus = jnp.zeros((us.shape[0], n), core.jdtype)
    if noise > 0:
        nus = jax.random.uniform(key, (us.shape[0], n), core.jdtype, -noise, noise)
    y_prev = jnp.concatenate([carry0.y[None, :], ys[:-1]], axis=0)

    def body(carry, inp):
        u, y_tm1, nu = inp
        x = core.update(params, ESNCarry(carry.x, y_tm1), u, nu)
        return ESNCarry(x, y_tm1), x

    carry, xs = lax.scan(body, carry0, (us, y_prev, nus))
    return ESNCarry(carry.x, ys[-1]), xs


def _check_sequences(core: ESN, us, ys) -> None:
    d, k = core.input_size, core.feedback_size
    if getattr(us, "ndim", None) != 2 or us.shape[1] != d:
        raise PlastixError(f"inputs must have shape (T, {d}), got {getattr(us, 'shape', None)}.")
    if getattr(ys, "ndim", None) != 2 or ys.shape != (us.shape[0], k):
        raise PlastixError(f"teacher outputs must have shape ({us.shape[0]}, {k}), got {getattr(ys, 'shape', None)}.")
    if us.shape[0] < 1:
        raise PlastixError("teacher_force needs at least one time step.")


def readout_features(readout: Readout, states: jax.Array, inputs: jax.Array | None) -> jax.Array:
    """f_t = x_t, or [x_t; u_t] when the readout was fitted with inputs (V has n + d columns)."""
    n = states.shape[-1]
    if readout.V.shape[-1] == n:
        return states
    if inputs is not None and readout.V.shape[-1] == n + inputs.shape[-1]:
        return jnp.concatenate([states, inputs], axis=-1)
    raise PlastixError(
        f"readout V has {readout.V.shape[-1]} columns; expected {n} (states) or n + d (states and inputs)"
        + ("" if inputs is not None else ", but no inputs were given")
        + "."
    )


def fit_ridge_readout(
    states: jax.Array,
    targets: jax.Array,
    ridge: float = 1e-8,
    washout: int = 0,
    inputs: jax.Array | None = None,
) -> Readout:
    """Closed-form ridge regression readout (Jaeger 2001 used plain least squares, ridge = 0).

    Minimises Σ_{t ≥ washout} ‖y_t − V f_t − c‖² + λ ‖V‖²_F with f_t = x_t or [x_t; u_t].
    The bias c is *not* regularised: with F̄, Ȳ the means over the kept steps and
    F_c = F − F̄, Y_c = Y − Ȳ,  Vᵀ = (F_cᵀ F_c + λ I)⁻¹ F_cᵀ Y_c  (``jnp.linalg.solve``) and
    c = Ȳ − V F̄, which is the exact minimiser of the objective above.

    Args:
      states: (T, n) reservoir states; targets: (T, k); inputs: optional (T, d) appended to
        the features; ridge: λ ≥ 0 (a sum, not a mean, over steps); washout: steps dropped.

    Returns:
      Readout(V (k, n[+d]), c (k,)).
    """
    _check_fit_args(states, targets, ridge, washout, inputs)
    feats = states if inputs is None else jnp.concatenate([states, inputs], axis=1)
    feats, targets = feats[washout:], targets[washout:]
    f_mean, y_mean = jnp.mean(feats, axis=0), jnp.mean(targets, axis=0)
    fc, yc = feats - f_mean[None, :], targets - y_mean[None, :]
    gram = fc.T @ fc + ridge * jnp.eye(fc.shape[1], dtype=fc.dtype)
    v = jnp.linalg.solve(gram, fc.T @ yc).T
    return Readout(v, y_mean - v @ f_mean)


def _check_fit_args(states, targets, ridge, washout, inputs) -> None:
    if getattr(states, "ndim", None) != 2 or getattr(targets, "ndim", None) != 2:
        raise PlastixError(
            f"states must be (T, n) and targets (T, k), got {getattr(states, 'shape', None)} and "
            f"{getattr(targets, 'shape', None)}."
        )
    t = states.shape[0]
    if targets.shape[0] != t or (inputs is not None and (inputs.ndim != 2 or inputs.shape[0] != t)):
        shapes = (states.shape, targets.shape, None if inputs is None else inputs.shape)
        raise PlastixError(f"states, targets (and inputs) must share their length T, got shapes {shapes}.")
    if isinstance(washout, bool) or not isinstance(washout, int) or not 0 <= washout < t - 1:
        raise PlastixError(f"washout must be an integer in [0, T−1) = [0, {t - 1}), got {washout!r}.")
    if isinstance(ridge, (int, float)) and not (math.isfinite(ridge) and ridge >= 0):
        raise PlastixError(f"ridge must be a finite number >= 0, got {ridge!r}.")


def esn_predict(readout: Readout, states: jax.Array, inputs: jax.Array | None = None) -> jax.Array:
    """y_t = V f_t + c for all steps: states (T, n) [, inputs (T, d)] -> (T, k)."""
    feats = readout_features(readout, states, inputs)
    return feats @ readout.V.T + readout.c[None, :]


def generate(
    core: ESN,
    params: ESNParams,
    readout: Readout,
    carry: ESNCarry,
    y0: jax.Array,
    steps: int,
    us: jax.Array | None = None,
) -> tuple[ESNCarry, jax.Array]:
    """Free-running generation with output feedback (Jaeger & Haas 2004).

    Starting from ``carry`` with y_{-1} = y0 (k,), for t = 0..steps−1:
      x_t = (1 − a) x_{t-1} + a tanh(W_in u_t + W x_{t-1} + W_fb y_{t-1} + b),
      y_t = V f_t + c, fed back at t + 1.
    After ``teacher_force`` pass its carry and ``y0 = carry.y`` (the last teacher value).

    Args:
      us: (steps, d) inputs (zeros if None).

    Returns:
      (final carry, ys (steps, k)).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise PlastixError(f"generate steps must be a positive integer, got {steps!r}.")
    if core.feedback_size != readout.V.shape[0]:
        raise PlastixError(
            f"generate needs feedback_size == readout outputs, got {core.feedback_size} and {readout.V.shape[0]}."
        )
    us = jnp.zeros((steps, core.input_size), core.jdtype) if us is None else us
    if us.shape != (steps, core.input_size):
        raise PlastixError(f"generate inputs must have shape ({steps}, {core.input_size}), got {us.shape}.")

    def body(c, u):
        x = core.update(params, c, u, jnp.zeros_like(c.x))
        y = esn_predict(readout, x[None, :], u[None, :])[0]
        return ESNCarry(x, y), y

    return lax.scan(body, ESNCarry(carry.x, y0), us)
