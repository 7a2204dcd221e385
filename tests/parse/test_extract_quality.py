"""extract_article against bare trafilatura on 60 real pages (tests/data/pages/corpus, upstream's
expected snippets): what it finds, and that its shortcuts (its own metadata reader, the date and
author left out when the feed has them, its SimHash) give trafilatura's results. The figures
are computed here, on both sides, never written down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trafilatura
from trafilatura.deduplication import content_fingerprint
from trafilatura.metadata import extract_metadata
from trafilatura.utils import load_html

from monitor.errors import ExtractError
from monitor.parse.extract import DATE_PARAMS, extract_article, fingerprint
from monitor.parse.quality import SnippetScore, reader_text, score

CORPUS = Path(__file__).resolve().parents[1] / "data" / "pages" / "corpus"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (CORPUS / "expected.json").read_text(encoding="utf-8"))


def page_path(name: str) -> Path:
    """Three of the pages are those of the folder above (tests/parse/test_extract.py's)."""
    path = CORPUS / name
    return path if path.is_file() else CORPUS.parent / name


def _url(name: str) -> str:
    return EXPECTED[name]["url"] or f"https://example.org/{name}"


@pytest.fixture(scope="module")
def pages() -> dict[str, bytes]:
    return {name: page_path(name).read_bytes() for name in sorted(EXPECTED)}


@pytest.fixture(scope="module")
def articles(pages: dict[str, bytes]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, html in pages.items():
        try:
            found[name] = extract_article(html, _url(name))
        except ExtractError as e:  # a page of links only: the story is built from the feed
            found[name] = e
    return found


def _total(texts: dict[str, str | None], reading: str) -> SnippetScore:
    total = SnippetScore(0, 0, 0, 0)
    for name, text in texts.items():
        e = EXPECTED[name]
        total += score(text, e["must_contain"], e["must_not_contain"], reading)
    return total


def test_the_corpus_is_the_one_described() -> None:
    assert len(EXPECTED) == 60
    assert all(page_path(name).is_file() for name in EXPECTED)


def test_precision_at_least_bare_trafilatura_and_recall_as_trafilatura_with_links(
        pages: dict[str, bytes], articles: dict[str, Any]) -> None:
    ours = {n: None if isinstance(a, ExtractError) else a.body for n, a in articles.items()}
    bare = {n: trafilatura.extract(html, url=_url(n)) for n, html in pages.items()}
    mine, theirs = _total(ours, "markdown"), _total(bare, "plain")
    # Less boilerplate than bare trafilatura with its defaults, a page refused counting as
    # nothing found.
    assert mine.precision >= theirs.precision, (mine, theirs)
    # Its article snippets: those of trafilatura itself given the clipping's options (links,
    # markdown; no reader comments, which bare trafilatura adds to its text), on the pages the
    # clipping takes; the wrapping around trafilatura (metadata, quotes, tidying) loses none.
    accepted = [n for n in ours if ours[n] is not None]
    with_links = {n: trafilatura.extract(pages[n], url=_url(n), include_links=True,
                                         include_comments=False, output_format="markdown")
                  for n in accepted}
    mine_accepted = _total({n: ours[n] for n in accepted}, "markdown")
    assert mine_accepted.recall >= _total(with_links, "markdown").recall, mine_accepted
    assert len(accepted) >= len(ours) - 2  # only pages of bare link lists are refused


def test_metadata_is_trafilaturas_for_the_fields_an_article_has(
        pages: dict[str, bytes], articles: dict[str, Any]) -> None:
    from monitor.parse.extract import _date, site_name

    for name, html in pages.items():
        article = articles[name]
        if isinstance(article, ExtractError):
            continue
        meta = extract_metadata(load_html(html), _url(name), dict(DATE_PARAMS))
        assert article.title == (meta.title or "").strip(), name
        assert article.author == (meta.author or "").strip(), name
        assert article.date == _date(meta.date), name
        assert article.description == (meta.description or "").strip(), name
        assert article.sitename == site_name(meta.sitename, meta.url or _url(name),
                                             meta.hostname), name


def test_without_date_and_author_only_those_are_left_out(
        pages: dict[str, bytes], articles: dict[str, Any]) -> None:
    for name, html in pages.items():
        full = articles[name]
        if isinstance(full, ExtractError):
            with pytest.raises(ExtractError):
                extract_article(html, _url(name), date=False, author=False)
            continue
        lean = extract_article(html, _url(name), date=False, author=False)
        assert (lean.date, lean.author) == (None, "")
        assert (lean.title, lean.body, lean.sitename, lean.description, lean.fingerprint) == (
            full.title, full.body, full.sitename, full.description, full.fingerprint), name


def test_no_image_in_the_articles(articles: dict[str, Any]) -> None:
    bodies = [a.body for a in articles.values() if not isinstance(a, ExtractError)]
    assert not any("![" in body for body in bodies)
    assert sum("](http" in body for body in bodies) >= 10  # the links are kept


@pytest.mark.parametrize("text", [
    "", "   ", "!!! ...", "一二三。四五六", "word", "alpha beta gamma", "Hello, world! " * 50,
    "Le réseau a été démantelé par la police ; trois personnes arrêtées.",
])
def test_fingerprint_is_trafilaturas(text: str) -> None:
    assert fingerprint(text) == content_fingerprint(text)


def test_fingerprint_is_trafilaturas_on_the_corpus(pages: dict[str, bytes],
                                                   articles: dict[str, Any]) -> None:
    for name, html in pages.items():
        text = trafilatura.extract(html) or ""
        assert fingerprint(text) == content_fingerprint(text), name
        article = articles[name]
        if not isinstance(article, ExtractError):
            assert fingerprint(article.body) == content_fingerprint(article.body), name


def test_reader_text_reads_markdown_as_text() -> None:
    markdown = ("A **bold** [link](https://a.example/x) and ![an image](https://a.example/i.png)"
                " 1\\. item (\\*um) *it*\u00a0here\n\n> quoted")
    assert reader_text(markdown) == "A bold link and 1. item (*um) it here > quoted"
    counts = score(markdown, ["bold link", "(*um) it here", "missing"], ["an image", "quoted"])
    assert counts == SnippetScore(found=2, missed=1, leaked=1, kept_out=1)
    assert (counts.precision, counts.recall) == (2 / 3, 2 / 3)
