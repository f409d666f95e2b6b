"""``plastix train TASK``: flags -> the algorithm's Args -> its config -> ``plastix.driver.run``.

Parsing takes two steps: a peek at argv finds the task and ``--algo`` (default: supervised for
sequence tasks and ``data:<file>``, q-learning for grid tasks, a2c for environments; with
``--resume RUN_DIR`` alone, the run's algorithm); the registry (``plastix.algorithms``) names
that algorithm's Args class (``plastix.cli.args``), and tyro parses argv with it, so
``plastix train TASK --help`` shows that algorithm's flags. A flag of another algorithm is
refused, naming the algorithms whose Args have it. The registry entry then resolves the Args into
its config (defaults filled in there, once). ``--resume RUN_DIR`` needs nothing else: the
algorithm, config and seeds come from the run directory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from plastix.errors import PlastixError, check_finite_float, check_positive_int, unknown_name

SEQ, PG, DQN, TAB = "supervised", "policy-gradient", "dqn", "tabular"
RESUME_FREE = ("resume", "quiet", "no_plot", "keep_checkpoints", "max_skipped", "tensorboard", "wandb",
               "wandb_project", "wandb_entity", "wandb_mode")  # as plastix.driver.RESUME_FREE


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def default_algo(task: str) -> str:
    """supervised for sequence tasks (and ``data:<file>``), q-learning for grid tasks, a2c for environments."""
    from plastix.envs import ENVS
    from plastix.mdp.grids import GRID_TASKS
    from plastix.tasks import DATA_PREFIX, SEQUENCE_TASKS

    if task in SEQUENCE_TASKS or task.startswith(DATA_PREFIX):
        return "supervised"
    if task.startswith("text:"):  # a language model on a text file (plastix.lm)
        return "lm"
    from plastix.seq2seq.tasks import SEQ2SEQ_TASKS  # encoder-decoder tasks (plastix.seq2seq)

    if task in SEQ2SEQ_TASKS:
        return "seq2seq"
    from plastix.ctc.task import CTC_TASKS  # unaligned labels (plastix.ctc)

    if task in CTC_TASKS:
        return "ctc"
    if task in GRID_TASKS:
        return "q-learning"
    if task in ENVS or task.startswith(("gymnax:", "gymnasium:")):
        return "a2c"
    raise unknown_name("task", task, [*SEQUENCE_TASKS, *SEQ2SEQ_TASKS, *CTC_TASKS, *GRID_TASKS, *ENVS])


def task_family(task: str) -> str:
    return {"supervised": SEQ, "q-learning": TAB, "a2c": PG, "lm": "lm", "seq2seq": "seq2seq", "ctc": "ctc"}[default_algo(task)]


def check_algo_fits_task(algo: str, task: str) -> None:
    """An algorithm of the wrong kind for the task is refused with the ones that fit."""
    from plastix.algorithms import ALGORITHMS, family_algorithms

    family, kind = ALGORITHMS[algo].family, task_family(task)
    fits = {SEQ: (SEQ,), TAB: (TAB,), PG: (PG, "ppo", DQN), "lm": ("lm",), "seq2seq": ("seq2seq",),
            "ctc": ("ctc",)}[kind]
    if family not in fits:
        names = [a for f in fits for a in family_algorithms(f)]
        what = {SEQ: "a supervised sequence task", TAB: "a grid task", PG: "an environment", "lm": "a text file",
                "seq2seq": "an encoder-decoder task", "ctc": "a task with unaligned labels (CTC)"}[kind]
        raise PlastixError(f"task {task!r} is {what}: use --algo {' or '.join(names)}, got {algo!r}.")


# ---------------------------------------------------------------- the peek at argv
def all_fields() -> dict:
    """Every flag of every algorithm's Args: name -> its dataclass field."""
    from plastix.cli.args import ALGORITHM_ARGS, arg_fields

    fields: dict = {}
    for cls in ALGORITHM_ARGS.values():
        fields.update(arg_fields(cls))
    return fields


def takes_values(field) -> str:
    """How many values a flag reads: "0" (a bool switch), "+" (a tuple) or "1"."""
    kind = str(field.type)
    if kind == "bool" or kind.startswith("bool"):
        return "0"
    if "tuple" in kind:
        return "+"
    return "1"


