"""Arguments of ``plastix train``: one dataclass per algorithm (as CleanRL's and tyro's per-script
``Args``: the field docstrings are the CLI help and the logged config), each nesting the run
options shared by every algorithm (``RunArgs``, flags without a prefix: ``--seed``, ``--out``).

    SupervisedArgs       supervised (sequence tasks, ``data:<file>``)
    PolicyGradientArgs   a2c;  ReinforceArgs adds --baseline for reinforce
    PPOArgs              ppo
    DQNArgs              dqn
    TabularArgs          q-learning, sarsa (grid tasks)

``ALGORITHM_ARGS`` names the class of each algorithm of the registry (``plastix.algorithms``);
``plastix.cli.train`` peeks at the task and ``--algo`` and parses with that class only. A field
defaults either to its config class's default (read from it here, never restated) or to None:
"the task's default", filled in by the algorithm's resolver from its task table
(``plastix.train.resolve``, ``plastix.rl.resolve.RL_PRESETS``, ``plastix.dqn.resolve.DQN_DEFAULTS``,
``plastix.mdp.runner``).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import tyro

from plastix.driver import RunOptions
from plastix.ctc.config import CTCConfig
from plastix.dqn.config import DQNConfig
from plastix.lm.config import LMConfig
from plastix.ppo.config import PPOConfig
from plastix.options import parse_options
from plastix.rl.trainer import RLConfig
from plastix.train.supervised import SupervisedConfig

ALGO = Literal["supervised", "a2c", "reinforce", "ppo", "dqn", "q-learning", "sarsa"]
GRAD = Literal["bptt", "hand-bptt", "truncated-bptt", "rtrl"]
RL_GRAD = Literal["auto", "hand-bptt", "bptt", "rollout"]
DTYPE = Literal["float32", "float64"]
_SUP, _RL, _DQN = SupervisedConfig(), RLConfig(), DQNConfig()  # the defaults live in the config classes
_PPO = PPOConfig()
_LM = LMConfig()
_CTC = CTCConfig()  # plastix.ctc


@dataclasses.dataclass(frozen=True)
class RunArgs(RunOptions):
    """How the run is carried out and saved (``plastix.driver.RunOptions``; the same for every
    algorithm). Only ``resume`` differs: on the command line it names the run directory."""

    resume: str | None = None
    """Continue the run in this directory from its last checkpoint (the task and every other flag are taken
    from its config.json)."""
    segments: tyro.conf.Suppress[int] = RunOptions.segments
    json: bool = False
    """Print one JSON object on stdout at the end (run directory, seeds, each metric's final value
    per seed); the progress bar and the summary go to stderr."""

    def to_options(self) -> RunOptions:
        """The driver's ``RunOptions``: ``--resume DIR`` is out=DIR, resume=True."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(RunOptions)}
        if self.resume is not None:
            values.update(out=self.resume, resume=True)
        else:
            values["resume"] = False
        return RunOptions(**values)


RUN = Annotated[RunArgs, tyro.conf.OmitArgPrefixes, tyro.conf.arg(name="run")]


@dataclasses.dataclass(frozen=True)
class AlgoArgs:
    """What every algorithm's arguments have: the task, the budget, the step size, the run options."""

    task: Annotated[str | None, tyro.conf.Positional, tyro.conf.arg(metavar="TASK")] = None
    """Task name (see `plastix list`), e.g. adding, copy, data:my.npz, cue-reward, cartpole, cliff-walking
    (not needed with --resume: the run directory holds it)."""
    total_steps: int | None = None
    """Budget per seed: training sequences (supervised) or environment steps (RL); None = the task's default."""
    lr: float | None = None
    """Learning rate / step size; None = the task's default."""
    log_every: int | None = None
    """Evaluate and log every this many budget units; None = about 50 points per run."""
    options: RUN = RunArgs()
    """Run options."""

    def run(self) -> int:
        """Resolve the config and train (``plastix.cli.train.run_train``)."""
        from plastix.cli.train import run_train

        return run_train(self)


