"""Pictures of one episode of a trained agent: Hebbian trace, neuromodulator M(t), maze path.

``record_episode(setup, params, key)`` replays ONE episode exactly as the trainer rolls it
out (``plastix.rl.trainer.rollout_step``: same key splitting, same carry resets, same
sampled actions) and keeps, per step t = 0..T−1 (Miconi et al. 2019, Backpropamine)::

    obs_t, action_t, reward_t            what the agent saw, did and received
    h_t       (n,)                       the core's hidden state after step t
    hebb_t    (n, n)                     Hebb_{t+1}, the plastic trace after step t's update
    M_t       ()                         M_t = s(w_M · h_t + b_M) (neuromodulated cores),
                                         recomputed from the carry: the core is unchanged
    env_t                                the environment state step t started from

Plots: ``plot_trace`` (heat maps of Hebb at a few steps, ‖Hebb_t‖_F and M(t) over the
episode, with the task's events: cue shown, rewarded cue shown, Go, reward) and
``plot_path`` (meta-maze: the walls, the reward cell, the agent's cells joined by moves,
teleports after reaching the reward drawn dashed). ``plot_run_pictures`` does it for a run
directory (``plastix plot RUN_DIR --trace`` / ``--path``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from plastix.envs import CueReward, MetaMaze
from plastix.errors import PlastixError

TRACE_CORES = ("plastic-rnn", "neuromod-rnn")


class EpisodeRecord(NamedTuple):
    """One episode, leading axis T (see the module docstring)."""

    obs: jax.Array  # (T, d)
    action: jax.Array  # (T,) int32
    reward: jax.Array  # (T,)
    h: jax.Array  # (T, n)
    hebb: jax.Array  # (T, n, n) Hebb after step t
    modulator: jax.Array  # (T,) M_t; NaN for a non-modulated core
    env_state: Any  # environment state pytree, leading axis T (before step t)


def has_trace(core) -> bool:
    """True if the core's carry holds a Hebbian trace (plastic-rnn, neuromod-rnn)."""
    return hasattr(core.initial_carry(), "hebb") and hasattr(core, "hidden")


def replay(setup, params, key: jax.Array, extra):
    """Scan ``rollout_step`` over one episode from a reset, exactly as ``collect_rollout``
    (same key splitting, hence the same actions); per step emit (Rollout record, the env
    state the step started from, ``extra(new RolloutCarry)``)."""
    from plastix.rl.trainer import RolloutCarry, rollout_step

    def step(rc, k):
        new_rc, ro = rollout_step(setup, params, rc, k)
        return new_rc, (ro, rc.env_state, extra(new_rc.agent_carry))

    k_reset, k_steps = jax.random.split(key)
    obs, env_state = setup.env.reset(k_reset, setup.env_params)
    rc = RolloutCarry(obs, env_state, setup.agent.initial_carry(), jnp.ones((), bool))
    return lax.scan(step, rc, jax.random.split(k_steps, setup.num_steps))[1]


def record_episode(setup, params, key: jax.Array) -> EpisodeRecord:
    """One episode of T = ``setup.num_steps`` steps from a reset, as ``collect_rollout``
    draws it with the same key (same actions). The core must have a Hebbian trace."""
    core = setup.agent.core
    if not has_trace(core):
        raise PlastixError(f"the agent's core {setup.config.core!r} has no Hebbian trace; trace pictures need one of "
                           f"{list(TRACE_CORES)}.")

    def internals(carry):
        if getattr(core, "modulated", False):
            M = core.modulator(params.core, carry.h)  # M_t from h_t, as inside core.step
        else:
            M = jnp.full((), jnp.nan, carry.h.dtype)
        return carry.h, carry.hebb, M

    ro, states, (h, hebb, M) = replay(setup, params, key, internals)
    return EpisodeRecord(ro.obs, ro.action, ro.reward, h, hebb, M, states)


