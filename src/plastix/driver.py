"""How any plastix training runs: start here.

``plastix.run(config)`` (this module's ``run``) trains every algorithm the same way; the
command line (``plastix train``) only turns flags into a config and calls it::

    config  ──algorithm_of──▶  Algorithm (plastix.algorithms: config class, make_trainer, metrics, ...)
       │                           │
       │  set_dtype(config.dtype)  │  make_trainer(config, core=, env=, data=)   errors before any file
       ▼                           ▼
    RunOptions ──▶ run directory (config.json, train.log)  ──or──  resume: its newest checkpoint
                                   │
                                   ▼
           run_segments(trainer, seed_keys(seeds), plan)      jit(vmap(trainer.run)) per log point
               after each log point: progress bar, checks, loggers (metrics.csv, TensorBoard, W&B)
               after each planned segment: a checkpoint
                                   │
                                   ▼
           params.npz (or q_table.npy), metrics.csv, curves.png, a summary   ──▶  Result

* The ``Trainer`` contract (``init(key) -> state``, ``run(state, n_logs) -> (state, metrics)``,
  ``train(key)``), the segmented runner, seed keys, the one optimizer builder and the float64
  switch are in ``plastix.train.harness``; each algorithm package builds a ``Trainer``.
* Seeds: seed ``s`` starts from ``jax.random.PRNGKey(s)``; ``RunOptions.seeds`` of them train at
  once (vmapped; split across devices when there are several, bitwise the same).
* Segments: the run's ``num_logs`` log points are cut into ``RunOptions.segments`` segments
  (or chunks of ``checkpoint_every``), a checkpoint after each; every log point is its own
  jitted call, so its metrics reach the loggers at once. The result is bitwise that of one
  call, and a resume from any checkpoint is bitwise that of not stopping.
* Run directory layout: ``plastix.runs``; checkpoints: ``plastix.checkpoint``; experiment
  tracking (metrics.csv, TensorBoard, Weights & Biases, your own loggers): ``plastix.loggers``.
* ``load(run_dir)`` reads a finished run back: its algorithm, config, seeds, parameters and metrics.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from plastix.algorithms import (Algorithm, algorithm_of, algorithm_of_run, plot, run_name_task, save_final, summarize,
                                task_label, task_record, trained_task)
from plastix.errors import PlastixError, check_positive_int
from plastix.loggers import WANDB_MODES, check_loggers, import_wandb
from plastix.memory import check_memory
from plastix.runs import (RunControl, SegmentSaver, default_run_name, log_line, open_run, plan_segments,
                          read_config, read_metrics, tee_log, write_metrics)
from plastix.runs import check_out_free, close_run, metric_rows

SEGMENTS = 10  # driver segments (checkpoints) per run


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a run is carried out and saved, the same for every algorithm (the config says what
    is trained, these say where and how)."""

    seed: int = 0
    """The first seed; seeds are seed, seed+1, ..., seed+seeds-1."""
    seeds: int = 1
    """How many seeds to train at once (vmapped)."""
    out: str | None = None
    """Run directory (must not exist or be empty); None = runs/<task>-<core>-<algo>-<time>."""
    resume: bool = False
    """Continue the run in ``out`` from its newest checkpoint (bitwise as if it had not stopped)."""
    checkpoint_every: int | None = None
    """Write a checkpoint after every this many log points (None = after every segment)."""
    keep_checkpoints: int = 3
    """Keep the last N checkpoints."""
    max_skipped: int = 100
    """Stop the run when more than this many updates were skipped for a non-finite loss or gradient."""
    tensorboard: bool = False
    """Also write TensorBoard event files (needs `pip install plastix[tensorboard]`)."""
    wandb: bool = False
    """Also log to Weights & Biases, one W&B run per seed (needs `pip install "plastix[wandb]"`)."""
    wandb_project: str = "plastix"
    """--wandb: the W&B project (a resumed run stays in the project it started in)."""
    wandb_entity: str | None = None
    """--wandb: the W&B entity (user or team); None = the account's default."""
    wandb_mode: Literal["online", "offline", "disabled"] | None = None
    """--wandb: online, offline (files in RUN_DIR/wandb/, upload later with `wandb sync`) or disabled; None =
    $WANDB_MODE if set, else online when W&B credentials are present (WANDB_API_KEY or a netrc entry), else offline."""
    quiet: bool = False
    """No progress bar."""
    no_plot: bool = False
    """Skip the learning-curve PNG."""
    segments: int = SEGMENTS
    """Checkpoints per run when ``checkpoint_every`` is None."""


