"""The ``plastix`` command line. Each subcommand is a frozen dataclass (its fields are the
flags, their docstrings the help) with a ``run() -> int`` method, defined in its own module."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import tyro

from plastix.errors import PlastixError

# subcommand -> (module, dataclass)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("plastix.cli.train", "TrainArgs"),
    "check-grads": ("plastix.cli.grads", "CheckGradsArgs"),
    "influence": ("plastix.cli.grads", "InfluenceArgs"),
    "plot": ("plastix.cli.plot", "PlotArgs"),
    "list": ("plastix.cli.listing", "ListArgs"),
    "solve": ("plastix.cli.solve", "SolveArgs"),
}


def _load(name: str):
    module, cls = COMMANDS[name]
    return getattr(importlib.import_module(module), cls)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``plastix SUBCOMMAND [FLAGS]``. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {name: _load(name) for name in COMMANDS}
    args = tyro.extras.subcommand_cli_from_dict(
        commands, prog="plastix", args=argv,
        description="plastix: recurrent and plastic networks trained through time and by reward.",
    )
    try:
        return int(args.run() or 0)
    except PlastixError as err:
        print(f"plastix: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
