"""Atomic checkpoints of a whole training state (docs/runs.md), for exact resume.

A checkpoint holds everything a trainer needs to continue bitwise: the ``TrainState`` pytree
stacked over seeds (parameters, optimizer state, PRNG keys, counters, environment states,
carries, replay buffers — whatever the trainer keeps in it), the metrics logged so far
``{name: (S, L)}``, their wall-clock times ``(L,)`` and the number of log points done.

Layout (``run_dir/checkpoints/``)::

    step_00000400/          one finished checkpoint, named by the training step (budget units)
        state.npz           one array per state leaf, named by its pytree path (``write_tree``;
                            typed PRNG keys as key data)
        metrics.npz         every metric (S, L), plus ``__walls__`` (L,)
        manifest.json       format, log points done, segment, config hash, leaf paths /
                            shapes / dtypes / key impls, sha256 of each file (written last)
    .tmp-step_00000600-<pid>-<hex>/   a save in progress (or killed): never read, removed by the next save

Writing: files go into a fresh temporary directory (a unique name), each is fsynced, the
manifest last, then one ``os.replace`` renames the directory to ``step_XXXXXXXX`` (atomic on
POSIX) and the parent directory is fsynced. A process killed at any point leaves either the
previous checkpoints alone or the new one complete; a save that fails with an error (a full
disk: ``OSError(ENOSPC)``) removes its temporary directory and re-raises. Only the newest
``keep`` checkpoints are kept. One process saves at a time: the run's lock (``plastix.runs``).

Reading (``restore``): the newest finished checkpoint is checked against a template (the
``jax.eval_shape`` of a freshly built trainer's state): same leaf paths, shapes and dtypes,
every file's sha256 as recorded, the same config hash. A checkpoint that does not fit (another
trainer or config) raises PlastixError naming the leaf (expected vs found); a damaged one
(``CorruptCheckpoint``: a file that does not match its sha256, an unreadable manifest) is
skipped for the next older one, with a warning naming the checkpoint used and why the newer
ones were skipped; if none is intact the newest one's error is raised. Nothing is returned
half-loaded and nothing in the run directory is written but that warning in train.log.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from plastix.errors import PlastixError, check_positive_int

FORMAT = 2  # 2: state.npz leaves named by pytree path (``write_tree``); 1: by index
READABLE = (1, 2)
DIRNAME = "checkpoints"
PREFIX = "step_"
TMP_PREFIX = ".tmp-"
FILES = ("state.npz", "metrics.npz")
MANIFEST = "manifest.json"
WALLS = "__walls__"


class CorruptCheckpoint(PlastixError):
    """A checkpoint whose files are damaged (``restore`` then falls back to an earlier one)."""


class Checkpoint(NamedTuple):
    """A restored checkpoint: ``state`` (the pytree, leaves stacked over seeds, as jax arrays),
    ``metrics`` {name: (S, L)} numpy, ``walls`` (L,), ``done`` log points and ``segment``
    (how many driver segments were finished), ``step`` the directory's training step."""

    state: Any
    metrics: dict[str, np.ndarray]
    walls: np.ndarray
    done: int
    segment: int
    step: int
    path: Path


