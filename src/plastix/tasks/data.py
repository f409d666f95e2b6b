"""Supervised sequence tasks from your own arrays: ``data:<file>`` and ``data=`` (xs, ys, mask).

A dataset is N sequences of T steps::

    xs   (N, T, d)  float inputs
    ys   (N, T, k)  float targets  -> loss "mse", ℓ_t = ½‖y_t − target_t‖², metric MSE
         (N, T)     float targets  -> the same with k = 1
         (N, T)     integer labels -> loss "xent", ℓ_t = −log softmax(y_t)[label_t], metric accuracy;
                    the number of classes is the largest label + 1 (over every step, masked or
                    not), or ``num_classes`` if given
    mask (N, T)     optional, 0/1: the steps that carry a target (default: all ones)

Each sequence's loss weights are w_t = mask_t / Σ_t' mask_t', so a sequence's loss is the mean
over its targets (as for the built-in tasks, ``plastix.tasks.sequence``); every sequence must
have at least one target. The sequences are split once into a training and a held-out part
(``eval_fraction`` of them, at least one, chosen by ``jax.random.permutation`` of
``PRNGKey(split_seed)``): training batches are drawn uniformly with replacement from the
training part, evaluation batches from the held-out part, each with the trainer's key.

Baselines (on the held-out part): for "mse" the MSE of always predicting the training part's
mean target; for "xent" the accuracy of always predicting its most frequent class.

Files (``load_data``; ``get_task("data:path")`` builds the task):

* ``.npz``: arrays ``xs``, ``ys`` and optionally ``mask`` (``numpy.savez``).
* ``.csv``: a header row, then one row per time step. Columns: ``seq`` (sequence id, any
  string), ``t`` (step index 0..L−1 within the sequence), inputs ``x0, x1, ...``, targets either
  ``y0, y1, ...`` (floats) or ``label`` (integer class), optionally ``mask`` (0/1). Rows may come
  in any order; sequences keep the order of their first row. Sequences may have different
  lengths L: the shorter ones are padded at the end with zero inputs and mask 0 (a causal model
  never sees the padding before a real step).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from plastix.errors import PlastixError
from plastix.grads.base import Batch

PREFIX = "data:"
NPZ_KEYS = ("xs", "ys", "mask")


@dataclasses.dataclass(frozen=True, eq=False)
class SequenceData:
    """Validated arrays (module docstring). Compared and hashed by identity.

    xs (N, T, d) float64; targets (N, T, k) float64 or (N, T) int32 labels; mask (N, T) float64
    of 0/1; num_classes: the label count ("xent") or None ("mse")."""

    xs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    num_classes: int | None = None
    source: str = "arrays"

    @property
    def loss(self) -> str:
        return "mse" if self.num_classes is None else "xent"

    @property
    def num_sequences(self) -> int:
        return int(self.xs.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.xs.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.xs.shape[2])

    @property
    def output_size(self) -> int:
        return int(self.targets.shape[2]) if self.num_classes is None else self.num_classes


# ---------------------------------------------------------------- validation
def first_index(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(bad)[0])


def check_numeric(name: str, a) -> np.ndarray:
    """``a`` as a numpy array of a real numeric (or bool) dtype with only finite values."""
    try:
        arr = np.asarray(a)
    except Exception as err:  # noqa: BLE001 - ragged lists etc.
        raise PlastixError(f"data: {name} must be a numeric array, got {type(a).__name__} ({err}).") from err
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating) or arr.dtype == bool):
        raise PlastixError(f"data: {name} must have a real numeric dtype, got dtype {arr.dtype}.")
    if arr.size == 0:
        raise PlastixError(f"data: {name} is empty (shape {arr.shape}); expected at least one sequence and one step.")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        idx = first_index(~np.isfinite(arr))
        raise PlastixError(f"data: {name} has a non-finite value ({arr[idx]}) at index {idx}.")
    return arr


def check_shapes(xs: np.ndarray, ys: np.ndarray, mask: np.ndarray | None) -> None:
    if xs.ndim != 3:
        raise PlastixError(f"data: xs must have shape (N sequences, T steps, d inputs), got shape {xs.shape}.")
    if ys.ndim not in (2, 3):
        raise PlastixError(f"data: ys must have shape (N, T, k) (float targets) or (N, T) (integer labels or one "
                           f"float target), got shape {ys.shape}.")
    if ys.shape[:2] != xs.shape[:2]:
        raise PlastixError(f"data: ys must match xs in (N, T) = {xs.shape[:2]}, got ys of shape {ys.shape}.")
    if mask is not None and mask.shape != xs.shape[:2]:
        raise PlastixError(f"data: mask must have shape (N, T) = {xs.shape[:2]}, got {mask.shape}.")


def check_mask(mask: np.ndarray) -> np.ndarray:
    bad = (mask != 0) & (mask != 1)
    if np.any(bad):
        idx = first_index(bad)
        raise PlastixError(f"data: mask must hold only 0 and 1, got {mask[idx]} at index {idx}.")
    empty = ~np.any(mask == 1, axis=1)
    if np.any(empty):
        raise PlastixError(f"data: sequence {int(np.argmax(empty))} has no step with mask 1 (no target to learn); "
                           "remove it or unmask a step.")
    return mask.astype(np.float64)


def check_labels(ys: np.ndarray, num_classes: int | None) -> int:
    """The number of classes: ``num_classes`` or max label + 1; labels must be >= 0 and below it."""
    if np.any(ys < 0):
        idx = first_index(ys < 0)
        raise PlastixError(f"data: ys holds integer class labels, which must be >= 0; got {ys[idx]} at index {idx}.")
    found = int(ys.max()) + 1
    if num_classes is None:
        return found
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < found:
        idx = first_index(ys >= (num_classes if isinstance(num_classes, int) else 0))
        raise PlastixError(f"data: num_classes must be an integer above every label; got {num_classes!r} but ys "
                           f"has label {ys[idx]} at index {idx}.")
    return num_classes


def make_sequence_data(xs, ys, mask=None, *, num_classes: int | None = None, source: str = "arrays") -> SequenceData:
    """Validate (xs, ys, mask) (module docstring for the shapes); raise PlastixError naming the
    offending array and the first bad index."""
    xs = check_numeric("xs", xs)
    ys = check_numeric("ys", ys)
    mask = None if mask is None else check_numeric("mask", mask)
    check_shapes(xs, ys, mask)
    mask = check_mask(np.ones(xs.shape[:2]) if mask is None else mask)
    if ys.ndim == 2 and np.issubdtype(ys.dtype, np.integer):
        classes = check_labels(ys, num_classes)
        targets = ys.astype(np.int32)
    else:
        if num_classes is not None:
            raise PlastixError(f"data: num_classes applies to integer labels ys (N, T), got ys of dtype {ys.dtype} "
                               f"and shape {ys.shape}.")
        classes = None
        targets = (ys[..., None] if ys.ndim == 2 else ys).astype(np.float64)
    return SequenceData(xs.astype(np.float64), targets, mask, classes, source)


# ---------------------------------------------------------------- files
def load_npz(path: str | Path) -> SequenceData:
    """Arrays ``xs``, ``ys`` and optionally ``mask`` from a ``.npz`` file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            if not {"xs", "ys"} <= keys or keys - set(NPZ_KEYS):
                raise PlastixError(f"data: {path} must hold arrays xs, ys and optionally mask; it holds {sorted(keys)}.")
            arrays = {k: f[k] for k in keys}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:  # not an npz, truncated, or object arrays
        raise PlastixError(f"data: {path} is not a readable .npz of numeric arrays xs, ys[, mask] "
                           f"({type(err).__name__}: {err}).") from None
    return make_sequence_data(arrays["xs"], arrays["ys"], arrays.get("mask"), source=str(path))


