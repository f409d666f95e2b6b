"""A small generated corpus where memory within a paragraph matters: ``examples/tales.txt``.

Each paragraph (one line; paragraphs separated by a blank line) is a short tale drawn from a
grammar. It mixes two kinds of text:

* **bindings and recalls** (what a fast-weight memory can copy): the tale introduces two or three
  characters, each a made-up name from a pool of ``N_NAMES`` with a role (``the smith``), a place
  and a number of objects each owns (``the smith kovar had 17 lamps .``). Later sentences recall
  them: every later mention of a character is ``the <role> <name>`` (the name follows from the
  role only through this paragraph's binding), ``counted the lamps : 17`` repeats the number, and
  ``went home to <place>`` the place. Which names, places and numbers a tale binds is drawn
  afresh for every paragraph, so no slow weight can know them: a network has to hold them from
  their introduction to their recall, a few hundred characters later. A Hebbian fast weight
  (Ba et al. 2016; Miconi et al. 2018, 2019) can store the association role -> name as it
  reads it; a plain LSTM has to keep it in its activity.
* **grammar** (what slow weights learn): filler sentences from a small context-free grammar with
  number agreement (``the dog runs`` / ``the dogs run``), ``a`` / ``an`` before consonants and
  vowels, adjectives, prepositional phrases, and the fixed frames of the tale itself.

``make_corpus(paragraphs, seed)`` returns the text and the character spans of every recalled
token (``Recall``), so an experiment can score the model on the recalls alone.
``scripts/make_corpus.py`` writes the shipped file; tests/test_lm_text.py checks that the shipped
file is this function's output.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

N_NAMES = 240
N_PLACES = 40
SHIPPED_SEED = 2019
SHIPPED_PARAGRAPHS = 400

ROLES = ("smith", "baker", "miller", "weaver", "farmer", "sailor", "healer", "potter", "hunter", "tailor",
         "mason", "fisher", "singer", "trader", "guard", "scribe")
OBJECTS = ("apples", "stones", "coins", "lamps", "books", "rings", "jars", "ropes", "shells", "keys", "cups", "nets")
ADJECTIVES = ("old", "small", "quiet", "red", "tall", "cold", "bright", "slow", "young", "grey", "open", "dark")
# (singular, plural) nouns of the grammar
NOUNS = (("dog", "dogs"), ("bird", "birds"), ("river", "rivers"), ("wind", "winds"), ("child", "children"),
         ("horse", "horses"), ("owl", "owls"), ("cart", "carts"), ("bell", "bells"), ("goat", "goats"),
         ("eagle", "eagles"), ("ox", "oxen"))
# (third person singular, plural) verbs
VERBS = (("runs", "run"), ("sleeps", "sleep"), ("sings", "sing"), ("waits", "wait"), ("turns", "turn"),
         ("rests", "rest"), ("falls", "fall"), ("shines", "shine"))
PREPOSITIONS = ("near", "under", "behind", "beside", "across")
PLACES_OF_GRAMMAR = ("hill", "bridge", "gate", "well", "field", "road", "tower", "mill")
ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kl", "st", "tr")
VOWELS = ("a", "e", "i", "o", "u")
CODAS = ("", "", "n", "r", "l", "s", "k", "m")


class Recall(NamedTuple):
    """A token whose value only the paragraph's earlier text tells: its characters
    ``text[start:stop]`` and its kind (name, number or place)."""

    start: int
    stop: int
    kind: str


def made_up_words(rng: np.random.Generator, count: int, syllables: tuple[int, ...]) -> tuple[str, ...]:
    """``count`` distinct pronounceable non-words of CV(C) syllables, none an English word of the grammar."""
    taken = set(ROLES) | set(OBJECTS) | set(ADJECTIVES) | {w for pair in NOUNS + VERBS for w in pair}
    words: list[str] = []
    while len(words) < count:
        n = int(rng.choice(syllables))
        word = "".join(str(rng.choice(ONSETS)) + str(rng.choice(VOWELS)) + str(rng.choice(CODAS)) for _ in range(n))
        if word not in taken and 4 <= len(word) <= 9:
            taken.add(word)
            words.append(word)
    return tuple(words)


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def filler(rng: np.random.Generator) -> list[str]:
    """One sentence of the grammar: NP VP (PP) '.' with number agreement and a/an."""
    plural = bool(rng.random() < 0.4)
    noun = NOUNS[int(rng.integers(len(NOUNS)))][int(plural)]
    verb = VERBS[int(rng.integers(len(VERBS)))][int(plural)]
    words = ["the"] if plural or rng.random() < 0.5 else []
    if rng.random() < 0.5:
        words.append(str(rng.choice(ADJECTIVES)))
    if not words:
        words = [article(noun)]
    elif words[0] != "the":
        words.insert(0, article(words[0]))
    words += [noun, verb]
    if rng.random() < 0.6:
        spot = str(rng.choice(PLACES_OF_GRAMMAR))
        words += [str(rng.choice(PREPOSITIONS)), "the", spot]
    return words + ["."]


class Builder:
    """A paragraph's text, piece by piece, with the spans of its recalled tokens."""

    def __init__(self, offset: int):
        self.pieces: list[str] = []
        self.recalls: list[Recall] = []
        self.at = offset

    def add(self, words: list[str], recall: dict[int, str] | None = None) -> None:
        """Append ``words``; ``recall`` marks some of them (by index) as recalls of a kind."""
        for i, word in enumerate(words):
            if self.pieces:
                self.pieces.append(" ")
                self.at += 1
            if recall and i in recall:
                self.recalls.append(Recall(self.at, self.at + len(word), recall[i]))
            self.pieces.append(word)
            self.at += len(word)

    def text(self) -> str:
        return "".join(self.pieces)


