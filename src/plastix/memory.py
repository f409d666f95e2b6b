"""Will a training fit in memory? An estimate of its peak, checked before anything is compiled.

``plastix.run`` calls ``check_memory(config, seeds=...)`` before it builds the trainer: a training
whose estimate exceeds the memory available (``available_bytes``) is refused with a one-line
``PlastixError`` giving the estimate, its largest part and what to reduce, instead of an
out-of-memory crash after minutes of compiling.

The estimate (``estimate``) adds, for all seeds at once (they train together, vmapped):

* the persistent training state, read without allocating (``jax.eval_shape`` of the trainer's
  ``init_state``): parameters, the optimizer's moments, for DQN the target network and the
  replay memory, for PPO the environments' state; plus one gradient (the size of the parameters);
* the dominant activations of one update, which depend on the gradient method:

  | method | held at once | source |
  |---|---|---|
  | BPTT | what autodiff keeps for the backward pass (``jax.vjp``'s residuals: every step's carry and intermediates, about T × B × n_s × a few), read by tracing the batch's loss | Werbos 1990 |
  | hand-bptt | the residuals of the hand-derived backward (``hand_scan``) | Williams & Peng 1990 |
  | truncated BPTT | BPTT's residuals × h / T for a window of h steps | Williams & Peng 1990 |
  | RTRL | 3 × B × n_s × n_θ: P_{t−1} = ∂s_{t−1}/∂θ, J_t P_{t−1} and the direct term ∂s_t/∂θ, live at once | Williams & Zipser 1989 |
  | a2c / reinforce | the rollout of B episodes of T steps and BPTT's residuals | Williams 1992; Mnih et al. 2016 |
  | PPO | the rollout, E × T × (2d + 12), and BPTT through one minibatch, (E T / M) × (n_s + d) | Schulman et al. 2017 |
  | DQN | the replay memory (in the state) and 2 × B × L × n_s for a batch of windows | Mnih et al. 2015 |

  where n_s is the number of entries of the core's carry (a plastic core's carry holds its n × n
  Hebbian trace, Miconi et al. 2018, so n_s ≈ n² and BPTT keeps about T × B × n² × 5 numbers),
  n_θ the core's parameters, T the sequence or episode length, B the batch, h the truncation
  window, E the environments, M the minibatches, L DQN's window, d the observation size;
* the evaluation batch of a supervised run (its inputs, targets, core outputs and carries).

It counts what the training must hold, not XLA's own buffers, the compiled program or the
Python process (a few hundred MB more; measured ratios in docs/api/memory.md): an estimate above
the memory available cannot fit, and one just below it may still fail.

``PLASTIX_MEMORY_LIMIT`` (e.g. ``8G``, ``512M``, ``2GiB``, ``0`` = no check) overrides the memory
taken as available: for a shared machine where you may use only part of it, and for tests.
"""

from __future__ import annotations

import functools
import math
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from plastix.errors import PlastixError

LIMIT_ENV = "PLASTIX_MEMORY_LIMIT"
# autodiff keeps a few times the carry per step (an LSTM 7x, a plastic RNN 5x, measured with
# ``estimate``): a quick estimate this far below the limit needs no exact count
CLEAR_MARGIN = 32
RTRL_COPIES = 3  # (n_s, n_θ) sensitivity matrices per sequence held at once by generic RTRL
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


class Part(NamedTuple):
    """One term of an estimate: its bytes, what it is (with the product that gives it) and what to
    reduce to shrink it."""

    name: str
    nbytes: int
    detail: str
    reduce: str


class Estimate(NamedTuple):
    """The estimated peak memory of a training: the sum of its parts, the largest first."""

    parts: tuple[Part, ...]

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.parts)

    @property
    def dominant(self) -> Part:
        return self.parts[0]


# ---------------------------------------------------------------- sizes in text
def parse_size(text: str) -> int:
    """'8G' / '8GB' (10^9), '2GiB' (2^30), '512M', '1.5e9', '0' -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match and match.group(2).lower()
    if not match or unit not in _UNITS:
        raise PlastixError(f"{LIMIT_ENV} must be a size such as 8G, 512M, 2GiB or 0 (no check), got {text!r}.")
    return int(float(match.group(1)) * _UNITS[unit])


def format_bytes(n: float) -> str:
    """Bytes in decimal units: 6.6 TB, 21.3 GB, 512 B (beyond 1,000 PB: 2.4e+19 bytes)."""
    if n >= 1e18:
        return f"{n:.1e} bytes"
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def format_count(n: int) -> str:
    """A count for a message: 2048, 16.8k, 4.2M, 3.1e+10."""
    if n < 10_000:
        return str(n)
    if n < 10**6:
        return f"{n / 1e3:.1f}k"
    if n < 10**9:
        return f"{n / 1e6:.1f}M"
    return f"{n:.1e}"


# ---------------------------------------------------------------- the memory available
def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    """What a container's memory limit leaves (cgroup v2, else v1); None without a limit."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and limit < 2**60:  # v1 writes a huge number for "no limit"
            return max(limit - (usage or 0), 0)
    return None


