"""``plastix sample RUN_DIR --prompt TEXT``: text from a trained language model (``plastix.lm``).

The run is read back with ``plastix.load``; one trained seed (``--run-seed``, default the first)
reads the prompt from a fresh carry, then writes ``--length`` tokens, each drawn from
softmax(logits / τ) at ``--temperature`` τ (0: the most probable token, greedy) and fed back
(``plastix.lm.evaluate.sample_run``). Prompt characters or words not in the vocabulary read as
``<unk>`` (as in training) and are named on stderr. Prints the prompt and its continuation, or
with ``--json`` one JSON object on stdout.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Annotated

import tyro

from plastix.errors import PlastixError


@dataclasses.dataclass(frozen=True)
class SampleArgs:
    """Write text with a trained language model (a run of plastix train text:<file>)."""

    run_dir: Annotated[str, tyro.conf.Positional]
    """Run directory of a language-model run (plastix train text:<file>)."""
    prompt: str = "\n"
    """Text the model reads before it writes (characters or, at --level word, words)."""
    length: int = 200
    """Tokens to write (characters, or words)."""
    temperature: float = 1.0
    """Sampling temperature τ: softmax(logits / τ); 0 = always the most probable token (greedy)."""
    seed: int = 0
    """Seed of the draws."""
    run_seed: int | None = None
    """Which trained seed of the run writes (default: its first)."""
    json: bool = False
    """Print one JSON object on stdout instead of text."""

    def run(self) -> int:
        return run_sample(self)


def run_sample(args: SampleArgs) -> int:
    from plastix.driver import load
    from plastix.lm.evaluate import sample_run

    run = load(args.run_dir)
    if run.algorithm.family != "lm":
        raise PlastixError(f"{args.run_dir!r} is a run of {run.algorithm.name!r}; plastix sample needs a language-model "
                           "run (plastix train text:<file>).")
    index = 0
    if args.run_seed is not None:
        if args.run_seed not in run.seeds:
            raise PlastixError(f"--run-seed {args.run_seed} is not a seed of {args.run_dir!r} (it has {run.seeds}).")
        index = run.seeds.index(args.run_seed)
    out = sample_run(run, args.prompt, args.length, args.temperature, args.seed, index)
    if out.unknown:
        print(f"plastix sample: prompt tokens not in the vocabulary were read as <unk>: "
              f"{', '.join(map(repr, out.unknown))}", file=sys.stderr)
    if args.json:
        print(json.dumps({"run_dir": args.run_dir, "seed": run.seeds[index], "prompt": out.prompt, "text": out.text,
                          "unknown": out.unknown, "temperature": args.temperature, "length": args.length}))
        return 0
    print(out.prompt + (" " if run.config.level == "word" and not out.prompt.endswith("\n") else "") + out.text)
    return 0
