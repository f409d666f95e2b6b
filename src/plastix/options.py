"""Conventions shared by the per-algorithm config resolvers (``resolve_*`` next to each config
class): KEY=VALUE option strings, the ``clip_norm`` flag, the number of log points.

A resolver turns the flags of ``plastix train`` (any object with those attributes, e.g. the
CLI's argument dataclass; None = "the task's default") into a concrete, validated config.
This module sits below every algorithm package and imports nothing of plastix but its errors.
"""

from __future__ import annotations

from plastix.errors import PlastixError, check_positive_int

LOG_POINTS = 50  # default number of log points per run


def parse_options(pairs: tuple[str, ...], kind: str = "core options") -> dict:
    """KEY=VALUE strings -> dict; values are read as int, float, true/false or else str."""
    options = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise PlastixError(f"{kind} are KEY=VALUE, got {pair!r}.")
        options[key.replace("-", "_")] = _parse_value(raw)
    return options


def _parse_value(raw: str):
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def pick(value, default):
    """``value``, or ``default`` when it is None (a flag left at "the task's default")."""
    return default if value is None else value


def clip_norm(flag: float | None, default: float) -> float | None:
    """The ``clip_norm`` flag: None = the task's default, 0 = no clipping, else the norm."""
    if flag is None:
        return default
    return None if flag == 0 else flag


def core_options(flags) -> tuple[tuple[str, object], ...]:
    """``modulation`` and ``core_opt`` (KEY=VALUE strings) -> sorted (key, value) pairs
    (hashable, for a frozen config). The core itself validates option names and values."""
    options = parse_options(tuple(getattr(flags, "core_opt", ()) or ()))
    if getattr(flags, "modulation", None) is not None:
        options["modulation"] = flags.modulation
    return tuple(sorted(options.items()))


def env_settings(flags) -> tuple[tuple[str, object], ...]:
    """``env_opt`` KEY=VALUE strings -> sorted (key, value) pairs."""
    return tuple(sorted(parse_options(tuple(getattr(flags, "env_opt", ()) or ()), "environment settings").items()))


def updates_per_log(num_updates: int, log_every: int | None, units_per_update: int) -> int:
    """Updates between log points: about ``LOG_POINTS`` per run, or every ``log_every`` budget
    units (rounded to whole updates), never more than the run."""
    if log_every is None:
        per_log = max(1, num_updates // LOG_POINTS)
    else:
        per_log = max(1, round(check_positive_int("log_every", log_every) / units_per_update))
    return min(per_log, num_updates)
