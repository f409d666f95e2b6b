"""Behavioural cloning vs DAgger over the horizon (Ross, Gordon & Bagnell 2011, Theorems 2.1 and 3.2).

Ross et al. bound the T-step cost of a policy that errs with probability ε on the states it is
trained on: behavioural cloning (trained on the expert's states) costs up to J(π*) + T²ε, because
one mistake can take it to states the expert never visits, where it keeps erring for the rest of
the horizon; DAgger (trained on the states its own policies visit) costs J(π*) + O(Tε).

``--task road`` (default): a closed one-cell-wide road (the arrows of ``ROAD``, 26 cells) walled
on both sides except at four gaps, each the mouth of a dead-end side pocket that runs alongside
the road in the road's direction; no terminal state, a FIXED horizon T. Every step that ends off
the road costs 1 (reward −1 on arrival), every step on it 0; slip 0.02 (the intended move with
probability 0.98, each perpendicular move with 0.01; a move into a wall stays put). The expert is
the planner's optimal policy (value iteration, γ = 0.9, on the off-road cost plus a bonus of 0.5
for stepping to the next road cell in the arrow's direction, which only breaks the ties between
on-road moves): it drives round the loop and, when a slip puts it in a pocket's mouth, steps
straight back, so its demonstrations hold a mouth about once in 650 steps (4 mouths per 26-cell
lap, 0.01 each) and a pocket's inside almost never. The learner is a one-hidden-layer network
(``mlp`` core, 64 units) on the cell's (row, column) scaled to [0, 1] that executes a sample of
its softmax (``--act sample``), so, like the classifier of Ross et al., it errs with a small
probability at every step. On the road an error mostly bumps a wall or steps back, at no cost;
next to a mouth it can enter the mouth, where a learner that was never shown the way back tends to
carry on in the road's direction, into the mouth's wall or down the pocket to its dead end, where
moving on bumps the wall and a perpendicular slip bumps the pocket's sides: one mistake then costs
1 at every remaining step of the horizon.

Both learners get the same number of expert-labelled steps, N iterations of m windows of
``--train-steps`` steps: ``bc`` clones N·m expert windows (DAgger with β_i = 1, the expert's
distribution only); ``dagger`` starts from m expert windows (β_1 = 1) and then labels the
windows its own policy drives (β_i = 0 after, the "first" schedule), aggregating all of them.
Each learner is trained once per seed (its DAgger rollouts act as ``--act`` says) and run for
200 fresh windows of max(T) steps;
the cost over a horizon T is the sum over the first T steps of each window (the policy is
stationary and the road has no terminal, so this is exactly a T-step episode). Reported per T:
the gap (learner's mean cost − the expert's, i.e. the expert's return − the learner's) and the
learner's mistakes (steps where its action differs from the expert's label on its own
trajectory, Ross et al.'s 0-1 loss), mean and 95% percentile-bootstrap CI over seeds
(``plastix.stats.bootstrap_ci``).

``--task maze``: the earlier experiment, a winding 15 x 12 maze (−1 per step to a terminal
goal, slip 0.1, a greedy learner: ``--act mode``), trained afresh for each horizon with windows of
T steps.

    nice -n 10 taskset -c 0 .venv/bin/python experiments/imitation_dagger.py --seeds 16 --json road.json
    nice -n 10 taskset -c 0 .venv/bin/python experiments/imitation_dagger.py --task maze --seeds 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from plastix.cores.mlp import FeedForward
from plastix.errors import PlastixError
from plastix.imitation import (BCConfig, Categorical, DAggerConfig, Policy, TableExpert, dagger, episode_costs,
                               grid_env, mixed_rollouts, planner_policy)
from plastix.mdp import grid_from_text
from plastix.mdp.grids import MOVES
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

ROAD = (  # 12 x 15; the road is the arrows (each points to the next road cell), "." the four side pockets
    "###############",
    "####.......####",
    "#.##.##########",
    "#.#>>>>>>>>v###",
    "#.#^#######v..#",
    "#.#^#######v#.#",
    "#.#^#######v#.#",
    "#..^#######v#.#",
    "###^<<<<<<<<#.#",
    "##########.##.#",
    "####.......####",
    "###############",
)
ARROWS = "^>v<"  # N E S W, the order of plastix.mdp.grids.MOVES
ROAD_START = (3, 3)


def road_cells(rows=ROAD) -> dict:
    """{(r, c): the next road cell} of a map of arrows; raises unless the arrows form one loop."""
    nxt = {(r, c): (r + MOVES[ARROWS.index(ch)][0], c + MOVES[ARROWS.index(ch)][1])
           for r, row in enumerate(rows) for c, ch in enumerate(row) if ch in ARROWS}
    cell, seen = ROAD_START, []
    while cell not in seen:
        if cell not in nxt:
            raise PlastixError(f"the road leaves the arrows at {cell}.")
        seen.append(cell)
        cell = nxt[cell]
    if cell != ROAD_START or len(seen) != len(nxt):
        raise PlastixError(f"the arrows must form one closed loop through {ROAD_START}.")
    return nxt


def make_road(episode_length: int, slip: float = 0.02, rows=ROAD, bonus: float = 0.5):
    """(task, expert table): the road task of the module docstring and the planner's policy."""
    nxt = road_cells(rows)
    field = ["".join("S" if (r, c) == ROAD_START else "#" if ch == "#" else "." for c, ch in enumerate(row))
             for r, row in enumerate(rows)]
    task = grid_from_text(field, slip=slip, living=0.0, reward_on="arrival", gamma=0.9,
                          max_episode_steps=episode_length, name="road")
    cells = task.layout.cells
    on_road = np.array([cell in nxt for cell in cells])
    cost = np.broadcast_to(-(~on_road).astype(float), task.mdp.R.shape)  # −1 for arriving off the road
    follow = np.zeros(task.mdp.R.shape)  # the planner's tie-break: +bonus for reaching the next road cell
    for s, cell in enumerate(cells):
        if cell in nxt:
            follow[s, :, task.layout.state_of[nxt[cell]]] = bonus
    task = dataclasses.replace(task, mdp=task.mdp.replace(R=jnp.asarray(cost, task.mdp.R.dtype)))
    planner = dataclasses.replace(task, mdp=task.mdp.replace(R=jnp.asarray(cost + follow, task.mdp.R.dtype)))
    return task, planner_policy(planner)


