"""``plastix train TASK --algo a3c | dppo``: an asynchronous run on Ray actors (``plastix.distributed``).

A Ray run is driven by the host (a learner loop waiting on actor processes), not by a
``Trainer`` of pure functions, so it has its own small path here, as Gymnasium's host loop has in
``plastix.driver.run_host``: ``plastix.cli.train.parse`` hands ``--algo a3c`` and ``--algo dppo``
to ``parse`` below; the flags are those of a2c (the gradient each A3C actor computes) or of ppo
(the update the DPPO learner runs), plus the actors' (``ActorArgs``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from plastix.cli.args import PolicyGradientArgs, PPOArgs, make_args
from plastix.errors import PlastixError

DISTRIBUTED_ALGOS = ("a3c", "dppo")


@dataclasses.dataclass(frozen=True)
class ActorArgs:
    """The flags of the actors and of Ray, shared by a3c and dppo."""

    actors: int = 2
    """K actor processes (each computes gradients for a3c, collects rollouts for dppo)."""
    max_staleness: int | None = None
    """Drop a gradient (a3c) or rollout (dppo) computed more than this many learner updates ago; None = the
    algorithm's default (a3c 4, dppo 1)."""
    ray_address: str | None = None
    """Address of a running Ray cluster (e.g. 10.0.0.5:6379 or auto); None = start a local Ray for this run."""
    num_cpus: int = 2
    """CPUs of the local Ray this run starts (without --ray-address)."""
    cpus_per_actor: float = 1.0
    """CPUs Ray reserves for each actor."""


@dataclasses.dataclass(frozen=True)
class A3CArgs(PolicyGradientArgs, ActorArgs):
    """Train an agent by asynchronous advantage actor-critic (Mnih et al. 2016) on Ray actors: each actor
    computes the a2c gradient of --episodes episodes with its own copy of the parameters, one learner applies
    each as it arrives (one seed; docs/distributed.md)."""

    algo: Literal["a3c"] = "a3c"
    """Algorithm."""

    def run(self) -> int:
        return run_distributed(self)


@dataclasses.dataclass(frozen=True)
class DPPOArgs(PPOArgs, ActorArgs):
    """Train an agent by distributed PPO (Heess et al. 2017) on Ray actors: each actor collects rollouts of its
    --num-envs environments with its copy of the policy, one learner runs the PPO update on each as it arrives
    (one seed; docs/distributed.md)."""

    algo: Literal["dppo"] = "dppo"
    """Algorithm."""

    def run(self) -> int:
        return run_distributed(self)


ARGS = {"a3c": A3CArgs, "dppo": DPPOArgs}


def parse(argv: Sequence[str], prog: str, algo: str):
    """The Args of a distributed algorithm (``DISTRIBUTED_ALGOS``) from ``plastix train`` argv."""
    import tyro

    if algo not in DISTRIBUTED_ALGOS:
        raise PlastixError(f"--algo {algo!r} is not a distributed algorithm ({', '.join(DISTRIBUTED_ALGOS)}).")
    argv = ["--help"] if any(t in ("-h", "--help") for t in argv) else list(argv)
    return tyro.cli(ARGS[algo], args=argv, prog=prog)


def base_config(args, base: type, algo: str, resolve):
    """The single-process config of the flags: ``base`` (the Args of ``algo``) resolved by ``resolve``."""
    own = {f.name for f in dataclasses.fields(base)} - {"options"}
    return resolve(make_args(base, {**{name: getattr(args, name) for name in own}, "algo": algo}))


def distributed_config(args):
    """``A3CConfig`` / ``DPPOConfig`` of the flags; run options an actor run cannot honour are refused."""
    from plastix.cli.train import validate_args

    if args.task is None:
        raise PlastixError(f"plastix train --algo {args.algo} needs a TASK, e.g. cartpole (resume is not available "
                           f"for {args.algo}).")
    opts = args.options
    refused = [flag for flag, given in (("--resume", opts.resume is not None), ("--seeds", opts.seeds != 1),
                                         ("--tensorboard", opts.tensorboard), ("--wandb", opts.wandb)) if given]
    if refused:
        raise PlastixError(f"{', '.join(refused)} not available for --algo {args.algo} (one learner, one seed per "
                           "run; start one run per seed).")
    validate_args({"seed": opts.seed, "hidden": args.hidden, "total_steps": args.total_steps, "lr": args.lr})
    actors = dict(actors=args.actors, seed=opts.seed, cpus_per_actor=args.cpus_per_actor)
    if args.max_staleness is not None:
        actors["max_staleness"] = args.max_staleness
    if args.algo == "a3c":
        from plastix.distributed import A3CConfig
        from plastix.rl.resolve import resolve_rl_config

        return A3CConfig(rl=base_config(args, PolicyGradientArgs, "a2c", resolve_rl_config), **actors)
    from plastix.distributed import DPPOConfig
    from plastix.ppo.resolve import resolve_ppo_config

    return DPPOConfig(ppo=base_config(args, PPOArgs, "ppo", resolve_ppo_config), **actors)


def run_distributed(args) -> int:
    """Entry point of ``plastix train --algo a3c | dppo``."""
    import contextlib
    import json
    import sys

    from plastix.cli.args import flat_args
    from plastix.distributed import run_a3c, run_dppo

    config = distributed_config(args)
    run = run_a3c if args.algo == "a3c" else run_dppo
    as_json = args.options.json
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        result = run(config, out=args.options.out, address=args.ray_address, num_cpus=args.num_cpus,
                     quiet=args.options.quiet, no_plot=args.options.no_plot, flags=flat_args(args))
    if as_json:
        base = config.rl if args.algo == "a3c" else config.ppo
        print(json.dumps({"run_dir": str(result.run_dir), "algo": args.algo, "task": base.task, "core": base.core,
                          "actors": config.actors, "applied": result.applied, "dropped": result.dropped,
                          "replaced": result.replaced, "staleness_mean": result.staleness_mean,
                          "staleness_max": result.staleness_max, "env_steps": result.env_steps,
                          "seconds": result.seconds}))
    return 0


__all__ = ["A3CArgs", "ActorArgs", "DISTRIBUTED_ALGOS", "DPPOArgs", "distributed_config", "parse"]
