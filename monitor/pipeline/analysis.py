"""The CPU-bound work on one fetched page, run in the extraction worker processes:
the main process runs the event loop and the database alone, so whatever depends on the page
only is done beside the extraction, on the other cores. Pure: FetchResult -> PageAnalysis,
and a feed entry's own text -> TextAnalysis.

Besides the article: the clipping's language, grouping signature and the hashes of its
body's lines (store.archive stores them and looks for the outlet's boilerplate with the lines)
and the page compressed with its SHA-256 (store.evidence keeps it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from monitor.clipping import make_clipping
from monitor.parse.page import compress, sha256
from monitor.parse.extract import article_from_entry, extract_article
from monitor.fetch.body import page_text
from monitor.decide.grouping import Signature, line_marks, signature
from monitor.parse.language import guess_language
from monitor.models import Article, Entry, FetchResult

# The signature's time is the story's (its publication, else when first seen), which the
# caller sets: this one stands in for it until then.
UNSET = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True, slots=True)
class PageAnalysis:
    article: Article
    lang: str  # of the clipping's title and body (parse.language)
    signature: Signature  # of the clipping's title and body, ``at`` UNSET
    lines: dict[str, int]  # each line of the clipping's body under its hash (line_marks)
    compressed: bytes  # the page's bytes, gzip
    sha256: str  # of the page's bytes


@dataclass(frozen=True, slots=True)
class TextAnalysis:
    """A story made from the feed's own text: its article, and the clipping's language and
    grouping signature (``at`` UNSET), as for a page."""
    article: Article
    lang: str
    signature: Signature
    lines: dict[str, int]


def _text_facts(title: str, article: Article) -> tuple[str, Signature, dict[str, int]]:
    # The clipping's normalised title and body, as store.archive would see them.
    clipping = make_clipping(title=title or article.title, body=article.body)
    return (guess_language(f"{clipping.title}\n{clipping.body}"),
            signature(clipping.title, clipping.body, UNSET), line_marks(clipping.body))


def analyse_entry(entry: Entry) -> TextAnalysis:
    """The article of a feed entry's own text (parse.extract.article_from_entry), with the
    rest of its TextAnalysis. The feed's HTML is as hostile as any page's, so this runs in the
    workers too."""
    article = article_from_entry(entry)
    lang, sig, lines = _text_facts(entry.title, article)
    return TextAnalysis(article=article, lang=lang, signature=sig, lines=lines)


def analyse_page(page: FetchResult, title: str, date: bool = True) -> PageAnalysis:
    """The article on ``page`` and the rest of the PageAnalysis; ``title``: the feed's
    headline, which the clipping takes over the page's own (monitor.pipeline.build_clipping);
    ``date``: whether the page's date is wanted (the feed gave none; the feed's wins).
    ExtractError when the page has no usable article."""
    article = extract_article(page_text(page), page.url, date=date)
    lang, sig, lines = _text_facts(title, article)
    return PageAnalysis(
        article=article,
        lang=lang,
        signature=sig,
        lines=lines,
        compressed=compress(page.content),
        sha256=sha256(page.content),
    )
