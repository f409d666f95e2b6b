"""Backpropamine's released settings, exactly, as a named configuration (``paper-exact``).

Miconi, Rawal, Clune & Stanley (ICLR 2019) released their code as
github.com/uber-research/backpropamine; ``sr/srbatch.py`` + ``sr/modul.py`` (cue-reward, run
with the command of ``sr/README.md``) and ``maze/batch.py`` (the maze, command of
``maze/README.md``). ``released_config(task)`` returns the ``RLConfig`` that matches them;
docs/reproduction.md lists each difference from plastix's defaults with its file and line.

cue-reward (sr/README.md: ``--eplen 120 --hs 200 --lr 1e-4 --l2 0 --bent 0.1 --type modul
--da tanh --ni 4 --cs 20 --eps 1e-6 --bs 30 --gc 2.0``; ``--blossv`` 0.1 and ``--gr`` 0.9 by
default):

    A2C with Monte-Carlo returns, γ 0.9; value loss Σ (R − v)² with coefficient 0.1 (no ½:
    value_coef 0.2 in plastix's c_v · ½ Σ convention); Simpson penalty 0.1 · Σ π² and no
    entropy bonus; baseline = batch element 0's value for every episode; Adam 1e-4, ε 1e-6, no
    weight decay; gradient-norm clip 2.0; no optimizer step for the first 100 updates;
    retroactive neuromodulation (tanh), hidden 200, η 0.1 unbounded (η = θ), PyTorch's
    initialisation (``init_scheme="released"``); 4 cues of 20 bits, 120-step episodes.

meta-maze (maze/README.md: ``--eplen 200 --hs 100 --lr 1e-4 --l2 0 --blossv 0.1 --bent 0.03
--rew 10 --type modplast --da tanh --msize 13 --bs 30 --gc 4.0``): as above with Simpson 0.03,
Adam ε 1e-4, clip 4.0, hidden 100, simple neuromodulation, initial η 0.01, an 11 × 11
interior (preset ``released``), 200 steps, reward 10.
"""

from __future__ import annotations

import dataclasses

from plastix.errors import PlastixError
from plastix.rl.trainer import RLConfig

CONFIG_NAMES = ("paper-exact",)

RELEASED = {
    "cue-reward": RLConfig(
        task="cue-reward", preset="default", core="neuromod-rnn",
        core_options=(("eta_init", 0.1), ("eta_param", "raw"), ("init_scheme", "released"),
                      ("modulation", "retroactive"), ("squash", "tanh")),
        hidden=200, algo="a2c", batch_size=30, gamma=0.9, value_coef=0.2, entropy_coef=0.0,
        concentration_coef=0.1, lr=1e-4, clip_norm=2.0, adam_eps=1e-6, baseline_element0=True,
        burn_in_updates=100),
    "meta-maze": RLConfig(
        task="meta-maze", preset="released", core="neuromod-rnn",
        core_options=(("eta_init", 0.01), ("eta_param", "raw"), ("init_scheme", "released"),
                      ("modulation", "simple"), ("squash", "tanh")),
        hidden=100, algo="a2c", batch_size=30, gamma=0.9, value_coef=0.2, entropy_coef=0.0,
        concentration_coef=0.03, lr=1e-4, clip_norm=4.0, adam_eps=1e-4, baseline_element0=True,
        burn_in_updates=100),
}


def released_config(task: str, **changes) -> RLConfig:
    """The released code's settings for ``task`` (cue-reward | meta-maze), then ``changes``
    (any RLConfig fields, e.g. num_updates, hidden, preset) applied on top."""
    if task not in RELEASED:
        raise PlastixError(f"the released Backpropamine settings exist for {sorted(RELEASED)}, got task {task!r}.")
    return dataclasses.replace(RELEASED[task], **changes)


def with_core(config: RLConfig, core: str, modulation: str | None = None) -> RLConfig:
    """The same released settings with another variant: ``elman`` (non-plastic), ``plastic-rnn``
    (non-modulated, η from the config) or ``neuromod-rnn`` with ``modulation``."""
    options = dict(config.core_options)
    if core == "elman":
        return dataclasses.replace(config, core="elman", core_options=())
    options.pop("modulation", None), options.pop("squash", None)
    if core == "neuromod-rnn":
        options.update(modulation=modulation or "retroactive", squash="tanh")
    return dataclasses.replace(config, core=core, core_options=tuple(sorted(options.items())))


__all__ = ["CONFIG_NAMES", "RELEASED", "released_config", "with_core"]
