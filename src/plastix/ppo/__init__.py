"""Proximal policy optimisation (Schulman et al. 2017) on any plastix core: the clipped losses
(``plastix.ppo.losses``), the settings (``plastix.ppo.config``), the jittable training loop with
recurrent PPO over stored carries (``plastix.ppo.trainer``) and the flags of ``plastix train
--algo ppo`` (``plastix.ppo.resolve``). docs/ppo.md has the equations, commands and results."""

from plastix.ppo.config import PPOConfig

__all__ = ["PPOConfig"]
