"""Extraction quality: how an extracted text scores against snippets a person marked on the page
as article (must be there) and boilerplate (must not), as trafilatura's own evaluation counts
them. Pure; used by bench/bench_extract.py and the extraction tests.

The extracted text is compared as a reader sees it: markdown links reduced to their text,
images, emphasis marks and escapes left out, runs of white space (a no-break space too) as one
space in text and snippets alike, so that the clipping's markdown and trafilatura's plain text
are judged on the same footing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_EMPHASIS = re.compile(r"(?<!\\)(?:\*\*|__|~~|\*|`)")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|~])")
_SPACE = re.compile(r"\s+")


def reader_text(markdown: str) -> str:
    """The text of ``markdown`` as a reader sees it (plain text passes through, but for its
    white space)."""
    text = _LINK.sub(r"\1", _IMAGE.sub(" ", markdown))
    return _SPACE.sub(" ", _ESCAPE.sub(r"\1", _EMPHASIS.sub("", text)))


def links_as_text(markdown: str) -> str:
    """Only the links reduced to their text (images too), white space as it is: the stricter
    reading, where emphasis marks and escapes count against the markdown."""
    return re.sub(r"!?\[([^\]\n]*)\]\([^)\n]*\)", r"\1", markdown)


@dataclass(frozen=True, slots=True)
class SnippetScore:
    found: int  # article snippets found (true positives)
    missed: int  # article snippets not found
    leaked: int  # boilerplate snippets found (false positives)
    kept_out: int  # boilerplate snippets not found

    @property
    def precision(self) -> float:
        return self.found / (self.found + self.leaked) if self.found + self.leaked else 0.0

    @property
    def recall(self) -> float:
        return self.found / (self.found + self.missed) if self.found + self.missed else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: SnippetScore) -> SnippetScore:
        return SnippetScore(self.found + other.found, self.missed + other.missed,
                            self.leaked + other.leaked, self.kept_out + other.kept_out)


def score(text: str | None, must_contain: Iterable[str], must_not_contain: Iterable[str],
          reading: str = "markdown") -> SnippetScore:
    """One page's counts; ``text`` None (nothing extracted) finds no snippet. ``reading``:
    "markdown" (reader_text), "plain" (white space alone: trafilatura's plain text, where a `*`
    is a character) or "links" (links_as_text, white space as it is)."""
    if reading == "links":
        seen = links_as_text(text or "")
    else:
        seen = reader_text(text or "") if reading == "markdown" else _SPACE.sub(" ", text or "")
    squeeze = reading != "links"
    wanted = [(_SPACE.sub(" ", s) if squeeze else s) in seen for s in must_contain]
    unwanted = [(_SPACE.sub(" ", s) if squeeze else s) in seen for s in must_not_contain]
    return SnippetScore(sum(wanted), len(wanted) - sum(wanted), sum(unwanted),
                        len(unwanted) - sum(unwanted))
