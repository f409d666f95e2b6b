"""``plastix list``: the names of everything that exists (cores, tasks, algorithms, gradient
methods), as a table or, with --json, one JSON object on stdout."""

from __future__ import annotations

import dataclasses
import json

GRID_ALGORITHMS = ("q-learning", "sarsa")


@dataclasses.dataclass(frozen=True)
class ListArgs:
    """List cores, tasks, algorithms and gradient methods."""

    json: bool = False
    """Print one JSON object on stdout instead of tables."""

    def run(self) -> int:
        return run_list(self)


def catalogue() -> dict[str, list[dict[str, str]] | list[str]]:
    """Everything ``plastix list`` shows, as plain data."""
    from plastix.cores import CORES
    from plastix.tasks import SEQUENCE_TASKS
    from plastix.train.supervised import available_grad_methods

    tasks = [{"name": t.name, "kind": "sequence", "algorithms": "supervised", "metric": t.metric,
              "baseline": f"{t.baseline(t.default_T):.4g}", "default_T": str(t.default_T),
              "description": t.description} for t in SEQUENCE_TASKS.values()]
    try:
        import plastix.mdp as mdp

        grid = tuple(getattr(mdp, "GRID_TASKS", ()))
        grid_algos = tuple(getattr(mdp, "ALGOS", GRID_ALGORITHMS))
    except ImportError:
        grid, grid_algos = (), ()
    tasks += [{"name": g, "kind": "grid", "algorithms": ", ".join(grid_algos)} for g in grid]
    algorithms = ["supervised", *(grid_algos if grid else ())]
    return {"cores": list(CORES), "tasks": tasks, "algorithms": algorithms,
            "gradient_methods": list(available_grad_methods())}


def run_list(args: ListArgs) -> int:
    cat = catalogue()
    if args.json:
        print(json.dumps(cat))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="tasks")
    cols = ("name", "algorithms", "metric", "baseline", "default_T", "description")
    for col in cols:
        table.add_column(col, overflow="fold")
    for t in cat["tasks"]:
        table.add_row(*(t.get(col, "") for col in cols))
    console.print(table)
    console.print(f"cores: {', '.join(cat['cores'])}")
    console.print(f"algorithms: {', '.join(cat['algorithms'])}")
    console.print(f"gradient methods: {', '.join(cat['gradient_methods'])}")
    return 0
