"""``plastix list``: the names of everything that exists (cores, tasks, algorithms, gradient
methods), as a table or, with --json, one JSON object on stdout."""

from __future__ import annotations

import dataclasses
import importlib
import json

from plastix.algorithms import ALGORITHMS, family_algorithms

GRID_ALGORITHMS = family_algorithms("tabular")
RL_ALGORITHMS = (*family_algorithms("policy-gradient"), *family_algorithms("ppo"), *family_algorithms("dqn"))


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
    from plastix.mdp.grids import GRID_TASKS

    tasks += [{"name": g, "kind": "grid", "algorithms": ", ".join(GRID_ALGORITHMS)} for g in GRID_TASKS]
    tasks += rl_task_rows()
    from plastix.seq2seq.resolve import TASK_DEFAULTS  # encoder-decoder tasks (plastix.seq2seq)
    from plastix.seq2seq.tasks import TASK_DESCRIPTIONS

    tasks += [{"name": name, "kind": "seq2seq", "algorithms": "seq2seq", "metric": "exact_match", "baseline": "0",
               "default_T": f"{lo}..{hi}", "description": TASK_DESCRIPTIONS[name]}
              for name, (lo, hi, _, _) in TASK_DEFAULTS.items()]
    from plastix.ctc.config import CTCConfig  # unaligned labels (plastix.ctc)
    from plastix.ctc.task import CTC_TASKS

    tasks += [{"name": name, "kind": "ctc", "algorithms": "ctc", "metric": "label_error_rate", "baseline": "1",
               "default_T": f"≤{CTCConfig().symbol_task.max_frames}", "description": text}
              for name, text in CTC_TASKS.items()]
    algorithms = list(ALGORITHMS)
    from plastix.cli.distributed import DISTRIBUTED_ALGOS

    return {"cores": list(CORES), "tasks": tasks, "algorithms": algorithms,
            "distributed_algorithms": list(DISTRIBUTED_ALGOS), "gradient_methods": list(available_grad_methods())}


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
    print_catalogue(cat)
    return 0


def print_catalogue(cat: dict) -> None:
    """The catalogue for a person: a table of the tasks (``plastix.cli.tables``: names never
    split, 80 columns when stdout is not a terminal), each task's description, then the names of
    cores, algorithms and gradient methods as wrapped lists."""
    from rich.text import Text

    from plastix.cli.tables import console, print_table, print_wrapped

    out = console()
    cols = ("name", "algorithms", "metric", "baseline", "default_T")
    rows = [[t.get(col, "") for col in cols] for t in cat["tasks"]]
    print_table("tasks", ["name", "algorithms", "metric", "baseline", "T"], rows, out, no_wrap=("name", "metric"))
    for t in cat["tasks"]:
        if t.get("description"):
            out.print(Text(f"{t['name']}:", style="bold"))
            print_wrapped(t["description"], out, indent=2, hang=0)
    out.print()
    for title, names in (("cores", cat["cores"]), ("algorithms", cat["algorithms"]),
                         ("gradient methods", cat["gradient_methods"])):
        print_wrapped(f"{title}: {', '.join(names)}", out)
    print_wrapped(f"on Ray actors: {', '.join(cat['distributed_algorithms'])} (plastix train TASK --algo a3c|dppo "
                  "--actors K; the a2c and ppo tasks with jitted environments)", out)
    print_wrapped("language models: text:<file> (any UTF-8 text file; plastix train text:FILE --level char|word, "
                  "algorithm lm; plastix sample RUN_DIR --prompt TEXT)", out)
    print_wrapped("outside environments: gymnax:<id> (e.g. gymnax:CartPole-v1, gymnax:MemoryChain-bsuite, "
                  "gymnax:Breakout-MinAtar; jitted) and gymnasium:<id> (a host loop)", out)
