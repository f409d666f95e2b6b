"""``plastix eval RUN_DIR``: evaluate the trained seeds of a run directory of any algorithm.

The run is read back with ``plastix.load`` (its config and final parameters) and evaluated by
its registry entry (``plastix.algorithms.evaluate``): ``--episodes`` N fresh episodes per seed
for RL runs (a2c/reinforce sample from the policy as in training, or act greedily with
``--greedy``; dqn and tabular runs act greedily), a fresh batch of sequences for supervised
runs (the task metric). Prints the means, or with ``--json`` exactly one JSON object on stdout.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import tyro


@dataclasses.dataclass(frozen=True)
class EvalArgs:
    """Evaluate the trained seeds of a run directory (any algorithm) on fresh episodes or sequences."""

    run_dir: Annotated[str, tyro.conf.Positional]
    """Run directory written by ``plastix train`` or ``plastix.run``."""
    episodes: int = 100
    """Fresh episodes per seed of the run."""
    greedy: bool = False
    """Take the most probable action instead of sampling it (training samples)."""
    seed: int = 0
    """Seed of the evaluation episodes (the same episodes for every trained seed)."""
    json: bool = False
    """Print one JSON object on stdout instead of text."""

    def run(self) -> int:
        return run_eval(self)


def run_eval(args: EvalArgs) -> int:
    from plastix.algorithms import evaluate
    from plastix.driver import load

    result = evaluate(load(args.run_dir), args.episodes, args.seed, args.greedy)
    if args.json:
        print(json.dumps(result))
        return 0
    unit = "sequences" if result["what"].startswith("eval") else f"{result['policy']} episodes per seed"
    count = "" if unit == "sequences" else f" over {args.episodes} {unit}"
    preset = f" ({result['preset']})" if result["preset"] else ""
    print(f"{result['task']}{preset}, {result['core']}, {result['algo']}: {result['what']} "
          f"{result['mean_return']:.4g}{count} (per seed: {', '.join(f'{v:.4g}' for v in result['per_seed'])})")
    for split in ("validation", "test") if result["algo"] == "lm" else ():  # a language model: both splits
        scores = result[split]
        print(f"  {split} ({scores['tokens']} targets): bits per token "
              + ", ".join(f"{b:.4g}" for b in scores["bits_per_token"]) + "; perplexity "
              + ", ".join(f"{p:.4g}" for p in scores["perplexity"]))
    if result["algo"] == "ctc":  # plastix.ctc: prefix beam search next to best path
        rates = result["label_error_rate"]
        print(f"  prefix beam search (width {rates['beam_width']}): label error rate {rates['beam_mean']:.4g} "
              f"(per seed: {', '.join(f'{v:.4g}' for v in rates['beam'])})")
    return 0
