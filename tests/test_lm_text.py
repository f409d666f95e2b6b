"""Text files as token streams (plastix.lm.text): tokens, the vocabulary from the training split
only, the unknown-token policy, contiguous splits, bad files; and the shipped corpus
(plastix.lm.corpus) is the generator's output, with its recalls where it says."""

from pathlib import Path

import numpy as np
import pytest

from plastix.errors import PlastixError
from plastix.lm.corpus import SHIPPED_PARAGRAPHS, SHIPPED_SEED, make_corpus
from plastix.lm.text import EOS, UNK, build_vocab, load_text, read_text, split_sizes, tokenize, unigram_bits

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, text, name="t.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_char_vocabulary_comes_from_the_training_split_and_unseen_chars_are_unk(tmp_path):
    # 40 tokens: 90 % (36) train, 2 validation, 2 test (round(0.05 * 40) = 2)
    text = "abab" * 9 + "abXY"
    data = load_text(write(tmp_path, text), "char")
    assert data.vocab.tokens == (UNK, "a", "b")  # X, Y only occur after the training split
    assert (len(data.train), len(data.valid), len(data.test)) == (36, 2, 2)
    np.testing.assert_array_equal(data.train, [1, 2] * 18)
    np.testing.assert_array_equal(data.valid, [1, 2])
    np.testing.assert_array_equal(data.test, [0, 0])  # X and Y read as <unk>
    assert data.vocab.decode(data.test) == UNK * 2


def test_word_level_eos_min_count_and_max_size(tmp_path):
    assert tokenize("the cat\n\n sat  down\n", "word") == ["the", "cat", EOS, "sat", "down", EOS]
    train = "a a a b b c d d d d".split()
    # counts: d 4, a 3, b 2, c 1; min_count 2 drops c; max_size 4 keeps <unk>, <eos>, d, a
    assert build_vocab(train, "word", min_count=2).tokens == (UNK, EOS, "d", "a", "b")
    assert build_vocab(train, "word", min_count=1, max_size=4).tokens == (UNK, EOS, "d", "a")
    vocab = build_vocab(train, "word", min_count=2)
    np.testing.assert_array_equal(vocab.encode(["a", "c", "zzz", EOS]), [3, 0, 0, 1])
    assert vocab.decode([3, 4, 1, 2]) == "a b\nd"


def test_splits_are_contiguous_in_file_order():
    assert split_sizes(1000, 0.05, 0.05) == (900, 50, 50)
    assert split_sizes(1000, 0.1, 0.2) == (700, 100, 200)
    with pytest.raises(PlastixError, match="val_fraction must be a fraction in"):
        split_sizes(100, 0.6, 0.1)


def test_unigram_bits_against_a_hand_computation():
    # train ids [1, 1, 2] over V = 3: add-one counts (1, 3, 2) / 6; valid [1, 2]: -(log2 .5 + log2 1/3) / 2
    expected = -(np.log2(3 / 6) + np.log2(2 / 6)) / 2
    assert unigram_bits(np.array([1, 1, 2]), np.array([1, 2]), 3) == pytest.approx(expected)


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("", "is empty"),
    ("  \n\t\n", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "is a binary file"),
    (b"caf\xe9 latin-1", "is not UTF-8 text"),
])
def test_bad_files_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "f.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(PlastixError, match=message):
        read_text(path)


def test_a_directory_and_a_text_too_short_to_split(tmp_path):
    with pytest.raises(PlastixError, match="is not a file"):
        read_text(tmp_path)
    with pytest.raises(PlastixError, match="too short to split"):
        load_text(write(tmp_path, "abc"), "char")


def test_the_shipped_corpus_is_the_generators_output():
    text, _ = make_corpus(SHIPPED_PARAGRAPHS, SHIPPED_SEED)
    shipped = (ROOT / "examples" / "tales.txt").read_text(encoding="utf-8")
    assert shipped == text
    assert 100_000 <= len(text.encode()) <= 300_000


def test_every_recall_repeats_what_its_paragraph_bound_earlier():
    text, recalls = make_corpus(30, seed=7)
    assert recalls
    for r in recalls:
        word = text[r.start:r.stop]
        start = text.rfind("\n\n", 0, r.start) + 1  # the paragraph's start (0 for the first)
        before = text[start:r.start]
        assert f" {word} " in before, (r, word)  # bound earlier in the same paragraph
        if r.kind == "name":
            role = text[:r.start].split()[-1]  # "the <role> <name>": the role just before
            assert f"{word} the {role}" in before
        assert r.kind in ("name", "number", "place")


def test_names_differ_between_paragraphs():
    """Which names a paragraph binds is drawn afresh: slow weights cannot know them."""
    text, _ = make_corpus(50, seed=3)
    intros = [p.split(" there lived ")[1].split(" the ")[0] for p in text.strip().split("\n\n")]
    assert len(set(intros)) > 30
