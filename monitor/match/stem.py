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
              "pt": "portuguese", "de": "german", "ar": "arabic"}
LANGS = tuple(ALGORITHMS)

StemFn = Callable[[Sequence[str]], list[str]]


def _make(lang: str) -> StemFn:
    stemmer = Stemmer.Stemmer(ALGORITHMS[lang], 50_000)  # its cache: the common words of a feed
    stem_words = stemmer.stemWords

    if lang == "ar":
        # Folding spells ta marbuta "ه"; Snowball strips "ة" as a feminine ending, so give it
        # back at the end of a word: قرصنة, القرصنه and للقرصنة then share the stem قرصن.
        def stem(ws: Sequence[str]) -> list[str]:
            return [s or w for s, w in zip(stem_words(
                [w[:-1] + "\u0629" if w.endswith("\u0647") else w for w in ws]), ws)]
    elif lang == "fr":
        # Folded French loses the accent of "-ée": Snowball leaves "demantelee" as "demantele"
        # but "demantele" as "demantel"; dropping a final "e" of the stem joins them.
        def stem(ws: Sequence[str]) -> list[str]:
            return [(s[:-1] if s.endswith("e") and len(s) > 3 else s) or w
                    for s, w in zip(stem_words(ws), ws)]
    else:
        def stem(ws: Sequence[str]) -> list[str]:
            return stem_words(ws)  # type: ignore[no-any-return]  # Snowball never empties a word
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
