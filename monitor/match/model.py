"""match stage: a learned second opinion on a story, in pure Python.

A logistic regression over three blocks of features of the story, trained by
``monitor rules train`` (monitor.match.train, scikit-learn) and shipped as a small gzipped JSON
file (``model.json.gz`` beside this module):

- ``word``: stems of the title's and the lead's words and pairs of neighbouring stems;
- ``char``: the character 4-grams of those words, which carry inflections and compounds the
  stems miss ("Razzien", "démantèlement", "sequestrati") in every language alike;
- ``signal``: what the rules saw, which does not depend on the language: each rule that fired
  (``R:name``), each [terms] list with a term in the story (``L:name``) or in its title
  (``T:name``).

The two text blocks are TF-IDF weights (presence times idf, L2-normalised within the block);
signals count 1 each. Scoring needs no training library: the kept n-grams are looked up in sets,
on the words the matcher has already folded, each word's stem and kept 4-grams remembered.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from monitor.errors import MonitorError
from monitor.match.text import ARABIC_CLITICS, fold, is_arabic

SHIPPED = Path(__file__).with_name("model.json.gz")
FORMAT = 2  # format 1 (one block of word n-grams) still loads
BLOCKS = ("word", "char", "signal")
MAX_WORDS = 150  # of the body (~900 characters): the lead says what happened; the rest
# costs time and adds noise
STEM = 6  # letters kept of a Latin-script word: a crude stemmer that works in every language
ARABIC_STEM = 5
CHAR_N = 4
# Arabic attached prefixes, longest first, stripped once when they leave a 3-letter stem.
_CLITICS = sorted(ARABIC_CLITICS, key=len, reverse=True)
MAX_CACHED = 100_000  # words remembered per model (stems, kept 4-grams) before starting afresh


def stem(word: str) -> str:
    """``démantelée`` -> ``demant``; ``والقرصنة`` -> ``قرصنه`` (prefix gone, 5 letters)."""
    if word and is_arabic(word[0]):
        for c in _CLITICS:
            if word.startswith(c) and len(word) - len(c) >= 3:
                word = word[len(c):]
                break
        return word[:ARABIC_STEM]
    return word[:STEM]


def stems(words: Sequence[str]) -> list[str]:
    """``stem`` of each word; folded Latin text is ASCII, and then a slice is all it takes."""
    if "".join(words).isascii():
        return [w[:STEM] for w in words]
    return [stem(w) for w in words]


def words_of(title: str, body: str) -> tuple[list[str], list[str]]:
    """The folded words the model reads: the title's, and the body's first MAX_WORDS."""
    return fold(title).split(), fold(body).split(maxsplit=MAX_WORDS)[:MAX_WORDS]


def features(title: str, body: str) -> list[str]:
    """The word n-grams of a story's text (training, explanations); see ``word_features``."""
    return word_features(*words_of(title, body))


def word_features(title: Sequence[str], body: Sequence[str]) -> list[str]:
    """The n-grams of a story: stems of the title and of the body's first MAX_WORDS words, and
    pairs of neighbouring stems (``police arrest``); title stems also once more, marked ``t:``,
    because a headline says what the story is about."""
    head = stems(title)
    text = head + stems(body[:MAX_WORDS])
    out = text + list(map(" ".join, zip(text, text[1:])))
    out += ["t:" + w for w in head]
    return out


def char_features(title: Sequence[str], body: Sequence[str]) -> set[str]:
    """The distinct character 4-grams of the words, each word padded with a space at both ends
    so that beginnings and endings count apart (``" raz"``, ``"zia "``); a shorter word is one
    gram."""
    out: set[str] = set()
    add, update = out.add, out.update
    for w in (*title, *body[:MAX_WORDS]):
        padded = f" {w} "
        if len(padded) <= CHAR_N:
            add(padded)
        else:
            update(padded[i:i + CHAR_N] for i in range(len(padded) - CHAR_N + 1))
    return out


@dataclass(frozen=True, slots=True)
class Opinion:
    """What the model thinks of one story: the probability that it reports an enforcement
    action, and the features that pushed it most each way (feature, contribution to the logit).
    A character 4-gram is shown between ‹›, a rule or list signal by its name (R:, L:, T:)."""

    probability: float
    positive: tuple[tuple[str, float], ...]
    negative: tuple[tuple[str, float], ...]

    def describe(self) -> str:
        def fmt(pairs: tuple[tuple[str, float], ...]) -> str:
            return ", ".join(f"{g!r} {w:+.2f}" for g, w in pairs) or "-"

        return f"model p={self.probability:.2f}; for: {fmt(self.positive)}; against: " \
               f"{fmt(self.negative)}"