def config_hash(config: Any) -> str:
    """sha256 of the canonical JSON of a resolved config (dict or dataclass-as-dict)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / DIRNAME


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _leaf_info(path, leaf) -> dict:
    """Manifest entry of one leaf: its path, (key-data) shape and dtype, key impl or None."""
    impl = None
    if _is_key(leaf):
        impl = leaf.dtype._impl.name  # e.g. threefry2x32
        data = jax.eval_shape(jax.random.key_data, leaf)
        shape, dtype = data.shape, data.dtype
    else:
        shape, dtype = leaf.shape, leaf.dtype
    return {"path": jax.tree_util.keystr(path), "shape": list(shape), "dtype": np.dtype(dtype).name, "key_impl": impl}


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_write(file: Path, write) -> None:
    with open(file, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the one pytree serializer
KEY_IMPLS = "__key_impls__"  # JSON {leaf path: PRNG impl name} of the typed-key leaves


def tree_to_arrays(tree: Any) -> dict[str, np.ndarray]:
    """A pytree as NumPy arrays named by their pytree paths (``jax.tree_util.keystr``), typed
    PRNG keys as their key data (their impls under ``KEY_IMPLS``). Every file plastix writes
    from a pytree (params.npz, checkpoints, sweep states) holds exactly this."""
    arrays, impls = {}, {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = jax.tree_util.keystr(path)
        if _is_key(leaf):
            impls[name] = leaf.dtype._impl.name
            leaf = jax.random.key_data(leaf)
        arrays[name] = np.asarray(jax.device_get(leaf))
    if impls:
        arrays[KEY_IMPLS] = np.asarray(json.dumps(impls))
    return arrays


def write_tree(target, tree: Any) -> None:
    """Write ``tree_to_arrays(tree)`` as one .npz to ``target`` (a path or an open binary file)."""
    np.savez(target, **tree_to_arrays(tree))


def save_tree(file: str | Path, tree: Any) -> Path:
    """``write_tree`` to ``file`` atomically (``plastix.runs.atomic_write``: a unique temporary
    name, removed if the write fails, then ``os.replace``)."""
    from plastix.runs import atomic_write

    return atomic_write(file, lambda fh: write_tree(fh, tree))


def read_arrays(file: str | Path, what: str = "pytree") -> dict[str, np.ndarray]:
    """Every array of a .npz written by ``write_tree``; PlastixError if it is missing or corrupt."""
    try:
        with np.load(file, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as err:  # missing file, zip / npy errors
        raise PlastixError(f"{str(file)!r} is not a readable {what} file ({err}).") from None


def tree_from_arrays(arrays: dict[str, np.ndarray], template: Any, source: str, *, index: int | None = None,
                     what: str = "leaf") -> Any:
    """The pytree of ``template`` (arrays or ``jax.ShapeDtypeStruct``) filled from ``arrays``
    (``read_arrays``), checking every leaf's path, shape and dtype; with ``index`` the file
    holds leaves stacked over seeds and ``template`` is one seed's: leaf[index] is taken.
    Raises PlastixError naming the first leaf that is missing or differs."""
    impls = json.loads(str(arrays[KEY_IMPLS])) if KEY_IMPLS in arrays else {}
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    out = []
    for path, ref in leaves:
        name = jax.tree_util.keystr(path)
        if name not in arrays:
            held = sorted(k for k in arrays if k != KEY_IMPLS)
            raise PlastixError(f"{source!r} lacks {what} {name}; it holds {held}.")
        value, key = arrays[name], _is_key(ref)
        shape = jax.eval_shape(jax.random.key_data, ref).shape if key else ref.shape
        dtype = np.dtype(jax.eval_shape(jax.random.key_data, ref).dtype if key else ref.dtype)
        if index is not None:
            if value.ndim < 1 or value.shape[1:] != tuple(shape) or not 0 <= index < value.shape[0]:
                raise PlastixError(f"{what} {name} in {source!r} has shape {value.shape}, expected "
                                   f"(seeds, {', '.join(map(str, shape))}) with seed index {index}.")
            value = value[index]
        if value.shape != tuple(shape) or (value.dtype != dtype and index is None):
            raise PlastixError(f"{what} {name} in {source!r} is {value.dtype}{list(value.shape)}, the template "
                               f"expects {dtype}{list(shape)} (a changed core, hidden size, seed count or dtype?).")
        value = value.astype(dtype)
        out.append(jax.random.wrap_key_data(value, impl=impls.get(name)) if key else jax.numpy.asarray(value))
    return jax.tree_util.tree_unflatten(treedef, out)


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Finished checkpoints (directories ``step_N`` holding a manifest), oldest first."""
    root = checkpoint_dir(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
             and p.name[len(PREFIX):].isdigit() and (p / MANIFEST).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def save(run_dir: str | Path, state: Any, metrics: dict, walls, *, done: int, segment: int, step: int,
         config_digest: str, keep: int = 3) -> Path:
    """Write one checkpoint atomically and keep only the newest ``keep``. Returns its path."""
    check_positive_int("keep_checkpoints", keep)
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(TMP_PREFIX + "*"):  # saves killed earlier (the run's lock: no other save runs)
        shutil.rmtree(stale, ignore_errors=True)
    name = f"{PREFIX}{int(step):08d}"
    tmp = root / f"{TMP_PREFIX}{name}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _write_checkpoint(tmp, state, metrics, walls, {"format": FORMAT, "done": int(done), "segment": int(segment),
                                                       "step": int(step), "config_hash": config_digest})
        final = root / name
        if final.exists():  # the same step saved again (cannot happen in one run): replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:  # e.g. OSError(ENOSPC): the previous checkpoints stay, no debris
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(root)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _write_checkpoint(tmp: Path, state: Any, metrics: dict, walls, header: dict) -> None:
    """The files of one checkpoint into the directory ``tmp``, each fsynced, the manifest last."""
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    infos = [_leaf_info(p, x) for p, x in leaves]
    tables = {k: np.asarray(v) for k, v in metrics.items()}
    tables[WALLS] = np.asarray(walls, np.float64)
    _fsync_write(tmp / "state.npz", lambda fh: write_tree(fh, state))
    _fsync_write(tmp / "metrics.npz", lambda fh: np.savez(fh, **tables))
    manifest = {**header, "leaves": infos, "metrics": sorted(metrics), "sha256": {f: _sha256(tmp / f) for f in FILES}}
    _fsync_write(tmp / MANIFEST, lambda fh: fh.write(json.dumps(manifest, indent=1).encode()))
    _fsync_dir(tmp)