def _device_available() -> int | None:
    """Free memory of the default accelerator (None on CPU or when the backend does not say)."""
    import jax

    if jax.default_backend() == "cpu":
        return None
    stats = getattr(jax.devices()[0], "memory_stats", lambda: None)() or {}
    if "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def available_bytes() -> int | None:
    """The memory a training may use, in bytes: ``$PLASTIX_MEMORY_LIMIT`` when set (0: None, no
    check), else the accelerator's free memory on a GPU/TPU, else the host's (MemAvailable of
    /proc/meminfo, within a container's cgroup limit; ``os.sysconf`` where there is no /proc).
    None when it cannot be told."""
    override = os.environ.get(LIMIT_ENV, "").strip()
    if override:
        limit = parse_size(override)
        return limit or None
    device = _device_available()
    if device is not None:
        return device
    known = [b for b in (_meminfo_available(), _cgroup_available()) if b is not None]
    return min(known) if known else None


# ---------------------------------------------------------------- shapes without allocating
def _abstract(fn, *args) -> Any:
    import jax

    return jax.eval_shape(fn, *args)


def _key():
    import jax

    return jax.random.PRNGKey(0)


def leaf_count(tree) -> int:
    """Entries of an (abstract) pytree."""
    import jax

    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def leaf_bytes(tree) -> int:
    """Bytes of an (abstract) pytree."""
    import jax

    return sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def _itemsize(config) -> int:
    import numpy as np

    from plastix.cores.base import resolve_dtype

    return np.dtype(resolve_dtype(getattr(config, "dtype", "float32"))).itemsize


def _state_part(state, params, seeds: int, exclude: int = 0) -> Part:
    """Parameters, one gradient and the optimizer's state (everything in ``state`` but ``exclude``
    bytes), for all seeds."""
    n = leaf_count(params)
    nbytes = (leaf_bytes(state) - exclude + leaf_bytes(params)) * seeds
    return Part("parameters", nbytes, f"parameters, gradients and optimizer state of {format_count(n)} "
                f"parameters" + _times_seeds(seeds), "--hidden or --seeds")


# ---------------------------------------------------------------- per family
def _residual_bytes(fn, fallback: int, exact: bool) -> int:
    """Bytes of what reverse-mode autodiff keeps for the backward pass: the leaves of the VJP
    closure ``fn(key)`` returns (``jax.vjp``'s residuals: per-step carries and intermediates,
    stacked over the scan), read with ``jax.eval_shape``. ``fallback`` (the stored carries alone)
    when not ``exact`` or when it cannot be traced (the trainer then raises its own error)."""
    if not exact:
        return fallback
    try:
        return leaf_bytes(_abstract(fn, _key()))
    except Exception:  # noqa: BLE001 - an estimate must not hide the trainer's own error
        return fallback


def _supervised_residuals(setup, hand: bool):
    """The VJP closure of one batch's mean loss, as BPTT (``hand``: the hand-derived backward)."""
    import jax
    import jax.numpy as jnp

    from plastix.train.supervised import sample_batch

    model, config = setup.model, setup.config

    def one(params, example):
        if not hand:
            return model.sequence_loss(params, example)
        from plastix.grads.hand import hand_scan

        hs = hand_scan(model.core, params.core, example.xs, jnp.asarray(example.resets, bool))
        return model.loss_from_hidden(params, hs, example)

    def residuals(key):
        params = model.init(key)
        batch = sample_batch(setup, key, config.batch_size, config.p_teacher)
        return jax.vjp(lambda p: jnp.mean(jax.vmap(one, in_axes=(None, 0))(p, batch)), params)[1]

    return residuals