@dataclasses.dataclass(frozen=True)
class NetworkArgs(AlgoArgs):
    """Arguments of the gradient-trained algorithms: the core and its optimizer."""

    core: str | None = None
    """Recurrent core: elman, jordan, lstm, peephole-lstm, gru, plastic-rnn, neuromod-rnn, ... (RL tasks also
    mlp, a memoryless feed-forward core); None = the task's default."""
    hidden: int | None = None
    """Hidden size n of the core; None = the task's default."""
    modulation: str | None = None
    """neuromod-rnn / neuromod-lstm: simple or retroactive (None = the core's default, retroactive)."""
    core_opt: tuple[str, ...] = ()
    """Further core options as KEY=VALUE, e.g. --core-opt alpha=neuron rule=oja eta_init=0.05."""
    clip_norm: float | None = None
    """Clip gradients to this global norm; 0 = no clipping; None = the task's default."""
    lr_end: float | None = None
    """Anneal the learning rate linearly from --lr to this over the updates; None = the task's default."""
    dtype: DTYPE = "float32"
    """float32 or float64."""


@dataclasses.dataclass(frozen=True)
class SupervisedArgs(NetworkArgs):
    """Train a sequence model on a supervised sequence task (or your data: data:<file>), several seeds at once."""

    algo: Literal["supervised"] = "supervised"
    """Algorithm."""
    grad: GRAD = _SUP.grad
    """Gradient method."""
    seq_len: int | None = None
    """Sequence length T; None = the task's default."""
    batch_size: int | None = None
    """Sequences per gradient step; None = SupervisedConfig's default."""
    teacher_forcing: float = _SUP.p_teacher
    """jordan core (mse tasks): probability of feeding back the target instead of the output during training
    (1 = teacher forcing, in (0, 1) scheduled sampling); evaluation runs free."""
    trunc_window: int | None = _SUP.trunc_window
    """truncated-bptt: window h (steps backpropagated); None = T."""
    trunc_stride: int | None = _SUP.trunc_stride
    """truncated-bptt: stride h' (steps between updates); None = h."""


@dataclasses.dataclass(frozen=True)
class EnvArgs(NetworkArgs):
    """Arguments of the gradient-trained RL algorithms: the environment and the discount."""

    preset: str = _RL.preset
    """Environment preset: cue-reward default | easy | quick | paper, bandit default | meta."""
    env_opt: tuple[str, ...] = ()
    """Environment settings as KEY=VALUE, e.g. --env-opt episode_length=40 n_cues=2."""
    gamma: float | None = None
    """Discount factor γ; None = the task's default."""


@dataclasses.dataclass(frozen=True)
class PolicyGradientArgs(EnvArgs):
    """Train an agent by advantage actor-critic (a2c) on an environment, several seeds at once."""

    algo: Literal["a2c", "reinforce"] = "a2c"
    """Algorithm (reinforce: ReinforceArgs)."""
    rl_grad: RL_GRAD = _RL.grad
    """How the policy gradient is computed: auto (hand-bptt where the core has a hand-derived backward, else
    bptt), hand-bptt, bptt (both over the stored trajectory), rollout (autodiff through the rollout itself)."""
    episodes: int | None = None
    """Episodes run in parallel per update (the batch B); None = the task's default."""
    num_envs: int | None = None
    """Environments per seed, stepped in lockstep by vmap inside the scan, one episode each per update: the
    same B as --episodes, under the name the other RL trainers use (give one or the other)."""
    value_coef: float | None = None
    """Weight c_v of the critic's loss ½ Σ (G_t − v_t)²; None = the task's default."""
    entropy_coef: float | None = None
    """Weight c_H of the entropy bonus Σ_t H(π_t); None = the task's default."""
    action_dist: Literal["gaussian", "beta"] = _RL.action_dist
    """Continuous actions only (ignored for discrete): gaussian (tanh-squashed, Haarnoja et al. 2018) or beta
    (Chou et al. 2017), rescaled to the action bounds."""
    reward_scale: float = _RL.reward_scale
    """The losses see reward_scale · r_t (returns and critic in those units); the logged return is unscaled."""


@dataclasses.dataclass(frozen=True)
class ReinforceArgs(PolicyGradientArgs):
    """Train an agent by REINFORCE (Williams 1992) on an environment, several seeds at once."""

    algo: Literal["a2c", "reinforce"] = "reinforce"
    """Algorithm."""
    baseline: Literal["none", "batch-mean", "value"] = _RL.baseline
    """none, batch-mean or value (a learned critic)."""


