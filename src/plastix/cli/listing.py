"""``plastix list``: the names of everything that exists (cores, tasks, algorithms, gradient
methods), as a table or, with --json, one JSON object on stdout."""

from __future__ import annotations

import dataclasses
import importlib
import json

GRID_ALGORITHMS = ("q-learning", "sarsa")
RL_ALGORITHMS = ("a2c", "reinforce", "dqn")  # dqn: discrete-action environments (plastix.dqn)


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
    tasks += rl_task_rows()
    algorithms = ["supervised", *(grid_algos if grid else ()), *RL_ALGORITHMS]
    return {"cores": list(CORES), "tasks": tasks, "algorithms": algorithms,
            "gradient_methods": list(available_grad_methods())}


def rl_task_rows() -> list[dict[str, str]]:
    """One row per policy-gradient environment (``plastix.envs``), its presets and episode length."""
    from plastix.envs import ENVS, make_env

    rows = []
    for name, cls in ENVS.items():
        length = make_env(name)[1].episode_length
        doc = (importlib.import_module(cls.__module__).__doc__ or "").strip().splitlines()
        presets = ", ".join(cls.PRESETS)
        rows.append({"name": name, "kind": "rl", "algorithms": ", ".join(RL_ALGORITHMS),
                     "metric": "episodic_return", "default_T": str(length), "presets": presets,
                     "description": f"{doc[0] if doc else name} Presets: {presets}."})
    return rows


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
    console.print("outside environments: gymnax:<id> (e.g. gymnax:CartPole-v1, gymnax:MemoryChain-bsuite, "
                  "gymnax:Breakout-MinAtar; jitted) and gymnasium:<id> (a host loop)")
    console.print(f"algorithms: {', '.join(cat['algorithms'])}")
    console.print(f"gradient methods: {', '.join(cat['gradient_methods'])}")
    return 0
