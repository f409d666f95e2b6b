"""Errors raised at plastix's boundaries (user input, configs, files)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable


class PlastixError(ValueError):
    """A user-facing error: says what was expected and what came."""


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> PlastixError:
    """Error for an unknown name, suggesting the closest valid one."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return PlastixError(f"unknown {kind} {name!r}.{hint} Valid choices: {', '.join(valid)}.")


def check_positive_int(name: str, value: int) -> int:
    """Reject sizes that are not positive integers."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PlastixError(f"{name} must be a positive integer, got {value!r}.")
    return value


def check_nonnegative_int(name: str, value: int, meaning: str = "") -> int:
    """Reject counts that are not integers >= 0 (``meaning``: what 0 means, said in the message)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PlastixError(f"{name} must be an integer >= 0{meaning}, got {value!r}.")
    return value


def check_finite_float(name: str, value) -> float:
    """Reject non-numbers and non-finite values for float options."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PlastixError(f"{name} must be a finite number, got {value!r}.")
    return value


def check_step_sizes(lr, lr_end) -> None:
    """A trainer's step sizes: ``lr`` > 0 and finite; ``lr_end`` None (constant) or in [0, lr]
    (a linear decay, never a warm-up)."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise PlastixError(f"lr must be a positive finite number, got {lr!r}.")
    if lr_end is not None and (isinstance(lr_end, bool) or not isinstance(lr_end, (int, float))
                               or not (math.isfinite(lr_end) and 0 <= lr_end <= lr)):
        raise PlastixError(f"lr_end must lie in [0, lr = {lr!r}] (or None: a constant step size), got {lr_end!r}.")


def check_vector(name: str, x, length: int) -> None:
    """Reject ``x`` unless it has shape (length,): one trajectory (vmap for a batch)."""
    if x.ndim != 1 or x.shape[0] != length:
        raise PlastixError(f"{name} must have shape ({length},) (one trajectory; vmap for a batch), "
                           f"got shape {tuple(x.shape)}.")


def check_trajectory(r_t, *others: tuple[str, object]) -> int:
    """T of one trajectory: ``r_t`` must have shape (T,) with T >= 1, and every ``(name, x)`` of
    ``others`` shape (T,) too. Shapes are static, so this runs once at trace time."""
    if r_t.ndim != 1 or r_t.shape[0] < 1:
        raise PlastixError(f"r_t must have shape (T,) with T >= 1 (one trajectory; vmap for a batch), "
                           f"got shape {tuple(r_t.shape)}.")
    for name, x in others:
        check_vector(name, x, r_t.shape[0])
    return r_t.shape[0]


def check_clip_norm(clip_norm) -> None:
    """A trainer's gradient-clipping threshold: None (no clipping) or a positive finite number."""
    if clip_norm is not None and not (math.isfinite(clip_norm) and clip_norm > 0):
        raise PlastixError(f"clip_norm must be positive (or None), got {clip_norm!r}.")