@dataclasses.dataclass(frozen=True)
class PPOArgs(EnvArgs):
    """Train an agent by proximal policy optimisation (Schulman et al. 2017), recurrent PPO with a recurrent or
    plastic core, on an environment, several seeds at once."""

    algo: Literal["ppo"] = "ppo"
    """Algorithm."""
    num_envs: int | None = None
    """Environments per seed, stepped in lockstep; None = the task's default."""
    num_steps: int | None = None
    """Steps per environment per rollout; None = the task's default (meta-RL tasks: one episode)."""
    seq_len: int | None = None
    """Steps per re-scanned sequence of the rollout (recurrent cores); None = 1 for mlp, num_steps otherwise."""
    update_epochs: int | None = None
    """Passes over each rollout; None = the task's default."""
    num_minibatches: int | None = None
    """Minibatches per pass; None = the task's default."""
    gae_lambda: float | None = None
    """λ of generalized advantage estimation; None = the task's default."""
    clip_eps: float = _PPO.clip_eps
    """ε of the clipped ratio (and of the value clipping)."""
    clip_value: bool = _PPO.clip_value
    """Clip the value function's change around the rollout's values (--no-clip-value: plain ½(v − R)²)."""
    vf_coef: float = _PPO.vf_coef
    """Weight c_V of the value loss."""
    ent_coef: float | None = None
    """Weight c_H of the entropy bonus; None = the task's default."""
    norm_adv: bool = _PPO.norm_adv
    """Normalise the advantages over each minibatch."""
    separate_critic: bool | None = None
    """The value from a second core of its own; None = yes for mlp, shared for recurrent cores."""
    embed: int | None = None
    """Units of a ReLU layer before a shared core (0: the core reads the observation); None = the task's default."""
    head_hidden: int | None = None
    """Units of a ReLU layer in each of the policy and value heads of a shared core (0: linear heads); None = the
    task's default."""
    reward_scale: float | None = None
    """The learner sees this times the reward (returns of order 1; metrics report the raw reward); None = the
    task's default (1; Pendulum 0.1)."""
    bootstrap_truncated: bool | None = None
    """Bootstrap the value of the last observation where a time limit cuts an episode; None = the task's default."""
    action_dist: Literal["gaussian", "beta"] = _PPO.action_dist  # type: ignore[assignment]
    """Continuous actions only: gaussian (tanh-squashed) or beta, rescaled to the action bounds."""


@dataclasses.dataclass(frozen=True)
class DQNArgs(EnvArgs):
    """Train a Q-network by DQN (Mnih et al. 2015) and its variants on an environment, several seeds at once."""

    algo: Literal["dqn"] = "dqn"
    """Algorithm."""
    seq_len: int | None = None
    """Learning positions per replayed window (a recurrent core); None = 8 (1 for mlp)."""
    batch_size: int | None = None
    """Replayed windows per update; None = the task's default."""
    head_hidden: int | None = None
    """Units of the Q-head's ReLU layer (0: as many as --hidden); None = the task's default (84 on cartpole, as in
    PureJaxRL's network, when --hidden is not given; else as many as --hidden)."""
    num_envs: int | None = None
    """Environments per seed, stepped in lockstep (each step stores num_envs transitions); None = the task's
    default (10 on cartpole, else 1). Budgets and
    cadences count environment steps over all of them, so --train-every defaults to the task's rounded up to a
    multiple of num_envs."""
    double: bool = _DQN.double
    """Double DQN targets (van Hasselt et al. 2016)."""
    dueling: bool = _DQN.dueling
    """Dueling value/advantage head (Wang et al. 2016)."""
    per: bool = _DQN.per
    """Proportional prioritized replay (Schaul et al. 2016)."""
    n_step: int = _DQN.n_step
    """n-step returns."""
    buffer_size: int | None = None
    """Replay capacity N (transitions, or sequences for recurrent Q-networks); None = the task's default."""
    target_every: int | None = None
    """Copy the online network to the target network every C environment steps; None = the task's default."""
    learning_starts: int | None = None
    """Environment steps before the first update; None = the task's default."""
    train_every: int | None = None
    """Environment steps between gradient steps; None = the task's default."""
    epsilon_start: float = _DQN.epsilon_start
    """ε at the start of the linear exploration schedule."""
    epsilon_end: float = _DQN.epsilon_end
    """ε at the end of the schedule (and after it)."""
    exploration_fraction: float | None = None
    """Fraction of the budget over which ε decays linearly from start to end; None = the task's default."""
    per_alpha: float = _DQN.per_alpha
    """--per: priority exponent α."""
    per_beta: float = _DQN.per_beta
    """--per: initial importance-sampling exponent β, annealed linearly to 1."""
    loss: Literal["huber", "mse"] | None = None
    """huber or mse TD loss; None = the task's default (mse on cartpole, as PureJaxRL's; else huber)."""
    optimizer: Literal["adam", "rmsprop"] = _DQN.optimizer
    """adam or rmsprop (the DQN paper's)."""
    burn_in: int = _DQN.burn_in
    """A recurrent core: steps of each stored sequence used only to warm up the carry (R2D2)."""


