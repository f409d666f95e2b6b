"""The DQN family as one pure, jittable, seed-vmappable training loop (PureJaxRL style).

``make_trainer(config)`` returns ``Trainer(init, run, train, setup)``; ``run(state, num_logs)``
is a ``lax.scan`` over log chunks, each a scan over update cycles, so
``jax.jit(jax.vmap(trainer.run, in_axes=(0, None)), static_argnums=1)`` trains many seeds.

One cycle (Mnih et al. 2015, Algorithm 1, with E environments per seed)::

    repeat train_every / E times:                                  (lax.scan)
        ε = linear schedule(env step);  a = argmax_a Q(o_≤t, a; θ) w.p. 1 − ε, else uniform
        step the E environments (auto-reset); store Step(o, a, r, term, trunc, true o′, start)
    if env step >= learning_starts:
        B windows ~ replay (uniform, or PER with β = linear schedule(env step) up to 1)
        δ = G − Q(s_t, a_t; θ) at each learning position (plastix.dqn.targets; G uses θ⁻)
        L(θ) = mean_b w_b · mean_positions ρ(δ)                      (ρ Huber or ½δ²)
        θ ← θ + Adam | RMSProp(clip_{global norm}(∇L)), skipped if ‖∇L‖² is not finite
        PER: p_b ← |δ_b| + ε
    if env step % C == 0:  θ⁻ ← θ                                  (target network)

Recurrent Q-networks (R2D2, Kapturowski et al. 2019): windows of L = burn_in + seq_len + n − 1
steps start from a ZERO carry (R2D2's "zero state"; stored carries are not kept — a plastic
core's Hebbian traces would cost n² floats per stored step); the first ``burn_in`` steps only
warm up the carry (no loss), the next ``seq_len`` are learning positions. The acting carry is
carried across steps and reset at every episode start.

Metrics per log point: ``step``, ``charts/episodic_return`` and ``charts/episodic_length``
(mean over the episodes that ended in the chunk, NaN if none did), ``charts/epsilon``,
``losses/td_loss``, ``losses/q_values`` (mean Q(s_t, a_t)), ``losses/skipped_updates``,
``charts/updates`` (gradient steps so far) and ``charts/target_updates``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from plastix.dqn.config import DQNConfig, validate
from plastix.dqn.networks import QNetwork, QParams, core_input_size, image_shape_of
from plastix.dqn.replay import Replay, Step, window_priority
from plastix.dqn.targets import bootstrap_values, linear_schedule, td_loss, window_targets
from plastix.errors import PlastixError
from plastix.rl.agent import make_agent_core
from plastix.train.harness import Trainer, assemble_trainer, make_optimizer


class Actors(NamedTuple):
    """The E environments of one seed and the acting Q-network's carry."""

    obs: jax.Array  # (E, d) next observation to act on
    env_state: Any  # (E, ...)
    carry: Any  # (E, ...) the online network's carry
    start: jax.Array  # (E,) bool, obs opens an episode
    ep_return: jax.Array  # (E,) reward summed so far in the running episode
    ep_length: jax.Array  # (E,) int32


class TrainState(NamedTuple):
    params: QParams  # θ
    target_params: QParams  # θ⁻
    opt_state: optax.ApplyIfFiniteState  # its counters kept by ``learn`` and ``select_learned``
    buffer: Any  # flashbax buffer state
    actors: Actors
    key: jax.Array  # (2,)
    step: jax.Array  # () int32, environment steps done (per seed, over all E environments)
    updates: jax.Array  # () int32, gradient steps done
    target_updates: jax.Array  # () int32, copies θ → θ⁻ done


class Setup(NamedTuple):
    """Everything static (built once by ``build_setup``)."""

    config: DQNConfig
    env: Any
    env_params: Any
    network: QNetwork
    replay: Replay
    optimizer: optax.GradientTransformation  # clip and Adam | RMSProp; the skip is ``learn``'s


