"""Demonstrations on disk and in memory: one flat record of steps with episode starts.

A demonstrations file is an ``.npz`` with the arrays::

    observations    (N, d) float32     the observation o_t the demonstrator saw
    actions         (N,) int32         a discrete action a_t, or (N, k) float32 a continuous one
    episode_starts  (N,) bool          step t opens an episode (a recurrent learner resets its carry)
    returns         (E,) float32       optional: the total reward of each of the E episodes
    meta            ()  str            a small JSON object: task, preset, source, ...

Steps are stored in time order, episodes one after another; ``episode_starts[0]`` is True. The
format is validated where it enters (``load_demos``, ``save_demos``, ``make_demos``): a wrong
shape, dtype or a non-finite value raises a ``PlastixError`` naming the array, what was expected
and what came. Writes are atomic (a temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from plastix.errors import PlastixError

FIELDS = ("observations", "actions", "episode_starts", "returns", "meta")


class Demos(NamedTuple):
    """Demonstrations (module docstring). Host-side NumPy arrays."""

    observations: np.ndarray  # (N, d) float32
    actions: np.ndarray  # (N,) int32 or (N, k) float32
    episode_starts: np.ndarray  # (N,) bool
    returns: np.ndarray | None  # (E,) float32 or None
    meta: dict  # JSON-serialisable: task, preset, source, ...

    @property
    def num_steps(self) -> int:
        return int(self.observations.shape[0])

    @property
    def num_episodes(self) -> int:
        return int(np.sum(self.episode_starts))

    @property
    def discrete(self) -> bool:
        return self.actions.ndim == 1


def _fail(name: str, expected: str, got) -> PlastixError:
    return PlastixError(f"demonstrations: {name!r} must be {expected}, got {got}.")


def _describe(a: np.ndarray) -> str:
    return f"shape {a.shape} dtype {a.dtype}"


def _check_finite(name: str, a: np.ndarray) -> None:
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        bad = int(np.flatnonzero(~np.isfinite(a).reshape(a.shape[0], -1).all(axis=1))[0])
        raise PlastixError(f"demonstrations: {name!r} holds non-finite values (first at row {bad}).")


def _check_observations(obs) -> np.ndarray:
    obs = np.asarray(obs)
    if obs.ndim != 2 or obs.shape[0] < 1 or obs.shape[1] < 1 or obs.dtype.kind != "f":
        raise _fail("observations", "a float array of shape (N, d) with N, d >= 1", _describe(obs))
    obs = obs.astype(np.float32)
    _check_finite("observations", obs)
    return obs


def _check_actions(actions, n: int) -> np.ndarray:
    actions = np.asarray(actions)
    if actions.ndim == 1 and actions.shape[0] == n and actions.dtype.kind in "iu":
        if np.any(actions < 0) or np.any(actions > np.iinfo(np.int32).max):
            raise _fail("actions", "non-negative int32 action indices", f"values in [{actions.min()}, {actions.max()}]")
        return actions.astype(np.int32)
    if actions.ndim == 2 and actions.shape[0] == n and actions.shape[1] >= 1 and actions.dtype.kind == "f":
        actions = actions.astype(np.float32)
        _check_finite("actions", actions)
        return actions
    raise _fail("actions", f"({n},) int32 (discrete) or ({n}, k) float32 (continuous)", _describe(actions))


def _check_starts(starts, n: int) -> np.ndarray:
    starts = np.asarray(starts)
    if starts.shape != (n,) or starts.dtype != np.bool_:
        raise _fail("episode_starts", f"({n},) bool", _describe(starts))
    if not starts[0]:
        raise PlastixError("demonstrations: 'episode_starts'[0] must be True (the first step opens an episode), "
                           "got False.")
    return starts


def _check_returns(returns, episodes: int) -> np.ndarray | None:
    if returns is None:
        return None
    returns = np.asarray(returns)
    if returns.shape != (episodes,) or returns.dtype.kind not in "fiu":
        raise _fail("returns", f"({episodes},) float32 (one per episode)", _describe(returns))
    returns = returns.astype(np.float32)
    _check_finite("returns", returns)
    return returns


def make_demos(observations, actions, episode_starts, returns=None, meta: dict | None = None) -> Demos:
    """Validated ``Demos`` from arrays (module docstring: the shapes and dtypes)."""
    obs = _check_observations(observations)
    n = obs.shape[0]
    actions = _check_actions(actions, n)
    starts = _check_starts(episode_starts, n)
    returns = _check_returns(returns, int(np.sum(starts)))
    meta = {} if meta is None else dict(meta)
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as err:
        raise _fail("meta", "a JSON-serialisable dict", f"{meta!r} ({err})") from None
    return Demos(obs, actions, starts, returns, meta)


def save_demos(path: str | Path, demos: Demos) -> Path:
    """Write ``demos`` to ``path`` (.npz), atomically. Validates first; returns the path."""
    demos = make_demos(*demos)
    path = Path(path)
    if path.suffix != ".npz":
        raise PlastixError(f"a demonstrations file ends in .npz, got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"observations": demos.observations, "actions": demos.actions,
              "episode_starts": demos.episode_starts, "meta": np.asarray(json.dumps(demos.meta))}
    if demos.returns is not None:
        arrays["returns"] = demos.returns
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_demos(path: str | Path) -> Demos:
    """Read and validate a demonstrations file written by ``save_demos`` (or by hand)."""
    path = Path(path)
    if not path.is_file():
        raise PlastixError(f"no demonstrations file at {str(path)!r}.")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise PlastixError(f"{str(path)!r} is not a readable .npz file ({err}).") from None
    missing = [k for k in ("observations", "actions", "episode_starts") if k not in arrays]
    if missing:
        raise PlastixError(f"{str(path)!r} lacks the array(s) {missing}; a demonstrations file holds "
                           f"{list(FIELDS)} (returns and meta optional).")
    unknown = sorted(set(arrays) - set(FIELDS))
    if unknown:
        raise PlastixError(f"{str(path)!r} holds unknown array(s) {unknown}; expected only {list(FIELDS)}.")
    meta = {}
    if "meta" in arrays:
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as err:
            raise _fail("meta", "a JSON object string", f"unparsable text ({err})") from None
        if not isinstance(meta, dict):
            raise _fail("meta", "a JSON object string", type(meta).__name__)
    return make_demos(arrays["observations"], arrays["actions"], arrays["episode_starts"], arrays.get("returns"), meta)


def episode_bounds(starts: np.ndarray) -> list[tuple[int, int]]:
    """[(begin, end)) of every episode of a flat record, from its episode starts (N,) bool."""
    begins = np.flatnonzero(starts).tolist()
    return list(zip(begins, [*begins[1:], int(starts.shape[0])], strict=True))


def concat_demos(parts: list[Demos], meta: dict | None = None) -> Demos:
    """One record of several (episodes kept whole, in order); returns kept only if all have them."""
    if not parts:
        raise PlastixError("concat_demos needs at least one Demos.")
    returns = None if any(p.returns is None for p in parts) else np.concatenate([p.returns for p in parts])
    return make_demos(np.concatenate([p.observations for p in parts]), np.concatenate([p.actions for p in parts]),
                      np.concatenate([p.episode_starts for p in parts]), returns,
                      parts[0].meta if meta is None else meta)