def make_maze(episode_length: int):
    task = grid_from_text(MAZE, slip=0.1, living=-1.0, goal_reward=0.0, reward_on="arrival", gamma=0.99,
                          max_episode_steps=episode_length, name="maze")
    return task, planner_policy(task)


def train_and_evaluate(task, table, schedule: str, train_steps: int, horizons, seed: int, args) -> dict:
    """Train one learner (``schedule`` "expert" = BC, "first" = DAgger) and return, per horizon T,
    the expert's and the learner's mean T-step return and the learner's mistakes per episode."""
    T_max = max(horizons)
    env, env_params = grid_env(task, episode_length=T_max, observation=args.observation)
    table = jnp.asarray(table)
    policy = Policy(FeedForward(input_size=env.observation_size, hidden_size=args.hidden), Categorical(4))
    config = DAggerConfig(iterations=args.iterations, windows=args.episodes_per_iteration, num_steps=train_steps,
                          schedule=schedule, first_episode_only=True, greedy=args.act == "mode",
                          bc=BCConfig(steps=args.bc_steps, batch_size=16, lr=1e-2))
    key_train, key_eval = jax.random.split(jax.random.PRNGKey(seed))
    result = dagger(env, env_params, policy, TableExpert(), table, key_train, config)
    learner = mixed_rollouts(env, env_params, policy, result.params, TableExpert(), table, 0.0, key_eval,
                             args.eval_episodes, T_max, greedy=args.act == "mode")
    expert = mixed_rollouts(env, env_params, None, None, TableExpert(), table, 1.0, key_eval, args.eval_episodes,
                            T_max)
    out = {"labelled_steps": result.sizes[-1]}
    for T in horizons:  # a T-step episode is the first T steps of a window (stationary policies)
        cut = lambda steps: jax.tree.map(lambda a: a[:, :T], steps)  # noqa: E731
        ret_l, mistakes = episode_costs(cut(learner))
        ret_e, _ = episode_costs(cut(expert))
        out[T] = {"gap": float(np.mean(ret_e) - np.mean(ret_l)), "mistakes": float(np.mean(mistakes)),
                  "expert_return": float(np.mean(ret_e)), "learner_return": float(np.mean(ret_l))}
    return out