def scan(argv: Sequence[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """(positional tokens, flag names given, {flag: its value} of the one-value flags) of ``argv``,
    reading each flag's values as tyro does (a switch none, a tuple up to the next flag, else one)."""
    fields = all_fields()
    positional, given, values = [], [], {}
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token in ("-h", "--help") or not token.startswith("--") or token == "--":
            if not token.startswith("-"):
                positional.append(token)
            continue
        name, eq, value = token[2:].partition("=")
        name = name.replace("-", "_")
        field = fields.get(name) or (fields.get(name[3:]) if name.startswith("no_") else None)
        if field is not None and name not in fields:
            name = name[3:]
        given.append(name)
        arity = "1" if field is None else takes_values(field)
        if eq:
            values[name] = value
        elif arity == "1" and i < len(argv):
            values[name] = argv[i]
            i += 1
        elif arity == "+":
            while i < len(argv) and not argv[i].startswith("--"):
                i += 1
    return positional, given, values


def algo_of(task: str | None, algo: str | None, resume: str | None) -> str:
    """The algorithm of a command line: --algo, the task's default, or the run's (--resume alone)."""
    from plastix.algorithms import ALGORITHMS

    if algo is not None and algo not in ALGORITHMS:
        raise PlastixError(f"--algo: invalid choice {algo!r} (choose from {', '.join(map(repr, ALGORITHMS))}).")
    if task is None and resume is None:
        raise PlastixError("plastix train needs a TASK (see `plastix list`), or --resume RUN_DIR.")
    if task is None:
        return algo or saved_algo(Path(resume))
    algo = algo or default_algo(task)
    check_algo_fits_task(algo, task)
    return algo


def read_resumable(path: Path) -> tuple[dict, dict]:
    """(config.json, its saved arguments) of the run directory ``path`` given to ``--resume``;
    PlastixError when it is not a run directory or has no saved arguments."""
    from plastix.runs import read_config

    if path.exists() and not path.is_dir():
        raise PlastixError(f"--resume {str(path)!r} is a file, not a run directory.")
    if not path.is_dir():
        raise PlastixError(f"--resume {str(path)!r}: no such run directory.")
    saved = read_config(path)
    args = saved.get("config", {}).get("args")
    if not isinstance(args, dict):
        raise PlastixError(f"{str(path)!r} has no saved arguments in its config.json; it cannot be resumed.")
    return saved, args


def saved_algo(path: Path) -> str:
    """The algorithm of the run directory ``path``."""
    from plastix.algorithms import algorithm_of_run

    saved, args = read_resumable(path)
    return args.get("algo") or saved["config"].get("algo") or algorithm_of_run(saved)[0].name


def refuse_inapplicable(given: Sequence[str], cls: type, algo: str, task: str | None) -> None:
    """Every flag given that ``cls`` (the algorithm's Args) lacks but another algorithm's Args
    has is an error naming the algorithms that accept it (unknown flags are left to tyro)."""
    from plastix.algorithms import ALGORITHMS
    from plastix.cli.args import arg_fields, args_class

    own = arg_fields(cls)
    wrong = []
    for name in dict.fromkeys(given):
        if name in own:
            continue
        accept = [a for a in ALGORITHMS if name in arg_fields(args_class(a))]
        if accept:
            wrong.append(f"{flag(name)} (accepted by {', '.join(accept)})")
    if wrong:
        raise PlastixError(f"these flags do not apply to --algo {algo} on task {task!r}: {'; '.join(wrong)}.")


def usage() -> str:
    from plastix.algorithms import ALGORITHMS
    from plastix.cli.args import args_class

    lines = ["usage: plastix train TASK [--algo ALGO] [FLAGS]   or   plastix train --resume RUN_DIR", "",
             "The flags depend on the algorithm; `plastix train TASK [--algo ALGO] --help` shows them.",
             "Default algorithm: supervised for sequence tasks and data:<file>, q-learning for grid tasks, a2c for",
             "environments (`plastix list` names them), lm for text:<file>.", "", "algorithms and their arguments:"]
    lines += [f"  {name:<11} {args_class(name).__name__}" for name in ALGORITHMS]
    return "\n".join(lines)


def parse(argv: Sequence[str], prog: str = "plastix train"):
    """The Args instance of ``plastix train`` argv: peek for the task and --algo, pick the
    algorithm's Args class from the registry, refuse other algorithms' flags, parse with tyro."""
    import tyro

    from plastix.cli.args import args_class

    argv = list(argv)
    positional, given, values = scan(argv)
    task = positional[0] if positional else None
    if task is None and "resume" not in values and any(t in ("-h", "--help") for t in argv):
        print(usage())
        raise SystemExit(0)
    validate_args(typed_values(values))  # impossible values first, whichever algorithm has the flag
    # ---- Ray actors (a3c, dppo: plastix.cli.distributed.DISTRIBUTED_ALGOS): a host-driven run with its own Args
    if values.get("algo") in ("a3c", "dppo"):
        from plastix.cli.distributed import parse as parse_distributed

        return parse_distributed(argv, prog, values["algo"])
    # ----
    algo = algo_of(task, values.get("algo"), values.get("resume"))
    cls = args_class(algo)
    refuse_inapplicable(given, cls, algo, task)
    if any(t in ("-h", "--help") for t in argv):
        argv = ["--help"]  # the whole help of the algorithm's Args, TASK included
    return tyro.cli(cls, args=argv, prog=prog)


def typed_values(values: dict[str, str]) -> dict:
    """The int and float flag values of a peek read as numbers (those that do not read are left
    to tyro's message)."""
    fields, typed = all_fields(), {}
    for name, raw in values.items():
        kind = str(fields[name].type) if name in fields else ""
        for word, cast in (("int", int), ("float", float)):
            if word in kind:
                try:
                    typed[name] = cast(raw)
                except ValueError:
                    pass
                break
    return typed


class TrainCommand:
    """``plastix train``: parsed by ``parse`` (per algorithm), not by one dataclass."""

    parse = staticmethod(parse)


# ---------------------------------------------------------------- checks and the run
def _check_range(name: str, value, low: float, high: float, low_open: bool = False) -> None:
    if value is None:
        return
    check_finite_float(name, value)
    if value < low or value > high or (low_open and value == low):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise PlastixError(f"{flag(name)} must lie in {interval}, got {value!r}.")


def validate_args(values: dict) -> None:
    """Reject impossible values of ``plastix train`` flags (a flat dict, ``flat_args``) before
    anything is built or compiled (each algorithm's ``validate`` then checks its resolved config)."""
    for name in ("hidden", "seq_len", "total_steps", "log_every", "episodes", "trunc_window", "trunc_stride", "batch_size",
                 "buffer_size", "target_every", "train_every", "checkpoint_every"):
        if values.get(name) is not None:
            check_positive_int(name, values[name])
    for name in ("seeds", "keep_checkpoints", "n_step"):
        if name in values:
            check_positive_int(name, values[name])
    for name in ("seed", "max_skipped", "burn_in", "learning_starts"):
        value = values.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise PlastixError(f"{flag(name)} must be a non-negative integer, got {value!r}.")
    lr = values.get("lr")
    if lr is not None and not (check_finite_float("lr", lr) > 0):
        raise PlastixError(f"--lr must be a positive number, got {lr!r}.")
    clip = values.get("clip_norm")
    if clip is not None and not (check_finite_float("clip_norm", clip) >= 0):
        raise PlastixError(f"--clip-norm must be a positive number (or 0: no clipping), got {clip!r}.")
    for name in ("gamma", "teacher_forcing", "epsilon", "epsilon_start", "epsilon_end", "per_beta"):
        _check_range(name, values.get(name), 0.0, 1.0)
    _check_range("exploration_fraction", values.get("exploration_fraction"), 0.0, 1.0, low_open=True)
    _check_range("lr_end", values.get("lr_end"), 0.0, float("inf"))
    for name in ("value_coef", "entropy_coef", "per_alpha"):
        _check_range(name, values.get(name), 0.0, float("inf"))


def run_train(args) -> int:
    """Entry point of ``plastix train`` (``args``: an Args instance of ``plastix.cli.args``)."""
    if getattr(args.options, "json", False):
        return run_train_json(args)
    train(args)
    return 0


def run_train_json(args) -> int:
    """``plastix train ... --json``: everything the run prints (progress bar, summary; train.log
    as usual) goes to stderr, and stdout carries one JSON object, ``train_summary``."""
    import contextlib
    import json
    import sys

    args = dataclasses.replace(args, options=dataclasses.replace(args.options, json=False))
    with contextlib.redirect_stdout(sys.stderr):
        result = train(args)
    print(json.dumps(train_summary(result)))
    return 0


def train_summary(result) -> dict:
    """The final summary of a run (a ``plastix.driver.Result``) as JSON-ready data: its
    directory, algorithm, task, core, seeds, the score metric and, per metric, the value of
    each seed at the last log point (null where not finite)."""
    import numpy as np

    from plastix.algorithms import algorithm_of

    entry = algorithm_of(result.config)
    final = {name: [float(v) if np.isfinite(v) else None for v in np.asarray(values, float)[:, -1]]
             for name, values in result.metrics.items() if np.ndim(values) == 2 and name != "step"}
    steps = np.asarray(result.metrics["step"])[:, -1] if "step" in result.metrics else None
    return {"run_dir": str(result.run_dir), "algo": entry.name, "task": getattr(result.config, "task", None),
            "core": getattr(result.config, "core", None), "seeds": [int(s) for s in result.seeds],
            "score_metric": entry.score, "score": final.get(entry.score),
            "final_step": None if steps is None else float(np.max(steps)), "final": final}


def train(args):
    """Train as ``args`` say (a new run, or ``--resume``); returns the driver's ``Result``."""
    from plastix.algorithms import get_algorithm
    from plastix.cli.args import flat_args
    from plastix.cli.outputs import check_run_dir
    from plastix.driver import check_options, run
    from plastix.train.harness import set_dtype

    if args.options.resume is not None:
        return run_resume(args)
    if args.task is None:
        raise PlastixError("plastix train needs a TASK (see `plastix list`), or --resume RUN_DIR.")
    values = flat_args(args)
    validate_args(values)
    check_algo_fits_task(args.algo, args.task)
    entry = get_algorithm(args.algo)
    options = args.options.to_options()
    check_run_dir(options.out)
    check_options(options)  # seeds and --out before anything is built
    set_dtype(getattr(args, "dtype", "float32"))
    config = entry.resolve(args)
    return run(config, options, flags=values)


def resume_args(args, saved_dict: dict, path: Path):
    """The flags saved in the run's config.json, with those of ``RESUME_FREE`` taken from the
    command line when given. Any other flag must be absent or equal to the saved one."""
    from plastix.cli.args import arg_fields, flat_args, make_args

    cls = type(args)
    fields = arg_fields(cls)
    flat_saved = {**{k: v for k, v in saved_dict.items() if not isinstance(v, dict)},
                  **{k: v for sub in saved_dict.values() if isinstance(sub, dict) for k, v in sub.items()}}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in flat_saved.items() if k in fields}
    saved = flat_args(make_args(cls, values))
    given, default = flat_args(args), flat_args(cls())
    differ = [f"{flag(name)} {given[name]!r} (run has {saved[name]!r})"
              for name in fields if name not in RESUME_FREE and name != "algo" and given[name] != default[name]
              and given[name] != saved[name]]
    if differ:
        raise PlastixError(f"--resume {str(path)!r} continues the run with its saved config; these flags differ from "
                           f"it: {'; '.join(differ)}. Drop them (or start a new run with --out).")
    free = {name: given[name] if given[name] != default[name] else saved[name]
            for name in RESUME_FREE if name != "resume"}
    return make_args(cls, {**saved, **free, "resume": str(path)})


def run_resume(args):
    """``plastix train --resume RUN_DIR``: the algorithm, config, seeds and run options from
    the run's config.json; only the flags of ``RESUME_FREE`` may be given anew."""
    from plastix.algorithms import algorithm_of_run
    from plastix.cli.args import flat_args
    from plastix.driver import RunOptions, run

    path = Path(args.options.resume)
    saved, saved_args = read_resumable(path)
    if saved_args:
        args = resume_args(args, saved_args, path)
    entry, config = algorithm_of_run(saved)
    seeds = saved["seeds"]
    stored = saved["config"].get("options") or {}
    names = {f.name for f in dataclasses.fields(RunOptions)}
    options = RunOptions(**{k: v for k, v in stored.items() if k in names}) if stored else args.options.to_options()
    options = dataclasses.replace(options, seed=int(seeds[0]), seeds=len(seeds), out=str(path), resume=True,
                                  **{k: getattr(args.options, k) for k in RESUME_FREE if k != "resume"})
    return run(config, options, flags=saved_args if saved_args else flat_args(args))


__all__ = ["TrainCommand", "parse", "run_train"]

