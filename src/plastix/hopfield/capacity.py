"""The storage capacity of Hopfield networks: the fraction of stored patterns recalled against the
load α = P/N (Amit, Gutfreund & Sompolinsky 1985; Hertz, Krogh & Palmer 1991, §2.2 and §2.5).

**The measure.** For each of ``draws`` independent networks (P random unbiased ±1 patterns of N
bits, stored by one rule), each of the first ``probes`` stored patterns ξ^μ is used as a cue
(with a fraction ``flip`` of its bits flipped; 0 = the pattern itself) and the network runs:

* classical rules: asynchronous zero-temperature dynamics (random order per sweep) until a
  sweep changes nothing (``classical.run_async``, at most ``max_sweeps`` sweeps);
* ``modern``: one update ξ_new = Xᵀ softmax(β X ξ) (Ramsauer et al. 2021, eq. 3).

The final overlap m = ξ^μ · s / N is 1 for perfect recall and 1 − 2ε for a fraction ε of wrong
bits. A pattern counts as **recalled when m ≥ threshold**, by default m_c = 0.967: the overlap
of the mean-field retrieval state at the critical load α_c ≈ 0.138 (Amit, Gutfreund &
Sompolinsky 1985, 1987; Hertz, Krogh & Palmer 1991, §2.5 and Fig. 2.9: 1.6 % wrong bits). Below
α_c a retrieval state with m > m_c exists next to every pattern; above α_c it disappears and the
dynamics run off to states with a small overlap. So the recalled fraction collapses near α_c,
sharper as N grows (docs/hopfield.md gives the numbers, also for the looser threshold 0.95).
Asking for *zero* wrong bits instead gives the much smaller capacity P ≈ N / (4 ln N) of
McEliece, Posner, Rodemich & Venkatesh (1987).

``collapse_load`` reports where the recalled fraction first falls below ½ (interpolated
linearly between the two loads around it).

Every network is drawn from ``jax.random.fold_in(key, draw)``; the number of patterns is a traced
value and padding patterns are all zero (they change no rule's W and are masked out of the
modern network's softmax), so each N compiles once per rule.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from plastix.errors import PlastixError, check_positive_int, unknown_name
from plastix.hopfield import classical, modern

MODELS = ("hebbian", "storkey", "pseudo-inverse", "modern")
THRESHOLD = 0.967  # m_c, the retrieval state's overlap at α_c (module docstring)
CLASSICAL_LOADS = tuple(round(0.02 + 0.01 * k, 2) for k in range(29))  # 0.02, 0.03, ..., 0.30
WIDE_LOADS = (*CLASSICAL_LOADS, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # storkey, pseudo-inverse: beyond 0.138
MODERN_LOADS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def default_loads(model: str) -> tuple[float, ...]:
    """The loads P/N measured by default: up to 0.3 (Hebbian), 0.9 (Storkey, pseudo-inverse), 10 (modern)."""
    return {"hebbian": CLASSICAL_LOADS, "modern": MODERN_LOADS}.get(model, WIDE_LOADS)


class CapacitySettings(NamedTuple):
    """Static settings of one capacity measurement (module docstring)."""

    probes: int = 20  # stored patterns used as cues per network (all of them when P is smaller)
    flip: float = 0.0  # fraction of the cue's bits flipped
    threshold: float = THRESHOLD  # recalled when the final overlap m >= threshold
    beta: float = 1.0  # the modern network's inverse temperature
    max_sweeps: int = 50  # asynchronous sweeps at most (classical)


def trial(key: jax.Array, P: jax.Array, *, model: str, N: int, P_max: int, settings: CapacitySettings):
    """One network: (final overlaps m (probes,), valid (probes,)); probe k is valid when k < P."""
    k_pat, k_flip, k_run = jax.random.split(key, 3)
    used = jnp.arange(P_max) < P  # (P_max,)
    patterns = classical.random_patterns(k_pat, P_max, N) * used[:, None]  # unused rows all zero
    probes = min(settings.probes, P_max)
    targets = patterns[:probes]
    cues = jax.vmap(classical.flip_bits, in_axes=(0, 0, None))(jax.random.split(k_flip, probes), targets, settings.flip)
    if model == "modern":
        final = jax.vmap(lambda xi: modern.update(patterns, xi, settings.beta, used))(cues)
    else:
        W = classical.store(model, patterns)
        run = functools.partial(classical.run_async, W, max_sweeps=settings.max_sweeps)
        final = jax.vmap(run)(cues, jax.random.split(k_run, probes)).s
    m = jax.vmap(classical.overlap)(targets, final)
    return m, used[:probes]


@functools.partial(jax.jit, static_argnames=("model", "N", "P_max", "draws", "settings"))
def measure(key: jax.Array, P: jax.Array, *, model: str, N: int, P_max: int, draws: int, settings: CapacitySettings):
    """(fraction recalled, mean final overlap) over ``draws`` networks of P patterns."""
    keys = jax.vmap(lambda d: jax.random.fold_in(key, d))(jnp.arange(draws))
    m, valid = jax.vmap(lambda k: trial(k, P, model=model, N=N, P_max=P_max, settings=settings))(keys)
    count = jnp.sum(valid)
    recalled = jnp.sum(valid & (m >= settings.threshold)) / count
    return recalled, jnp.sum(jnp.where(valid, m, 0.0)) / count


def capacity_curve(key: jax.Array, model: str, N: int, loads, draws: int = 10,
                   settings: CapacitySettings = CapacitySettings()) -> list[dict]:
    """One row per load α: {"model", "N", "P", "load" (P/N), "recalled", "overlap", "draws"}.

    P = max(1, round(α N)); ``load`` is the P/N actually used."""
    if model not in MODELS:
        raise unknown_name("Hopfield model", model, MODELS)
    check_positive_int("N", N)
    check_positive_int("draws", draws)
    check_positive_int("probes", settings.probes)
    if not 0.0 <= settings.flip <= 0.5:
        raise PlastixError(f"flip must be a fraction in [0, 0.5], got {settings.flip!r}.")
    if not all(np.isfinite(a) and a > 0 for a in loads) or not loads:
        raise PlastixError(f"loads must be positive numbers P/N, got {tuple(loads)!r}.")
    Ps = [max(1, round(a * N)) for a in loads]
    rows = []
    for P in Ps:
        recalled, m = measure(key, jnp.asarray(P), model=model, N=N, P_max=max(Ps), draws=draws, settings=settings)
        rows.append({"model": model, "N": N, "P": P, "load": P / N, "recalled": float(recalled),
                     "overlap": float(m), "draws": draws})
    return rows


def collapse_load(loads, recalled, level: float = 0.5) -> float | None:
    """The load where the recalled fraction first drops below ``level``, interpolated linearly
    between the loads around the drop; None if it never does (NaN-free inputs, loads ascending)."""
    loads, recalled = list(loads), list(recalled)
    for k, (a, f) in enumerate(zip(loads, recalled)):
        if f < level:
            if k == 0:
                return float(a)
            a0, f0 = loads[k - 1], recalled[k - 1]
            return float(a0 + (f0 - level) * (a - a0) / (f0 - f))
    return None