@dataclasses.dataclass(frozen=True)
class TabularArgs(AlgoArgs):
    """Learn a Q table by Q-learning or SARSA on a grid task, several seeds at once."""

    algo: Literal["q-learning", "sarsa"] = "q-learning"
    """Algorithm."""
    gamma: float | None = None
    """Discount factor γ; None = the grid task's."""
    epsilon: float | None = None
    """ε of ε-greedy exploration; None = plastix.mdp.runner's default."""


# ---- language models (plastix.lm): text:<file>
@dataclasses.dataclass(frozen=True)
class LMArgs(NetworkArgs):
    """Train a language model on any UTF-8 text file (text:<file>): truncated BPTT over contiguous streams,
    validation and test bits per token and perplexity, several seeds at once."""

    algo: Literal["lm"] = "lm"
    """Algorithm."""
    level: Literal["char", "word"] = "char"
    """Tokens: characters, or whitespace-separated words with <eos> at each line end."""
    seq_len: int | None = None
    """Tokens T per segment (each update backpropagates through T steps); None = LMConfig's default."""
    batch_size: int | None = None
    """Contiguous streams B the training split is cut into (one segment of each per update); None = LMConfig's
    default."""
    embed: int = _LM.embed
    """Input embedding size; 0 = one-hot tokens into the core."""
    min_count: int = _LM.min_count
    """--level word: words seen fewer times in the training split read as <unk>."""
    max_vocab: int | None = _LM.max_vocab
    """--level word: keep at most this many tokens (the most frequent words, <unk> and <eos>); None = all."""
    val_fraction: float = _LM.val_fraction
    """Fraction of the tokens (after the training part) held out for validation."""
    test_fraction: float = _LM.test_fraction
    """Fraction of the tokens (the end of the file) held out for the test."""
    eval_streams: int = _LM.eval_streams
    """Each evaluation split is scored as this many contiguous streams, each with a carry from its start (1: one
    scan over the whole split)."""


# ---- encoder-decoders (plastix.seq2seq): reversal, sorting, addition
@dataclasses.dataclass(frozen=True)
class Seq2SeqArgs(NetworkArgs):
    """Train an encoder-decoder (any core as encoder and decoder, with or without attention) on reversal, sorting
    or addition, scored by exact match at the trained lengths and at twice the longest, several seeds at once."""

    algo: Literal["seq2seq"] = "seq2seq"
    """Algorithm."""
    decoder_core: str | None = None
    """The decoder's core (lstm, gru, transformer, plastic-rnn, ...); None = the encoder's (--core)."""
    attention: Literal["none", "bahdanau", "luong", "luong-dot"] = "luong"
    """none (Sutskever et al. 2014: the encoder's final state conditions the decoder), bahdanau (additive, Bahdanau
    et al. 2015), luong (general, s·W_a h) or luong-dot (s·h) (Luong et al. 2015)."""
    embed: int | None = None
    """Token embedding size; None = Seq2SeqConfig's default."""
    min_len: int | None = None
    """Shortest trained problem (digits; addition: of each operand); None = the task's default."""
    max_len: int | None = None
    """Longest trained problem; evaluation also runs at twice this; None = the task's default."""
    batch_size: int | None = None
    """Problems per gradient step; None = Seq2SeqConfig's default."""
    sampling: float = 0.0
    """Scheduled sampling (Bengio et al. 2015): the largest probability of feeding the decoder its own sampled
    token instead of the true one (0 = teacher forcing)."""
    sampling_schedule: Literal["constant", "linear", "inverse-sigmoid"] = "linear"
    """How that probability rises over the updates."""
    beam: int = 1
    """Evaluation decoding: 1 = greedy, K > 1 = beam search of width K."""
    length_penalty: float = 0.0
    """Beam search: α of GNMT's length penalty ((5 + |y|)/6)^α (Wu et al. 2016); 0 = plain log-probability."""


