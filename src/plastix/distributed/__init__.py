"""Asynchronous and distributed actors on Ray (docs/distributed.md).

* ``run_a3c(A3CConfig(rl=RLConfig(...), actors=K))``: asynchronous advantage actor-critic (Mnih
  et al. 2016): K actor processes compute a2c gradients with their own copies of the
  parameters; one learner applies each as it arrives, measuring and bounding policy staleness.
* ``Learner``: the learner's arithmetic alone (staleness, dropping, the optax step), no Ray.
* ``run_dppo(DPPOConfig(ppo=PPOConfig(...), actors=K))``: distributed PPO (Heess et al. 2017): K
  actors collect rollouts with their copies of the policy; the learner runs the PPO update
  (``plastix.ppo.trainer.learn``) on each as it arrives.
* Actors that die are replaced and the run continues (``Fleet``).

Ray is an optional extra (``pip install plastix[ray]``), imported only when a run starts.
"""

from plastix.distributed.a3c import A3C_METRICS, A3CConfig, A3CResult, run_a3c
from plastix.distributed.dppo import DPPO_METRICS, DPPOConfig, DPPOResult, run_dppo
from plastix.distributed.fleet import Fleet
from plastix.distributed.learner import Ledger, Learner, Receipt, admit

__all__ = ["A3CConfig", "A3CResult", "A3C_METRICS", "DPPOConfig", "DPPOResult", "DPPO_METRICS", "Fleet", "Ledger",
           "Learner", "Receipt", "admit", "run_a3c", "run_dppo"]