class _Block:
    """The kept features of one block: idf and coefficient of each."""

    __slots__ = ("weights", "product", "square", "known", "normalise")

    def __init__(self, rows: Iterable[Sequence[Any]], normalise: bool) -> None:
        self.weights = {str(g): (float(idf), float(coef)) for g, idf, coef in rows}
        self.product = {g: idf * coef for g, (idf, coef) in self.weights.items()}
        self.square = {g: idf * idf for g, (idf, _) in self.weights.items()}
        self.known = frozenset(self.weights)
        self.normalise = normalise

    def logit(self, present: Iterable[str]) -> float:
        found = self.known.intersection(present)
        if not found:
            return 0.0
        dot = sum(map(self.product.__getitem__, found))
        if not self.normalise:
            return dot
        return dot / math.sqrt(sum(map(self.square.__getitem__, found)))

    def terms(self, present: Iterable[str]) -> list[tuple[str, float]]:
        found = self.known.intersection(present)
        if not found:
            return []
        norm = math.sqrt(sum(map(self.square.__getitem__, found))) if self.normalise else 1.0
        return [(g, self.product[g] / norm) for g in found]


V = TypeVar("V")


class _PerWord(dict[str, V]):
    """word -> ``make(word)``, filled on first sight: a story's words are looked up with one
    C-level ``map``, most of them already known."""

    def __init__(self, make: Callable[[str], V]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, word: str) -> V:
        value = self.make(word)
        if len(self) >= MAX_CACHED:
            self.clear()
        self[word] = value
        return value


Row = tuple[str, frozenset[int], int | None, int | None, dict[str, int]]  # see _Lookup.row
_NO_PAIRS: dict[str, int] = {}  # never written to


class _Lookup:
    """The word and char blocks of a model keyed the way ``score_words`` meets them, so that
    no feature string is built per story. Features go by number, each with its product and
    square as one complex number (the sums over a story's features are bound by memory reads,
    and this way each feature is read once). Each word is looked up once (``row``), and pairs
    of stems as tuples. Both blocks are binary and normalised over distinct features, so a
    story's kept features are the union of its words' and pairs' and give the same sums."""

    def __init__(self, word: _Block, char: _Block) -> None:
        self.word_names = sorted(word.known)
        self.word_values = [complex(word.product[g], word.square[g]) for g in self.word_names]
        self.word_number = {g: i for i, g in enumerate(self.word_names)}
        # a stem -> {the stem after it: the number of the pair}: stems have no spaces
        self.pairs: dict[str, dict[str, int]] = {}
        for g, i in self.word_number.items():
            pair = g.split(" ")
            if len(pair) == 2:
                self.pairs.setdefault(pair[0], {})[pair[1]] = i
        self.grams = sorted(char.known)
        self.char_number = {g: i for i, g in enumerate(self.grams)}
        self.char_values = [complex(char.product[g], char.square[g]) for g in self.grams]
        self.rows = _PerWord(self.row)

    def row(self, word: str) -> Row:
        """A word's stem, the numbers of its kept 4-grams (``char_features`` of the word
        alone), the numbers of its stem as a feature of the text and of the title, and the
        kept pairs it begins (the next stem -> the pair's number)."""
        s = stem(word)
        grams = frozenset(self.char_number[g] for g in char_features((word,), ())
                          if g in self.char_number)
        return (s, grams, self.word_number.get(s), self.word_number.get("t:" + s),
                self.pairs.get(s, _NO_PAIRS))

    def features(self, title: Sequence[str], body: Sequence[str]) -> tuple[set[int], set[int]]:
        """The numbers of the kept features among ``word_features(title, body)`` and among
        ``char_features(title, body)``."""
        row = self.rows.__getitem__
        rows = list(map(row, title))
        n = len(rows)
        rows += map(row, body[:MAX_WORDS])
        if not rows:
            return set(), set()
        text, grams, in_text, in_title, pairs = zip(*rows)
        words = set(in_text)
        # each pair looked up among those its first stem begins: no tuple made per pair, and
        # the numbers (and Nones) come in the same order, so the set is the same
        words.update(in_title[:n], map(dict.get, pairs, text[1:]))
        words.discard(None)
        return words, set().union(*grams)

    @staticmethod
    def logit(values: list[complex], numbers: set[int]) -> float:
        """``_Block.logit`` of a normalised block on the features so numbered."""
        if not numbers:
            return 0.0
        dot_square = sum(map(values.__getitem__, numbers), 0j)
        return dot_square.real / math.sqrt(dot_square.imag)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