# ----
# each algorithm of the registry (plastix.algorithms.ALGORITHMS) -> the dataclass of its flags
ALGORITHM_ARGS: dict[str, type] = {"supervised": SupervisedArgs, "a2c": PolicyGradientArgs, "reinforce": ReinforceArgs,
                                   "ppo": PPOArgs, "dqn": DQNArgs, "q-learning": TabularArgs, "sarsa": TabularArgs,
                                   "lm": LMArgs}

ALGORITHM_ARGS["seq2seq"] = Seq2SeqArgs  # plastix.seq2seq


# ---- temporal classification (plastix.ctc): ctc-symbols
@dataclasses.dataclass(frozen=True)
class CTCArgs(NetworkArgs):
    """Train a recurrent or bidirectional network with connectionist temporal classification (Graves et al. 2006)
    on a task whose labels are not aligned to the frames (ctc-symbols), several seeds at once."""

    algo: Literal["ctc"] = "ctc"
    """Algorithm."""
    bidirectional: bool = False
    """A forward and a backward core (--hidden units each), their outputs concatenated per frame."""
    batch_size: int | None = None
    """Sequences per gradient step; None = CTCConfig's default."""
    symbols: int = _CTC.symbols
    """ctc-symbols: K, the number of distinct symbols (plus the blank)."""
    min_len: int | None = _CTC.min_len
    """ctc-symbols: fewest symbols per sequence."""
    max_len: int | None = _CTC.max_len
    """ctc-symbols: most symbols per sequence."""
    min_dur: int = _CTC.min_dur
    """ctc-symbols: fewest frames of one symbol."""
    max_dur: int = _CTC.max_dur
    """ctc-symbols: most frames of one symbol."""
    gap_prob: float = _CTC.gap_prob
    """ctc-symbols: probability of a silent gap (1..2 frames) before a symbol (always between equal neighbours)."""
    noise: float = _CTC.noise
    """ctc-symbols: standard deviation σ of the Gaussian noise on every frame (patterns are ±1)."""
    beam_width: int = _CTC.beam_width
    """Width of the prefix beam search of `plastix eval` (best path is evaluated too)."""


ALGORITHM_ARGS["ctc"] = CTCArgs
# ----


def args_class(algo: str) -> type:
    """The Args dataclass of a registered algorithm."""
    from plastix.algorithms import get_algorithm

    get_algorithm(algo)  # an unknown name: PlastixError listing the registered ones
    return ALGORITHM_ARGS[algo]


def arg_fields(cls: type) -> dict[str, dataclasses.Field]:
    """The flags of an Args class: its fields and those of its run options (``options``)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "options"}
    fields.update({f.name: f for f in dataclasses.fields(RunArgs) if f.name != "segments"})
    return fields


def flat_args(args) -> dict:
    """An Args instance as one flat dict (run options included), as stored in config.json."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.name != "options"}
    values.update({f.name: getattr(args.options, f.name) for f in dataclasses.fields(RunArgs) if f.name != "segments"})
    return values


def make_args(cls: type, values: dict):
    """An Args instance of ``cls`` from a flat dict (run options go to ``options``)."""
    run_names = {f.name for f in dataclasses.fields(RunArgs)}
    own = {k: v for k, v in values.items() if k not in run_names}
    run = {k: v for k, v in values.items() if k in run_names}
    return cls(**own, options=RunArgs(**run))


def TrainArgs(**flags):  # noqa: N802  (the flat spelling of the command line, from Python)
    """The Args of the algorithm ``flags`` select, from flat keyword flags as on the command line
    (``TrainArgs(task="cartpole", algo="dqn", double=True, seeds=2)``); a flag the algorithm does
    not have is refused, naming those that accept it."""
    from plastix.cli.train import algo_of, refuse_inapplicable

    task, algo = flags.get("task"), flags.get("algo")
    algo = algo_of(task, algo, flags.get("resume") if task is None else None)
    cls = args_class(algo)
    refuse_inapplicable(list(flags), cls, algo, task)
    return make_args(cls, {**flags, "algo": algo})


__all__ = ["AlgoArgs", "CTCArgs", "DQNArgs", "LMArgs", "PPOArgs", "PolicyGradientArgs", "ReinforceArgs", "RunArgs", "SupervisedArgs", "TabularArgs",
           "ALGORITHM_ARGS", "TrainArgs", "arg_fields", "args_class", "flat_args", "make_args", "parse_options"]