def record_path(setup, params, key: jax.Array):
    """(positions (T, 2), actions (T,), rewards (T,), reward cell (2,)) of one meta-maze
    episode drawn as ``collect_rollout`` draws it; positions are before each step's move."""
    if not isinstance(setup.env, MetaMaze):
        raise PlastixError(f"path pictures are for the meta-maze task, got {setup.config.task!r}.")
    ro, states, _ = replay(setup, params, key, lambda carry: ())
    return states.pos, ro.action, ro.reward, states.reward_pos[0]


# ---------------------------------------------------------------- events
def cue_events(env: CueReward, states) -> dict[str, np.ndarray]:
    """Step indices of the cue-reward events from the recorded states (before each step)."""
    schedule, step = np.asarray(states.schedule), np.asarray(states.trial_step)
    code = schedule[np.arange(len(step)), step]
    rewarded = np.asarray(states.rewarded)
    return {"cue": np.flatnonzero((code >= 0) & (code < env.n_cues) & (code != rewarded)),
            "rewarded cue": np.flatnonzero(code == rewarded),
            "Go": np.flatnonzero(code == env.n_cues)}


def episode_events(env, record: EpisodeRecord) -> dict[str, np.ndarray]:
    """The events to mark: cue-reward cues/Go, and for every task the steps with reward ≠ 0."""
    events = cue_events(env, record.env_state) if isinstance(env, CueReward) else {}
    reward = np.asarray(record.reward)
    events["reward +"] = np.flatnonzero(reward > 0)
    events["reward −"] = np.flatnonzero(reward < 0)
    return events


# ---------------------------------------------------------------- drawing
def _figure(rows: int, cols: int, size=(3.2, 2.6)):
    """An empty figure for a rows × cols layout, built with matplotlib's object API: no pyplot
    state and no backend switch, so a notebook's backend is left alone."""
    from matplotlib.figure import Figure

    return Figure(figsize=(size[0] * cols, size[1] * rows))


EVENT_STYLE = {"cue": ("tab:gray", ":"), "rewarded cue": ("tab:orange", "-"), "Go": ("tab:blue", "--"),
               "reward +": ("tab:green", "^"), "reward −": ("tab:red", "v")}


def mark_events(ax, events: dict[str, np.ndarray]) -> None:
    """Cues and Go as vertical lines, rewards (received at step t) as markers on top."""
    for name, steps in events.items():
        color, style = EVENT_STYLE[name]
        if name in ("reward +", "reward −"):
            if len(steps):
                ax.plot(steps, np.full(len(steps), 0.97), style, color=color, ms=5, label=name,
                        transform=ax.get_xaxis_transform(), clip_on=False)
            continue
        for i, t in enumerate(steps):
            ax.axvline(t, color=color, ls=style, lw=0.9, alpha=0.8, label=name if i == 0 else None)


def trace_times(T: int, count: int = 4) -> list[int]:
    """``count`` evenly spread steps of an episode of T steps, the last one T − 1."""
    return sorted({int(round(x)) for x in np.linspace(0, T - 1, count)})


