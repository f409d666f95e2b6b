"""plastix: learning in time with recurrent and plastic networks, in JAX.

Subpackages: ``cores`` (recurrent and plastic cores), ``grads`` (BPTT, hand-derived BPTT,
truncated BPTT, RTRL), ``tasks`` (sequence tasks, Mackey–Glass), ``train`` (the supervised
trainer), ``mdp`` (planning and tabular RL), ``envs`` (gymnax-contract environments), ``rl``
(returns, policy-gradient losses and the actor-critic trainer), ``dqn`` (the DQN family),
``stats`` (statistics across seeds: IQM, bootstrap confidence intervals, rank-sum tests).
"""

__version__ = "0.1.0"

from plastix import cores, envs, grads, mdp, rl, stats, tasks, train  # noqa: E402
from plastix.cores import make_core  # noqa: E402
from plastix.errors import PlastixError  # noqa: E402
from plastix.grads import SeqModel, make_batch, make_grad_method  # noqa: E402

__all__ = [
    "PlastixError",
    "SeqModel",
    "__version__",
    "cores",
    "envs",
    "grads",
    "make_batch",
    "make_core",
    "make_grad_method",
    "mdp",
    "rl",
    "stats",
    "tasks",
    "train",
]
