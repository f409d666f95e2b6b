"""Hyperparameter sweeps and population-based training of plastix trainers on Ray Tune.

``plastix sweep CONFIG`` reads a JSON or TOML file (docs/scaling.md)::

    trainer = "supervised"            # any algorithm of plastix.algorithms (a2c, dqn, q-learning, ...;
                                      # "rl" = the policy-gradient trainer, its algo field picks one)
    metric = "charts/eval_metric"     # optional (default: the algorithm's score metric), per log point
    mode = "min"                      # optional (default: the task's direction)
    seeds = [0]                       # seeds per trial (vmapped; the metric is their mean)
    num_samples = 1                   # Ray's num_samples (repeats of the grid / random draws)
    logs_per_report = 1               # log points per Tune report (one training_iteration)
    [fixed]                           # any field of the algorithm's config class
    task = "adding"
    [search]                          # domains: grid | choice | uniform | loguniform | randint
    lr = { loguniform = [1e-4, 1e-2] }
    [scheduler]
    kind = "pbt"                      # grid | random | pbt
    perturbation_interval = 2         # pbt: in training iterations (reports)
    quantile_fraction = 0.25          # pbt: bottom fraction that copies the top fraction
    resample_probability = 0.25
    [scheduler.mutations]
    lr = { loguniform = [1e-4, 1e-1] }

Each trial builds a plastix ``Trainer`` from ``fixed ∪ sampled`` settings and runs all its
seeds (``jit(vmap(run))``) ``logs_per_report`` log points at a time; after each it reports
the mean over seeds of the metric's last log point and a Ray ``Checkpoint`` (a directory
with the stacked TrainState leaves in ``state.npz``, ``save_state``).

PBT contract (Jaderberg et al. 2017, "Population Based Training of Neural Networks"): on an
exploit step a trial restarts from a donor trial's checkpoint with mutated hyperparameters.
``load_state`` puts the donor's whole TrainState (parameters, optimizer state with its Adam
moments and count, PRNG keys, update counter) into the trainer built with the NEW settings,
so training continues from the donor's step and the next update uses the new learning rate
(the Adam transform keeps no learning rate in its state). tests/test_sweep.py checks it.

Ray is an optional extra (``pip install plastix[ray]``), imported only here, lazily.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from plastix.errors import PlastixError, check_positive_int, unknown_name

TRAINERS = ("supervised", "rl", "a2c", "reinforce", "dqn", "q-learning", "sarsa")  # plastix.algorithms
KINDS = ("grid", "random", "pbt")
DOMAINS = ("grid", "choice", "uniform", "loguniform", "randint")
TOP_KEYS = ("trainer", "name", "metric", "mode", "seeds", "num_samples", "logs_per_report", "fixed", "search",
            "scheduler")
SCHEDULER_KEYS = ("kind", "perturbation_interval", "quantile_fraction", "resample_probability", "mutations",
                  "synch")
STATE_FILE = "state.npz"
META_FILE = "meta.json"


class PBTSpec(NamedTuple):
    perturbation_interval: int  # training iterations (reports) between exploit/explore steps
    quantile_fraction: float  # in (0, 0.5]: bottom fraction copies the top fraction
    resample_probability: float
    mutations: dict  # name -> (domain, values)
    synch: bool  # wait for the whole population at each perturbation (Ray's synch=True)


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: trainer, fixed settings, search space, scheduler, metric."""

    trainer: str
    name: str
    metric: str
    mode: str  # "min" | "max"
    seeds: tuple[int, ...]
    num_samples: int
    logs_per_report: int
    fixed: dict
    search: dict  # name -> (domain, values)
    kind: str  # grid | random | pbt
    pbt: PBTSpec | None


# ---------------------------------------------------------------- configs
def algorithm(trainer: str):
    """The registry entry of a sweep's ``trainer``: an algorithm name (``plastix.algorithms``), or
    ``rl`` for the policy-gradient trainer (its ``algo`` setting picks a2c or reinforce)."""
    from plastix.algorithms import get_algorithm

    return get_algorithm("a2c" if trainer == "rl" else trainer)


