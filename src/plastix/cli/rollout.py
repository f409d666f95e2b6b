"""``plastix rollout``: record demonstrations (an .npz of ``plastix.imitation.demos``).

Two sources:

* ``plastix rollout RUN_DIR --episodes N --out demos.npz``: a trained policy-gradient run (a2c,
  reinforce), read back with ``plastix.load``; one trained seed (``--run-seed``, default the
  first) acts for N fresh episodes, sampling its actions as in training (``--sample``, the
  default) or taking the most probable one (``--greedy``);
* ``plastix rollout --planner TASK --episodes N --out demos.npz``: the optimal policy of value
  iteration on a grid task of ``plastix.mdp`` (``plastix list`` names them), observations the
  one-hot state (``plastix.imitation.grid``).

Each episode is the first of a window as long as the environment's episode cap, so it always
ends inside it. Prints what it wrote, or with ``--json`` one JSON object on stdout.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import tyro

from plastix.errors import PlastixError


@dataclasses.dataclass(frozen=True)
class RolloutArgs:
    """Record demonstrations from a trained run or from the planner of a grid task."""

    run_dir: Annotated[str, tyro.conf.Positional] = ""
    """Run directory of a trained a2c or reinforce run (or give --planner)."""
    planner: str = ""
    """A grid task of plastix.mdp: record the optimal policy of value iteration instead of a run."""
    episodes: int = 100
    """Episodes to record."""
    out: str = "demos.npz"
    """The demonstrations file to write (.npz; refuses to overwrite an existing file without --force)."""
    force: bool = False
    """Overwrite --out if it exists."""
    greedy: bool = False
    """Take the most probable action (a trained run; the planner is always greedy)."""
    sample: bool = False
    """Sample the action from the policy, as in training (the default for a trained run)."""
    run_seed: int | None = None
    """Which trained seed of the run acts (default: its first)."""
    seed: int = 0
    """Seed of the recorded episodes."""
    json: bool = False
    """Print one JSON object on stdout instead of text."""

    def run(self) -> int:
        return run_rollout(self)


def check_args(args: RolloutArgs) -> None:
    from plastix.cli.outputs import output_file
    from plastix.errors import check_positive_int

    if bool(args.run_dir) == bool(args.planner):
        raise PlastixError("give either a RUN_DIR or --planner TASK (exactly one), got "
                           f"{'both' if args.run_dir else 'neither'}.")
    if args.greedy and args.sample:
        raise PlastixError("--greedy and --sample exclude each other.")
    if args.planner and args.sample:
        raise PlastixError("the planner's policy is deterministic: --sample does not apply to --planner.")
    if args.planner and args.run_seed is not None:
        raise PlastixError("--run-seed picks a trained seed of a RUN_DIR; it does not apply to --planner.")
    output_file(args.out, args.force, ".npz")
    check_positive_int("--episodes", args.episodes)


def run_demos(args: RolloutArgs):
    import jax

    from plastix.driver import load
    from plastix.imitation import agent_demos
    from plastix.rl.trainer import build_setup

    run = load(args.run_dir)
    if run.algorithm.family not in ("policy-gradient", "ppo"):
        raise PlastixError(f"{args.run_dir!r} is a {run.algorithm.name} run; plastix rollout replays policy-gradient "
                           "runs (a2c, reinforce, ppo) or the planner (--planner TASK).")
    if run.algorithm.host_loop(run.config):
        raise PlastixError(f"{args.run_dir!r} is a run on a Gymnasium environment (a host loop); only jitted "
                           "environments can be rolled out.")
    seed = run.seeds[0] if args.run_seed is None else args.run_seed
    if seed not in run.seeds:
        raise PlastixError(f"--run-seed {seed} is not a seed of {args.run_dir!r}; its seeds are {run.seeds}.")
    params = jax.tree.map(lambda a: a[run.seeds.index(seed)], run.params)
    meta = {"source": "run", "run_dir": str(run.run_dir), "task": run.config.task, "preset": run.config.preset,
            "algo": run.algorithm.name, "core": run.config.core, "run_seed": seed,
            "policy": "greedy" if args.greedy else "sampled", "seed": args.seed}
    if run.algorithm.family == "ppo":  # a PPO agent acts like an actor-critic: replay it with the same rollout
        from plastix.ppo.trainer import build_setup as ppo_setup
        from plastix.rl.trainer import Setup

        ppo = ppo_setup(run.config)
        setup = Setup(None, ppo.env, ppo.env_params, ppo.agent, None, ppo.episode_length, "bptt")
    else:
        setup = build_setup(run.config)
    check_demos_fit(args.episodes, setup.num_steps, setup.env.observation_size)
    return agent_demos(setup, params, jax.random.PRNGKey(args.seed), args.episodes, args.greedy, meta)


def check_demos_fit(episodes: int, steps: int, obs_size: int) -> None:
    """The recorded arrays (episodes × steps × (observation, action, reward, flags), float32) fit in memory."""
    from plastix.memory import check_fits, format_count

    check_fits(4 * episodes * steps * (obs_size + 4), f"{format_count(episodes)} episodes x {steps} steps x "
               f"({obs_size} observations + 4) x 4 bytes", "--episodes")


def planner_demos(args: RolloutArgs):
    import jax
    import jax.numpy as jnp

    from plastix.imitation import TableExpert, first_episodes, grid_env, mixed_rollouts, planner_policy
    from plastix.mdp import make_grid

    task = make_grid(args.planner)
    env, env_params = grid_env(task)
    table = jnp.asarray(planner_policy(task))
    check_demos_fit(args.episodes, int(env_params.episode_length), int(env.observation_size))
    steps = mixed_rollouts(env, env_params, None, None, TableExpert(), table, 1.0, jax.random.PRNGKey(args.seed),
                           args.episodes, env_params.episode_length)
    meta = {"source": "planner", "task": args.planner, "preset": None, "policy": "value iteration, greedy",
            "seed": args.seed}
    return first_episodes(steps.obs, steps.action, steps.reward, steps.done, meta)


def run_rollout(args: RolloutArgs) -> int:
    from plastix.imitation import save_demos

    check_args(args)
    demos = planner_demos(args) if args.planner else run_demos(args)
    path = save_demos(args.out, demos)
    summary = {"out": str(path), "episodes": demos.num_episodes, "steps": demos.num_steps,
               "mean_return": float(demos.returns.mean()), **demos.meta}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {path}: {demos.num_episodes} episodes, {demos.num_steps} steps, mean return "
              f"{summary['mean_return']:.4g} ({demos.meta['source']} {demos.meta['task']})")
    return 0
