"""``plastix train`` flags -> an ``RLConfig`` (a2c / reinforce), with each task's defaults.

``RL_PRESETS`` holds them, once, as named config instances: (task, preset) -> ``RLConfig``;
(task, "default") also for a preset not listed, ("*", "default") for outside environments
(gymnax:<id>, gymnasium:<id>). cue-reward default/paper and meta-maze: Backpropamine's released
settings (Miconi et al. 2019); the others measured (docs/rl-training.md, docs/environments.md).
"""

from __future__ import annotations

import dataclasses

from plastix.errors import PlastixError, check_positive_int
from plastix.options import clip_norm, core_options, env_settings, pick, updates_per_log
from plastix.rl.trainer import RLConfig, validate


_PAPER = RLConfig()  # Backpropamine's released settings are RLConfig's field defaults, nowhere else


def preset(task: str, **changes) -> RLConfig:
    """A named preset: Backpropamine's settings (``RLConfig``'s defaults) with ``changes`` for
    ``task``; ``num_updates`` is the default budget in updates of ``batch_size`` episodes."""
    return dataclasses.replace(_PAPER, task=task, updates_per_log=1, **changes)


# (task, preset) -> the preset's defaults; "default" also serves a preset not listed, "*" outside environments
RL_PRESETS: dict[tuple[str, str], RLConfig] = {
    ("cue-reward", "default"): preset("cue-reward", num_updates=200),
    ("cue-reward", "paper"): preset("cue-reward", num_updates=200),
    # Adam 1e-3, not 3e-3: retroactive modulation learned in 8 of 8 seeds at 1e-3 and in 4 of 8 at
    # 3e-3 annealed to 3e-4 (docs/reproduction.md, "stability"); simple modulation in 8 of 8 at both
    ("cue-reward", "easy"): preset("cue-reward", hidden=50, lr=1e-3, num_updates=1500),
    # the main job: 5.3 of a possible ~6 after 50 updates
    ("cue-reward", "quick"): preset("cue-reward", hidden=64, lr=1e-3, num_updates=300),
    ("meta-maze", "default"): preset("meta-maze", hidden=100, lr=1e-4, num_updates=200, clip_norm=4.0),
    ("bandit", "default"): preset("bandit", hidden=16, lr=3e-2, num_updates=100),
    ("bandit", "meta"): preset("bandit", hidden=48, lr=3e-3, num_updates=500),
    ("cartpole", "default"): preset("cartpole", hidden=32, lr=1e-2, num_updates=300, clip_norm=1.0, gamma=0.99,
                                    value_coef=0.5, entropy_coef=0.0, core="mlp", batch_size=32),
    ("*", "default"): preset("*", hidden=64, lr=3e-3, num_updates=300, clip_norm=1.0, gamma=0.99, value_coef=0.5,
                             entropy_coef=0.01, core="gru", batch_size=16),
}


def rl_defaults(task: str, preset_name: str) -> RLConfig:
    """The defaults of (task, preset): the preset's, else the task's default preset, else those of
    outside environments."""
    return RL_PRESETS.get((task, preset_name), RL_PRESETS.get((task, "default"), RL_PRESETS[("*", "default")]))


def check_discrete_actions(algo: str, task: str, env) -> None:
    """An environment must have ``env.num_actions`` discrete actions (a positive integer) or declare
    continuous ones through ``env.action_spec`` (``plastix.envs.base.ContinuousActions``): anything
    else is refused."""
    import numpy as np

    if getattr(env, "action_spec", None) is not None:  # continuous actions: a2c / reinforce sample them
        return
    n = getattr(env, "num_actions", None)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 or getattr(env, "continuous", False):
        raise PlastixError(f"--algo {algo} needs a discrete action space, but task {task!r} has continuous actions "
                           f"(num_actions {n!r}).")


def batch_flag(flags) -> int | None:
    """B from --episodes or --num-envs (two names of one number: the environments a seed steps in lockstep,
    one episode each per update); None when neither is given."""
    episodes, num_envs = flags.episodes, getattr(flags, "num_envs", None)
    if episodes is not None and num_envs is not None and episodes != num_envs:
        raise PlastixError(f"--episodes ({episodes}) and --num-envs ({num_envs}) name the same batch of "
                           "environments stepped in lockstep per update; give one of them.")
    return pick(episodes, num_envs)


def resolve_rl_config(flags) -> RLConfig:
    """The flags of ``plastix train`` for an RL task (attributes task, preset, env_opt, algo, core,
    hidden, episodes, total_steps, log_every, gamma, value_coef, entropy_coef, lr, lr_end,
    clip_norm, baseline, rl_grad, modulation, core_opt, dtype) -> a validated RLConfig."""
    from plastix.envs import make_env

    settings = env_settings(flags)
    algo = pick(flags.algo, "a2c")
    env, env_params = make_env(flags.task, flags.preset, **dict(settings))
    check_discrete_actions(algo, flags.task, env)
    defaults = rl_defaults(flags.task, flags.preset)
    episodes = check_positive_int("episodes", pick(batch_flag(flags), defaults.batch_size))
    per_update = episodes * int(env_params.episode_length)  # environment steps per update
    budget = check_positive_int("total_steps", pick(flags.total_steps, defaults.num_updates * per_update))
    num_updates = budget // per_update
    if num_updates < 1:
        raise PlastixError(f"total_steps ({budget}) must be at least episodes × episode length ({per_update}).")
    per_log = updates_per_log(num_updates, flags.log_every, per_update)
    config = RLConfig(
        task=flags.task, preset=flags.preset, env_settings=settings, core=pick(flags.core, defaults.core),
        core_options=core_options(flags), hidden=pick(flags.hidden, defaults.hidden), algo=algo,
        baseline=getattr(flags, "baseline", _PAPER.baseline),  # a2c's flags have no baseline
        batch_size=episodes, gamma=pick(flags.gamma, defaults.gamma),
        value_coef=pick(flags.value_coef, defaults.value_coef),
        entropy_coef=pick(flags.entropy_coef, defaults.entropy_coef), lr=pick(flags.lr, defaults.lr),
        lr_end=flags.lr_end, clip_norm=clip_norm(flags.clip_norm, defaults.clip_norm),
        num_updates=(num_updates // per_log) * per_log, updates_per_log=per_log, dtype=flags.dtype,
        grad=getattr(flags, "rl_grad", _PAPER.grad), action_dist=getattr(flags, "action_dist", _PAPER.action_dist),
        reward_scale=getattr(flags, "reward_scale", _PAPER.reward_scale))
    validate(config)
    return config

