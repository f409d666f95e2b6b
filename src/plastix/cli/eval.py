"""``plastix eval RUN_DIR``: run fresh episodes with the trained agent(s) of an RL run directory.

The agent is rebuilt from ``config.json`` (the resolved ``RLConfig``), its parameters loaded
from ``params.npz`` (one set per seed of the run), and ``--episodes`` N fresh episodes are run
per seed (vmapped), with actions sampled from the policy as in training (default) or greedy
(argmax of the logits, ``--greedy``). Prints the mean total reward per episode, or with
``--json`` exactly one JSON object on stdout.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import tyro

from plastix.errors import PlastixError, check_positive_int


@dataclasses.dataclass(frozen=True)
class EvalArgs:
    """Evaluate the agents of an RL run directory on fresh episodes."""

    run_dir: Annotated[str, tyro.conf.Positional]
    """Run directory written by ``plastix train`` on an RL task (cue-reward, meta-maze, bandit)."""
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


def load_rl_config(run_dir: Path):
    """The resolved RLConfig of an RL run directory (PlastixError if it is not one)."""
    from plastix.rl.trainer import RLConfig
    from plastix.runs import read_config

    payload = read_config(run_dir)
    resolved = payload.get("config", {}).get("resolved")
    names = {f.name for f in dataclasses.fields(RLConfig)}
    if not isinstance(resolved, dict) or set(resolved) != names:
        raise PlastixError(f"{str(run_dir)!r} is not a run of an RL task (a2c/reinforce); "
                           "plastix eval evaluates cue-reward, meta-maze and bandit runs.")
    for key in ("env_settings", "core_options"):  # JSON turned the (key, value) tuples into lists
        resolved[key] = tuple(tuple(pair) for pair in resolved[key])
    return RLConfig(**resolved), list(payload["seeds"])


def evaluate_run(run_dir: Path, episodes: int, greedy: bool, seed: int) -> dict:
    """Mean episode reward per trained seed, and over all of them."""
    import jax
    import numpy as np

    from plastix.rl.trainer import build_setup, evaluate
    from plastix.runs import load_params

    check_positive_int("episodes", episodes)
    config, seeds = load_rl_config(run_dir)
    if config.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    setup = build_setup(config)
    template = setup.agent.init(jax.random.PRNGKey(0))
    run = jax.jit(lambda p, k: evaluate(setup, p, k, episodes, greedy))
    per_seed = []
    for i in range(len(seeds)):
        params = load_params(run_dir, template, seed_index=i)
        per_seed.append(float(np.mean(np.asarray(run(params, jax.random.PRNGKey(seed))))))
    return {"mean_return": float(np.mean(per_seed)), "episodes": episodes, "seeds": seeds,
            "per_seed": per_seed, "policy": "greedy" if greedy else "sampled", "task": config.task,
            "preset": config.preset, "core": config.core, "algo": config.algo}


def run_eval(args: EvalArgs) -> int:
    from plastix.dqn.train_cli import evaluate_run as evaluate_dqn_run, is_dqn_run

    if is_dqn_run(Path(args.run_dir)):  # a Q-network acts greedily (ε = 0)
        result = evaluate_dqn_run(Path(args.run_dir), args.episodes, args.seed)
        result.setdefault("policy", "greedy")
    else:
        result = evaluate_run(Path(args.run_dir), args.episodes, args.greedy, args.seed)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['task']} ({result['preset']}), {result['core']}, {result['algo']}: mean episode reward "
          f"{result['mean_return']:.4g} over {args.episodes} {result['policy']} episodes per seed "
          f"(per seed: {', '.join(f'{v:.4g}' for v in result['per_seed'])})")
    return 0