class Model:
    """Weights of a trained model: ``score`` (a probability) and ``opinion`` (with reasons)."""

    def __init__(self, data: dict[str, Any]) -> None:
        version = data.get("format")
        if version == 1:
            blocks = {"word": data["features"]}
        elif version == FORMAT:
            blocks = dict(data["blocks"])
        else:
            raise MonitorError(f"model format {version!r}: expected {FORMAT} (train it again "
                               "with `monitor rules train`)")
        self.intercept = float(data["intercept"])
        self.blocks = {name: _Block(blocks.get(name, ()), normalise=name != "signal")
                       for name in BLOCKS}
        self.info: dict[str, Any] = dict(data.get("info", {}))
        self._lookup = _Lookup(self.blocks["word"], self.blocks["char"])

    @property
    def weights(self) -> dict[str, tuple[float, float]]:
        """Every kept feature of every block (idf, coefficient)."""
        return {g: w for b in self.blocks.values() for g, w in b.weights.items()}

    @property
    def signals(self) -> frozenset[str]:
        """The rule and list signals the model knows (``R:name``, ``L:name``, ``T:name``)."""
        return self.blocks["signal"].known

    @classmethod
    def load(cls, path: Path | None = None) -> Model:
        path = path or SHIPPED
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                data = json.load(f)
            return cls(data)
        except (OSError, ValueError, KeyError, TypeError, EOFError) as e:
            raise MonitorError(f"{path}: not a model weights file: {e}") from e

    def score(self, title: str, body: str, signals: Iterable[str] = ()) -> float:
        """The probability that the story reports an enforcement action against piracy."""
        return self.score_words(*words_of(title, body), signals)

    def score_words(self, title: Sequence[str], body: Sequence[str],
                    signals: Iterable[str] = ()) -> float:
        """``score`` on words already folded (the matcher's): no second folding. Runs on every
        story the daemon sees: set intersections and sums, no loop over features in Python,
        and only the kept features of each block (``_Lookup``)."""
        lookup = self._lookup
        words, grams = lookup.features(title, body)
        z = (self.intercept + lookup.logit(lookup.word_values, words)
             + lookup.logit(lookup.char_values, grams)
             + self.blocks["signal"].logit(signals))
        return _sigmoid(z)

    def kept_features(self, title: Sequence[str], body: Sequence[str]) -> tuple[list[str],
                                                                                set[str]]:
        """The word and char features ``score_words`` finds kept in the model (to check them
        against ``word_features`` and ``char_features``)."""
        lookup = self._lookup
        words, grams = lookup.features(title, body)
        return [lookup.word_names[i] for i in words], {lookup.grams[i] for i in grams}

    def score_features(self, words: Iterable[str], chars: Iterable[str],
                       signals: Iterable[str]) -> float:
        """The probability from features already made (training scores thousands at once)."""
        b = self.blocks
        z = (self.intercept + b["word"].logit(words) + b["char"].logit(chars)
             + b["signal"].logit(signals))
        return _sigmoid(z)

    def opinion(self, title: str, body: str, signals: Iterable[str] = (),
                top: int = 5) -> Opinion:
        words = words_of(title, body)
        b = self.blocks
        terms = b["word"].terms(word_features(*words)) + b["signal"].terms(signals)
        terms += [(f"‹{g}›", c) for g, c in b["char"].terms(char_features(*words))]
        terms.sort(key=lambda t: (t[1], t[0]))
        p = _sigmoid(self.intercept + sum(c for _, c in terms))
        pos = tuple((g, round(c, 3)) for g, c in reversed(terms[-top:]) if c > 0)
        neg = tuple((g, round(c, 3)) for g, c in terms[:top] if c < 0)
        return Opinion(p, pos, neg)


def dump(path: Path, intercept: float, blocks: dict[str, dict[str, tuple[float, float]]],
         info: dict[str, Any]) -> None:
    """Write a weights file that ``Model.load`` reads (sorted, rounded: small and diffable)."""
    data = {"format": FORMAT, "intercept": round(intercept, 5), "info": info,
            "blocks": {name: [[g, round(idf, 4), round(coef, 4)]
                              for g, (idf, coef) in sorted(blocks.get(name, {}).items())]
                       for name in BLOCKS}}
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # mtime 0: the same weights give the same bytes, so a retrain that changed nothing is no diff
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
