"""Scoring and sampling a saved language-model run (``plastix eval``, ``plastix sample``).

``evaluate_run(run)``: every trained seed on the whole validation and test splits, each scored
with a carry run over the split (``plastix.lm.trainer.split_bits``). ``sample_run(run, ...)``:
one seed reads a prompt and writes a continuation (``plastix.lm.model.sample``); prompt tokens
not in the vocabulary read as ``<unk>``, as they do in training.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from plastix.errors import PlastixError, check_positive_int
from plastix.lm.model import sample
from plastix.lm.text import EOS, UNK, tokenize
from plastix.lm.trainer import LMSetup, evaluate_params, make_setup

MAX_SAMPLE = 100_000  # tokens one ``plastix sample`` may write


def seed_params(run, index: int):
    """The parameters of the ``index``-th trained seed of a loaded run (leaves stacked over seeds)."""
    return jax.tree.map(lambda a: jnp.asarray(a[index]), run.params)


def evaluate_run(run) -> dict:
    """Bits per token and perplexity of every seed of ``run`` (``plastix.load``) on the whole
    validation and test splits, in the shape ``plastix eval`` prints: ``score`` and ``per_seed``
    are the test bits per token; ``validation`` and ``test`` hold both measures per seed."""
    config = run.config
    setup = make_setup(config)
    scores = [evaluate_params(setup, seed_params(run, i)) for i in range(len(run.seeds))]
    unit = "character" if config.level == "char" else "word"
    per_seed = [s["test_bits_per_token"] for s in scores]
    splits = {split: {"bits_per_token": [s[f"{key}_bits_per_token"] for s in scores],
                      "perplexity": [s[f"{key}_perplexity"] for s in scores],
                      "tokens": int(np.sum(getattr(setup, split if split == "test" else "valid").weights))}
              for split, key in (("validation", "val"), ("test", "test"))}
    mean = float(np.mean(per_seed))
    return {"mean_return": mean, "score": mean, "what": f"eval test bits per {unit} (whole split, carried state)",
            "episodes": None, "seeds": list(run.seeds), "per_seed": per_seed, "policy": None,
            "task": config.task, "preset": None, "core": config.core, "algo": "lm", "level": config.level,
            "vocab_size": setup.data.vocab.size, "unigram_bits_per_token": setup.data.unigram_bits,
            "validation": splits["validation"], "test": splits["test"],
            "test_perplexity": float(np.mean(splits["test"]["perplexity"])),
            "val_bits_per_token": float(np.mean(splits["validation"]["bits_per_token"]))}


class Sampled(NamedTuple):
    """What ``sample_run`` wrote: the prompt as read (unknown tokens as <unk>), the continuation,
    and the prompt tokens that were not in the vocabulary."""

    prompt: str
    text: str
    unknown: list[str]


def prompt_words(prompt: str) -> list[str]:
    """The words of a prompt, ``<eos>`` at each newline (so a prompt may end a line)."""
    lines = prompt.split("\n")
    words: list[str] = []
    for i, line in enumerate(lines):
        words += line.split() + ([EOS] if i < len(lines) - 1 else [])
    return words


def encode_prompt(setup: LMSetup, prompt: str) -> tuple[np.ndarray, list[str]]:
    """(ids, the prompt's tokens not in the vocabulary); PlastixError for a prompt with no token."""
    level = setup.config.level
    tokens = tokenize(prompt, level) if level == "char" else prompt_words(prompt)
    if not tokens:
        what = "character" if level == "char" else "word"
        raise PlastixError(f"--prompt is empty: expected at least one {what} for the model to continue, got {prompt!r}.")
    index = setup.data.vocab.index()
    unknown = list(dict.fromkeys(t for t in tokens if t not in index or t == UNK))
    return setup.data.vocab.encode(tokens), unknown


def sample_run(run, prompt: str, length: int, temperature: float, seed: int = 0, seed_index: int = 0) -> Sampled:
    """A continuation of ``prompt`` by the ``seed_index``-th trained seed of ``run``: ``length``
    tokens at ``temperature`` (0: greedy), drawn with ``PRNGKey(seed)``."""
    check_positive_int("length", length, MAX_SAMPLE)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature >= 0):
        raise PlastixError(f"--temperature must be a finite number >= 0 (0: greedy), got {temperature!r}.")
    setup = make_setup(run.config)
    ids, unknown = encode_prompt(setup, prompt)
    params = seed_params(run, seed_index)
    fn = jax.jit(lambda p, k, x: sample(setup.model, p, k, x, length, float(temperature)))
    out = np.asarray(fn(params, jax.random.PRNGKey(seed), jnp.asarray(ids)))
    vocab = setup.data.vocab
    return Sampled(vocab.decode(ids), vocab.decode(out), unknown)
