"""The registry of trainers: one entry per algorithm, used by ``plastix.run`` / ``plastix.load``
and by every command (``plastix train``, ``eval``, ``plot``, ``compare``, ``sweep``).

An ``Algorithm`` says, for its name (``supervised``, ``a2c``, ``reinforce``, ``dqn``,
``q-learning``, ``sarsa``): the config class, how to build its ``Trainer``
(``make_trainer(config, *, core=None, env=None, data=None)``), how to resolve the flags of
``plastix train`` into a config, the metric names it logs, the unit of ``step``, the metric that
scores a run (and whether higher is better), and how to evaluate, plot and summarise a saved run.
The heavy modules (trainers, plots) are imported only when an entry is used.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from plastix.errors import PlastixError, unknown_name

SUPERVISED_METRICS = ("losses/train_loss", "charts/eval_loss", "charts/eval_metric", "charts/baseline",
                      "losses/skipped_updates")
RL_METRICS = ("charts/episodic_return", "losses/policy_loss", "losses/value_loss", "losses/entropy",
              "losses/skipped_updates",
              # plasticity diagnostics (plastix.rl.diagnostics; NaN for non-plastic cores)
              "diagnostics/eta", "diagnostics/mean_abs_M", "diagnostics/hebb_at_clip", "diagnostics/max_abs_E")
PPO_METRICS = ("charts/episodic_return", "charts/episodic_length", "losses/policy_loss", "losses/value_loss",
               "losses/entropy", "losses/approx_kl", "losses/clip_fraction", "losses/skipped_updates",
               "diagnostics/eta", "diagnostics/mean_abs_M", "diagnostics/hebb_at_clip", "diagnostics/max_abs_E")
DQN_METRICS = ("charts/episodic_return", "charts/episodic_length", "charts/epsilon", "losses/td_loss",
               "losses/q_values", "losses/skipped_updates")
LM_METRICS = ("losses/train_loss", "charts/val_bits_per_token", "charts/val_perplexity", "charts/test_bits_per_token",
              "charts/test_perplexity", "charts/baseline", "charts/passes", "losses/skipped_updates")  # plastix.lm
GRID_METRICS = ("charts/episodic_return", "charts/greedy_return", "charts/episodes", "charts/epsilon",
                "charts/learning_rate", "losses/td_error")


def _attr(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One registry entry. ``config``, ``trainer`` and ``resolver`` are ``"module:name"``
    references, imported on use."""

    name: str
    family: str  # supervised | policy-gradient | dqn | tabular
    config: str  # the config class
    trainer: str  # make_trainer(config, **parts) -> Trainer
    resolver: str  # resolve(flags) -> config
    metric_names: tuple[str, ...]
    unit: str  # what ``step`` counts: "sequences" or "env steps"
    score: str  # the metric a run is compared and swept on
    status: str  # the metric shown in the progress bar
    parts: tuple[str, ...]  # user-supplied objects make_trainer accepts: core, env, data
    summary: str  # the function printing the final summary (in this module)
    plot: str  # the function drawing curves.png (in this module)

    @property
    def config_class(self) -> type:
        return _attr(self.config)

    def make_trainer(self, config, *, core=None, env=None, data=None):
        """The ``Trainer`` of ``config``; user-supplied parts are passed only when given."""
        given = {k: v for k, v in (("core", core), ("env", env), ("data", data)) if v is not None}
        refused = sorted(set(given) - set(self.parts))
        if refused:
            raise PlastixError(f"algorithm {self.name!r} takes no user-supplied {', '.join(refused)} "
                               f"(it accepts: {', '.join(self.parts) or 'none'}).")
        return _attr(self.trainer)(config, **given)

    def resolve(self, flags):
        return _attr(self.resolver)(flags)

    def higher_is_better(self, config, task=None) -> bool:
        """Whether a higher score is better; ``task``: the TaskSpec actually trained on (a run
        on ``data=``), else the task of ``config.task``."""
        if self.family == "supervised":
            from plastix.tasks import get_task

            return bool((task if task is not None else get_task(config.task)).higher_is_better)
        if self.family == "lm":
            return False  # bits per token, perplexity
        if self.family == "ctc":
            return False  # label error rate (plastix.ctc)
        return True

    def host_loop(self, config) -> bool:
        """True for a policy-gradient run on a Gymnasium environment (stepped on the host)."""
        return self.family == "policy-gradient" and config.task.startswith("gymnasium:")


