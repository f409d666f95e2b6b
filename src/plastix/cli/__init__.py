"""The ``plastix`` command line. Each subcommand is a frozen dataclass (its fields are the
flags, their docstrings the help) with a ``run() -> int`` method, defined in its own module
(``train`` has one dataclass per algorithm, chosen by its ``parse``).
Only the chosen subcommand's module is imported, so one command's dependencies never slow or
break another."""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Sequence

from plastix.errors import PlastixError, unknown_name

# subcommand -> (module, dataclass, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("plastix.cli.train", "TrainCommand", "train a named task with a named core and algorithm, several seeds at once"),
    "check-grads": ("plastix.cli.grads", "CheckGradsArgs", "compare hand-bptt, rtrl, truncated-bptt and finite differences with autodiff BPTT"),
    "influence": ("plastix.cli.grads", "InfluenceArgs", "plot the input influence ||dy_T/dx_t|| against t (vanishing gradients)"),
    "plot": ("plastix.cli.plot", "PlotArgs", "plot learning curves of run directories (median and IQR, or bootstrap CI bands, over seeds)"),
    "solve": ("plastix.cli.solve", "SolveArgs", "solve a known MDP by value or policy iteration"),
    "eval": ("plastix.cli.eval", "EvalArgs", "run fresh episodes with the trained agents of an RL run directory"),
    "compare": ("plastix.cli.compare", "CompareArgs", "compare runs: final performance, IQM with bootstrap CIs, profiles, P(A > B), rank-sum tests"),
    "sweep": ("plastix.cli.sweep", "SweepArgs", "hyperparameter search and population-based training on Ray Tune"),
    "demo": ("plastix.cli.demo", "DemoArgs", "train a neuromodulated and a non-plastic agent side by side where the answer changes every episode"),
    "list": ("plastix.cli.listing", "ListArgs", "list cores, tasks, algorithms and gradient methods"),
    "hopfield": ("plastix.cli.hopfield", "HopfieldArgs", "Hopfield networks: the fraction of stored patterns recalled against the load P/N"),
    "rollout": ("plastix.cli.rollout", "RolloutArgs", "record demonstrations (.npz) from a trained a2c/reinforce run or a grid task's planner"),
    "sample": ("plastix.cli.sample", "SampleArgs", "write text with a trained language model (a run of plastix train text:<file>)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: plastix COMMAND [FLAGS]   (plastix COMMAND --help for its flags)", "",
             "plastix: recurrent and plastic networks trained through time and by reward.", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, _, text) in COMMANDS.items()]
    return "\n".join(lines)


def load_command(name: str):
    """The argument dataclass of subcommand ``name``."""
    if name not in COMMANDS:
        raise unknown_name("command", name, COMMANDS)
    module, cls, _ = COMMANDS[name]
    return getattr(importlib.import_module(module), cls)


# commands that compile training loops: Threefry unrolled (plastix.xla; the numbers are the same bits)
UNROLLED_THREEFRY_COMMANDS = ("train", "demo", "sweep")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``plastix COMMAND [FLAGS]``. Returns the exit code: 0 done, 1 a check that
    failed (check-grads) or an internal bug (with its traceback), 2 an error the user can fix
    (one line on stderr: bad input, the file system, a missing optional dependency, memory),
    130 Ctrl-C, 143 SIGTERM (both keep a training run's last checkpoint)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    try:
        command = load_command(argv[0])
    except PlastixError as err:
        print(f"plastix: error: {err}\n\n{usage()}", file=sys.stderr)
        return 2
    if argv[0] in UNROLLED_THREEFRY_COMMANDS:  # same random bits, faster jitted loops (plastix.xla)
        from plastix.xla import unroll_threefry

        unroll_threefry()
    previous = _terminate_as_interrupt()
    try:
        return _parse_and_run(command, argv)
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - every failure ends here: one line, or a bug's traceback
        return report_failure(err)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum, frame):
    from plastix.errors import Terminated

    raise Terminated()


def _terminate_as_interrupt():
    """Make SIGTERM stop a command the way Ctrl-C does (the previous handler is returned, to restore);
    None where no handler can be set (not the main thread)."""
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # signal only works in the main thread of the main interpreter
        return None


def _parse_and_run(command, argv: list[str]) -> int:
    import tyro

    try:  # a command with its own ``parse`` (train: per algorithm) picks its dataclass itself
        parse = getattr(command, "parse", None)
        prog = f"plastix {argv[0]}"
        args = parse(argv[1:], prog) if parse is not None else tyro.cli(command, args=argv[1:], prog=prog)
    except SystemExit as exit_:  # tyro/argparse: --help (0) or a bad flag (2)
        return int(exit_.code or 0)
    check_seed_flags(args)
    return int(args.run() or 0)


SEED_FLAGS = ("seed", "episode_seed", "run_seed")  # seeds of evaluation episodes, weights, bootstrap draws


def check_seed_flags(args) -> None:
    """Every seed flag of a command is an integer in [0, 2**31 - 1] (it becomes a PRNG key)."""
    import dataclasses

    from plastix.errors import check_nonnegative_int

    if not dataclasses.is_dataclass(args):
        return
    for field in dataclasses.fields(args):
        value = getattr(args, field.name)
        if field.name in SEED_FLAGS and value is not None:
            check_nonnegative_int("--" + field.name.replace("_", "-"), value)


def report_failure(err: BaseException) -> int:
    """Print a failure the user can fix as one line (``plastix.errors.user_failure``) and return
    its exit code; print anything else with its traceback, marked as a bug, and return 1."""
    import traceback

    from plastix.errors import bug_report_hint, user_failure

    line = user_failure(err)
    if isinstance(err, KeyboardInterrupt):
        from plastix.errors import Terminated

        print(f"\nplastix: {line} A training run keeps its last checkpoint: continue it with "
              "plastix train --resume RUN_DIR.", file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    if line is not None:
        print(f"plastix: error: {line}", file=sys.stderr)
        return 2
    traceback.print_exception(err, file=sys.stderr)
    print(bug_report_hint(), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