def _read_manifest(path: Path) -> dict:
    file = path / MANIFEST
    try:
        manifest = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise CorruptCheckpoint(f"checkpoint file {str(file)!r} is corrupt or unreadable ({err}); delete "
                           f"{str(path)!r} to resume from an earlier checkpoint.") from None
    missing = [k for k in ("format", "done", "segment", "step", "leaves", "metrics", "sha256")
               if not isinstance(manifest, dict) or k not in manifest]
    if missing:
        raise CorruptCheckpoint(f"checkpoint file {str(file)!r} is corrupt: it lacks {missing}; delete {str(path)!r} "
                           "to resume from an earlier checkpoint.")
    if manifest.get("format") not in READABLE:
        raise PlastixError(f"checkpoint {str(path)!r} has format {manifest.get('format')!r}, this plastix "
                           f"reads formats {list(READABLE)}.")
    return manifest


def _check_files(path: Path, manifest: dict) -> None:
    for name in FILES:
        file = path / name
        expected = manifest["sha256"].get(name)
        if not file.is_file() or _sha256(file) != expected:
            raise CorruptCheckpoint(f"checkpoint file {str(file)!r} is corrupt (missing or sha256 differs from its "
                               f"manifest); delete {str(path)!r} to resume from an earlier checkpoint.")


def _check_structure(path: Path, manifest: dict, template: Any) -> list:
    """Compare the manifest's leaves with the template's; returns the template leaf infos."""
    expected = [_leaf_info(p, x) for p, x in jax.tree_util.tree_flatten_with_path(template)[0]]
    found = manifest["leaves"]
    for exp, got in zip(expected, found, strict=False):
        if exp["path"] != got["path"]:
            raise PlastixError(f"checkpoint {str(path)!r} does not fit this trainer: expected state leaf "
                               f"{exp['path']}, found {got['path']} (a different core, algorithm or trainer?).")
        for field in ("shape", "dtype", "key_impl"):
            if exp[field] != got[field]:
                raise PlastixError(f"checkpoint {str(path)!r} does not fit this trainer: state leaf {exp['path']} "
                                   f"has {field} {got[field]} in the checkpoint, expected {exp[field]} "
                                   "(a different hidden size, core, dtype or number of seeds?).")
    if len(expected) != len(found):
        extra = (expected if len(expected) > len(found) else found)[min(len(expected), len(found))]
        raise PlastixError(f"checkpoint {str(path)!r} does not fit this trainer: it holds {len(found)} state "
                           f"leaves, expected {len(expected)} (first unmatched: {extra['path']}).")
    return expected