# options that may change on a resume (they do not change the training)
RESUME_FREE = ("resume", "quiet", "no_plot", "keep_checkpoints", "max_skipped", "tensorboard", "wandb",
               "wandb_project", "wandb_entity", "wandb_mode")


class Result(NamedTuple):
    """What ``run`` returns: final states (leaves stacked over seeds, (S, ...)), metrics
    {name: (S, num_logs)} (``step`` included), the run directory, the config and the seeds."""

    state: Any
    metrics: dict
    run_dir: Path
    config: Any
    seeds: list[int]


class Run(NamedTuple):
    """A finished run read back by ``load``: its registry entry, config, seeds, the final
    parameters (leaves stacked over seeds; for tabular runs the Q tables (S, states, actions)),
    metrics {name: (S, L)} from metrics.csv (``step`` and ``wall_time`` included)."""

    run_dir: Path
    algorithm: Algorithm
    config: Any
    seeds: list[int]
    params: Any
    metrics: dict
    parts: dict | None = None  # the user-supplied core/env/data given to ``load`` (evaluation needs them)


def check_options(options: RunOptions) -> list[int]:
    """Validate the run options; returns the seed list."""
    from plastix.train.harness import check_seeds

    seeds = check_seeds(options.seed, options.seeds)
    for name in ("keep_checkpoints", "segments"):
        check_positive_int(name, getattr(options, name))
    if options.checkpoint_every is not None:
        check_positive_int("checkpoint_every", options.checkpoint_every)
    if isinstance(options.max_skipped, bool) or not isinstance(options.max_skipped, int) or options.max_skipped < 0:
        raise PlastixError(f"max_skipped must be a non-negative integer, got {options.max_skipped!r}.")
    if options.wandb_mode is not None and options.wandb_mode not in WANDB_MODES:
        raise PlastixError(f"wandb_mode must be one of {', '.join(WANDB_MODES)} (or None), "
                           f"got {options.wandb_mode!r}.")
    if options.resume and options.out is None:
        raise PlastixError("resume needs the run directory to continue (out=RUN_DIR).")
    if options.resume and not Path(options.out).is_dir():
        raise PlastixError(f"resume {options.out!r}: no such run directory.")
    if not options.resume and options.out is not None:
        check_out_free(options.out)  # empty or new; a directory in use names the process holding it
    return seeds


