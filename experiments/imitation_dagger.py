"""Behavioural cloning vs DAgger over the horizon (Ross, Gordon & Bagnell 2011, Theorems 2.1 and 3.2).

The task: a winding 15x12 grid maze of 3-wide corridors (below), −1 per step until the goal G
(terminal), slip 0.1 (the intended move with probability 0.9, each perpendicular move with 0.05),
episodes cut at the horizon T. The expert is the planner's optimal policy (value iteration,
``plastix.imitation.planner_policy``). The learner is a one-hidden-layer network (``mlp``
core, 32 units) on the state's (row, column) scaled to [0, 1] (``--observation coordinates``):
it generalises between neighbouring cells, so it imitates imperfectly (a small error rate on
the expert's own states) and extrapolates off the expert's path. (With ``--observation
one-hot`` a learner fits every visited state exactly and knows nothing of the others; then BC
and DAgger fail only in states neither has visited, at about the same rate, and did not differ.)

Both learners get the same number of expert-labelled episodes, N iterations of m episodes:
``bc`` is behavioural cloning on N·m expert episodes (DAgger with β_i = 1, the expert's
distribution only); ``dagger`` starts from m expert episodes (β_1 = 1) and then labels the
episodes its own policy drives (β_i = 0 after, the "first" schedule), aggregating all of them.
Reported per horizon T: the return gap to the expert (expert's mean return − the learner's,
greedy, 200 fresh episodes per seed) and the learner's mistakes per episode (steps where its
action differs from the expert's on its own trajectory, Ross et al.'s 0-1 loss), mean and 95%
percentile-bootstrap CI over seeds (``plastix.stats.bootstrap_ci``).

    taskset -c 0 .venv/bin/python experiments/imitation_dagger.py --json dagger.json
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from plastix.cores.mlp import FeedForward
from plastix.imitation import (BCConfig, Categorical, DAggerConfig, Policy, TableExpert, dagger, episode_costs,
                               grid_env, mixed_rollouts, planner_policy)
from plastix.mdp import grid_from_text
from plastix.stats import bootstrap_ci

MAZE = (  # 15 x 12, 153 states: four 3-wide corridors joined at alternating ends
    "S...........",
    "............",
    "............",
    "#########...",
    "............",
    "............",
    "............",
    "...#########",
    "............",
    "............",
    "............",
    "#########...",
    "............",
    "............",
    "...........G",
)


def make_task(horizon: int):
    return grid_from_text(MAZE, slip=0.1, living=-1.0, goal_reward=0.0, reward_on="arrival", gamma=0.99,
                          max_episode_steps=horizon, name="maze")


def run_method(schedule: str, horizon: int, seed: int, args) -> dict:
    task = make_task(horizon)
    env, env_params = grid_env(task, observation=args.observation)
    table = jnp.asarray(planner_policy(task))
    policy = Policy(FeedForward(input_size=env.observation_size, hidden_size=args.hidden), Categorical(4))
    config = DAggerConfig(iterations=args.iterations, windows=args.episodes_per_iteration, num_steps=horizon,
                          schedule=schedule, first_episode_only=True,
                          bc=BCConfig(steps=args.bc_steps, batch_size=16, lr=1e-2))
    key_train, key_eval = jax.random.split(jax.random.PRNGKey(seed))
    result = dagger(env, env_params, policy, TableExpert(), table, key_train, config)
    learner = mixed_rollouts(env, env_params, policy, result.params, TableExpert(), table, 0.0, key_eval,
                             args.eval_episodes, horizon)
    expert = mixed_rollouts(env, env_params, None, None, TableExpert(), table, 1.0, key_eval, args.eval_episodes,
                            horizon)
    ret_l, mistakes = episode_costs(learner)
    ret_e, _ = episode_costs(expert)
    return {"gap": float(np.mean(ret_e) - np.mean(ret_l)), "mistakes": float(np.mean(mistakes)),
            "expert_return": float(np.mean(ret_e)), "learner_return": float(np.mean(ret_l)),
            "labelled_steps": result.sizes[-1]}


def interval(values) -> str:
    ci = bootstrap_ci(np.asarray(values), statistic="mean", rng=np.random.default_rng(0))
    return f"{ci.estimate:.1f} [{ci.low:.1f}, {ci.high:.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--horizons", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--episodes-per-iteration", type=int, default=1)
    parser.add_argument("--bc-steps", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--observation", default="coordinates", choices=["coordinates", "one-hot"])
    parser.add_argument("--json", default="", help="also write the per-seed numbers to this JSON file")
    args = parser.parse_args()
    start = time.time()
    rows, raw = [], {}
    for horizon in args.horizons:
        per = {m: [run_method(s, horizon, seed, args) for seed in range(args.seeds)]
               for m, s in (("bc", "expert"), ("dagger", "first"))}
        raw[horizon] = per
        expert = np.mean([r["expert_return"] for r in per["bc"]])
        rows.append(f"| {horizon} | {expert:.1f} | " + " | ".join(
            interval([r[k] for r in per[m]]) for k in ("gap", "mistakes") for m in ("bc", "dagger")) + " |")
        print(rows[-1], flush=True)
    print(f"\n{args.seeds} seeds, {args.iterations} iterations x {args.episodes_per_iteration} episodes, "
          f"{time.time() - start:.0f} s\n")
    print("| T | expert return | gap BC | gap DAgger | mistakes/episode BC | mistakes/episode DAgger |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({str(k): v for k, v in raw.items()}, f, indent=1)


if __name__ == "__main__":
    main()
