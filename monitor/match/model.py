"""match stage: a learned second opinion on a story, in pure Python.

A logistic regression over TF-IDF weights (presence times idf, L2-normalised) of the story's
stemmed words and word pairs, trained by ``monitor rules train`` (monitor.match.train,
scikit-learn) and shipped as a small gzipped JSON file (``model.json.gz`` beside this module).
Scoring needs no training library: the few thousand kept n-grams are looked up in a set, on the
words the matcher has already folded.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import MonitorError
from monitor.match.text import ARABIC_CLITICS, fold, is_arabic

SHIPPED = Path(__file__).with_name("model.json.gz")
FORMAT = 1
MAX_WORDS = 150  # of the body (~900 characters): the lead says what happened; the rest
# costs time and adds noise
STEM = 6  # letters kept of a Latin-script word: a crude stemmer that works in every language
ARABIC_STEM = 5
# Arabic attached prefixes, longest first, stripped once when they leave a 3-letter stem.
_CLITICS = sorted(ARABIC_CLITICS, key=len, reverse=True)


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
    """The n-grams of a story's text (training, explanations); see ``word_features``."""
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


@dataclass(frozen=True, slots=True)
class Opinion:
    """What the model thinks of one story: the probability that it reports an enforcement
    action, and the n-grams that pushed it most each way (n-gram, contribution to the logit)."""

    probability: float
    positive: tuple[tuple[str, float], ...]
    negative: tuple[tuple[str, float], ...]

    def describe(self) -> str:
        def fmt(pairs: tuple[tuple[str, float], ...]) -> str:
            return ", ".join(f"{g!r} {w:+.2f}" for g, w in pairs) or "-"

        return f"model p={self.probability:.2f}; for: {fmt(self.positive)}; against: " \
               f"{fmt(self.negative)}"


class Model:
    """Weights of a trained model: ``score`` (a probability) and ``opinion`` (with reasons)."""

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("format") != FORMAT:
            raise MonitorError(f"model format {data.get('format')!r}: expected {FORMAT}")
        self.intercept = float(data["intercept"])
        # n-gram -> (idf, coefficient)
        self.weights: dict[str, tuple[float, float]] = {
            g: (float(idf), float(coef)) for g, idf, coef in data["features"]}
        self._product = {g: idf * coef for g, (idf, coef) in self.weights.items()}
        self._square = {g: idf * idf for g, (idf, _) in self.weights.items()}
        self._known = frozenset(self.weights)
        self.info: dict[str, Any] = dict(data.get("info", {}))

    @classmethod
    def load(cls, path: Path | None = None) -> Model:
        path = path or SHIPPED
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                data = json.load(f)
            return cls(data)
        except (OSError, ValueError, KeyError, TypeError, EOFError) as e:
            raise MonitorError(f"{path}: not a model weights file: {e}") from e

    def _terms(self, title: Sequence[str], body: Sequence[str]) -> list[tuple[str, float]]:
        """Each known n-gram of the story (its folded words) with its contribution to the
        logit: presence times idf, L2-normalised over the kept n-grams, as at training."""
        found = self._known.intersection(word_features(title, body))
        if not found:
            return []
        norm = math.sqrt(sum(map(self._square.__getitem__, found)))
        return [(g, self._product[g] / norm) for g in found]

    def score(self, title: str, body: str) -> float:
        """The probability that the story reports an enforcement action against piracy."""
        return self.score_words(*words_of(title, body))

    def score_words(self, title: Sequence[str], body: Sequence[str]) -> float:
        """``score`` on words already folded (the matcher's): no second folding. The sums of
        ``_terms`` without a Python loop: this runs on every story the daemon sees."""
        found = self._known.intersection(word_features(title, body))
        sq = sum(map(self._square.__getitem__, found))
        dot = sum(map(self._product.__getitem__, found))
        z = self.intercept + (dot / math.sqrt(sq) if sq else 0.0)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def opinion(self, title: str, body: str, top: int = 5) -> Opinion:
        terms = sorted(self._terms(*words_of(title, body)), key=lambda t: t[1])
        z = self.intercept + sum(c for _, c in terms)
        p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
        pos = tuple((g, round(c, 3)) for g, c in reversed(terms[-top:]) if c > 0)
        neg = tuple((g, round(c, 3)) for g, c in terms[:top] if c < 0)
        return Opinion(p, pos, neg)


def dump(path: Path, intercept: float, weights: dict[str, tuple[float, float]],
         info: dict[str, Any]) -> None:
    """Write a weights file that ``Model.load`` reads (sorted, rounded: small and diffable)."""
    data = {"format": FORMAT, "intercept": round(intercept, 5), "info": info,
            "features": [[g, round(idf, 4), round(coef, 4)]
                         for g, (idf, coef) in sorted(weights.items())]}
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # mtime 0: the same weights give the same bytes, so a retrain that changed nothing is no diff
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
