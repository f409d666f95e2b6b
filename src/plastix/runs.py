"""Run directories: resolved config, metrics CSV, plots.

Layout of a run directory::

    config.json     resolved arguments + versions (plastix, jax, python) + the seed list
    metrics.csv     long format, one row per (step, seed): step, wall_time, seed, <metric>...
                    metric names are namespaced, e.g. charts/eval_loss, losses/train_loss
    curves.png      learning curves (median and inter-quartile range over seeds)
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

from plastix.errors import PlastixError

CONFIG = "config.json"
METRICS = "metrics.csv"
PARAMS = "params.npz"


def versions() -> dict[str, str]:
    import jax

    from plastix import __version__

    return {"plastix": __version__, "jax": jax.__version__, "python": platform.python_version()}


def default_run_name(task: str, core: str, algo: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{task}-{core}-{algo}-{stamp}"


def create_run_dir(out: str | None, default_name: str, config: Any, seeds: list[int]) -> Path:
    """Make a new run directory and write ``config.json``. Never overwrites an existing one."""
    path = Path(out) if out else Path("runs") / default_name
    if path.exists() and any(path.iterdir()):
        raise PlastixError(f"run directory {str(path)!r} already exists and is not empty; choose another --out.")
    path.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    payload = {"config": cfg, "seeds": seeds, "versions": versions()}
    _atomic_write(path / CONFIG, json.dumps(payload, indent=2, sort_keys=True))
    return path


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write long-format metric rows (dicts with the same keys) to ``metrics.csv`` atomically."""
    if not rows:
        raise PlastixError("no metrics to write")
    fields = list(rows[0])
    tmp = path / (METRICS + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path / METRICS)
    return path / METRICS


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Rows of ``metrics.csv`` as floats."""
    file = Path(path) / METRICS
    if not file.exists():
        raise PlastixError(f"{str(path)!r} is not a run directory: no {METRICS} in it.")
    with open(file, newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def read_config(path: Path) -> dict[str, Any]:
    file = Path(path) / CONFIG
    if not file.exists():
        raise PlastixError(f"{str(path)!r} is not a run directory: no {CONFIG} in it.")
    return json.loads(file.read_text())


def _atomic_write(file: Path, text: str) -> None:
    tmp = file.with_suffix(file.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, file)


def save_params(path: Path, params: Any) -> Path:
    """Save a parameter pytree (leaves stacked over seeds) to ``params.npz``, atomically.
    Keys are the leaves' pytree paths, so ``load_params`` can check the structure."""
    import jax
    import numpy as np

    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    arrays = {jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}
    tmp = Path(path) / (PARAMS + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, Path(path) / PARAMS)
    return Path(path) / PARAMS


def load_params(path: Path, template: Any, seed_index: int = 0) -> Any:
    """Load one seed's parameters from ``params.npz`` into the structure of ``template``
    (unbatched parameters of the same model). Raises PlastixError naming any mismatch."""
    import jax
    import numpy as np

    file = Path(path) / PARAMS
    if not file.exists():
        raise PlastixError(f"{str(path)!r} has no {PARAMS}: it holds no trained parameters (grid runs keep q_table.npy instead).")
    try:
        data = np.load(file)
    except Exception as err:  # zip/npy errors: a corrupt file
        raise PlastixError(f"{str(file)!r} is not a readable parameter file ({err}).") from None
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    out = []
    for key, ref in leaves:
        name = jax.tree_util.keystr(key)
        if name not in data.files:
            raise PlastixError(f"{str(file)!r} lacks parameter {name}; it holds {sorted(data.files)}.")
        value = data[name]
        if value.ndim < 1 or value.shape[1:] != ref.shape or not 0 <= seed_index < value.shape[0]:
            raise PlastixError(f"parameter {name} in {str(file)!r} has shape {value.shape}, expected "
                               f"(seeds, {', '.join(map(str, ref.shape))}) with seed index {seed_index}.")
        out.append(value[seed_index].astype(ref.dtype))
    return jax.tree_util.tree_unflatten(treedef, out)