def _supervised(config, seeds: int, exact: bool, core, data) -> list[Part]:
    from plastix.grads.truncated import resolve_window
    from plastix.train.harness import make_optimizer
    from plastix.train.supervised import Setup, build_model, init_state, validate

    task = validate(config, core=core, data=data)
    model = build_model(config, task, core)
    optimizer = make_optimizer("adam", config.lr, config.lr_end, config.clip_norm, config.num_updates)
    setup = Setup(config, task, model, None, optimizer)
    state = _abstract(functools.partial(init_state, setup), _key())
    n_s = leaf_count(_abstract(model.core.initial_carry))
    n_theta = leaf_count(state.params.core)
    size, T, B = _itemsize(config), config.seq_len, config.batch_size
    if config.grad == "rtrl":
        # P_{t-1}, J_t P_{t-1} and the direct term ∂s_t/∂θ, each (n_s, n_θ), are live at once
        # (plastix.grads.rtrl._push_forward); XLA adds them in place into P_t
        grad = Part("rtrl", RTRL_COPIES * B * n_s * n_theta * size * seeds,
                    f"RTRL sensitivities {RTRL_COPIES} x {format_count(n_s)} states x {format_count(n_theta)} "
                    f"parameters x batch {B} x {size} bytes" + _times_seeds(seeds),
                    "--hidden or --batch-size, or use --grad bptt")
    else:
        h = resolve_window(config.trunc_window, config.trunc_stride, T)[0] if config.grad == "truncated-bptt" else T
        carries = T * B * n_s * size
        stored = _residual_bytes(_supervised_residuals(setup, hand=config.grad == "hand-bptt"), carries, exact)
        what = f"truncated-BPTT window of {h} of" if h < T else "BPTT activations of"
        grad = Part("bptt", stored * h // T * seeds,
                    f"{what} {T} steps x batch {B}, state {format_count(n_s)}, {format_bytes(stored // (T * B))} "
                    f"per step and sequence" + _times_seeds(seeds),
                    "--seq-len, --batch-size or --hidden (or --grad truncated-bptt --trunc-window H)")
    per_step = task.input_size + 2 * task.output_size + 2 + getattr(model.core, "output_size", config.hidden)
    E = config.eval_batch_size
    evaluation = Part("evaluation", E * (T * per_step + n_s) * size * seeds,
                      f"evaluation batch {E} x ({T} steps x {per_step} values + state {format_count(n_s)}) x "
                      f"{size} bytes" + _times_seeds(seeds), "--seq-len or --hidden")
    return [_state_part(state, state.params, seeds), grad, evaluation]


def _rl_residuals(setup):
    """The rollout and the VJP closure of one update's loss (``plastix.rl.trainer.gradients``)."""
    import jax

    from plastix.rl.trainer import loss_fn, rollout_batch, rollout_loss

    def residuals(key):
        params = setup.agent.init(key)
        if setup.grad == "rollout":
            return jax.vjp(lambda p: loss_fn(setup, p, key)[0], params)[1]
        ro = rollout_batch(setup, params, key)
        return ro, jax.vjp(lambda p: rollout_loss(setup, p, ro)[0], params)[1]

    return residuals


def _policy_gradient(config, seeds: int, exact: bool, core, env) -> list[Part]:
    from plastix.rl.trainer import build_setup, init_state

    setup = build_setup(config, core=core, env=env)
    state = _abstract(functools.partial(init_state, setup), _key())
    n_s = leaf_count(_abstract(setup.agent.initial_carry))
    d = int(setup.env.observation_size)
    size, T, B = _itemsize(config), setup.num_steps, config.batch_size
    stored = _residual_bytes(_rl_residuals(setup), T * B * (n_s + d) * size, exact)
    episode = Part("episodes", stored * seeds,
                   f"BPTT through {T} steps x {B} episodes, state {format_count(n_s)}, "
                   f"{format_bytes(stored // (T * B))} per step and episode" + _times_seeds(seeds),
                   "--episodes or --hidden")
    return [_state_part(state, state.params, seeds), episode]


def _dqn(config, seeds: int, exact: bool, core, env) -> list[Part]:
    from plastix.dqn.trainer import build_setup, init_state

    setup = build_setup(config, core=core, env=env)
    state = _abstract(functools.partial(init_state, setup), _key())
    replay = leaf_bytes(state.buffer)
    per_step = replay // max(config.buffer_size, 1)
    n_s = leaf_count(_abstract(setup.network.initial_carry))
    size, B, L = _itemsize(config), config.batch_size, config.window
    return [_state_part(state, state.params, seeds, exclude=replay),
            Part("replay", replay * seeds, f"replay memory {format_count(config.buffer_size)} steps x {per_step} "
                 f"bytes" + _times_seeds(seeds), "--buffer-size"),
            Part("windows", 2 * B * L * (n_s + 1) * size * seeds,
                 f"2 networks x batch {B} x window {L} x state {format_count(n_s)} x {size} bytes"
                 + _times_seeds(seeds), "--batch-size, --seq-len or --hidden")]