# ---------------------------------------------------------------- building
def num_actions_of(env) -> int:
    """The number of discrete actions; PlastixError for a continuous (or unknown) action space."""
    spec = getattr(env, "action_spec", None)
    if spec is not None:  # plastix.envs.base.ContinuousActions
        label = ":".join(str(p) for p in (getattr(env, "name", type(env).__name__), getattr(env, "env_id", None)) if p)
        raise PlastixError(f"dqn needs discrete actions, but {label!r} has continuous actions (dim {spec.dim}, low "
                           f"{spec.low}, high {spec.high}). Use an algorithm that accepts continuous actions: a2c, "
                           "reinforce or ppo.")
    try:
        n = env.num_actions
    except Exception:  # noqa: BLE001 - any failure means: no discrete action count
        n = None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise PlastixError(f"dqn needs a discrete action space (an environment with an integer num_actions >= 1); "
                           f"{getattr(env, 'name', type(env).__name__)!r} has num_actions={n!r} "
                           "(a continuous action space?). Use a policy-gradient algorithm instead.")
    return n


def make_dqn_optimizer(config: DQNConfig) -> optax.GradientTransformation:
    """``plastix.train.harness.make_optimizer`` with the DQN config: Adam or the DQN paper's
    centered RMSProp (Mnih et al. 2015, Extended Data Table 1). The step size is constant, or
    decays linearly to ``lr_end`` over the run's updates (a departure from Mnih et al.; the
    optimizer counts only real updates: the skipped pre-``learning_starts`` ones never reach it).

    Without the skip of non-finite updates: ``learn`` decides it and ``select_learned`` applies it
    with the select it makes for ``learning_starts`` anyway (optax's ``apply_if_finite`` would add
    a conditional and a dozen small kernels to every update, 4-6 % of a CartPole update cycle)."""
    updates = max(1, (config.total_steps - config.learning_starts) // config.train_every)
    return make_optimizer(config.optimizer, config.lr, config.lr_end, config.clip_norm, updates, skip_nonfinite=False)


def init_opt_state(setup: Setup, params: QParams) -> optax.ApplyIfFiniteState:
    """The optimizer's state in optax's ``apply_if_finite`` layout (counters of skipped updates
    around the inner state), as the other trainers keep it."""
    zero = jnp.zeros([], jnp.int32)
    return optax.ApplyIfFiniteState(zero, jnp.array(True), zero, setup.optimizer.init(params))


def build_setup(config: DQNConfig, env_and_params=None, *, core=None, env=None) -> Setup:
    """Validate, build the environment (or take ``env_and_params``), the Q-network and the replay.
    ``env``: an environment object (``plastix.envs.as_env``) instead of ``config.task``;
    ``core``: a core object (``plastix.cores.adapter``) instead of ``config.core``."""
    validate(config)
    if env is not None:
        from plastix.envs import as_env

        env_and_params = as_env(env)
    if env_and_params is None:
        from plastix.envs import make_env

        env_and_params = make_env(config.task, config.preset, **dict(config.env_settings))
    env, env_params = env_and_params
    actions = num_actions_of(env)
    image = image_shape_of(env)
    core = make_agent_core(config.core if core is None else core, core_input_size(env, image), config.hidden,
                           config.dtype, **(dict(config.core_options) if core is None else {}))
    network = QNetwork(core, actions, config.head_hidden or config.hidden, config.dueling, image)
    replay = Replay(config.num_envs, config.buffer_size, config.batch_size, config.window, config.per, config.per_alpha)
    return Setup(config, env, env_params, network, replay, make_dqn_optimizer(config))


# ---------------------------------------------------------------- acting
def epsilon_at(config: DQNConfig, step) -> jax.Array:
    return linear_schedule(config.epsilon_start, config.epsilon_end,
                           config.exploration_fraction * config.total_steps, step)


def act(setup: Setup, params: QParams, actors: Actors, key: jax.Array, epsilon):
    """ε-greedy actions for the E environments: (new carries (E, ...), actions (E,) int32)."""
    k_explore, k_random = jax.random.split(key)
    step = jax.vmap(setup.network.step, in_axes=(None, 0, 0, 0))
    carry, q = step(params, actors.carry, actors.obs, actors.start)
    e = actors.start.shape[0]
    explore = jax.random.uniform(k_explore, (e,)) < epsilon
    random_a = jax.random.randint(k_random, (e,), 0, setup.network.num_actions, jnp.int32)
    return carry, jnp.where(explore, random_a, jnp.argmax(q, axis=-1).astype(jnp.int32))


def env_step(setup: Setup, params: QParams, actors: Actors, key: jax.Array, epsilon):
    """One step of the E environments: (new Actors, Step (E, ...), ended-episode stats)."""
    k_act, k_env = jax.random.split(key)
    carry, action = act(setup, params, actors, k_act, epsilon)
    keys = jax.random.split(k_env, actors.start.shape[0])
    obs, env_state, reward, term, trunc, info = jax.vmap(setup.env.step, in_axes=(0, 0, 0, None))(
        keys, actors.env_state, action, setup.env_params)
    step = Step(actors.obs, action, reward, term, trunc, info["terminal_obs"], actors.start)
    done = term | trunc
    ep_return, ep_length = actors.ep_return + reward, actors.ep_length + 1
    stats = jnp.stack([jnp.sum(jnp.where(done, ep_return, 0.0)), jnp.sum(jnp.where(done, ep_length, 0)),
                       jnp.sum(done)]).astype(jnp.float32)
    new = Actors(obs, env_state, carry, info["episode_start"], jnp.where(done, 0.0, ep_return),
                 jnp.where(done, 0, ep_length))
    return new, step, stats


# ---------------------------------------------------------------- learning
def window_loss(setup: Setup, params: QParams, target_params: QParams, steps: Step):
    """(mean ρ(δ) over the learning positions, |δ| (seq_len,), mean Q(s_t, a_t)) of one window."""
    cfg, net = setup.config, setup.network
    if net.recurrent:
        online = net.unroll(params, steps.obs, steps.next_obs, steps.start)
        q, q_next_target = online.q, net.unroll(target_params, steps.obs, steps.next_obs, steps.start).q_next
        q_next_online = online.q_next
    else:  # memoryless: Q at every position at once (one matmul per layer), only the values needed
        q = net.q_values(params, steps.obs)
        q_next_target = net.q_values(target_params, steps.next_obs)
        q_next_online = net.q_values(params, steps.next_obs) if cfg.double else q_next_target
    v_t = bootstrap_values(lax.stop_gradient(q_next_target), lax.stop_gradient(q_next_online), cfg.double)
    g = window_targets(steps.reward.astype(v_t.dtype), steps.terminated, steps.truncated, v_t, cfg.gamma,
                       cfg.burn_in, cfg.seq_len, cfg.n_step)
    learn = slice(cfg.burn_in, cfg.burn_in + cfg.seq_len)  # the learning positions (static)
    taken = jnp.arange(q.shape[-1])[None, :] == steps.action[learn, None]  # one-hot: no gather, no scatter in ∇
    q_taken = jnp.sum(jnp.where(taken, q[learn], 0.0), axis=-1)
    delta = lax.stop_gradient(g) - q_taken
    return jnp.mean(td_loss(delta, cfg.loss)), jnp.abs(delta), jnp.mean(q_taken)


def batch_loss(setup: Setup, params: QParams, target_params: QParams, steps: Step, weights: jax.Array):
    """L(θ) = mean_b w_b · loss_b, with (priorities (B,), mean Q) as auxiliaries."""
    loss_b, abs_td, q_mean = jax.vmap(functools.partial(window_loss, setup), in_axes=(None, None, 0))(
        params, target_params, steps)
    priorities = jax.vmap(window_priority)(abs_td)
    return jnp.mean(weights.astype(loss_b.dtype) * loss_b), (priorities, jnp.mean(q_mean), jnp.mean(loss_b))


def gradient_is_finite(grads: QParams) -> jax.Array:
    """() bool: ‖∇L‖² is finite. A NaN or ±inf anywhere makes it NaN or inf; so does a finite
    gradient whose squared norm exceeds the float range (~1.8e19 per element in float32), which
    the global-norm clip would have scaled to zero. The same sum of squares as the clip's
    (``optax.tree.norm``), so XLA computes it once."""
    return jnp.isfinite(optax.tree.norm(grads, squared=True))


def learn(setup: Setup, state: TrainState, key: jax.Array) -> tuple[TrainState, jax.Array, jax.Array]:
    """One gradient step from a replay minibatch: (state, [td_loss, mean Q], finite). The
    returned state holds the stepped parameters and optimizer state even when the gradient is
    not ``finite``; ``select_learned`` keeps the old ones then and counts the skip."""
    cfg = setup.config
    beta = linear_schedule(cfg.per_beta, 1.0, cfg.total_steps, state.step)
    sample = setup.replay.sample(state.buffer, key, beta)
    grads, (prio, q_mean, loss) = jax.grad(functools.partial(batch_loss, setup), has_aux=True)(
        state.params, state.target_params, sample.steps, sample.weights)
    finite = gradient_is_finite(grads)
    updates, inner = setup.optimizer.update(grads, state.opt_state.inner_state, state.params)
    params = optax.apply_updates(state.params, updates)
    skips = state.opt_state
    opt_state = optax.ApplyIfFiniteState(
        notfinite_count=jnp.where(finite, 0, skips.notfinite_count + 1).astype(jnp.int32), last_finite=finite,
        total_notfinite=jnp.where(finite, skips.total_notfinite, skips.total_notfinite + 1).astype(jnp.int32),
        inner_state=inner)
    buffer = setup.replay.update(state.buffer, sample.indices, prio.astype(jnp.float32))
    new = state._replace(params=params, opt_state=opt_state, buffer=buffer, updates=state.updates + 1)
    return new, jnp.stack([loss, q_mean]).astype(jnp.float32), finite


def select_learned(setup: Setup, do: jax.Array, finite: jax.Array, learned: TrainState, state: TrainState) -> TrainState:
    """``learned`` where ``do`` else ``state``, touching only what ``learn`` changes (not the
    stored experience, which ``learn`` leaves as it is); where the gradient was not ``finite``
    the parameters and the optimizer's inner state stay as they were (the skip of optax's
    ``apply_if_finite``, made by the same select) and only the skip counters move."""
    pick = lambda when: functools.partial(jax.tree.map, lambda a, b: jnp.where(when, a, b))  # noqa: E731
    step, count = pick(do & finite), pick(do)
    buffer = state.buffer
    if setup.config.per:
        buffer = buffer.replace(sum_tree_state=count(learned.buffer.sum_tree_state, buffer.sum_tree_state))
    new, old = learned.opt_state, state.opt_state
    opt_state = count(new, old)._replace(inner_state=step(new.inner_state, old.inner_state))
    return state._replace(params=step(learned.params, state.params), opt_state=opt_state,
                          buffer=buffer, updates=jnp.where(do, learned.updates, state.updates))


def cycle(setup: Setup, state: TrainState, _=None) -> tuple[TrainState, jax.Array]:
    """train_every env steps, then maybe one update and a target copy. Emits 6 numbers:
    [Σ ended returns, Σ ended lengths, episodes ended, updated, td_loss, mean Q]."""
    cfg = setup.config
    key, k_env, k_learn = jax.random.split(state.key, 3)
    iters = cfg.train_every // cfg.num_envs

    def one(carry, inp):
        actors, buffer = carry
        i, k = inp
        eps = epsilon_at(cfg, state.step + i * cfg.num_envs)
        actors, step, stats = env_step(setup, state.params, actors, k, eps)
        return (actors, setup.replay.add(buffer, step)), stats

    (actors, buffer), stats = lax.scan(one, (state.actors, state.buffer),
                                       (jnp.arange(iters), jax.random.split(k_env, iters)))
    state = state._replace(actors=actors, buffer=buffer, key=key, step=state.step + cfg.train_every)
    learned, losses, finite = learn(setup, state, k_learn)
    do = state.step >= cfg.learning_starts
    state = select_learned(setup, do, finite, learned, state)
    copy = (state.step % cfg.target_every) == 0
    target = jax.tree.map(lambda p, t: jnp.where(copy, p, t), state.params, state.target_params)
    state = state._replace(target_params=target, target_updates=state.target_updates + copy.astype(jnp.int32))
    out = jnp.concatenate([jnp.sum(stats, axis=0), do[None].astype(jnp.float32), jnp.where(do, losses, jnp.nan)])
    return state, out


def log_chunk(setup: Setup, state: TrainState, _=None) -> tuple[TrainState, dict]:
    """``updates_per_log`` cycles (a scan): one log point."""
    state, out = lax.scan(functools.partial(cycle, setup), state, None, setup.config.updates_per_log)
    episodes = jnp.sum(out[:, 2])
    mean_or_nan = lambda total: jnp.where(episodes > 0, total / jnp.maximum(episodes, 1.0), jnp.nan)  # noqa: E731
    done = jnp.sum(out[:, 3])
    masked_mean = lambda x: jnp.where(done > 0, jnp.nansum(x) / jnp.maximum(done, 1.0), jnp.nan)  # noqa: E731
    metrics = {
        "step": state.step,
        "charts/episodic_return": mean_or_nan(jnp.sum(out[:, 0])),
        "charts/episodic_length": mean_or_nan(jnp.sum(out[:, 1])),
        "charts/epsilon": epsilon_at(setup.config, state.step),
        "losses/td_loss": masked_mean(out[:, 4]),
        "losses/q_values": masked_mean(out[:, 5]),
        "losses/skipped_updates": state.opt_state.total_notfinite,
        "charts/updates": state.updates,
        "charts/target_updates": state.target_updates,
    }
    return state, metrics


# ---------------------------------------------------------------- init, run, evaluate
def init_actors(setup: Setup, key: jax.Array) -> Actors:
    e = setup.config.num_envs
    obs, env_state = jax.vmap(setup.env.reset, in_axes=(0, None))(jax.random.split(key, e), setup.env_params)
    carry = jax.vmap(lambda _: setup.network.initial_carry())(jnp.arange(e))
    return Actors(obs, env_state, carry, jnp.ones((e,), bool), jnp.zeros((e,), jnp.float32),
                  jnp.zeros((e,), jnp.int32))


def step_template(actors: Actors) -> Step:
    """One unbatched Step shaped like the stored steps (for the buffer's init)."""
    obs = actors.obs[0]
    return Step(obs, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32), jnp.zeros((), bool),
                jnp.zeros((), bool), obs, jnp.zeros((), bool))