def config_class(trainer: str):
    return algorithm(trainer).config_class


def build_trainer(trainer: str, settings: dict):
    """A plastix Trainer from a trainer name and config fields (tables become sorted pairs)."""
    from plastix.train.harness import set_dtype

    cls = config_class(trainer)
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in settings:
        if key not in fields:
            raise unknown_name(f"{trainer} setting", key, fields)
    values = {k: tuple(sorted(v.items())) if isinstance(v, dict) else v for k, v in settings.items()}
    set_dtype(values.get("dtype", "float32"))
    config = cls(**values)
    return algorithm(trainer).make_trainer(config)


def read_config_file(path: str | os.PathLike) -> dict:
    """The raw dict of a ``.json`` or ``.toml`` sweep file."""
    path = Path(path)
    if not path.is_file():
        raise PlastixError(f"sweep config {str(path)!r} does not exist (expected a .json or .toml file).")
    if path.suffix not in (".json", ".toml"):
        raise PlastixError(f"sweep config must be .json or .toml, got {path.name!r}.")
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        import tomllib

        return tomllib.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise PlastixError(f"cannot parse sweep config {str(path)!r}: {err}") from None


def check_domain(name: str, entry) -> tuple[str, list]:
    """``{kind = values}`` -> (kind, values), checking the values of each kind."""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise PlastixError(f"search entry {name!r} must be one of {{grid|choice|uniform|loguniform|randint = [...]}}, "
                           f"got {entry!r}.")
    (kind, values), = entry.items()
    if kind not in DOMAINS:
        raise unknown_name(f"search domain of {name!r}", kind, DOMAINS)
    if not isinstance(values, list) or not values:
        raise PlastixError(f"search entry {name!r}: {kind} needs a non-empty list, got {values!r}.")
    if kind in ("uniform", "loguniform", "randint"):
        if len(values) != 2 or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in values) \
                or not values[0] < values[1]:
            raise PlastixError(f"search entry {name!r}: {kind} needs [low, high] finite with low < high, got {values!r}.")
        if kind == "loguniform" and values[0] <= 0:
            raise PlastixError(f"search entry {name!r}: loguniform needs low > 0, got {values!r}.")
    return kind, list(values)


def parse_spec(raw: dict) -> SweepSpec:
    """Validate a raw sweep dict (see the module docstring) into a SweepSpec."""
    for key in raw:
        if key not in TOP_KEYS:
            raise unknown_name("sweep config key", key, TOP_KEYS)
    trainer = raw.get("trainer")
    if trainer not in TRAINERS:
        raise unknown_name("trainer", str(trainer), TRAINERS)
    fixed = dict(raw.get("fixed", {}))
    search = {k: check_domain(k, v) for k, v in dict(raw.get("search", {})).items()}
    sched = dict(raw.get("scheduler", {"kind": "grid"}))
    for key in sched:
        if key not in SCHEDULER_KEYS:
            raise unknown_name("scheduler key", key, SCHEDULER_KEYS)
    kind = sched.get("kind", "grid")
    if kind not in KINDS:
        raise unknown_name("scheduler kind", str(kind), KINDS)
    if kind == "grid" and any(d != "grid" for d, _ in search.values()):
        raise PlastixError("scheduler kind 'grid' needs every search entry to be {grid = [...]}; use kind 'random' "
                           "for choice/uniform/loguniform/randint.")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise PlastixError(f"seeds must be a non-empty list of non-negative integers, got {seeds!r}.")
    pbt = parse_pbt(sched) if kind == "pbt" else None
    spec = SweepSpec(
        trainer=trainer, name=str(raw.get("name", f"sweep-{trainer}")),
        metric=str(raw.get("metric", algorithm(trainer).score)), mode=str(raw.get("mode", "")),
        seeds=tuple(seeds), num_samples=check_positive_int("num_samples", raw.get("num_samples", 1)),
        logs_per_report=check_positive_int("logs_per_report", raw.get("logs_per_report", 1)),
        fixed=fixed, search=search, kind=kind, pbt=pbt)
    return check_buildable(spec)


