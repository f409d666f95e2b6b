"""Text files as token streams: reading, tokens, the vocabulary, the unknown token, the splits.

``load_text(path, level, ...)`` reads a UTF-8 text file and returns a ``TextData``:

* **tokens**: ``level="char"``: every character (newlines included); ``level="word"``: the
  whitespace-separated words of each non-empty line followed by ``<eos>`` (the Penn Treebank
  convention of Mikolov et al. 2010 and Zaremba et al. 2014).
* **splits**: the token stream cut contiguously, in order, into training, validation and test
  parts (``val_fraction`` and ``test_fraction`` of the tokens, default 5 % each, the last parts
  of the file; the rest, the first 90 %, is for training).
* **vocabulary**: built from the training split only. Id 0 is ``<unk>``. Characters: every
  character of the training split (sorted). Words: those seen at least ``min_count`` times in
  the training split, the ``max_size`` most frequent of them at most (ties by the word), ``<eos>``
  always. **Unknown policy**: any token not in the vocabulary (a character or a word never seen
  in training, a word below ``min_count``) reads as ``<unk>``, in every split, and is scored as
  that one token.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from plastix.errors import PlastixError, unknown_name

TEXT_PREFIX = "text:"
LEVELS = ("char", "word")
UNK, EOS = "<unk>", "<eos>"


class Vocab(NamedTuple):
    """Token strings by id (``tokens[0]`` is ``<unk>``) and the level they were cut at."""

    tokens: tuple[str, ...]
    level: str

    @property
    def size(self) -> int:
        return len(self.tokens)

    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def encode(self, tokens: list[str]) -> np.ndarray:
        """Ids (int32) of ``tokens``; a token not in the vocabulary is 0 (``<unk>``)."""
        index = self.index()
        return np.asarray([index.get(t, 0) for t in tokens], np.int32)

    def decode(self, ids) -> str:
        """Text of ``ids``: characters joined, or words joined by spaces with ``<eos>`` a newline."""
        words = [self.tokens[int(i)] for i in ids]
        if self.level == "char":
            return "".join(words)
        out = ""
        for word in words:
            out += "\n" if word == EOS else (word if not out or out.endswith("\n") else " " + word)
        return out


class TextData(NamedTuple):
    """A text file as ids: the vocabulary, the three splits (int32 ids), the file's SHA-256 and
    the unigram baseline (bits per token on the validation split of the add-one-smoothed
    training unigram distribution)."""

    vocab: Vocab
    train: np.ndarray  # (N_train,)
    valid: np.ndarray  # (N_valid,)
    test: np.ndarray  # (N_test,)
    sha256: str
    unigram_bits: float


def text_path(task: str) -> Path:
    """The file of a ``text:<file>`` task name."""
    if not task.startswith(TEXT_PREFIX) or len(task) == len(TEXT_PREFIX):
        raise PlastixError(f"a language-model task is text:<file> (a UTF-8 text file), got {task!r}.")
    return Path(task[len(TEXT_PREFIX):])


def read_text(path: Path) -> tuple[str, str]:
    """(text, SHA-256 of its bytes) of a UTF-8 text file; PlastixError for a missing file, a
    directory, a binary or non-UTF-8 file, or one with no visible character."""
    if not path.exists():
        raise PlastixError(f"text file {str(path)!r} does not exist (expected a UTF-8 text file).")
    if not path.is_file():
        raise PlastixError(f"text file {str(path)!r} is not a file (expected a UTF-8 text file).")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise PlastixError(f"{str(path)!r} is a binary file (it holds NUL bytes); expected a UTF-8 text file.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PlastixError(f"{str(path)!r} is not UTF-8 text (byte {err.start}: {err.reason}); expected a UTF-8 "
                           "text file.") from None
    if not text.strip():
        raise PlastixError(f"text file {str(path)!r} is empty (expected some text to model).")
    return text, hashlib.sha256(raw).hexdigest()


def tokenize(text: str, level: str) -> list[str]:
    """Characters, or the words of each non-empty line followed by ``<eos>``."""
    if level not in LEVELS:
        raise unknown_name("level", level, LEVELS)
    if level == "char":
        return list(text)
    tokens: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words:
            tokens += words + [EOS]
    return tokens


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, validation, test) token counts of a stream of ``n``: the last ``round(test_fraction n)``
    tokens are the test split, the ``round(val_fraction n)`` before them the validation split."""
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < f < 0.5:
            raise PlastixError(f"{name} must be a fraction in (0, 0.5), got {f!r}.")
    n_val, n_test = round(val_fraction * n), round(test_fraction * n)
    return n - n_val - n_test, n_val, n_test


def build_vocab(train: list[str], level: str, min_count: int = 1, max_size: int | None = None) -> Vocab:
    """The vocabulary of the training tokens (module docstring): ``<unk>`` first."""
    counts = Counter(train)
    if level == "char":
        return Vocab((UNK, *sorted(t for t in counts if t != UNK)), level)
    kept = sorted((w for w, c in counts.items() if c >= min_count and w not in (UNK, EOS)), key=lambda w: (-counts[w], w))
    if max_size is not None:
        kept = kept[: max(0, max_size - 2)]
    return Vocab((UNK, EOS, *kept), level)


def unigram_bits(train: np.ndarray, valid: np.ndarray, size: int) -> float:
    """Bits per token on ``valid`` of the add-one (Laplace) smoothed unigram distribution of ``train``."""
    counts = np.bincount(train, minlength=size).astype(np.float64) + 1.0
    logp = np.log2(counts / counts.sum())
    return float(-np.mean(logp[valid]))


def load_text(path: Path | str, level: str = "char", min_count: int = 1, max_size: int | None = None,
              val_fraction: float = 0.05, test_fraction: float = 0.05) -> TextData:
    """Read, tokenize, split and encode a text file (module docstring)."""
    text, digest = read_text(Path(path))
    tokens = tokenize(text, level)
    n_train, n_val, n_test = split_sizes(len(tokens), val_fraction, test_fraction)
    if min(n_train, n_val, n_test) < 2:
        raise PlastixError(f"text file {str(path)!r} has {len(tokens)} {level} tokens: too short to split into "
                           f"training, validation and test parts of at least 2 tokens each ({n_train}, {n_val}, "
                           f"{n_test} with val_fraction {val_fraction}, test_fraction {test_fraction}).")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise PlastixError(f"min_count must be a positive integer, got {min_count!r}.")
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 3):
        raise PlastixError(f"max_vocab must be an integer >= 3 (<unk>, <eos> and a word) or None, got {max_size!r}.")
    vocab = build_vocab(tokens[:n_train], level, min_count, max_size)
    ids = vocab.encode(tokens)
    train, valid, test = ids[:n_train], ids[n_train:n_train + n_val], ids[n_train + n_val:]
    return TextData(vocab, train, valid, test, digest, unigram_bits(train, valid, vocab.size))


def bits_to_perplexity(bits: float) -> float:
    """Perplexity 2^bits of a mean number of bits per token."""
    return float(2.0 ** bits) if math.isfinite(bits) else float("nan")
