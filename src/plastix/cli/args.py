"""Arguments of ``plastix train``, shared by every trainer (one dataclass, as in CleanRL:
the field docstrings are the CLI help and the logged config)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import tyro

from plastix.errors import PlastixError


@dataclasses.dataclass(frozen=True)
class TrainArgs:
    """Train an agent or a sequence model on a named task, several seeds at once."""

    task: Annotated[str, tyro.conf.Positional]
    """Task name (see `plastix list`), e.g. adding, copy, temporal-order, reber, cliff-walking."""
    core: str | None = None
    """Recurrent core: elman, jordan, lstm, peephole-lstm, gru, plastic-rnn, neuromod-rnn, ... (RL
    tasks also mlp, a memoryless feed-forward core); None = lstm for sequence tasks, neuromod-rnn
    for RL tasks (cue-reward, meta-maze, bandit)."""
    algo: str | None = None
    """Algorithm: supervised (sequence tasks), q-learning or sarsa (grid tasks), a2c or reinforce
    (RL tasks); None = supervised, q-learning, a2c respectively."""
    grad: str = "bptt"
    """Gradient method (supervised): bptt, hand-bptt, truncated-bptt, rtrl."""
    modulation: str | None = None
    """neuromod-rnn / neuromod-lstm: simple or retroactive (None = the core's default, retroactive)."""
    core_opt: tuple[str, ...] = ()
    """Further core options as KEY=VALUE, e.g. --core-opt alpha=neuron rule=oja eta_init=0.05."""
    hidden: int | None = None
    """Hidden size n of the core; None = 64 for sequence tasks, the RL task's default otherwise."""
    seq_len: int | None = None
    """Sequence length T (sequence tasks), or learning positions per replayed window (dqn with a recurrent
    core, None = 8); None = the task's default."""
    total_steps: int | None = None
    """Budget per seed: training sequences (supervised) or environment steps (RL); None = task default."""
    batch_size: int | None = None
    """Sequences per gradient step (supervised, None = 32) or replayed windows per update (dqn, None = 64);
    a2c/reinforce use --episodes."""
    lr: float | None = None
    """Learning rate / step size; None = the algorithm's default."""
    clip_norm: float | None = None
    """Clip gradients to this global norm; 0 = no clipping; None = the task's default (1.0; Backpropamine's
    2.0 for cue-reward and bandit, 4.0 for meta-maze)."""
    teacher_forcing: float = 0.0
    """jordan core (mse tasks): probability of feeding back the target instead of the output
    during training (1 = teacher forcing, in (0, 1) scheduled sampling); evaluation runs free."""
    trunc_window: int | None = None
    """truncated-bptt: window h (steps backpropagated); None = T."""
    trunc_stride: int | None = None
    """truncated-bptt: stride h' (steps between updates); None = h."""
    gamma: float | None = None
    """Discount factor (RL); None = the task's default (0.9 for a2c/reinforce, as Backpropamine)."""
    preset: str = "default"
    """Environment preset (RL tasks): cue-reward default | easy | paper, bandit default | meta."""
    env_opt: tuple[str, ...] = ()
    """Environment settings as KEY=VALUE (RL tasks), e.g. --env-opt episode_length=40 n_cues=2."""
    episodes: int | None = None
    """a2c/reinforce: episodes run in parallel per update (the batch B); None = the task's default (30,
    Backpropamine; cartpole 32)."""
    baseline: str = "value"
    """reinforce: none, batch-mean or value (a learned critic)."""
    value_coef: float | None = None
    """a2c/reinforce: weight c_v of the critic's loss ½ Σ (G_t − v_t)²; None = the task's default
    (Backpropamine: 0.1; cartpole 0.5)."""
    entropy_coef: float | None = None
    """a2c/reinforce: weight c_H of the entropy bonus Σ_t H(π_t); None = the task's default
    (Backpropamine's --bent 0.03; cartpole 0)."""
    epsilon: float = 0.1
    """ε of ε-greedy exploration (tabular RL)."""
    # ------------------------------------------------------------ dqn (plastix.dqn)
    double: bool = False
    """dqn: Double DQN targets (van Hasselt et al. 2016)."""
    dueling: bool = False
    """dqn: dueling value/advantage head (Wang et al. 2016)."""
    per: bool = False
    """dqn: proportional prioritized replay (Schaul et al. 2016)."""
    n_step: int = 1
    """dqn: n-step returns."""
    buffer_size: int | None = None
    """dqn: replay capacity N (transitions, or sequences for recurrent Q-networks); None = task default."""
    target_every: int | None = None
    """dqn: copy the online network to the target network every C environment steps; None = task default."""
    learning_starts: int | None = None
    """dqn: environment steps before the first update; None = task default."""
    train_every: int | None = None
    """dqn: environment steps between gradient steps; None = task default."""
    epsilon_start: float = 1.0
    """dqn: ε at the start of the linear exploration schedule."""
    epsilon_end: float = 0.05
    """dqn: ε at the end of the schedule (and after it)."""
    exploration_fraction: float | None = None
    """dqn: fraction of the budget over which ε decays linearly from start to end; None = the task's
    default (cartpole 0.1, else 0.5)."""
    lr_end: float | None = None
    """anneal the learning rate linearly from --lr to this over the updates (every gradient trainer); None =
    the default: constant, except dqn on cartpole (0)."""
    per_alpha: float = 0.6
    """dqn --per: priority exponent α."""
    per_beta: float = 0.4
    """dqn --per: initial importance-sampling exponent β, annealed linearly to 1."""
    loss: str = "huber"
    """dqn: huber or mse TD loss."""
    optimizer: str = "adam"
    """dqn: adam or rmsprop (the DQN paper's)."""
    burn_in: int = 0
    """dqn with a recurrent core: steps of each stored sequence used only to warm up the carry (R2D2)."""
    # ------------------------------------------------------------ runs (plastix.runs, plastix.checkpoint)
    checkpoint_every: int | None = None
    """Write a checkpoint after every this many log points (None = after every progress segment)."""
    keep_checkpoints: int = 3
    """Keep the last N checkpoints."""
    max_skipped: int = 100
    """Stop the run when more than this many updates were skipped for a non-finite loss or gradient."""
    tensorboard: bool = False
    """Also write TensorBoard event files (needs `pip install plastix[tensorboard]`)."""
    dtype: str = "float32"
    """float32 or float64."""
    seed: int = 0
    """The first seed; seeds are seed, seed+1, ..., seed+seeds-1."""
    seeds: int = 1
    """How many seeds to train at once (vmapped)."""
    log_every: int | None = None
    """Evaluate and log every this many budget units; None = about 50 points per run."""
    out: str | None = None
    """Run directory (must not exist); default runs/<task>-<core>-<algo>-<time>."""
    resume: str | None = None
    """Continue the run in this directory from its last checkpoint (other flags are taken from its config)."""
    no_plot: bool = False
    """Skip the learning-curve PNG."""
    quiet: bool = False
    """No progress bar."""

    def run(self) -> int:
        """Dispatch to the trainer of the task (``plastix.cli.train.run_train``)."""
        from plastix.cli.train import run_train

        return run_train(self)


def parse_options(pairs: tuple[str, ...], kind: str = "core options") -> dict:
    """KEY=VALUE strings -> dict; values are read as int, float, true/false or else str."""
    options = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise PlastixError(f"{kind} are KEY=VALUE, got {pair!r}.")
        options[key.replace("-", "_")] = _parse_value(raw)
    return options


def _parse_value(raw: str):
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw
