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


# The largest count or size a trainer can represent: step and update counters are int32 inside jit
# (and so are the random indices and array dimensions built from a size), so every integer option,
# and every product of options a counter reaches (updates × batch × steps), must stay at or below it.
INT32_MAX = 2**31 - 1
INT32_WHY = "the trainers count steps and index arrays with int32 inside jit"


def check_at_most(name: str, value: int, limit: int = INT32_MAX, why: str = INT32_WHY) -> int:
    """Reject an integer above ``limit`` (``name`` may describe a product, e.g. "num_updates × batch_size")."""
    if value > limit:
        raise PlastixError(f"{name} must be at most {limit:,} ({why}), got {value:,}.")
    return value


def check_positive_int(name: str, value: int, limit: int = INT32_MAX) -> int:
    """Reject sizes that are not integers in [1, ``limit``] (default: what an int32 counter holds)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PlastixError(f"{name} must be a positive integer, got {value!r}.")
    return check_at_most(name, value, limit)


def check_nonnegative_int(name: str, value: int, meaning: str = "", limit: int = INT32_MAX) -> int:
    """Reject counts that are not integers in [0, ``limit``] (``meaning``: what 0 means, said in the message)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PlastixError(f"{name} must be an integer >= 0{meaning}, got {value!r}.")
    return check_at_most(name, value, limit)


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


# ---------------------------------------------------------------- failures the user can cause
_OS_ERRORS = {  # errno name -> what the user reads
    "ENOSPC": "no space left on the device", "EDQUOT": "disk quota exceeded", "EFBIG": "file too large",
    "EROFS": "read-only file system", "EACCES": "permission denied", "EPERM": "operation not permitted",
    "ENOTDIR": "not a directory", "EISDIR": "is a directory", "ENOENT": "no such file or directory",
    "EEXIST": "already exists", "ENAMETOOLONG": "file name too long", "EMFILE": "too many open files",
    "EIO": "input/output error", "ENOTEMPTY": "directory not empty", "EXDEV": "cross-device link",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (a job scheduler or ``kill`` stopping the process). The command line turns the
    signal into this exception, so a run stops as on Ctrl-C: its last checkpoint kept, why it stopped
    written to train.log, exit code 143 (128 + SIGTERM)."""


def user_failure(exc: BaseException) -> str | None:
    """One line for a failure the user can cause or fix (bad input, the file system, a missing
    optional dependency, memory, Ctrl-C); None for anything else: an internal bug, whose traceback
    must be seen. The command line prints this line, and the driver writes it to train.log."""
    import errno
    import json

    if isinstance(exc, PlastixError):
        return str(exc)
    if isinstance(exc, Terminated):
        return "terminated (SIGTERM)."
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)."
    if isinstance(exc, MemoryError):
        return "out of memory: use smaller sizes (hidden units, batch, seeds, sequence length, grid points)."
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, "")
        if name in _OS_ERRORS:
            files = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
            where = f": {' -> '.join(map(repr, files))}" if files else ""
            return f"{_OS_ERRORS[name]}{where} ({name})."
    if isinstance(exc, json.JSONDecodeError):
        return f"corrupt JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
    if isinstance(exc, ImportError) and exc.name and not exc.name.split(".")[0] == "plastix":
        return f"missing optional dependency {exc.name!r} ({exc}); install it, e.g. pip install {exc.name.split('.')[0]}."
    kind = type(exc).__name__
    if kind == "DependencyNotInstalled":  # gymnasium.error: an environment's optional dependency
        return f"missing optional dependency: {exc}"
    if kind in ("XlaRuntimeError", "JaxRuntimeError") and ("RESOURCE_EXHAUSTED" in str(exc)
                                                          or "Out of memory" in str(exc)):
        first = str(exc).strip().splitlines()[0]
        return (f"out of memory while running the computation ({first[-160:]}); use smaller sizes (hidden units, "
                "batch, seeds, sequence length).")
    return None


def bug_report_hint() -> str:
    """What follows the traceback of an internal bug."""
    return ("plastix: internal error: this is a bug in plastix, not in your input. Please report it on the project's "
            "issue tracker with the command line, `pip show plastix jax` and the traceback above.")
