"""``plastix train TASK --algo ppo`` flags -> a ``PPOConfig``, with each task's defaults, once, in
``PPO_DEFAULTS`` (PureJaxRL's ``ppo.py`` settings for CartPole and outside environments; the
meta-RL tasks: one episode per environment per update, as the a2c trainer; docs/ppo.md)."""

from __future__ import annotations

import dataclasses

from plastix.errors import PlastixError, check_positive_int
from plastix.options import LOG_POINTS, clip_norm, core_options, env_settings, pick
from plastix.ppo.config import PPOConfig, validate

_BASE = PPOConfig()  # PureJaxRL's CartPole settings are PPOConfig's field defaults, nowhere else
# the meta-RL tasks (time t/T is observed, the episode ends at T for real): no bootstrapping at the
# time limit, one whole episode per environment per rollout, the core's memory shared by actor and critic
_META = dict(bootstrap_truncated=False, separate_critic=False, gamma=0.9, gae_lambda=0.95, num_envs=32,
             num_minibatches=4, ent_coef=0.03, lr=1e-3, lr_end=None, clip_norm=2.0)

PPO_DEFAULTS: dict[str, PPOConfig] = {
    "cartpole": _BASE,
    "cue-reward": dataclasses.replace(_BASE, task="cue-reward", core="neuromod-rnn", hidden=64,
                                      total_steps=100 * 32 * 40, **_META),
    "meta-maze": dataclasses.replace(_BASE, task="meta-maze", core="neuromod-rnn", hidden=100,
                                     total_steps=200 * 32 * 200, **_META),
    "bandit": dataclasses.replace(_BASE, task="bandit", core="gru", hidden=48, total_steps=500 * 32 * 100, **_META),
    "gymnax:Pendulum-v1": dataclasses.replace(
        _BASE, task="gymnax:Pendulum-v1", num_envs=16, num_steps=256, update_epochs=10, num_minibatches=16,
        gamma=0.9, gae_lambda=0.95, ent_coef=0.0, lr=1e-3, reward_scale=0.1, total_steps=1_015_808, clip_norm=0.5),
    "*": _BASE,
}
RECURRENT_META = ("cue-reward", "meta-maze", "bandit")


def ppo_defaults(task: str) -> PPOConfig:
    return PPO_DEFAULTS.get(task, PPO_DEFAULTS["*"])


def resolve_ppo_config(flags) -> PPOConfig:
    """The flags of ``plastix train ... --algo ppo`` -> a validated PPOConfig.

    ``num_steps`` defaults to the task's (128; the meta-RL tasks: their episode length, so a
    rollout is one whole episode per environment); ``seq_len`` to 1 for the memoryless ``mlp``
    core and to ``num_steps`` for a recurrent one (a whole rollout per sequence); ``embed`` and
    ``head_hidden`` to ``hidden`` for a recurrent core with a shared critic outside the meta-RL
    tasks (PureJaxRL ``ppo_rnn.py``'s network), else 0. The budget is
    rounded down to whole log points of updates of num_envs × num_steps steps."""
    from plastix.envs import make_env

    if flags.task.startswith("gymnasium:"):
        raise PlastixError(f"--algo ppo runs its environments inside jit; {flags.task!r} is a Gymnasium environment "
                           "stepped on the host. Use --algo a2c or reinforce for gymnasium:<id> tasks.")
    d = ppo_defaults(flags.task)
    settings = env_settings(flags)
    _, env_params = make_env(flags.task, flags.preset, **dict(settings))
    core = pick(flags.core, d.core)
    meta = flags.task in RECURRENT_META
    num_steps = check_positive_int("num_steps", pick(flags.num_steps, int(env_params.episode_length) if meta
                                                      else d.num_steps))
    num_envs = check_positive_int("num_envs", pick(flags.num_envs, d.num_envs))
    per_update = num_envs * num_steps
    budget = check_positive_int("total_steps", pick(flags.total_steps, d.total_steps))
    num_updates = budget // per_update
    if num_updates < 1:
        raise PlastixError(f"total_steps ({budget}) must be at least num_envs × num_steps ({per_update}).")
    if flags.log_every is None:
        per_log = max(1, num_updates // LOG_POINTS)
    else:
        per_log = max(1, round(check_positive_int("log_every", flags.log_every) / per_update))
    per_log = min(per_log, num_updates)
    hidden = pick(flags.hidden, d.hidden)
    # a recurrent core outside the meta-RL tasks: PureJaxRL ppo_rnn.py's network, a ReLU embedding and
    # a ReLU layer in each head, as wide as the core (docs/ppo.md: with linear heads a GRU 128 ended
    # at a greedy 102-152 on CartPole, with these at 500)
    torso = hidden if core != "mlp" and not meta and not pick(flags.separate_critic, False) else 0
    config = PPOConfig(
        task=flags.task, preset=flags.preset, env_settings=settings, core=core, core_options=core_options(flags),
        hidden=hidden,
        separate_critic=pick(flags.separate_critic, d.separate_critic and core == "mlp"),
        embed=pick(flags.embed, torso), head_hidden=pick(flags.head_hidden, torso),
        action_dist=flags.action_dist, num_envs=num_envs, num_steps=num_steps,
        seq_len=pick(flags.seq_len, 1 if core == "mlp" else num_steps),
        update_epochs=pick(flags.update_epochs, d.update_epochs),
        num_minibatches=pick(flags.num_minibatches, d.num_minibatches), gamma=pick(flags.gamma, d.gamma),
        gae_lambda=pick(flags.gae_lambda, d.gae_lambda), clip_eps=flags.clip_eps, clip_value=flags.clip_value,
        vf_coef=flags.vf_coef, ent_coef=pick(flags.ent_coef, d.ent_coef), norm_adv=flags.norm_adv,
        bootstrap_truncated=pick(flags.bootstrap_truncated, d.bootstrap_truncated),
        reward_scale=pick(flags.reward_scale, d.reward_scale), lr=pick(flags.lr, d.lr),
        lr_end=flags.lr_end if flags.lr_end is not None else d.lr_end,
        adam_eps=d.adam_eps, clip_norm=clip_norm(flags.clip_norm, d.clip_norm),
        total_steps=(num_updates // per_log) * per_log * per_update, updates_per_log=per_log, dtype=flags.dtype)
    validate(config)
    return config
