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