def parse_pbt(sched: dict) -> PBTSpec:
    mutations = {k: check_domain(k, v) for k, v in dict(sched.get("mutations", {})).items()}
    if not mutations:
        raise PlastixError("scheduler kind 'pbt' needs [scheduler.mutations], e.g. lr = {loguniform = [1e-4, 1e-1]}.")
    for name, (domain, _) in mutations.items():
        if domain == "grid":
            raise PlastixError(f"pbt mutation {name!r} cannot be a grid; use choice, uniform or loguniform.")
    quantile = sched.get("quantile_fraction", 0.25)
    resample = sched.get("resample_probability", 0.25)
    for label, value, low in (("quantile_fraction", quantile, 0.0), ("resample_probability", resample, -1e-300)):
        if not isinstance(value, (int, float)) or not low < value <= (0.5 if label == "quantile_fraction" else 1.0):
            raise PlastixError(f"{label} must lie in {'(0, 0.5]' if label == 'quantile_fraction' else '[0, 1]'}, "
                               f"got {value!r}.")
    interval = check_positive_int("perturbation_interval", sched.get("perturbation_interval", 1))
    return PBTSpec(interval, float(quantile), float(resample), mutations, bool(sched.get("synch", False)))


def first_value(domain: str, values: list):
    """A representative value of a domain (to build and check one trainer before Ray starts)."""
    if domain in ("grid", "choice"):
        return values[0]
    if domain == "loguniform":
        return float(np.sqrt(values[0] * values[1]))
    if domain == "randint":
        return int(values[0])
    return 0.5 * (values[0] + values[1])


def check_buildable(spec: SweepSpec) -> SweepSpec:
    """Build one trainer from the fixed settings and a value of every domain; fill ``mode``."""
    mutations = spec.pbt.mutations if spec.pbt else {}
    settings = {**spec.fixed, **{k: first_value(*d) for k, d in {**mutations, **spec.search}.items()}}
    trainer = build_trainer(spec.trainer, settings)
    state = jax.eval_shape(trainer.init, jax.random.PRNGKey(0))
    metrics = jax.eval_shape(lambda s: trainer.run(s, 1), state)[1]
    if spec.metric not in metrics:
        raise unknown_name(f"metric of the {spec.trainer} trainer", spec.metric, metrics)
    mode = spec.mode
    if mode == "":
        mode = "min" if spec.trainer == "supervised" and not trainer.setup.task.higher_is_better else "max"
    if mode not in ("min", "max"):
        raise unknown_name("mode", mode, ("min", "max"))
    return dataclasses.replace(spec, mode=mode)


def load_spec(path: str | os.PathLike) -> SweepSpec:
    return parse_spec(read_config_file(path))


# ---------------------------------------------------------------- checkpoints
def save_state(directory: str | os.PathLike, state, meta: dict | None = None) -> Path:
    """Write ``state`` to ``directory/state.npz`` with the one pytree serializer
    (``plastix.checkpoint.save_tree``) and ``meta`` to ``meta.json``; both atomic."""
    from plastix.checkpoint import save_tree
    from plastix.runs import write_text

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_tree(directory / STATE_FILE, state)
    write_text(directory / META_FILE, json.dumps(meta or {}, indent=1))
    return directory


def load_state(directory: str | os.PathLike, template) -> tuple[Any, dict]:
    """(state, meta) from ``save_state``'s files, with the tree structure of ``template`` (e.g. the
    stacked ``init`` of a trainer built with other hyperparameters). Every leaf must have the
    template's path, shape and dtype, else PlastixError naming the first that differs."""
    from plastix.checkpoint import read_arrays, tree_from_arrays

    directory = Path(directory)
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except (OSError, ValueError) as err:
        raise PlastixError(f"checkpoint {str(directory)!r} is missing or corrupt ({err}).") from None
    arrays = read_arrays(directory / STATE_FILE, "sweep checkpoint")
    return tree_from_arrays(arrays, template, str(directory / STATE_FILE)), meta