def paragraph(rng: np.random.Generator, names, places, offset: int) -> tuple[str, list[Recall]]:
    """One tale: bindings, grammar sentences and recalls in a random order, then the recalls of
    the numbers and the place."""
    k = int(rng.integers(2, 4))
    who = [str(x) for x in rng.choice(names, k, replace=False)]
    roles = [str(x) for x in rng.choice(ROLES, k, replace=False)]
    things = [str(x) for x in rng.choice(OBJECTS, k, replace=False)]
    counts = [str(int(x)) for x in rng.integers(2, 100, k)]
    place = str(rng.choice(places))
    b = Builder(offset)
    intro = ["in", place, "there", "lived"]
    for i in range(k):
        intro += [who[i], "the", roles[i]] + (["and"] if i == k - 2 else [","] if i < k - 2 else ["."])
    b.add(intro)
    middle = [("own", i) for i in range(k)] + [("meet", None)] * int(rng.integers(1, 3)) + \
             [("fill", None)] * int(rng.integers(2, 5))
    order = rng.permutation(len(middle))
    owned: set[int] = set()
    for j in order:
        kind, i = middle[int(j)]
        if kind == "own":
            b.add(["the", roles[i], who[i], "had", counts[i], things[i], "."], {2: "name"})
            owned.add(i)
        elif kind == "meet":
            x, y = (int(v) for v in rng.choice(k, 2, replace=False))
            b.add(["the", roles[x], who[x], "met", "the", roles[y], who[y], "by", "the",
                   str(rng.choice(PLACES_OF_GRAMMAR)), "."], {2: "name", 6: "name"})
        else:
            b.add(filler(rng))
    for i in rng.permutation(k):
        i = int(i)
        b.add(["at", "night", "the", roles[i], who[i], "counted", "the", things[i], ":", counts[i], "."],
              {4: "name", 9: "number"})
    b.add(["then", "they", "went", "home", "to", place, "."], {5: "place"})
    return b.text(), b.recalls


def make_corpus(paragraphs: int = SHIPPED_PARAGRAPHS, seed: int = SHIPPED_SEED) -> tuple[str, list[Recall]]:
    """(text, recalls) of ``paragraphs`` tales drawn with ``np.random.default_rng(seed)``: one
    paragraph per line, a blank line between paragraphs, a newline at the end."""
    rng = np.random.default_rng(seed)
    names = made_up_words(rng, N_NAMES, (2,))
    places = made_up_words(rng, N_PLACES, (2, 3))
    parts, recalls, offset = [], [], 0
    for _ in range(paragraphs):
        text, found = paragraph(rng, names, places, offset)
        parts.append(text)
        recalls += found
        offset += len(text) + 2  # the line's newline and the blank line
    return "\n\n".join(parts) + "\n", recalls


__all__ = ["Recall", "make_corpus", "SHIPPED_PARAGRAPHS", "SHIPPED_SEED"]