def init_state(setup: Setup, key: jax.Array) -> TrainState:
    k_params, k_env, k_train = jax.random.split(key, 3)
    params = setup.network.init(k_params)
    actors = init_actors(setup, k_env)
    zero = jnp.zeros((), jnp.int32)
    return TrainState(params, params, init_opt_state(setup, params), setup.replay.init(step_template(actors)),
                      actors, k_train, zero, zero, zero)




def make_trainer(config: DQNConfig, env_and_params=None, *, core=None, env=None, data=None) -> Trainer:
    """Validate ``config`` (errors before any tracing) and build the pure functions. ``env``: an
    environment object (a plastix Environment, ``(env, params)`` or anything with gymnax's API);
    ``core``: a core object for a recurrent Q-network. ``data`` is rejected."""
    if data is not None:
        raise PlastixError("dqn learns from an environment (env=), not from data=.")
    return assemble_trainer(build_setup(config, env_and_params, core=core, env=env), init_state, log_chunk)


def episode_limit(env_params, default: int = 1000) -> int:
    """Steps an evaluation episode may take: the environment's own limit if it declares one."""
    for name in ("episode_length", "max_steps_in_episode"):
        value = getattr(env_params, name, None)
        if value is not None:
            return int(value)
    return default


def evaluate(setup: Setup, params: QParams, key: jax.Array, episodes: int, epsilon: float = 0.0,
             max_steps: int | None = None) -> jax.Array:
    """Total reward of ``episodes`` fresh episodes, acting ε-greedily (default ε = 0, greedy):
    (episodes,). Each episode runs until its first end (or ``max_steps``, default the
    environment's episode limit), the carry starting from zero. Vmapped over episodes; jit it
    with ``setup``, ``episodes`` and ``max_steps`` static."""
    limit = episode_limit(setup.env_params) if max_steps is None else max_steps

    def one(k):
        k_reset, k_steps = jax.random.split(k)
        obs, env_state = setup.env.reset(k_reset, setup.env_params)
        carry = jax.tree.map(lambda x: x[None], setup.network.initial_carry())
        actors = Actors(obs[None], jax.tree.map(lambda x: x[None], env_state), carry, jnp.ones((1,), bool),
                        jnp.zeros((1,), jnp.float32), jnp.zeros((1,), jnp.int32))

        def body(c, kk):
            actors, total, alive = c
            actors, step, _ = env_step(setup, params, actors, kk, epsilon)
            total = total + jnp.where(alive, step.reward[0], 0.0)
            return (actors, total, alive & ~(step.terminated[0] | step.truncated[0])), None

        init = (actors, jnp.zeros((), jnp.float32), jnp.ones((), bool))
        (_, total, _), _ = lax.scan(body, init, jax.random.split(k_steps, limit))
        return total

    return jax.vmap(one)(jax.random.split(key, episodes))
