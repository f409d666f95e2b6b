"""--num-envs for a2c and reinforce: N environments per seed stepped in lockstep inside one update.

The update's rollout (``vmap`` over the N environments of a ``lax.scan`` over steps) is compared
with the same N environments stepped one at a time by a Python loop — eager calls of the agent's
``act`` and the environment's ``step``, with the keys derived as the trainer derives them and the
same parameters. Observations, actions, rewards, episode ends and the agent's outputs must agree.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cli.args import TrainArgs
from plastix.errors import PlastixError
from plastix.grads import hand
from plastix.grads.hand import episode_group, set_episode_layout
from plastix.rl.resolve import resolve_rl_config
from plastix.rl.trainer import RLConfig, build_setup, init_state, rollout_batch


def loop_rollout(setup, params, key):
    """The N environments of one update, each stepped alone, step by step, outside any scan or vmap."""
    n, steps = setup.config.batch_size, setup.num_steps
    dist = setup.agent.distribution
    records = {name: np.zeros((n, steps)) for name in ("action", "reward", "done", "value")}
    records["obs"], records["logits"] = [[None] * steps for _ in range(n)], [[None] * steps for _ in range(n)]
    for b, env_key in enumerate(jax.random.split(key, n)):  # the environment's own key
        k_reset, k_steps = jax.random.split(env_key)
        obs, env_state = setup.env.reset(k_reset, setup.env_params)
        carry, start = setup.agent.initial_carry(), jnp.ones((), bool)
        for t, step_key in enumerate(jax.random.split(k_steps, steps)):
            k_act, k_env = jax.random.split(step_key)
            carry, out = setup.agent.act(params, carry, obs, start)
            action = dist.sample(k_act, out.logits)
            records["obs"][b][t], records["logits"][b][t] = np.asarray(obs), np.asarray(out.logits)
            records["action"][b, t], records["value"][b, t] = np.asarray(action), np.asarray(out.value)
            obs, env_state, reward, term, trunc, info = setup.env.step(k_env, env_state, action, setup.env_params)
            records["reward"][b, t], records["done"][b, t] = float(reward), bool(term | trunc)
            start = info["episode_start"]
    records["obs"] = np.asarray(records["obs"])
    records["logits"] = np.asarray(records["logits"])
    return records


@pytest.mark.parametrize("task,settings,core,layout", [
    ("cue-reward", (("episode_length", 12),), "neuromod-rnn", "vmap"),  # episodic meta-RL task, a plastic core
    ("cue-reward", (("episode_length", 12),), "neuromod-rnn", "map"),  # ... stepped in groups (large n's layout)
    ("cartpole", (("episode_length", 80),), "mlp", "auto"),  # episodes end and restart inside the rollout
])
@pytest.mark.slow
def test_lockstep_rollout_equals_environments_stepped_one_at_a_time(task, settings, core, layout, monkeypatch):
    config = RLConfig(task=task, preset="easy" if task == "cue-reward" else "default", env_settings=settings,
                      core=core, hidden=5, batch_size=4, dtype="float64")
    setup = build_setup(config)
    state = init_state(setup, jax.random.key(11))
    _, k_roll = jax.random.split(state.key)  # the key update_step gives the first update's rollout
    # the rollout an update differentiates: gradients() draws it with rollout_batch(setup, params, k_roll)
    previous = set_episode_layout(layout)  # read when rollout_batch is traced
    try:
        if layout == "map":  # a cache that holds 3 episodes' traces: groups of 3, then the remainder of 1
            monkeypatch.setattr(hand, "L2_BYTES", 3 * 2 * 5 * 5 * 8)  # 2 traces (n × n, n = 5) in float64
            assert episode_group(setup.agent.core, setup.num_steps, 4) == 3
        ro = jax.jit(lambda p, k: rollout_batch(setup, p, k))(state.params, k_roll)
    finally:
        set_episode_layout(previous)
    ref = loop_rollout(setup, state.params, k_roll)
    np.testing.assert_array_equal(np.asarray(ro.action), ref["action"])
    np.testing.assert_array_equal(np.asarray(ro.done), ref["done"].astype(bool))
    np.testing.assert_allclose(np.asarray(ro.reward), ref["reward"], rtol=0, atol=1e-12)
    # observations are float32 (the environments' dtype): the compiled program may fuse or reorder
    # float32 arithmetic (t / T as t · (1/T); CartPole's Euler step), a few ulps from the eager calls
    # after a hundred steps; the actions above, sampled from them, agree exactly
    np.testing.assert_allclose(np.asarray(ro.obs), ref["obs"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ro.logits), ref["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ro.value), ref["value"], rtol=1e-5, atol=1e-6)
    # the environments differ (their own keys), so the comparison is not of one episode repeated
    assert len({tuple(a) for a in ref["action"].astype(int)}) > 1
    if task == "cartpole":
        assert ref["done"].any()  # at least one episode ended and restarted inside the rollout


def test_num_envs_is_the_batch_of_lockstep_environments():
    base = dict(task="cue-reward", preset="easy", seeds=1)
    assert resolve_rl_config(TrainArgs(algo="a2c", num_envs=8, **base)).batch_size == 8
    assert resolve_rl_config(TrainArgs(algo="reinforce", num_envs=6, **base)).batch_size == 6
    assert resolve_rl_config(TrainArgs(algo="a2c", episodes=8, num_envs=8, **base)).batch_size == 8
    default = resolve_rl_config(TrainArgs(algo="a2c", **base)).batch_size
    assert default == resolve_rl_config(TrainArgs(algo="a2c", episodes=default, **base)).batch_size
    with pytest.raises(PlastixError, match=r"--episodes \(8\) and --num-envs \(4\)"):
        resolve_rl_config(TrainArgs(algo="a2c", episodes=8, num_envs=4, **base))
    with pytest.raises(PlastixError, match="num_envs|episodes"):
        resolve_rl_config(TrainArgs(algo="a2c", num_envs=0, **base))


def test_num_envs_sets_the_environment_steps_per_update():
    """The budget counts environment steps over all N environments: N × T per update."""
    config = resolve_rl_config(TrainArgs(task="cue-reward", preset="easy", algo="a2c", num_envs=5,
                                         total_steps=5 * 120 * 7, env_opt=("episode_length=120",)))
    assert (config.batch_size, config.num_updates) == (5, 7)