def make_options(options: RunOptions | None, progress: bool | None, overrides: dict) -> RunOptions:
    """``options`` with keyword overrides (``resume`` may be a run directory: out = it)."""
    options = RunOptions() if options is None else options
    names = {f.name for f in dataclasses.fields(RunOptions)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise PlastixError(f"unknown run option(s) {unknown}; run options are: {', '.join(sorted(names))}.")
    resume = overrides.get("resume")
    if isinstance(resume, (str, Path)):
        overrides = {**overrides, "out": str(resume), "resume": True}
    elif resume is None and "resume" in overrides:
        overrides = {**overrides, "resume": False}
    if progress is not None:
        overrides = {**overrides, "quiet": not progress}
    return dataclasses.replace(options, **overrides)


# what fixes the training of a run: taken from its config.json on a resume
PLAN_OPTIONS = ("seed", "seeds", "checkpoint_every", "segments")


def resume_options(options: RunOptions, given: set[str] | None) -> RunOptions:
    """On a resume, the options that fix the training (``PLAN_OPTIONS``) come from the run's
    config.json; one given explicitly (``given``: the keyword overrides; None = a whole
    ``RunOptions`` was passed, all count as given) must equal the saved value."""
    if not Path(options.out).is_dir():
        return options  # check_options names the missing directory
    saved = read_config(Path(options.out)).get("config", {}).get("options") or {}
    values = {}
    for name in PLAN_OPTIONS:
        if name not in saved:
            continue
        if (given is None or name in given) and getattr(options, name) != saved[name]:
            raise PlastixError(f"resume {options.out!r} continues the run with its saved {name} {saved[name]!r}; "
                               f"got {getattr(options, name)!r}.")
        values[name] = saved[name]
    return dataclasses.replace(options, **values)


def run(config, options: RunOptions | None = None, *, progress: bool | None = None, core=None, env=None,
        data=None, flags: dict | None = None, loggers=(), **overrides) -> Result:
    """Train ``config`` (any algorithm's config: SupervisedConfig, RLConfig, DQNConfig,
    GridConfig) for ``options.seeds`` seeds and save the run directory. Returns a ``Result``.

    Keyword overrides are ``RunOptions`` fields (``seed=``, ``seeds=``, ``out=``,
    ``resume=True`` with ``out=``, or ``resume=RUN_DIR``, ``tensorboard=``, ...).
    ``progress=False`` hides the progress bar. ``core``, ``env``, ``data``: user-supplied objects
    the algorithm's ``make_trainer`` accepts (a core, an environment, sequence data); a resume
    needs the same objects again. ``flags``: the command-line arguments, stored in config.json.
    ``loggers``: more ``plastix.loggers.Logger`` objects, each given every new log point of every
    seed (``log(step, metrics, seed=, wall_time=)``) and closed at the end.
    """
    from plastix.train.harness import set_dtype

    explicit = options is not None
    options = make_options(options, progress, overrides)
    if options.resume:
        options = resume_options(options, set(overrides) if not explicit else None)
    entry = algorithm_of(config)
    seeds = check_options(options)
    loggers = check_loggers(loggers)
    if options.wandb:
        import_wandb()  # a missing extra is an error before anything is built or written
    set_dtype(getattr(config, "dtype", "float32"))
    parts = {k: v for k, v in (("core", core), ("env", env), ("data", data)) if v is not None}
    if entry.host_loop(config):
        if loggers:
            raise PlastixError("loggers= is not available for gymnasium:<id> tasks (a host loop).")
        return run_host(entry, config, options, seeds, flags)
    check_memory(config, seeds=len(seeds), **parts)  # refuse what cannot fit, before building anything
    trainer = entry.make_trainer(config, **parts)  # builds and traces: errors before any file is written
    task = trained_task(entry, trainer.setup)  # the data's task when data= replaces config.task
    label = task_label(config, task, parts)
    payload = {"algo": entry.name, "resolved": dataclasses.asdict(config), "args": flags or {},
               "options": dataclasses.asdict(options), "parts": {k: type(v).__name__ for k, v in parts.items()},
               "task": task_record(config, task, parts)}
    control = open_run(options, default_run_name(run_name_task(label), config.core, entry.name),
                       payload, seeds, describe=describe(entry, label, flags))
    try:  # the run's lock is held until here (plastix.runs.lock_run)
        report: dict = {}
        states, metrics, walls = train_segments(trainer, entry, seeds, control, options, loggers, report)
        finish(entry, control.run_dir, config, states, metrics, walls, seeds, options, task,
               resumed_from=report.get("resumed_from"))
    except BaseException as err:
        log_failure(control.run_dir, err)
        raise
    finally:
        close_run(control)
    return Result(states, metrics, control.run_dir, config, seeds)


def log_failure(run_dir: Path, err: BaseException) -> None:
    """Write why a run stopped to its train.log: the one line the command line prints
    (``plastix.errors.user_failure``; an internal bug is marked as one) and the traceback. A log
    that cannot be written (the disk that failed) is left alone: the error itself is raised."""
    import traceback

    from plastix.errors import user_failure

    if getattr(err, "_plastix_logged", False):  # already written where it happened (train_segments)
        return
    line = user_failure(err)
    if isinstance(err, KeyboardInterrupt):
        head = f"stopped: {line} Continue with plastix train --resume {run_dir}"
    else:
        head = f"error: {line}" if line is not None else f"internal error (a bug in plastix): {type(err).__name__}: {err}"
    text = "".join(traceback.format_exception(err)).rstrip()
    try:
        log_line(run_dir, f"{head}\n{text}")
        err._plastix_logged = True
    except (OSError, AttributeError):
        pass


def describe(entry: Algorithm, label: str, flags: dict | None) -> str:
    if flags:
        return f"plastix train {label} --algo {entry.name}"
    return f"plastix.run: {entry.name} on {label}"


def finish(entry: Algorithm, run_dir: Path, config, states, metrics: dict, walls, seeds: list[int],
           options: RunOptions, task=None, resumed_from: str | None = None) -> None:
    """The final files (metrics.csv, parameters, curves.png) and the summary (into train.log too).
    ``task``: the TaskSpec trained on, for its labels (``plastix.algorithms.trained_task``);
    ``resumed_from``: the checkpoint a resume started from, named in the summary."""
    with tee_log(run_dir):
        write_metrics(run_dir, metric_rows(metrics, seeds, walls, entry.metric_names))
        save_final(run_dir, entry, config, states, metrics, walls, seeds)
        if not options.no_plot:
            plot(entry, run_dir, config, task)
        if resumed_from is not None:
            print(f"resumed from {resumed_from}")
        summarize(entry, run_dir, config, metrics, seeds, options.quiet, task)


def units_per_log(trainer, entry: Algorithm) -> int:
    """Budget units (``entry.unit``) per log point of ``trainer``'s config."""
    config = trainer.setup.config
    if entry.family in ("supervised", "seq2seq"):
        return config.updates_per_log * config.batch_size
    if entry.family == "policy-gradient":
        return config.updates_per_log * config.batch_size * trainer.setup.num_steps
    if entry.family == "dqn":
        return config.steps_per_log
    if entry.family == "ppo":
        return config.updates_per_log * config.steps_per_update
    return config.log_every


def segment_check(entry: Algorithm, seeds: list[int]):
    """A check of each segment's metrics that may raise (non-finite observations for RL)."""
    if entry.family not in ("policy-gradient", "ppo"):
        return None
    from plastix.rl.trainer import check_finite

    return lambda part: check_finite(part, seeds)


def train_segments(trainer, entry: Algorithm, seeds: list[int], control: RunControl | None,
                   options: RunOptions, loggers=(), report: dict | None = None):
    """Train every seed (vmapped) in jitted segments with a progress bar. With ``control``: one
    jitted call per log point, whose metrics go at once to the loggers (metrics.csv, TensorBoard,
    W&B, ``loggers``), ``max_skipped`` enforced, a checkpoint at the end of every planned segment
    (``plan_segments``), and ``control.resume`` continuing from the newest checkpoint. Splitting
    the log points over calls changes no number: a scan of n log chunks is bitwise n scans of one
    (``run_segments``). Returns (final states stacked over seeds, metrics {name: (S, num_logs)},
    wall-clock seconds at each log point (num_logs,)); on a resume, ``report["resumed_from"]``
    names the checkpoint it started from."""
    from plastix.train.harness import run_segments, seed_keys

    config = trainer.setup.config
    plan = plan_segments(config.num_logs, control.checkpoint_every if control else None, options.segments)
    prior = restore_run(trainer, seeds, control, plan) if control is not None and control.resume else None
    if prior is not None:
        print(f"resuming {control.run_dir} from checkpoint {prior.path.name} (log point {prior.done} of "
              f"{config.num_logs})", flush=True)
    if report is not None and control is not None and control.resume:
        report["resumed_from"] = (f"checkpoint {prior.path.name} (log point {prior.done} of {config.num_logs})"
                                  if prior is not None else "the start (no checkpoint had been saved)")
    walls: list[float] = [] if prior is None else [float(w) for w in prior.walls]
    start = time.perf_counter() - (walls[-1] if walls else 0.0)
    per_log = units_per_log(trainer, entry)
    check = segment_check(entry, seeds)
    remaining = plan if prior is None else plan[prior.segment:]
    saver = None
    if control is not None:
        done_at = np.cumsum(plan).tolist()  # log points done at each checkpoint
        saver = SegmentSaver(control, entry.metric_names, walls, prior, ends=done_at, extra=loggers)
        remaining = [1] * sum(remaining)  # one jitted call per log point: the loggers see each at once
    done0 = 0 if prior is None else prior.done
    label = task_label(config, trained_task(entry, trainer.setup), {})
    bar = None if options.quiet else ProgressBar(config, len(seeds), entry, per_log, done0, label)

    def on_segment(done, part):
        if check is not None:
            check(part)
        walls.extend([time.perf_counter() - start] * part["step"].shape[-1])
        if bar is not None:
            bar.update(done, float(np.nanmedian(part[entry.status][:, -1])))

    try:
        with bar if bar is not None else _nothing():
            states, metrics = run_segments(trainer, seed_keys(seeds), remaining, on_segment,
                                           start=None if prior is None else (prior.state, prior.done),
                                           after_segment=saver)
    except BaseException as err:
        if control is not None:
            log_failure(control.run_dir, err)
        raise
    finally:
        if saver is not None:
            saver.close()
    if prior is not None:
        metrics = {k: np.concatenate([prior.metrics[k], metrics[k]], axis=-1) if metrics else prior.metrics[k]
                   for k in prior.metrics}
    return states, metrics, np.asarray(walls)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class ProgressBar:
    """A rich progress bar over the run's budget units, with the status metric's median."""

    def __init__(self, config, num_seeds: int, entry: Algorithm, per_log: int, done0: int, label: str | None = None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn(entry.unit), TimeElapsedColumn(), TextColumn("{task.fields[status]}"))
        self.progress, self.per_log = Progress(*columns), per_log
        self.label = entry.status.split("/")[-1].replace("episodic_", "").replace("_", " ")
        desc = f"{label or config.task} · {config.core} · {num_seeds} seed(s)"
        self.task_id = self.progress.add_task(desc, total=config.num_logs * per_log, completed=done0 * per_log,
                                              status="compiling…" if done0 == 0 else "resuming…")

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def update(self, done: int, value: float) -> None:
        self.progress.update(self.task_id, completed=done * self.per_log, status=f"{self.label} {value:.4g}")


def restore_run(trainer, seeds: list[int], control: RunControl, plan: list[int]):
    """The newest checkpoint of ``control.run_dir``, checked against ``trainer``'s state."""
    import jax

    from plastix import checkpoint
    from plastix.train.harness import seed_keys

    if not checkpoint.list_checkpoints(control.run_dir):
        # stopped before its first checkpoint finished (Ctrl-C, a full disk): the same seeds from the start
        # give bitwise the run that was lost, so the resume is a fresh start in the same directory
        note = f"{control.run_dir} has no checkpoint yet: training from the start (the same seeds, the same result)"
        print(note, flush=True)
        log_line(control.run_dir, note)
        return None
    template = jax.eval_shape(jax.vmap(trainer.init), seed_keys(seeds))
    prior = checkpoint.restore(control.run_dir, template, control.config_digest)
    if prior.segment > len(plan) or sum(plan[:prior.segment]) != prior.done:
        raise PlastixError(f"checkpoint {str(prior.path)!r} ends at log point {prior.done}, which is not a segment "
                           f"boundary of this run's plan {plan} (was --checkpoint-every changed?).")
    return prior


# ---------------------------------------------------------------- gymnasium: a host loop
HOST_METRICS = ("charts/episodic_return", "losses/policy_loss", "losses/value_loss", "losses/entropy")


def run_host(entry: Algorithm, config, options: RunOptions, seeds: list[int], flags: dict | None) -> Result:
    """a2c / reinforce on a Gymnasium environment: the rollout runs on the host, one seed after
    the other (``plastix.rl.host_loop``; Gymnasium environments cannot run inside jit)."""
    import jax

    from plastix.envs import make_env
    from plastix.rl.host_loop import train_host

    if options.resume or options.tensorboard or options.wandb:
        raise PlastixError("resume, tensorboard and wandb are not available for gymnasium:<id> tasks (a host loop).")
    steps = int(make_env(config.task, config.preset, **dict(config.env_settings))[1].episode_length)
    payload = {"algo": entry.name, "resolved": dataclasses.asdict(config), "args": flags or {},
               "options": dataclasses.asdict(options), "parts": {}}
    control = open_run(options, default_run_name(run_name_task(config.task), config.core, entry.name), payload,
                       seeds, describe=describe(entry, config.task, flags))
    try:  # the run's lock is held until here (plastix.runs.lock_run)
        start, per_log = time.perf_counter(), config.updates_per_log

        def on_update(seed, update, metrics):
            if not options.quiet and (update + 1) % per_log == 0:
                print(f"seed {seed} update {update + 1}/{config.num_updates}: return "
                      f"{metrics['charts/episodic_return']:.4g} ({time.perf_counter() - start:.0f} s)", flush=True)

        runs = train_host(config, config.task, seeds, on_update=on_update)
        metrics = {name: np.nanmean(np.stack([np.asarray(r.metrics[name]).reshape(config.num_logs, per_log)
                                              for r in runs]), axis=-1) for name in HOST_METRICS}
        metrics["step"] = np.tile(np.arange(1, config.num_logs + 1) * per_log * config.batch_size * steps, (len(seeds), 1))
        metrics["losses/skipped_updates"] = np.stack([np.asarray(r.state.opt_state.total_notfinite).repeat(config.num_logs)
                                                      for r in runs])
        walls = np.full(config.num_logs, time.perf_counter() - start)
        states = jax.tree.map(lambda *xs: np.stack(xs), *[r.state for r in runs])
        finish(entry, control.run_dir, config, states, metrics, walls, seeds, options)
    except BaseException as err:
        log_failure(control.run_dir, err)
        raise
    finally:
        close_run(control)
    return Result(states, metrics, control.run_dir, config, seeds)


# ---------------------------------------------------------------- reading a run back
def metrics_table(rows: list[dict], seeds: list[int]) -> dict:
    """Long-format rows of metrics.csv -> {name: (S, L)} in the order of ``seeds``."""
    if not rows:
        return {}
    names = [k for k in rows[0] if k != "seed"]
    by_seed = {s: [r for r in rows if int(r["seed"]) == s] for s in seeds}
    return {n: np.asarray([[r[n] for r in by_seed[s]] for s in seeds]) for n in names}


def load(run_dir: str | Path, *, core=None, env=None, data=None) -> Run:
    """Read a finished run: its algorithm, config, seeds, final parameters (stacked over seeds)
    and metrics. A run trained on user-supplied parts needs the same ``core``/``env``/``data``."""
    import jax

    from plastix.mdp.plots import Q_TABLE
    from plastix.runs import load_params
    from plastix.train.harness import set_dtype

    run_dir = Path(run_dir)
    saved = read_config(run_dir)
    entry, config = algorithm_of_run(saved)
    seeds = [int(s) for s in saved["seeds"]]
    set_dtype(getattr(config, "dtype", "float32"))
    parts = {k: v for k, v in (("core", core), ("env", env), ("data", data)) if v is not None}
    if entry.family == "tabular":
        file = run_dir / Q_TABLE
        if not file.exists():
            raise PlastixError(f"{str(run_dir)!r} holds no {Q_TABLE}: the run did not finish.")
        params = np.load(file)
    else:
        trainer = entry.make_trainer(config, **parts)
        template = jax.eval_shape(trainer.init, jax.random.PRNGKey(0)).params
        per_seed = [load_params(run_dir, template, seed_index=i) for i in range(len(seeds))]
        params = jax.tree.map(lambda *xs: np.stack(xs), *per_seed)
    return Run(run_dir, entry, config, seeds, params, metrics_table(read_metrics(run_dir), seeds), parts)
