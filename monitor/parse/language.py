"""A clipping's language, guessed from its commonest short words, for the review site's
language facet. Pure. Arabic is told by its script; an unclear text is "und" (undetermined)."""

from __future__ import annotations

import re

PROFILES: dict[str, frozenset[str]] = {
    "en": frozenset("the and of to in is that for with was has have by from are on said".split()),
    "fr": frozenset("le la les de des et est une dans du pour qui sur par au aux avec pas à".split()),
    "es": frozenset("el la los las de del y que en una por con para es se su al".split()),
    "pt": frozenset("o os as de do da dos das e que em um uma para com não por ao".split()),
    "it": frozenset("il lo la gli le di del della e che un una per con non sono nel".split()),
    "de": frozenset("der die das und ist nicht mit von den dem ein eine zu auf für im".split()),
    "nl": frozenset("het een van en is dat op voor met niet zijn door bij ook werd heeft naar".split()),
}
# A word of several profiles ("la", "de", "que") counts a fraction for each: the distinctive
# ones decide.
_SHARED: dict[str, tuple[str, ...]] = {}
for _lang, _words in PROFILES.items():
    for _w in _words:
        _SHARED[_w] = (*_SHARED.get(_w, ()), _lang)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ARABIC = re.compile(r"[\u0600-\u06ff]")
MIN_HITS = 3


def guess_language(text: str) -> str:
    """ISO 639-1 code of the likeliest language among en, fr, es, pt, it, de, nl, ar, else
    "und"."""
    sample = text[:5000]
    arabic = len(_ARABIC.findall(sample))
    # the letters are counted, one Python step a character, only when the script is in doubt
    if arabic:
        letters = sum(c.isalpha() for c in sample)
        if letters and arabic > letters / 2:
            return "ar"
    counts = {lang: 0.0 for lang in PROFILES}
    for word in _WORD.findall(sample.lower()):
        langs = _SHARED.get(word, ())
        for lang in langs:
            counts[lang] += 1 / len(langs)
    best = max(counts, key=lambda lang: counts[lang])
    ranked = sorted(counts.values(), reverse=True)
    if ranked[0] < MIN_HITS or ranked[0] == ranked[1]:
        return "und"
    return best
