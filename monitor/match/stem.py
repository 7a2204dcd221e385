"""Stemming: folded words -> their Snowball stems, per language (PyStemmer, imported here only).

Rules and documents are stemmed with the same stemmer (the story's guessed language), so a
rule term matches the word's inflections: "démantelé" finds "démantelées", "sequestrato"
finds "sequestrati". Stems are computed on folded words (no accents), for documents and terms
alike; a language without a stemmer ("und") is compared word for word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import Stemmer

# Document.lang -> Snowball algorithm: the languages the language guesser reports.
ALGORITHMS = {"en": "english", "fr": "french", "es": "spanish", "it": "italian",
              "pt": "portuguese", "de": "german", "nl": "dutch", "ar": "arabic"}
LANGS = tuple(ALGORITHMS)

StemFn = Callable[[Sequence[str]], list[str]]


MAX_CACHED = 200_000  # words remembered per language before the cache starts afresh


class _Stems(dict[str, str]):
    """word -> stem, filled on first sight: a story's words are looked up with one C-level
    ``map`` (most are known), and only new words go through Snowball."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang
        self.stem_word = Stemmer.Stemmer(ALGORITHMS[lang], 0).stemWord

    def __missing__(self, word: str) -> str:
        lang = self.lang
        if lang == "ar" and word.endswith("\u0647"):
            # Folding spells ta marbuta "ه"; Snowball strips "ة" as a feminine ending, so give
            # it back at the end of a word: قرصنة, القرصنه and للقرصنة then share the stem قرصن.
            stem = self.stem_word(word[:-1] + "\u0629")
        else:
            stem = self.stem_word(word)
        if lang == "fr" and stem.endswith("e") and len(stem) > 3:
            # Folded French loses the accent of "-ée": Snowball leaves "demantelee" as
            # "demantele" but "demantele" as "demantel"; dropping a final "e" joins them.
            stem = stem[:-1]
        stem = stem or word  # a stem must stay a word
        if len(self) >= MAX_CACHED:
            self.clear()
        self[word] = stem
        return stem


def _make(lang: str) -> StemFn:
    get = _Stems(lang).__getitem__

    def stem(ws: Sequence[str]) -> list[str]:
        return list(map(get, ws))

    return stem


_STEMMERS: dict[str, StemFn] = {}


def stemmer(lang: str) -> StemFn | None:
    """The stemmer of ``lang`` (a Document.lang), or None when the language has none."""
    algorithm = ALGORITHMS.get(lang)
    if algorithm is None:
        return None
    fn = _STEMMERS.get(lang)
    if fn is None:  # PyStemmer objects are not thread-safe: one per language, built once
        fn = _STEMMERS[lang] = _make(lang)
    return fn