def interval(values) -> str:
    ci = bootstrap_ci(np.asarray(values), statistic="mean", rng=np.random.default_rng(0))
    return f"{ci.estimate:.1f} [{ci.low:.1f}, {ci.high:.1f}]"


def run(args) -> dict:
    """{T: {"bc": [per seed], "dagger": [per seed]}}: the road trains once per seed and is cut at
    every horizon; the maze trains afresh for each horizon with windows of T steps."""
    methods = (("bc", "expert"), ("dagger", "first"))
    raw = {T: {m: [] for m, _ in methods} for T in args.horizons}
    if args.task == "road":
        task, table = make_road(max(args.horizons), args.slip)
        for m, schedule in methods:
            for seed in range(args.seeds):
                res = train_and_evaluate(task, table, schedule, args.train_steps, args.horizons, seed, args)
                for T in args.horizons:
                    raw[T][m].append(dict(res[T], labelled_steps=res["labelled_steps"]))
        return raw
    for T in args.horizons:
        task, table = make_maze(T)
        for m, schedule in methods:
            for seed in range(args.seeds):
                res = train_and_evaluate(task, table, schedule, T, [T], seed, args)
                raw[T][m].append(dict(res[T], labelled_steps=res["labelled_steps"]))
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="road", choices=["road", "maze"])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--slip", type=float, default=0.02, help="road: the slip probability")
    parser.add_argument("--horizons", type=int, nargs="+", default=None,
                        help="road: 25 50 100 200 400; maze: 100 200 400")
    parser.add_argument("--train-steps", type=int, default=100, help="road: steps per training window")
    parser.add_argument("--iterations", type=int, default=None, help="road: 30; maze: 8")
    parser.add_argument("--episodes-per-iteration", type=int, default=1)
    parser.add_argument("--bc-steps", type=int, default=None, help="Adam updates per iteration (300)")
    parser.add_argument("--hidden", type=int, default=None, help="road: 64; maze: 32")
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--act", default=None, choices=["sample", "mode"],
                        help="the learner executes a sample of its softmax or its mode (road: sample; maze: mode)")
    parser.add_argument("--observation", default="coordinates", choices=["coordinates", "one-hot"])
    parser.add_argument("--json", default="", help="also write the per-seed numbers to this JSON file")
    args = parser.parse_args()
    if args.horizons is None:
        args.horizons = [25, 50, 100, 200, 400] if args.task == "road" else [100, 200, 400]
    road = args.task == "road"
    defaults = (("hidden", 64, 32), ("bc_steps", 300, 300), ("iterations", 30, 8), ("act", "sample", "mode"))
    for name, on_road, in_maze in defaults:
        if getattr(args, name) is None:
            setattr(args, name, on_road if road else in_maze)
    start = time.time()
    raw = run(args)
    print(f"{args.task}: {args.seeds} seeds, {args.iterations} iterations x {args.episodes_per_iteration} "
          f"windows, {raw[args.horizons[0]]['bc'][0]['labelled_steps']} labelled steps each, "
          f"{time.time() - start:.0f} s\n")
    print("| T | expert return | gap BC | gap DAgger | gap BC − DAgger (paired) | mistakes/episode BC "
          "| mistakes/episode DAgger |")
    print("|---|---|---|---|---|---|---|")
    for T in args.horizons:
        per = raw[T]
        expert = np.mean([r["expert_return"] for r in per["bc"]])
        gaps = {m: np.array([r["gap"] for r in per[m]]) for m in ("bc", "dagger")}
        print(f"| {T} | {expert:.1f} | {interval(gaps['bc'])} | {interval(gaps['dagger'])} | "
              f"{interval(gaps['bc'] - gaps['dagger'])} | "
              + " | ".join(interval([r["mistakes"] for r in per[m]]) for m in ("bc", "dagger")) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({str(k): v for k, v in raw.items()}, f, indent=1)


if __name__ == "__main__":
    main()