# ---------------------------------------------------------------- Ray Tune
def require_ray():
    """``(ray, ray.tune)``, or a PlastixError naming the extra to install."""
    try:
        import ray
        from ray import tune
    except ImportError as err:
        raise PlastixError(f"plastix sweep needs Ray Tune, which is not installed ({err}); install the extra: "
                           "pip install 'plastix[ray]'.") from None
    return ray, tune


def tune_domain(tune, domain: str, values: list):
    """A search entry as a Ray Tune domain."""
    if domain == "grid":
        return tune.grid_search(values)
    if domain == "choice":
        return tune.choice(values)
    return {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[domain](*values)


def param_space(spec: SweepSpec, tune) -> dict:
    """Ray's param_space: the search entries, plus pbt mutations not searched (initial draws)."""
    space = {k: tune_domain(tune, *d) for k, d in spec.search.items()}
    for k, d in (spec.pbt.mutations.items() if spec.pbt else ()):
        space.setdefault(k, tune_domain(tune, *d))
    return space


def make_scheduler(spec: SweepSpec, tune):
    if spec.kind != "pbt":
        return None  # FIFO: grid (every grid point) or random search (num_samples draws)
    return tune.schedulers.PopulationBasedTraining(
        time_attr="training_iteration", perturbation_interval=spec.pbt.perturbation_interval,
        hyperparam_mutations={k: tune_domain(tune, *d) for k, d in spec.pbt.mutations.items()},
        quantile_fraction=spec.pbt.quantile_fraction, resample_probability=spec.pbt.resample_probability,
        synch=spec.pbt.synch)


def trial_report(spec: SweepSpec, metrics: dict, done: int, restored: dict, trial_id: str) -> dict:
    """What a trial reports after a chunk: the metric (mean over seeds, last log point) and
    progress (``update``: updates done, or log windows for trainers without updates)."""
    last = {k: float(np.mean(np.asarray(v)[:, -1])) for k, v in metrics.items()}
    return {**last, spec.metric: last[spec.metric], "update": int(done), "trial": trial_id,
            "restored_from_update": restored.get("update", -1), "restored_from_trial": restored.get("trial", "")}


HISTORY = "plastix_history"  # <storage>/<name>/plastix_history/<trial_id>.jsonl: every report, as made


def append_history(history_dir: str | None, trial_id: str, report: dict, params: dict, iteration: int) -> None:
    """Append one report to the trial's own history file (flushed before ``tune.report``, which
    may stop the actor). Ray syncs ``result.json`` to the storage path lazily — after a run its
    last lines can be missing — so the summary reads these files instead."""
    if history_dir is None:
        return
    path = Path(history_dir)
    path.mkdir(parents=True, exist_ok=True)
    line = json.dumps({**report, "config": params, "training_iteration": iteration, "trial_id": trial_id})
    with open(path / f"{trial_id}.jsonl", "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def sweep_trainable(params: dict, spec: SweepSpec, history_dir: str | None = None) -> None:
    """Ray Tune function trainable: train ``spec.seeds`` with ``fixed ∪ params``, reporting and
    checkpointing every ``logs_per_report`` log points; continues a checkpoint if Tune gives one."""
    from ray import tune

    from plastix.train.harness import seed_keys

    trainer = build_trainer(spec.trainer, {**spec.fixed, **params})
    config = trainer.setup.config
    states = jax.jit(jax.vmap(trainer.init))(seed_keys(spec.seeds))
    restored: dict = {}
    done, per_log = 0, getattr(config, "updates_per_log", 1)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            states, meta = load_state(directory, states)
        done = int(meta["done"])
        restored = {"update": done * per_log, "trial": meta.get("trial", "")}
    run = jax.jit(jax.vmap(trainer.run, in_axes=(0, None)), static_argnums=1)
    trial_id = tune.get_context().get_trial_id()
    while done < config.num_logs:
        n = min(spec.logs_per_report, config.num_logs - done)
        states, metrics = run(states, n)
        done += n
        report = trial_report(spec, jax.device_get(metrics), done * per_log, restored, trial_id)
        append_history(history_dir, trial_id, report, params, -(-done // spec.logs_per_report))
        with tempfile.TemporaryDirectory() as directory:
            save_state(directory, states, {"trial": trial_id, "params": params, "done": done})
            tune.report(report, checkpoint=tune.Checkpoint.from_directory(directory))


def init_ray(ray, address: str | None, num_cpus: int) -> bool:
    """Connect to ``address`` or start a small local Ray (no dashboard). True if we started it."""
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        check_positive_int("num_cpus", num_cpus)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 logging_level="warning")
    return True


def run_sweep(spec: SweepSpec, storage: str | os.PathLike, address: str | None = None, num_cpus: int = 2,
              cpus_per_trial: float = 1.0):
    """Run the sweep on Ray Tune; returns Ray's ResultGrid. ``storage``: where Tune keeps trial
    directories and checkpoints (a local path; on a multi-node cluster a shared path or URI)."""
    ray, tune = require_ray()
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic reporter, silent at verbose=0
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    started = init_ray(ray, address, num_cpus)
    try:
        storage = str(storage) if "://" in str(storage) else str(Path(storage).resolve())
        history = None if "://" in storage else str(Path(storage) / spec.name / HISTORY)
        trainable = tune.with_resources(tune.with_parameters(sweep_trainable, spec=spec, history_dir=history),
                                        {"cpu": cpus_per_trial})
        tuner = tune.Tuner(
            trainable, param_space=param_space(spec, tune),
            tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, num_samples=spec.num_samples,
                                        scheduler=make_scheduler(spec, tune)),
            run_config=tune.RunConfig(name=spec.name, storage_path=storage, verbose=0,
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=4)))
        return tuner.fit()
    finally:
        if started:
            ray.shutdown()


def trial_history(result) -> list[dict]:
    """Every report of one trial: its own history file (``append_history``) when the storage is
    local, else Ray's ``result.json`` lines; [] if neither is readable."""
    # the id from the trial's own directory (<trainable>_<id>_<index>_<params>_<time>): after a PBT
    # exploit ``result.metrics`` may be the donor's
    match = re.search(r"_([0-9a-f]+_\d{5})_", Path(result.path).name) if result.path else None
    trial_id = match.group(1) if match else (result.metrics or {}).get("trial_id")
    candidates = []
    if trial_id and result.path:
        candidates.append(Path(result.path).parent / HISTORY / f"{trial_id}.jsonl")
    if result.path:
        candidates.append(Path(result.path) / "result.json")
    for path in candidates:
        try:
            lines = path.read_text().splitlines()
        except (OSError, TypeError):
            continue
        return [json.loads(line) for line in lines if line.strip()]
    return []


def last_metrics(result) -> dict:
    """The trial's last report. Read from its own result.json: after a PBT exploit Ray's
    ``Result.metrics`` can show the donor's last report instead of the trial's."""
    history = trial_history(result)
    return history[-1] if history else dict(result.metrics or {})


def summarize(spec: SweepSpec, grid) -> dict:
    """JSON-ready summary of a ResultGrid: one row per trial and the best trial."""
    trials = []
    for result in grid:
        m = last_metrics(result)
        config = m.get("config", result.config) or {}
        trials.append({
            "trial_id": m.get("trial", m.get("trial_id", "")), "config": {k: config.get(k) for k in sorted(config)},
            "metric": m.get(spec.metric), "update": m.get("update"), "iterations": m.get("training_iteration"),
            "restored_from_trial": m.get("restored_from_trial", ""), "restored_from_update": m.get("restored_from_update", -1),
            "error": None if result.error is None else str(result.error).splitlines()[0][:300],
        })
    finite = [t for t in trials if t["error"] is None and isinstance(t["metric"], (int, float)) and np.isfinite(t["metric"])]
    best = (min if spec.mode == "min" else max)(finite, key=lambda t: t["metric"]) if finite else None
    return {"name": spec.name, "trainer": spec.trainer, "metric": spec.metric, "mode": spec.mode, "kind": spec.kind,
            "fixed": spec.fixed, "seeds": list(spec.seeds), "best": best, "trials": trials}