def numbered(header: list[str], letter: str) -> list[int]:
    """Column positions of ``<letter>0, <letter>1, ...`` ordered by number (consecutive from 0)."""
    found = {int(m.group(1)): i for i, h in enumerate(header) if (m := re.fullmatch(rf"{letter}(\d+)", h.strip()))}
    if sorted(found) != list(range(len(found))):
        raise PlastixError(f"data: csv columns {letter}0, {letter}1, ... must be numbered from 0 without gaps, got "
                           f"{sorted(f'{letter}{k}' for k in found)}.")
    return [found[k] for k in range(len(found))]


def read_csv_rows(path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise PlastixError(f"data: {path} is empty; expected a header row (seq, t, x0, ..., y0 or label).")
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise PlastixError(f"data: {path} has a header but no rows (empty dataset).")
    return header, body


def csv_number(path, row: int, column: str, text: str, integer: bool = False) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise PlastixError(f"data: {path} row {row}, column {column!r}: expected {kind}, got {text!r}.") from None
    return value


def load_csv(path: str | Path) -> SequenceData:
    """One row per time step (module docstring for the columns)."""
    header, body = read_csv_rows(path)
    for need in ("seq", "t"):
        if need not in header:
            raise PlastixError(f"data: {path} needs a column {need!r}; its columns are {header}.")
    x_cols, y_cols = numbered(header, "x"), numbered(header, "y")
    has_label = "label" in header
    if not x_cols or (bool(y_cols) == has_label):
        raise PlastixError(f"data: {path} needs input columns x0, x1, ... and either target columns y0, y1, ... or "
                           f"one column 'label'; its columns are {header}.")
    col = {h: i for i, h in enumerate(header)}
    seqs: dict[str, dict[int, list[str]]] = {}
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise PlastixError(f"data: {path} row {r} has {len(row)} fields, the header has {len(header)}.")
        t = int(csv_number(path, r, "t", row[col["t"]], integer=True))
        steps = seqs.setdefault(row[col["seq"]].strip(), {})
        if t in steps or t < 0:
            raise PlastixError(f"data: {path} row {r}: sequence {row[col['seq']]!r} has step t={t} twice or t < 0.")
        steps[t] = (r, row)
    N, T = len(seqs), max(len(s) for s in seqs.values())
    xs = np.zeros((N, T, len(x_cols)))
    ys = np.zeros((N, T), np.int64) if has_label else np.zeros((N, T, len(y_cols)))
    mask = np.zeros((N, T))
    for n, (sid, steps) in enumerate(seqs.items()):
        if sorted(steps) != list(range(len(steps))):
            raise PlastixError(f"data: {path}: sequence {sid!r} must have steps t = 0..{len(steps) - 1} without gaps, "
                               f"got t = {sorted(steps)}.")
        for t, (r, row) in steps.items():
            xs[n, t] = [csv_number(path, r, header[c], row[c]) for c in x_cols]
            if has_label:
                ys[n, t] = csv_number(path, r, "label", row[col["label"]], integer=True)
            else:
                ys[n, t] = [csv_number(path, r, header[c], row[c]) for c in y_cols]
            mask[n, t] = csv_number(path, r, "mask", row[col["mask"]]) if "mask" in col else 1.0
    return make_sequence_data(xs, ys, mask, source=str(path))


def load_data(path: str | Path) -> SequenceData:
    """A dataset from a ``.npz`` or ``.csv`` file (module docstring for the formats)."""
    path = Path(path)
    if not path.is_file():
        raise PlastixError(f"data: no such file {str(path)!r}.")
    if path.suffix == ".npz":
        return load_npz(path)
    if path.suffix == ".csv":
        return load_csv(path)
    raise PlastixError(f"data: {path} must be a .npz or a .csv file, got suffix {path.suffix!r}.")


# ---------------------------------------------------------------- the task
def split_indices(n: int, eval_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) sequence indices: a permutation of PRNGKey(seed), ``eval_fraction`` held out (>= 1)."""
    if not (isinstance(eval_fraction, (int, float)) and 0 < eval_fraction < 1):
        raise PlastixError(f"data: eval_fraction must lie in (0, 1), got {eval_fraction!r}.")
    if n < 2:
        raise PlastixError(f"data: need at least 2 sequences (one to train on, one held out), got {n}.")
    n_eval = min(n - 1, max(1, round(eval_fraction * n)))
    perm = np.asarray(jax.random.permutation(jax.random.PRNGKey(seed), n))
    return np.sort(perm[n_eval:]), np.sort(perm[:n_eval])


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """One part of a dataset as a task sampler ``(key, batch_size, T, dtype) -> Batch``: sequences
    drawn uniformly with replacement; w_t = mask_t / Σ_t mask_t. Compared by identity."""

    xs: np.ndarray  # (n, T, d)
    targets: np.ndarray  # (n, T, k) or (n, T)
    weights: np.ndarray  # (n, T)

    def __call__(self, key, batch_size: int, T: int, dtype=jnp.float32) -> Batch:
        idx = jax.random.randint(key, (batch_size,), 0, self.xs.shape[0])
        targets = jnp.asarray(self.targets)[idx]
        if jnp.issubdtype(targets.dtype, jnp.floating):
            targets = targets.astype(dtype)
        resets = jnp.zeros((batch_size, self.xs.shape[1]), bool)
        return Batch(jnp.asarray(self.xs, dtype)[idx], targets, jnp.asarray(self.weights, dtype)[idx], resets)


def masked_accuracy(ys: jax.Array, batch: Batch) -> jax.Array:
    """Mean over the batch of Σ_t w_t [argmax y_t = label_t] (per-sequence accuracy on its targets)."""
    hit = (jnp.argmax(ys, axis=-1) == batch.targets).astype(batch.weights.dtype)
    return jnp.mean(jnp.sum(batch.weights * hit, axis=-1))


def masked_mse(ys: jax.Array, batch: Batch) -> jax.Array:
    """Mean over the batch of Σ_t w_t ‖y_t − target_t‖² (plain squared error, no ½)."""
    err = jnp.sum((ys - batch.targets) ** 2, axis=-1)
    return jnp.mean(jnp.sum(batch.weights * err, axis=-1))


def data_baseline(data: SequenceData, train: np.ndarray, held: np.ndarray) -> float:
    """Held-out metric of a constant predictor fitted on the training part (module docstring)."""
    m_tr, m_ev = data.mask[train], data.mask[held]
    w_ev = m_ev / m_ev.sum(axis=1, keepdims=True)
    if data.num_classes is None:
        mean = (data.targets[train] * m_tr[..., None]).sum(axis=(0, 1)) / m_tr.sum()
        err = ((data.targets[held] - mean) ** 2).sum(axis=-1)
        return float(np.mean((w_ev * err).sum(axis=1)))
    counts = np.bincount(data.targets[train][m_tr == 1], minlength=data.num_classes)
    return float(np.mean((w_ev * (data.targets[held] == np.argmax(counts))).sum(axis=1)))


def data_task(data: SequenceData, *, name: str | None = None, eval_fraction: float = 0.2, split_seed: int = 0):
    """A ``TaskSpec`` over ``data``: training batches from the training part, evaluation from the
    held-out part (module docstring). ``seq_len`` must equal the data's T."""
    from plastix.tasks import TaskSpec

    train, held = split_indices(data.num_sequences, eval_fraction, split_seed)
    weights = data.mask / data.mask.sum(axis=1, keepdims=True)
    part = lambda idx: Split(data.xs[idx], data.targets[idx], weights[idx])  # noqa: E731
    baseline = data_baseline(data, train, held)
    classes = "mse" if data.num_classes is None else f"{data.num_classes} classes"
    return TaskSpec(
        name or f"{PREFIX}{data.source}", data.input_size, data.output_size, data.loss,
        default_T=data.seq_len, min_T=data.seq_len, max_T=data.seq_len,
        default_budget=max(1000, 100 * len(train)), default_lr=3e-3,
        metric="mse" if data.loss == "mse" else "accuracy", higher_is_better=data.loss == "xent",
        sampler=part(train), eval_sampler=part(held), metric_fn=masked_mse if data.loss == "mse" else masked_accuracy,
        baseline_fn=lambda T: baseline,
        description=f"{data.num_sequences} sequences of {data.seq_len} steps from {data.source} ({classes}); "
                    f"{len(held)} held out",
    )


_CACHE: dict[tuple, object] = {}


def load_data_task(path: str):
    """The task ``data:<path>`` (cached per file path, size and modification time)."""
    p = Path(path)
    key = (str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (str(p),)
    if key not in _CACHE:
        _CACHE[key] = data_task(load_data(p), name=f"{PREFIX}{path}")
    return _CACHE[key]


def as_data_task(data):
    """A task from what ``data=`` may be: a TaskSpec, a SequenceData, a path ("data:" optional),
    a dict with xs, ys (and mask) or a tuple (xs, ys) / (xs, ys, mask)."""
    from plastix.tasks import TaskSpec

    if isinstance(data, TaskSpec):
        return data
    if isinstance(data, SequenceData):
        return data_task(data)
    if isinstance(data, (str, Path)):
        text = str(data)
        return load_data_task(text[len(PREFIX):] if text.startswith(PREFIX) else text)
    if isinstance(data, dict):
        unknown = set(data) - set(NPZ_KEYS)
        if unknown or not {"xs", "ys"} <= set(data):
            raise PlastixError(f"data: a dict must have keys xs, ys and optionally mask; got {sorted(data)}.")
        return data_task(make_sequence_data(data["xs"], data["ys"], data.get("mask")))
    if isinstance(data, tuple) and len(data) in (2, 3):
        return data_task(make_sequence_data(*data))
    raise PlastixError(f"data must be a path, a dict {{xs, ys, mask}}, a tuple (xs, ys[, mask]), a SequenceData or "
                       f"a TaskSpec; got {type(data).__name__}.")