def _ppo(config, seeds: int, exact: bool, core, env) -> list[Part]:
    from plastix.ppo.trainer import build_setup, init_state

    setup = build_setup(config, core=core, env=env)
    state = _abstract(functools.partial(init_state, setup), _key())
    n_s = leaf_count(_abstract(setup.agent.initial_carry))
    d = int(setup.env.observation_size)
    size, E, T, M = _itemsize(config), config.num_envs, config.num_steps, config.num_minibatches
    steps = E * T
    rollout = Part("rollout", steps * (2 * d + 12) * size * seeds,
                   f"rollout buffer {E} envs x {T} steps x {2 * d + 12} values x {size} bytes" + _times_seeds(seeds),
                   "--num-envs or --num-steps")
    minibatch = Part("minibatch", -(-steps // M) * (n_s + d) * size * seeds,
                     f"BPTT through a minibatch of {-(-steps // M)} steps x (state {format_count(n_s)} + "
                     f"observation {d}) x {size} bytes" + _times_seeds(seeds),
                     "--num-envs, --num-steps or --hidden (or raise --num-minibatches)")
    return [_state_part(state, state.params, seeds), rollout, minibatch]


def _times_seeds(seeds: int) -> str:
    return f" x {seeds} seeds" if seeds > 1 else ""


FAMILIES = {"supervised": _supervised, "policy-gradient": _policy_gradient, "dqn": _dqn, "ppo": _ppo}


def estimate(config, *, seeds: int = 1, core=None, env=None, data=None, exact: bool = True) -> Estimate | None:
    """The estimated peak memory of training ``config`` for ``seeds`` seeds at once (module
    docstring), built from shapes only (``jax.eval_shape``: nothing is allocated or compiled).
    ``core`` / ``env`` / ``data``: the user-supplied parts ``plastix.run`` takes. ``exact=False``:
    count BPTT's stored carries alone instead of tracing the gradient for autodiff's residuals
    (faster; below the exact count for autodiff BPTT, which keeps more than the carry). None for
    a tabular run (its Q table is fixed by the grid) or a Gymnasium task (stepped on the host).
    Raises the config's own PlastixError when it is invalid."""
    from plastix.algorithms import algorithm_of

    entry = algorithm_of(config)
    if entry.family not in FAMILIES or entry.host_loop(config):
        return None
    parts = {"core": core, "env": env} if entry.family != "supervised" else {"core": core, "data": data}
    found = FAMILIES[entry.family](config, seeds, exact, **parts)
    return Estimate(tuple(sorted(found, key=lambda p: -p.nbytes)))


def check_memory(config, *, seeds: int = 1, core=None, env=None, data=None,
                 available: int | None = None) -> Estimate | None:
    """Refuse (PlastixError, one line) a training whose ``estimate`` exceeds ``available`` bytes
    (default ``available_bytes()``; no check when that is None). Returns the estimate.

    A training whose quick estimate (``exact=False``) is below 1 / ``CLEAR_MARGIN`` of the
    available memory clearly fits and is not traced further."""
    source = f" ({LIMIT_ENV})" if available is None and os.environ.get(LIMIT_ENV, "").strip() else ""
    available = available_bytes() if available is None else available
    if available is None:
        return None
    found = estimate(config, seeds=seeds, core=core, env=env, data=data, exact=False)
    if found is None or found.nbytes * CLEAR_MARGIN <= available:
        return found
    found = estimate(config, seeds=seeds, core=core, env=env, data=data)
    if found.nbytes <= available:
        return found
    top = found.dominant
    also = f", or train fewer than {seeds} seeds at once" if seeds > 1 and "--seeds" not in top.reduce else ""
    raise PlastixError(f"this training needs about {format_bytes(found.nbytes)} ({top.detail}) but this machine has "
                       f"{format_bytes(available)} available{source}; reduce {top.reduce}{also}.")


def check_fits(nbytes: int, detail: str, reduce: str, available: int | None = None) -> None:
    """Refuse (PlastixError, one line) a computation outside training (a gradient check, a
    Hopfield capacity curve, recorded demonstrations) whose arrays need ``nbytes`` (``detail``:
    the product that gives it) when that exceeds ``available`` (default ``available_bytes()``)."""
    source = f" ({LIMIT_ENV})" if available is None and os.environ.get(LIMIT_ENV, "").strip() else ""
    available = available_bytes() if available is None else available
    if available is not None and nbytes > available:
        raise PlastixError(f"this needs about {format_bytes(nbytes)} ({detail}) but this machine has "
                           f"{format_bytes(available)} available{source}; reduce {reduce}.")
