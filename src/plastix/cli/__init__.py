"""The ``plastix`` command line. Each subcommand is a frozen dataclass (its fields are the
flags, their docstrings the help) with a ``run() -> int`` method, defined in its own module
(``train`` has one dataclass per algorithm, chosen by its ``parse``).
Only the chosen subcommand's module is imported, so one command's dependencies never slow or
break another."""

from __future__ import annotations

import importlib
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``plastix COMMAND [FLAGS]``. Returns the exit code."""
    import tyro

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    try:
        command = load_command(argv[0])
    except PlastixError as err:
        print(f"plastix: error: {err}\n\n{usage()}", file=sys.stderr)
        return 2
    try:  # a command with its own ``parse`` (train: per algorithm) picks its dataclass itself
        parse = getattr(command, "parse", None)
        prog = f"plastix {argv[0]}"
        args = parse(argv[1:], prog) if parse is not None else tyro.cli(command, args=argv[1:], prog=prog)
    except SystemExit as exit_:  # tyro/argparse: --help (0) or a bad flag (2)
        return int(exit_.code or 0)
    except PlastixError as err:
        print(f"plastix: error: {err}", file=sys.stderr)
        return 2
    try:
        return int(args.run() or 0)
    except PlastixError as err:
        print(f"plastix: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
