"""What a seq2seq run directory gets after training and from ``plastix eval`` / ``plastix plot``:
the summary line, ``curves.png`` (exact match at the trained and the doubled length, training
loss), ``attention.png`` (the attention weights α_ij of a trained model on a few held-out
problems, for attention runs) and the evaluation of the saved seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plastix.errors import PlastixError

ATTENTION_PNG = "attention.png"


def summarize(run_dir: Path, config, metrics: dict, seeds: list[int], quiet: bool) -> None:
    final, long = metrics["charts/eval_metric"][:, -1], metrics["charts/eval_long"][:, -1]
    att = "" if config.attention == "none" else f"+{config.attention}"
    print(f"{config.task} (lengths {config.min_len}..{config.max_len}), {config.core}{att}: exact match on held-out "
          "problems per seed " + ", ".join(f"{s}: {v:.3f}" for s, v in zip(seeds, final, strict=True))
          + f"; at length {config.long_len}: " + ", ".join(f"{v:.3f}" for v in long))
    skipped = metrics["losses/skipped_updates"][:, -1]
    if np.any(skipped > 0):
        print(f"skipped updates (non-finite gradient) per seed: {skipped.tolist()}")
    print(f"run directory: {run_dir}")


def plot_curves(run_dir: Path, config) -> None:
    from plastix.plot import plot_runs
    from plastix.runs import read_metrics

    att = "" if config.attention == "none" else f" + {config.attention} attention"
    plot_runs([(config.core, read_metrics(run_dir))], ["charts/eval_metric", "charts/eval_long", "losses/train_loss"],
              Path(run_dir) / "curves.png", logy=[False, False, True],
              ylabels=[f"exact match, lengths {config.min_len}..{config.max_len}",
                       f"exact match, length {config.long_len}", "train loss (per token)"],
              xlabel="training problems (per seed)", title=f"{config.task}, {config.core}{att}, hidden {config.hidden}")
    if config.attention != "none":
        plot_attention(run_dir)


def load_setup(run_dir: Path):
    """(setup, config, seeds, params stacked over seeds) of a seq2seq run directory."""
    from plastix.driver import load
    from plastix.seq2seq.train import make_setup

    run = load(run_dir)
    if run.algorithm.family != "seq2seq":
        raise PlastixError(f"{str(run_dir)!r} is a {run.algorithm.name} run, not a seq2seq run.")
    return make_setup(run.config), run


def plot_attention(run_dir: Path, seed_index: int = 0, problems: int = 3, key_seed: int = 0,
                   out: Path | None = None) -> Path:
    """Heat maps of α_ij (target step i down, source token j across) of the trained model of
    seed ``seed_index`` on ``problems`` held-out problems of the longest trained length, greedy
    decoding; writes ``attention.png`` in the run directory (or ``out``)."""
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from plastix.seq2seq.model import greedy_decode
    from plastix.seq2seq.tasks import render, sample_batch, target_size

    setup, run = load_setup(Path(run_dir))
    cfg = setup.config
    if cfg.attention == "none":
        raise PlastixError(f"{str(run_dir)!r} was trained without attention (--attention none): no weights to show.")
    params = jax.tree.map(lambda a: jax.numpy.asarray(a[seed_index]), run.params)
    batch = sample_batch(jax.random.PRNGKey(key_seed), cfg.task, problems, cfg.max_len, cfg.max_len, held_out=True)
    T = target_size(cfg.task, cfg.max_len)
    decode = jax.jit(lambda p, s, n: greedy_decode(setup.model, p, s, n, T))
    fig, axes = plt.subplots(1, problems, figsize=(3.2 * problems, 3.2), squeeze=False)
    for b, ax in enumerate(axes[0]):
        src, n = batch.src[b], int(batch.src_len[b])
        tokens, weights = decode(params, src, n)
        out_text = render(tokens)
        steps = min(len(out_text) + 1, T)  # the output and its EOS
        ax.imshow(np.asarray(weights)[:steps, :n], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        src_text = render(src)
        ax.set_xticks(range(n), list(src_text))
        ax.set_yticks(range(steps), list(out_text) + ["EOS"] if steps > len(out_text) else list(out_text))
        ax.set_xlabel("source token j")
        ax.set_title(f"{src_text} → {out_text}", fontsize=9)
    axes[0][0].set_ylabel("output step i")
    fig.suptitle(f"attention weights α_ij ({cfg.attention}, {cfg.core}, seed {run.seeds[seed_index]})", fontsize=10)
    fig.tight_layout()
    path = Path(out) if out is not None else Path(run_dir) / ATTENTION_PNG
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def evaluate_run(run, seed: int = 0, problems: int = 1000) -> dict:
    """Exact match of every trained seed on ``problems`` fresh held-out problems of the trained
    lengths and of twice the longest trained length (the run's decoding: greedy or its beam)."""
    import jax

    from plastix.seq2seq.train import evaluate, make_setup

    setup, cfg = make_setup(run.config), run.config
    k_trained, k_long = jax.random.split(jax.random.PRNGKey(seed))
    fn = jax.jit(lambda p: (evaluate(setup, p, k_trained, None, problems)[0],
                            evaluate(setup, p, k_long, cfg.long_len, problems)[0]))
    per_seed, per_seed_long = [], []
    for i in range(len(run.seeds)):
        trained, long = fn(jax.tree.map(lambda a, i=i: a[i], run.params))
        per_seed.append(float(trained))
        per_seed_long.append(float(long))
    decoding = "greedy" if cfg.beam == 1 else f"beam {cfg.beam}"
    return {"mean_return": float(np.mean(per_seed)), "score": float(np.mean(per_seed)),
            "what": f"eval exact match on {problems} held-out problems of lengths {cfg.min_len}..{cfg.max_len}",
            "episodes": problems, "seeds": list(run.seeds), "per_seed": per_seed, "policy": decoding,
            "exact_match_trained": float(np.mean(per_seed)), "exact_match_long": float(np.mean(per_seed_long)),
            "per_seed_long": per_seed_long, "long_len": cfg.long_len, "task": cfg.task, "preset": None,
            "core": cfg.core, "attention": cfg.attention, "algo": "seq2seq"}