def _supervised(name: str) -> Algorithm:
    return Algorithm(name, "supervised", "plastix.train.supervised:SupervisedConfig",
                     "plastix.train.supervised:make_trainer", "plastix.train.resolve:resolve_config",
                     SUPERVISED_METRICS, "sequences", "charts/eval_metric", "charts/eval_metric", ("core", "data"),
                     "summarize_supervised", "plot_supervised")


def _policy_gradient(name: str) -> Algorithm:
    return Algorithm(name, "policy-gradient", "plastix.rl.trainer:RLConfig", "plastix.rl.trainer:make_trainer",
                     "plastix.rl.resolve:resolve_rl_config", RL_METRICS, "env steps", "charts/episodic_return",
                     "charts/episodic_return", ("core", "env"), "summarize_rl", "plot_rl")


def _tabular(name: str) -> Algorithm:
    return Algorithm(name, "tabular", "plastix.mdp.runner:GridConfig", "plastix.mdp.runner:make_trainer",
                     "plastix.mdp.runner:resolve_grid_config", GRID_METRICS, "env steps", "charts/episodic_return",
                     "charts/greedy_return", ("env",), "summarize_grid", "plot_grid")


ALGORITHMS: dict[str, Algorithm] = {
    "supervised": _supervised("supervised"),
    "a2c": _policy_gradient("a2c"),
    "reinforce": _policy_gradient("reinforce"),
    "ppo": Algorithm("ppo", "ppo", "plastix.ppo.config:PPOConfig", "plastix.ppo.trainer:make_trainer",
                     "plastix.ppo.resolve:resolve_ppo_config", PPO_METRICS, "env steps", "charts/episodic_return",
                     "charts/episodic_return", ("core", "env"), "summarize_ppo", "plot_ppo"),
    "dqn": Algorithm("dqn", "dqn", "plastix.dqn.config:DQNConfig", "plastix.dqn.trainer:make_trainer",
                     "plastix.dqn.resolve:resolve_dqn_config", DQN_METRICS, "env steps", "charts/episodic_return",
                     "charts/episodic_return", ("core", "env"), "summarize_dqn", "plot_dqn"),
    "q-learning": _tabular("q-learning"),
    "sarsa": _tabular("sarsa"),
    "lm": Algorithm("lm", "lm", "plastix.lm.config:LMConfig", "plastix.lm.trainer:make_trainer",
                    "plastix.lm.resolve:resolve_lm_config", LM_METRICS, "tokens", "charts/val_bits_per_token",
                    "charts/val_bits_per_token", (), "summarize_lm", "plot_lm"),
    # encoder-decoders (plastix.seq2seq): reversal, sorting, addition
    "seq2seq": Algorithm("seq2seq", "seq2seq", "plastix.seq2seq.train:Seq2SeqConfig",
                         "plastix.seq2seq.train:make_trainer", "plastix.seq2seq.resolve:resolve_seq2seq",
                         ("losses/train_loss", "charts/eval_metric", "charts/eval_long", "charts/token_accuracy",
                          "charts/sampling", "losses/skipped_updates"), "sequences", "charts/eval_metric",
                         "charts/eval_metric", (), "summarize_seq2seq", "plot_seq2seq"),
    # temporal classification with unaligned labels (plastix.ctc): ctc-symbols
    "ctc": Algorithm("ctc", "ctc", "plastix.ctc.config:CTCConfig", "plastix.ctc.trainer:make_trainer",
                     "plastix.ctc.config:resolve_ctc_config", ("losses/train_loss", "charts/eval_loss",
                     "charts/label_error_rate", "losses/skipped_updates"), "sequences", "charts/label_error_rate",
                     "charts/label_error_rate", (), "summarize_ctc", "plot_ctc"),
}
FAMILIES = ("supervised", "policy-gradient", "ppo", "dqn", "tabular", "lm", "seq2seq", "ctc")