def _load_npz(file: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(file, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as err:  # zip / npy errors
        raise CorruptCheckpoint(f"checkpoint file {str(file)!r} is corrupt ({err}).") from None


def restore(run_dir: str | Path, template: Any, config_digest: str | None = None) -> Checkpoint:
    """The newest intact finished checkpoint of ``run_dir``, checked against ``template`` (a
    pytree of arrays or ``jax.ShapeDtypeStruct``, e.g. ``jax.eval_shape(jax.vmap(trainer.init),
    keys)``) and, if given, the config hash. A newer checkpoint that is damaged (corrupt file,
    sha256 mismatch) or unfinished (no manifest) is skipped, with a warning (stderr and the run's
    train.log) naming the checkpoint used and why each newer one was skipped; temporary save
    directories are never read. Raises PlastixError if there is none, or if one does not fit
    (a different trainer or config: no fallback then), naming the checkpoint and the leaf."""
    found = list_checkpoints(run_dir)
    skipped = []  # (name, reason), newest first
    for path in reversed(found):
        try:
            result = _restore_one(path, template, config_digest)
        except CorruptCheckpoint as err:
            skipped.append((path.name, str(err)))
            continue
        unfinished = [(p.name, f"its save did not finish (no {MANIFEST})") for p in _unfinished(run_dir)
                      if _step_of(p) > result.step]
        _warn_skipped(run_dir, path, sorted(unfinished + skipped, key=lambda x: x[0], reverse=True))
        return result
    if skipped:
        raise PlastixError(skipped[0][1] + (f" No earlier checkpoint is intact ({len(skipped)} tried)."
                                            if len(skipped) > 1 else ""))
    unfinished = [p.name for p in _unfinished(run_dir)]
    more = f" ({', '.join(unfinished)}: saves that did not finish, no {MANIFEST})" if unfinished else ""
    raise PlastixError(f"{str(run_dir)!r} holds no finished checkpoint in {DIRNAME}/{more}; nothing to resume.")


def _step_of(path: Path) -> int:
    return int(path.name[len(PREFIX):])


def _unfinished(run_dir: str | Path) -> list[Path]:
    """``step_N`` directories without a manifest (a save from before atomic renames, or a copy
    cut short); temporary save directories (``.tmp-*``) are not listed."""
    root = checkpoint_dir(run_dir)
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
            and p.name[len(PREFIX):].isdigit() and not (p / MANIFEST).is_file()]


def _warn_skipped(run_dir: str | Path, used: Path, skipped: list[tuple[str, str]]) -> None:
    """Say which checkpoint a restore used and why it skipped newer ones (stderr and train.log)."""
    if not skipped:
        return
    from plastix.runs import log_line

    reasons = "; ".join(f"{name}: {why}" for name, why in skipped)
    text = f"warning: resuming from checkpoint {used.name}, skipping newer checkpoint(s) {reasons}"
    print(text, file=sys.stderr, flush=True)
    log_line(Path(run_dir), text)


def _restore_one(path: Path, template: Any, config_digest: str | None) -> Checkpoint:
    """One checkpoint directory, checked and loaded (CorruptCheckpoint if a file is damaged)."""
    manifest = _read_manifest(path)
    expected = _check_structure(path, manifest, template)
    if config_digest is not None and manifest.get("config_hash") != config_digest:
        raise PlastixError(f"checkpoint {str(path)!r} was written for a different resolved config "
                           "(config hash differs from the run's config.json).")
    _check_files(path, manifest)
    arrays = _load_npz(path / "state.npz")
    tables = _load_npz(path / "metrics.npz")
    leaves = []
    for i, info in enumerate(expected):
        value = arrays.get(info["path"], arrays.get(f"leaf_{i:05d}"))  # format 1 named leaves by index
        if value is None or list(value.shape) != info["shape"] or value.dtype.name != info["dtype"]:
            raise CorruptCheckpoint(f"checkpoint file {str(path / 'state.npz')!r} is corrupt at leaf {info['path']}.")
        leaves.append(jax.random.wrap_key_data(value, impl=info["key_impl"]) if info["key_impl"] else
                      jax.numpy.asarray(value))
    state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves)
    walls = tables.pop(WALLS, None)
    if walls is None or sorted(tables) != manifest["metrics"]:
        raise CorruptCheckpoint(f"checkpoint file {str(path / 'metrics.npz')!r} is corrupt: its metrics differ from the manifest.")
    return Checkpoint(state, tables, walls, int(manifest["done"]), int(manifest["segment"]), int(manifest["step"]), path)