def plot_trace(record: EpisodeRecord, env, out: Path, title: str = "", times=None) -> Path:
    """Heat maps of Hebb at ``times``, ‖Hebb_t‖_F and M(t) (if modulated) with events."""
    hebb = np.asarray(record.hebb)
    T = hebb.shape[0]
    times = trace_times(T) if times is None else list(times)
    modulated = not np.all(np.isnan(np.asarray(record.modulator)))
    events = episode_events(env, record)
    fig = _figure(3 if modulated else 2, len(times))
    grid = fig.add_gridspec(3 if modulated else 2, len(times), hspace=0.45)
    for i, t in enumerate(times):
        ax = fig.add_subplot(grid[0, i])
        im = ax.imshow(hebb[t], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"Hebb after step {t}", fontsize=9)
        ax.set_xlabel("pre-synaptic j", fontsize=8)
        if i == 0:
            ax.set_ylabel("post-synaptic i", fontsize=8)
    fig.colorbar(im, ax=fig.axes[: len(times)], shrink=0.8)
    series = [("‖Hebb_t‖_F", np.linalg.norm(hebb.reshape(T, -1), axis=1))]
    if modulated:
        series.append(("M(t)", np.asarray(record.modulator)))
    for row, (label, values) in enumerate(series, start=1):
        ax = fig.add_subplot(grid[row, :])
        ax.plot(np.arange(T), values, color="k", lw=1.2, label=label)
        mark_events(ax, events)
        ax.set_ylabel(label)
        ax.set_xlim(-0.5, T - 0.5)
        ax.grid(alpha=0.3)
        if row == 1:
            ax.legend(fontsize=7, ncol=6, loc="upper left", bbox_to_anchor=(0, 1.25), frameon=False)
    fig.axes[-1].set_xlabel("step t of the episode")
    if title:
        fig.suptitle(title)
    return _save(fig, out)