def get_algorithm(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise unknown_name("algorithm", name, ALGORITHMS)
    return ALGORITHMS[name]


def algorithm_of(config) -> Algorithm:
    """The registry entry of a config instance (by its class and, where it has one, its ``algo``)."""
    cls = f"{type(config).__module__}:{type(config).__name__}"
    matches = [a for a in ALGORITHMS.values() if a.config == cls]
    if not matches:
        known = sorted({a.config.split(":")[1] for a in ALGORITHMS.values()})
        raise PlastixError(f"expected an algorithm config ({', '.join(known)}), got {type(config).__name__}.")
    algo = getattr(config, "algo", None)
    for entry in matches:
        if entry.name == algo:
            return entry
    return matches[0]


def family_algorithms(family: str) -> tuple[str, ...]:
    return tuple(name for name, a in ALGORITHMS.items() if a.family == family)


def config_from_dict(cls: type, values: dict):
    """A config instance from its JSON form (lists of pairs back to tuples); PlastixError when
    the keys are not the class's fields."""
    names = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(values, dict) or set(values) != names:
        raise PlastixError(f"expected the fields of {cls.__name__}, got {sorted(values) if isinstance(values, dict) else values!r}.")
    fixed = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
             for k, v in values.items()}
    return cls(**fixed)


def algorithm_of_run(saved: dict) -> tuple[Algorithm, Any]:
    """(entry, config) of a run directory's ``config.json`` payload ``saved["config"]``: the
    ``algo`` it names, else (runs of older versions) the config class whose fields match."""
    cfg = saved.get("config", {})
    resolved = cfg.get("resolved")
    if not isinstance(resolved, dict):
        raise PlastixError("config.json holds no resolved config.")
    name = cfg.get("algo") or resolved.get("algo") or cfg.get("args", {}).get("algo")
    if name in ALGORITHMS:
        entry = ALGORITHMS[name]
        try:
            return entry, config_from_dict(entry.config_class, resolved)
        except PlastixError:
            pass
    for entry in ALGORITHMS.values():
        try:
            return entry, config_from_dict(entry.config_class, resolved)
        except (PlastixError, TypeError, ImportError):
            continue
    raise PlastixError(f"config.json names no known algorithm (algo {name!r}; known: {', '.join(ALGORITHMS)}).")


# ---------------------------------------------------------------- what a run saves and prints
def trained_task(entry: Algorithm, setup):
    """The task a trainer learns, for its labels: the supervised trainer's ``TaskSpec`` (which
    ``data=`` replaces), else None (the environment of ``config.task`` or a user ``env=``)."""
    return setup.task if entry.family == "supervised" else None


def task_label(config, task, parts: dict) -> str:
    """The name a run is labelled with: the trained TaskSpec's, a user environment's class name,
    else ``config.task``."""
    if task is not None:
        return task.name
    if "env" in parts:
        return type(parts["env"]).__name__
    return config.task


def task_record(config, task, parts: dict) -> dict:
    """What ``config.json`` stores of the task a run trained on (``plastix plot`` and
    ``plastix compare`` read its direction and baseline from here)."""
    record: dict = {"name": task_label(config, task, parts)}
    if task is not None:
        record.update(metric=task.metric, higher_is_better=bool(task.higher_is_better),
                      baseline=float(task.baseline(config.seq_len)))
    return record


