"""plastix: learning in time with recurrent and plastic networks, in JAX.

The front door::

    import plastix
    from plastix.train import SupervisedConfig

    result = plastix.run(SupervisedConfig(task="adding", core="elman", hidden=16, seq_len=20),
                         seeds=2, out="runs/adding")           # -> Result(state, metrics, run_dir, ...)
    run = plastix.load("runs/adding")                           # -> Run(config, params, metrics, ...)

``plastix.run`` trains any algorithm's config (``SupervisedConfig``, ``plastix.rl.RLConfig``,
``plastix.ppo.PPOConfig``, ``plastix.dqn.DQNConfig``, ``plastix.mdp.runner.GridConfig``) with the shared ``RunOptions``;
how it works is written in ``plastix.driver``.

Subpackages: ``cores`` (recurrent and plastic cores), ``grads`` (BPTT, hand-derived BPTT,
truncated BPTT, RTRL), ``tasks`` (sequence tasks, Mackey–Glass), ``train`` (the trainer harness
and the supervised trainer), ``mdp`` (planning and tabular RL), ``envs`` (gymnax-contract
environments), ``rl`` (returns, policy-gradient losses and the actor-critic trainer), ``ppo`` (PPO and
recurrent PPO), ``dqn``
(the DQN family), ``stats`` (statistics across seeds: IQM, bootstrap confidence intervals,
rank-sum tests).

Everything is imported lazily, on first use of a name (``import plastix`` loads no JAX).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

SUBPACKAGES = ("cores", "envs", "grads", "mdp", "rl", "ppo", "dqn", "stats", "tasks", "train")
# public name -> the module that defines it
NAMES = {
    "PlastixError": "plastix.errors",
    "make_core": "plastix.cores",
    "SeqModel": "plastix.grads",
    "make_batch": "plastix.grads",
    "make_grad_method": "plastix.grads",
    "run": "plastix.driver",
    "load": "plastix.driver",
    "RunOptions": "plastix.driver",
    "Result": "plastix.driver",
    "Run": "plastix.driver",
}

if TYPE_CHECKING:  # pragma: no cover
    from plastix import cores, dqn, envs, grads, mdp, ppo, rl, stats, tasks, train  # noqa: F401
    from plastix.cores import make_core  # noqa: F401
    from plastix.driver import Result, Run, RunOptions, load, run  # noqa: F401
    from plastix.errors import PlastixError  # noqa: F401
    from plastix.grads import SeqModel, make_batch, make_grad_method  # noqa: F401


def __getattr__(name: str):
    if name in SUBPACKAGES:
        module = importlib.import_module(f"plastix.{name}")
    elif name in NAMES:
        module = getattr(importlib.import_module(NAMES[name]), name)
    else:
        raise AttributeError(f"module 'plastix' has no attribute {name!r}")
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    return sorted([*globals(), *SUBPACKAGES, *NAMES])


__all__ = ["__version__", *SUBPACKAGES, *NAMES]
