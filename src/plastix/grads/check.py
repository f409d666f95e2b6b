"""Gradient check of a core: every gradient method against autodiff BPTT, in float64.

``check_grads("elman")`` builds a random float64 instance — a core, a linear readout
(2 outputs, squared loss), a random sequence with random step weights w_t ∈ [0, 1) and an
episode reset in the middle (at step T // 2) — and compares with the gradient of autodiff BPTT:

* "hand-bptt"        the hand-derived backward (only for cores that have one),
* "rtrl"             generic RTRL (forward sensitivities),
* "truncated-bptt"   BPTT(h, h′) with h = h′ = T (must equal BPTT),
* "finite-diff"      central differences (L(θ + ε e_i) − L(θ − ε e_i)) / 2ε, ε = 1e-6, on every
                     coordinate when there are at most ``FD_ALL_MAX`` = 200 parameters, otherwise
                     on a random subset of ``FD_SUBSET`` = 64 coordinates (drawn from the seed).

The error reported for a method is the largest absolute difference over all compared
coordinates, divided by the largest magnitude of the BPTT gradient over *all* coordinates
(one global scale, so that tiny leaves such as a modulator bias do not blow the ratio up)::

    max_rel_err = max_i |g_i − g_i^BPTT| / max_j |g_j^BPTT|

Tolerances: ``EXACT_TOL`` = 1e-8 for the exact methods, ``FD_TOL`` = 1e-5 for finite
differences (their truncation error is O(ε²) and their rounding error O(1e-16/ε)).

float64 needs ``jax_enable_x64``: ``check_grads`` switches it on (globally, for the process)
if it is off, since a float32 check cannot resolve differences of 1e-10.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from plastix.errors import PlastixError, check_positive_int
from plastix.grads.base import Batch, SeqModel, bptt

EXACT_TOL = 1e-8
FD_TOL = 1e-5
FD_EPS = 1e-6
FD_ALL_MAX = 200
FD_SUBSET = 64
OUTPUT_SIZE = 2


def tolerance(method: str) -> float:
    """The tolerance applied to ``method``'s max_rel_err."""
    return FD_TOL if method == "finite-diff" else EXACT_TOL


def _hand_method(core):
    """hand_bptt() if the hand-derived module exists and supports ``core``, else None."""
    try:
        from plastix.grads import hand
    except ImportError:
        return None
    return hand.hand_bptt() if hand.supports_hand_bptt(core) else None


def random_instance(core_name: str, hidden: int, steps: int, input_size: int, seed: int, **core_opts):
    """(model, params, batch) for the check: float64, random weights and an episode reset at T//2."""
    from plastix.cores import make_core

    core = make_core(core_name, input_size, hidden, dtype="float64", **core_opts)
    model = SeqModel(core, OUTPUT_SIZE, loss="mse")
    k_par, k_x, k_y, k_w = jax.random.split(jax.random.PRNGKey(seed), 4)
    params = model.init(k_par)
    xs = jax.random.normal(k_x, (steps, input_size), jnp.float64)
    targets = jax.random.normal(k_y, (steps, OUTPUT_SIZE), jnp.float64)
    weights = jax.random.uniform(k_w, (steps,), jnp.float64)
    resets = jnp.arange(steps) == steps // 2
    return model, params, Batch(xs, targets, weights, resets)


def finite_difference(model: SeqModel, params, batch: Batch, coords: jax.Array) -> jax.Array:
    """Central differences of the sequence loss along the flat parameter coordinates ``coords``."""
    theta, unravel = ravel_pytree(params)

    def loss_at(delta_i, i):
        return model.sequence_loss(unravel(theta.at[i].add(delta_i)), batch)

    plus = jax.vmap(loss_at, in_axes=(None, 0))(FD_EPS, coords)
    minus = jax.vmap(loss_at, in_axes=(None, 0))(-FD_EPS, coords)
    return (plus - minus) / (2 * FD_EPS)


def _fd_coords(n: int, seed: int) -> jax.Array:
    if n <= FD_ALL_MAX:
        return jnp.arange(n)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
    return jnp.sort(jax.random.choice(key, n, (FD_SUBSET,), replace=False))


def check_grads(core_name: str, hidden: int = 8, steps: int = 12, input_size: int = 3, seed: int = 0,
                **core_opts) -> dict:
    """Compare every gradient method with autodiff BPTT on a random float64 instance.

    Returns:
      {"core", "hidden", "steps", "input_size", "seed", "n_params", "fd_coords",
        "max_rel_err": {method: float}, "tolerance": {method: float}, "ok": bool}
    """
    check_positive_int("hidden", hidden)
    check_positive_int("input_size", input_size)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise PlastixError(f"steps must be an integer >= 2 (the check puts a reset mid-sequence), got {steps!r}.")
    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    from plastix.grads.rtrl import rtrl
    from plastix.grads.truncated import truncated_bptt

    model, params, batch = random_instance(core_name, hidden, steps, input_size, seed, **core_opts)
    _, g_ref = jax.jit(bptt().value_and_grad, static_argnums=0)(model, params, batch)
    ref, _ = ravel_pytree(g_ref)
    scale = jnp.maximum(jnp.max(jnp.abs(ref)), jnp.finfo(jnp.float64).tiny)
    methods = [m for m in (_hand_method(model.core), rtrl(), truncated_bptt()) if m is not None]
    errors = {}
    for method in methods:
        _, g = jax.jit(method.value_and_grad, static_argnums=0)(model, params, batch)
        errors[method.name] = float(jnp.max(jnp.abs(ravel_pytree(g)[0] - ref)) / scale)
    coords = _fd_coords(ref.shape[0], seed)
    fd = jax.jit(finite_difference, static_argnums=0)(model, params, batch, coords)
    errors["finite-diff"] = float(jnp.max(jnp.abs(fd - ref[coords])) / scale)
    tols = {name: tolerance(name) for name in errors}
    return {
        "core": core_name, "hidden": hidden, "steps": steps, "input_size": input_size, "seed": seed,
        "n_params": int(ref.shape[0]), "fd_coords": int(coords.shape[0]),
        "max_rel_err": errors, "tolerance": tols,
        "ok": all(errors[k] <= tols[k] for k in errors),
    }