def run_name_task(label: str) -> str:
    """A task label as part of a directory name: ``data:dir/x.npz`` -> ``data-x``, ``a:b`` -> ``a-b``."""
    from plastix.tasks import DATA_PREFIX

    if label.startswith(DATA_PREFIX):
        return "data-" + Path(label[len(DATA_PREFIX):]).stem
    if label.startswith("text:"):  # plastix.lm
        return "text-" + Path(label[len("text:"):]).stem
    return label.replace(":", "-").replace("/", "-")


def save_final(run_dir: Path, entry: Algorithm, config, states, metrics: dict, walls, seeds: list[int]) -> None:
    """Final parameters: ``params.npz`` (leaves stacked over seeds), or for tabular runs the Q
    tables ``q_table.npy`` (S_seeds, states, actions) and ``summary.json``."""
    from plastix.runs import save_params

    if entry.family != "tabular":
        save_params(run_dir, states.params)
        return
    from plastix.mdp.planning import value_iteration
    from plastix.mdp.plots import Q_TABLE
    from plastix.mdp.grids import make_grid

    np.save(Path(run_dir) / Q_TABLE, np.asarray(states.agent.q))
    mdp = make_grid(config.task, config.gamma).mdp
    returns = metrics["charts/episodic_return"]
    tail = returns[:, -max(1, returns.shape[1] // 5):]
    summary = {"task": config.task, "algo": config.algo, "seeds": len(seeds), "steps_per_seed": config.total_steps,
               "gamma": float(config.gamma), "optimal_value_at_start": float(value_iteration(mdp).values[mdp.start]),
               "online_return_last_20pct": float(np.nanmean(tail)),
               "greedy_return_final": float(np.mean(metrics["charts/greedy_return"][:, -1])),
               "seconds": float(walls[-1]) if len(walls) else 0.0}
    (Path(run_dir) / "summary.json").write_text(json.dumps(summary, indent=2))


def summarize_supervised(run_dir: Path, config, metrics: dict, seeds: list[int], quiet: bool, task=None) -> None:
    from plastix.tasks import get_task

    task = get_task(config.task) if task is None else task
    final = metrics["charts/eval_metric"][:, -1]
    skipped = metrics["losses/skipped_updates"][:, -1]
    print(f"{task.name}: final eval {task.metric} per seed "
          + ", ".join(f"{s}: {v:.4g}" for s, v in zip(seeds, final, strict=True))
          + f" (median {np.nanmedian(final):.4g}; baseline {task.baseline(config.seq_len):.4g})")
    if np.any(skipped > 0):
        print(f"skipped updates (non-finite gradient) per seed: {skipped.tolist()}")
    print(f"run directory: {run_dir}")
    bad = [seed for seed, value in zip(seeds, final, strict=True) if not np.isfinite(value)]
    if bad:
        raise PlastixError(
            f"the final eval {task.metric} is not finite for seed(s) {bad} (expected a finite number; "
            f"skipped non-finite updates per seed: {skipped.tolist()}). Metrics and parameters are kept in "
            f"{run_dir}; try a smaller --lr or --clip-norm.")


def summarize_rl(run_dir: Path, config, metrics: dict, seeds: list[int], quiet: bool) -> None:
    final = metrics["charts/episodic_return"][:, -1]
    print(f"{config.task} ({config.preset}), {config.core}, {config.algo}: final mean episode reward per seed "
          + ", ".join(f"{s}: {v:.4g}" for s, v in zip(seeds, final, strict=True)))
    skipped = metrics["losses/skipped_updates"][:, -1]
    if np.any(skipped > 0):
        print(f"skipped updates (non-finite gradient) per seed: {skipped.tolist()}")
    print(f"run directory: {run_dir}")


def summarize_ppo(run_dir: Path, config, metrics: dict, seeds: list[int], quiet: bool) -> None:
    final = np.asarray(metrics["charts/episodic_return"])[:, -1]
    print(f"{config.task} ({config.preset}), {config.core}, ppo: last mean episode return (training, sampled "
          "actions) per seed " + ", ".join(f"{s}: {v:.4g}" for s, v in zip(seeds, final, strict=True)))
    skipped = np.asarray(metrics["losses/skipped_updates"])[:, -1]
    if np.any(skipped > 0):
        print(f"skipped updates (non-finite gradient) per seed: {skipped.tolist()}")
    print(f"run directory: {run_dir}  (greedy evaluation: plastix eval {run_dir})")


def summarize_dqn(run_dir: Path, config, metrics: dict, seeds: list[int], quiet: bool) -> None:
    from plastix.dqn.resolve import flags_label

    final = np.asarray(metrics["charts/episodic_return"])[:, -1]
    print(f"{config.task}, {config.core}, dqn{flags_label(config)}: last mean episode return (training, ε-greedy) "
          "per seed " + ", ".join(f"{s}: {v:.4g}" for s, v in zip(seeds, final, strict=True)))
    print(f"run directory: {run_dir}  (greedy evaluation: plastix eval {run_dir})")


def summarize_grid(run_dir: Path, config, metrics: dict, seeds: list[int], quiet: bool) -> None:
    if quiet:
        return
    s = json.loads((Path(run_dir) / "summary.json").read_text())
    print(f"{config.algo} on {config.task}: {len(seeds)} seeds x {config.total_steps} steps in {s['seconds']:.1f} s; "
          f"online return (last 20%) {s['online_return_last_20pct']:.2f}, greedy return "
          f"{s['greedy_return_final']:.2f}, U*(start) = {s['optimal_value_at_start']:.3f}; run saved to {run_dir}")


def plot_supervised(run_dir: Path, config, task=None) -> None:
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics
    from plastix.tasks import get_task

    task = get_task(config.task) if task is None else task
    plot_runs([(config.core, read_metrics(run_dir))], ["charts/eval_metric", "losses/train_loss"],
              Path(run_dir) / "curves.png", baseline=task.baseline(config.seq_len),
              logy=[not task.higher_is_better, True], ylabels=[f"eval {task.metric}", "train loss (SeqModel)"],
              title=f"{task.name} (T={config.seq_len}), {config.core}, hidden {config.hidden}")


def plot_rl(run_dir: Path, config) -> None:
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics

    baseline = 0.0 if config.task == "cue-reward" else None  # chance: a random answer at Go
    plot_runs([(config.core, read_metrics(run_dir))], ["charts/episodic_return", "losses/entropy"],
              Path(run_dir) / "curves.png", baseline=baseline, ylabels=["mean episode reward", "policy entropy per step"],
              title=f"{config.task} ({config.preset}), {config.core}, {config.algo}, hidden {config.hidden}")


def plot_ppo(run_dir: Path, config) -> None:
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics

    baseline = 0.0 if config.task == "cue-reward" else None
    plot_runs([(config.core, read_metrics(run_dir))], ["charts/episodic_return", "losses/approx_kl"],
              Path(run_dir) / "curves.png", baseline=baseline, ylabels=["episode return (sampled)", "approx. KL"],
              title=f"{config.task} ({config.preset}), {config.core}, ppo, hidden {config.hidden}")


def plot_dqn(run_dir: Path, config) -> None:
    from plastix.dqn.resolve import flags_label
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics

    plot_runs([(config.core, read_metrics(run_dir))], ["charts/episodic_return", "losses/td_loss"],
              Path(run_dir) / "curves.png", ylabels=["episode return (ε-greedy)", f"TD loss ({config.loss})"],
              title=f"{config.task}, {config.core}, dqn{flags_label(config)}, hidden {config.hidden}")


def summarize_lm(run_dir: Path, config, metrics: dict, seeds: list[int], quiet: bool) -> None:
    """A language model's final validation and test bits per token (perplexity) per seed."""
    unit = "character" if config.level == "char" else "word"
    for split in ("val", "test"):
        bits = np.asarray(metrics[f"charts/{split}_bits_per_token"])[:, -1]
        print(f"{config.task} ({config.level}), {config.core}: final {split} bits per {unit} per seed "
              + ", ".join(f"{s}: {b:.4g} (perplexity {2.0 ** b:.4g})" for s, b in zip(seeds, bits, strict=True)))
    print(f"unigram baseline: {float(np.asarray(metrics['charts/baseline'])[0, -1]):.4g} bits per {unit}")
    print(f"run directory: {run_dir}  (plastix eval {run_dir}; plastix sample {run_dir} --prompt TEXT)")


def plot_lm(run_dir: Path, config) -> None:
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics

    unit = "char" if config.level == "char" else "word"
    rows = read_metrics(run_dir)
    unigram = float(rows[-1]["charts/baseline"]) if rows else None  # the unigram model's validation bits
    plot_runs([(config.core, rows)], ["charts/val_bits_per_token", "losses/train_loss"],
              Path(run_dir) / "curves.png", baseline=unigram, logy=[False, False], xlabel="training tokens (per seed)",
              ylabels=[f"validation bits per {unit}", "train loss (nats per token)"],
              title=f"{config.task} ({config.level}), {config.core}, hidden {config.hidden}")


def plot_grid(run_dir: Path, config) -> None:
    from plastix.mdp.plots import plot_grid_run

    plot_grid_run(run_dir)


def summarize_seq2seq(run_dir: Path, config, metrics: dict, seeds: list[int], quiet: bool) -> None:
    from plastix.seq2seq.plots import summarize as summarize_run

    summarize_run(run_dir, config, metrics, seeds, quiet)


def plot_seq2seq(run_dir: Path, config) -> None:
    from plastix.seq2seq.plots import plot_curves

    plot_curves(run_dir, config)


# ---- plastix.ctc
def _ctc_label(config) -> str:
    return f"{'bidirectional ' if config.bidirectional else ''}{config.core}"


def summarize_ctc(run_dir: Path, config, metrics: dict, seeds: list[int], quiet: bool) -> None:
    final = np.asarray(metrics["charts/label_error_rate"])[:, -1]
    print(f"{config.task}, {_ctc_label(config)}, ctc: final label error rate (best path) per seed "
          + ", ".join(f"{s}: {v:.4g}" for s, v in zip(seeds, final, strict=True)) + f" (median {np.median(final):.4g})")
    print(f"run directory: {run_dir}  (prefix beam search too: plastix eval {run_dir})")


def plot_ctc(run_dir: Path, config) -> None:
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics

    plot_runs([(_ctc_label(config), read_metrics(run_dir))], ["charts/label_error_rate", "charts/eval_loss"],
              Path(run_dir) / "curves.png", baseline=1.0, logy=[False, True],
              ylabels=["label error rate (best path)", "CTC loss −ln p(z|x)"],
              title=f"{config.task}, {_ctc_label(config)}, ctc, hidden {config.hidden}")
# ----


def summarize(entry: Algorithm, run_dir: Path, config, metrics: dict, seeds: list[int], quiet: bool,
              task=None) -> None:
    """Print the final summary; ``task``: the TaskSpec trained on (``trained_task``), if any."""
    extra = {} if task is None else {"task": task}
    globals()[entry.summary](run_dir, config, metrics, seeds, quiet, **extra)


def plot(entry: Algorithm, run_dir: Path, config, task=None) -> None:
    extra = {} if task is None else {"task": task}
    globals()[entry.plot](run_dir, config, **extra)


# ---------------------------------------------------------------- evaluation of a saved run
def evaluate(run, episodes: int = 100, seed: int = 0, greedy: bool = False) -> dict:
    """Evaluate the trained seeds of a loaded run (``plastix.load``) on fresh episodes (RL) or a
    fresh batch (supervised). Returns {"score", "per_seed", "what", ...} plus the run's names."""
    import jax

    from plastix.errors import check_positive_int
    from plastix.train.harness import set_dtype

    check_positive_int("episodes", episodes)
    entry, config = run.algorithm, run.config
    if entry.family == "seq2seq":  # exact match at the trained lengths and at twice the longest
        from plastix.seq2seq.plots import evaluate_run

        return evaluate_run(run, seed)
    if entry.family == "ctc":  # label error rate, best path and prefix beam search (plastix.ctc)
        from plastix.ctc.trainer import evaluate_run

        return evaluate_run(run, episodes, seed)
    if entry.family == "lm":  # whole validation and test splits (plastix.lm.evaluate)
        from plastix.lm.evaluate import evaluate_run

        return evaluate_run(run)
    if entry.host_loop(config):
        raise PlastixError(f"{str(run.run_dir)!r} is a run on the Gymnasium environment {config.task!r} (a host "
                           "loop); evaluating it on fresh episodes is only available for jitted environments.")
    set_dtype(getattr(config, "dtype", "float32"))
    key = jax.random.PRNGKey(seed)
    per_seed_params = [jax.tree.map(lambda a, i=i: a[i], run.params) for i in range(len(run.seeds))]
    parts = dict(getattr(run, "parts", None) or {})
    if entry.family == "supervised":
        from plastix.train.supervised import evaluate as evaluate_batch

        setup = entry.make_trainer(config, **parts).setup
        fn = jax.jit(lambda p: evaluate_batch(setup, p, key)[1])
        per_seed = [float(fn(p)) for p in per_seed_params]
        what, policy = f"eval {setup.task.metric} on {config.eval_batch_size} fresh sequences", "free running"
    elif entry.family == "policy-gradient":
        from plastix.rl.trainer import build_setup, evaluate as evaluate_pg

        setup = build_setup(config)
        fn = jax.jit(lambda p: evaluate_pg(setup, p, key, episodes, greedy))
        per_seed = [float(np.mean(np.asarray(fn(p)))) for p in per_seed_params]
        what, policy = "mean episode reward", "greedy" if greedy else "sampled"
    elif entry.family == "ppo":
        from plastix.ppo.trainer import build_setup, evaluate as evaluate_ppo

        setup = build_setup(config, **{k: v for k, v in parts.items() if k in ("core", "env")})
        fn = jax.jit(lambda p: evaluate_ppo(setup, p, key, episodes, greedy))
        per_seed = [float(np.mean(np.asarray(fn(p)))) for p in per_seed_params]
        what, policy = "mean episode reward", "greedy" if greedy else "sampled"
    elif entry.family == "dqn":
        from plastix.dqn.trainer import build_setup, evaluate as evaluate_q

        setup = build_setup(config)
        fn = jax.jit(lambda p: evaluate_q(setup, p, key, episodes, 0.0))
        per_seed = [float(np.mean(np.asarray(fn(p)))) for p in per_seed_params]
        what, policy = "mean episode reward", "greedy"
    else:
        from plastix.mdp.runner import evaluate_q as evaluate_table

        per_seed = [float(v) for v in np.asarray(evaluate_table(config, run.params, key, episodes))]
        what, policy = "mean episode return", "greedy"
    label = entry.name
    if entry.family == "dqn":
        from plastix.dqn.resolve import flags_label

        label += flags_label(config)
    return {"mean_return": float(np.mean(per_seed)), "score": float(np.mean(per_seed)), "what": what,
            "episodes": episodes, "seeds": list(run.seeds), "per_seed": per_seed, "policy": policy,
            "task": task_label(config, setup.task if entry.family == "supervised" else None, parts),
            "preset": getattr(config, "preset", None), "core": config.core, "algo": label}