def plot_path(layout: np.ndarray, positions, actions, rewards, reward_cell, out: Path, title: str = "") -> Path:
    """The maze (walls black), the reward cell (star), the path coloured by time; a jump
    after a reward (teleport) is drawn dashed."""
    pos, rewards = np.asarray(positions), np.asarray(rewards)
    fig = _figure(1, 1, (5.5, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(layout, cmap="Greys", vmin=0, vmax=1.4, interpolation="nearest")
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    T = len(pos)
    for t in range(T - 1):
        (r0, c0), (r1, c1) = pos[t], pos[t + 1]
        color = cmap(t / max(T - 1, 1))
        if rewards[t] > 0:  # moved onto the reward cell, then teleported to pos[t + 1]
            ax.plot([c0, reward_cell[1]], [r0, reward_cell[0]], color=color, lw=2.0, alpha=0.8)
            ax.plot([reward_cell[1], c1], [reward_cell[0], r1], color="tab:red", ls="--", lw=0.8, alpha=0.6)
        else:
            ax.plot([c0, c1], [r0, r1], color=color, lw=2.0, alpha=0.8)
    ax.plot(pos[0, 1], pos[0, 0], "o", color="tab:blue", ms=9, label="start")
    ax.plot(reward_cell[1], reward_cell[0], "*", color="gold", mec="k", ms=18, label="reward cell")
    hits = np.flatnonzero(rewards > 0)
    ax.plot([], [], "--", color="tab:red", label=f"teleport after reward ({len(hits)}×)")
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"meta-maze path, {T} steps, total reward {rewards.sum():.4g}", fontsize=9)
    return _save(fig, out)


def _save(fig, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    return out


# ---------------------------------------------------------------- run directories
def load_run_agent(run_dir: Path, seed_index: int = 0):
    """(setup, params) of one trained seed of an RL run directory."""
    from plastix.algorithms import algorithm_of_run
    from plastix.rl.trainer import RLConfig, build_setup
    from plastix.runs import load_params, read_config
    from plastix.train.harness import set_dtype

    saved = read_config(Path(run_dir))
    config, seeds = algorithm_of_run(saved)[1], list(saved["seeds"])
    if not isinstance(config, RLConfig):
        raise PlastixError(f"{str(run_dir)!r} is not a run of an RL task (a2c/reinforce).")
    if not 0 <= seed_index < len(seeds):
        raise PlastixError(f"seed index must lie in [0, {len(seeds)}) for {str(run_dir)!r}, got {seed_index}.")
    set_dtype(config.dtype)
    setup = build_setup(config)
    params = load_params(Path(run_dir), setup.agent.init(jax.random.PRNGKey(0)), seed_index=seed_index)
    return setup, params


def plot_run_pictures(run_dir: Path, trace: bool, path: bool, seed_index: int = 0, episode_seed: int = 0,
                      out_dir: Path | None = None, force: bool = False) -> list[Path]:
    """Write ``trace.png`` and/or ``path.png`` of one episode of a run's trained agent into
    ``out_dir`` (default: the run directory). Refuses to overwrite a file unless ``force``."""
    setup, params = load_run_agent(run_dir, seed_index)
    out_dir = Path(out_dir or run_dir)
    key = jax.random.PRNGKey(episode_seed)
    cfg = setup.config
    modulation = getattr(setup.agent.core, "modulation", None)
    core = f"{cfg.core} ({modulation})" if modulation else cfg.core
    name = f"{cfg.task} ({cfg.preset}), {core}, hidden {cfg.hidden}, seed #{seed_index}"
    written = []
    for wanted, fname in ((trace, "trace.png"), (path, "path.png")):
        if wanted and (out_dir / fname).exists() and not force:
            raise PlastixError(f"{str(out_dir / fname)!r} already exists; give --force to overwrite it.")
    if path:
        pos, act, rew, cell = jax.jit(functools.partial(record_path, setup))(params, key)
        written.append(plot_path(setup.env.layout(), pos, act, rew, np.asarray(cell), out_dir / "path.png",
                                 title=f"{name}: total reward {float(np.sum(rew)):.4g}"))
    if trace:
        record = jax.jit(functools.partial(record_episode, setup))(params, key)
        written.append(plot_trace(record, setup.env, out_dir / "trace.png", title=name))
    return written


# ---------------------------------------------------------------- reproduction figures
def plot_variants(curves: dict, out: Path, title: str = "", chance: float | None = None,
                  ylabel: str = "mean episode reward") -> Path:
    """Median and inter-quartile band over seeds per variant, as in Miconi et al. 2019's
    figures. ``curves[name] = (episodes (L,), returns (S, L))``."""
    fig = _figure(1, 1, (7.0, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for name, (episodes, returns) in curves.items():
        returns = np.asarray(returns, float)
        q25, med, q75 = np.nanpercentile(returns, [25, 50, 75], axis=0)
        (line,) = ax.plot(episodes, med, label=f"{name} ({returns.shape[0]} seeds)")
        ax.fill_between(episodes, q25, q75, color=line.get_color(), alpha=0.25, lw=0)
    if chance is not None:
        ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance {chance:g}")
    ax.set_xlabel("training episodes (per seed)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, out)


def summarize(episodes: np.ndarray, returns: np.ndarray, tail: float = 0.1) -> dict:
    """Numbers of one variant from returns (S seeds, L log points) at ``episodes`` (L,).

    final median = median over seeds of each seed's mean over the last k = ``tail``·L log
    points; first median = the same over the first k. Episodes to reach it = first log
    point where the median-over-seeds curve (trailing mean over k points) reaches 90 % of the
    gain (final − first), reported only for a clear gain: larger than the inter-quartile
    range of the seeds' final means and than 3 standard errors of a difference of two k-point
    means of the median curve, 3 σ √(2/k) with σ = std(diff(median curve)) / √2; else None."""
    k = max(1, int(round(tail * returns.shape[1])))
    final_s, first_s = np.mean(returns[:, -k:], axis=1), np.mean(returns[:, :k], axis=1)
    final, first = float(np.median(final_s)), float(np.median(first_s))
    iqr = float(np.subtract(*np.percentile(final_s, [75, 25])))
    med = np.median(returns, axis=0)
    smooth = np.array([np.mean(med[max(0, i - k + 1): i + 1]) for i in range(len(med))])
    reach = None
    sigma = float(np.std(np.diff(med))) / np.sqrt(2.0) if len(med) > 1 else 0.0
    if final - first > max(iqr, 3.0 * sigma * np.sqrt(2.0 / k), 1e-12):
        reach = int(episodes[np.flatnonzero(smooth >= first + 0.9 * (final - first))[0]])
    return {"final_median": final, "first_median": first, "final_iqr": iqr, "episodes_to_90pct_gain": reach,
            "episodes_total": int(episodes[-1]), "window_log_points": k}
