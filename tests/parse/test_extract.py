"""monitor.extract: extract_article on real pages (tests/data/pages/, upstream's expected
snippets in expected.json) and on small hand-written pages; article_from_entry on feed text."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import ExtractError
from monitor.parse import extract
from monitor.parse.extract import article_from_entry, extract_article, html_fragment_to_markdown
from monitor.models import Article, Entry

DATA = Path(__file__).resolve().parents[1] / "data" / "pages"
EXPECTED: dict[str, dict[str, Any]] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))

PARAGRAPH = ("The court ordered internet providers to block dozens of illegal streaming sites "
             "after a two-year investigation by the rights holders and the police.")
# trafilatura drops a paragraph repeated word for word, so pages use two different ones.
PARAGRAPH2 = ("The operators of the sites face charges of copyright infringement and money "
              "laundering, and the servers were seized in three countries.")
BOILERPLATE_NAV = ("<header><nav><ul><li><a href='/'>Home</a></li><li><a href='/news'>News</a></li>"
                   "<li><a href='/sport'>Sport</a></li><li><a href='/about'>About us</a></li></ul></nav></header>")
BOILERPLATE_FOOTER = ("<footer><p>Copyright 2024 Example News Ltd. All rights reserved.</p>"
                      "<ul><li><a href='/privacy'>Privacy policy</a></li><li><a href='/contact'>Contact</a></li>"
                      "</ul></footer>")


def page(article: str, title: str = "Court orders blocking of pirate sites") -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"<meta name='author' content='Jane Doe'></head><body>{BOILERPLATE_NAV}"
            f"<main><article><h1>{title}</h1>{article}</article></main>{BOILERPLATE_FOOTER}</body></html>")


# --- real pages ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_page_body_has_the_article_and_not_the_boilerplate(name: str) -> None:
    expected = EXPECTED[name]
    article = extract_article((DATA / name).read_bytes(), expected["url"])
    for snippet in expected["must_contain"]:
        assert snippet in article.body, snippet
    for snippet in expected["must_not_contain"]:
        assert snippet not in article.body, snippet
    assert article.body == article.body.strip()
    assert "\n\n\n" not in article.body


SITE_NAMES = {"anarc.at.cdpath.html": "", "hackernoon.com.scrape.html": "Hackernoon",
              "iloveponysmag.com.barbour.html": ""}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_page_metadata(name: str) -> None:
    expected = EXPECTED[name]
    article = extract_article((DATA / name).read_bytes(), expected["url"])
    meta = expected.get("source_metadata") or {}
    if meta.get("title"):
        assert article.title == meta["title"]
    if meta.get("date"):
        assert article.date == dt.date.fromisoformat(meta["date"])
    # The page's own name only: where a page names none, trafilatura's host name is dropped
    # (the clipping's source is then the feed's name or title).
    assert article.sitename == SITE_NAMES[name]
    assert re.fullmatch(r"[0-9a-f]{16}", article.fingerprint)


def test_real_page_links_are_markdown_and_images_left_out() -> None:
    # Images are left out of a page's article: with them trafilatura keeps captions, credits
    # and teasers of related stories (docs/design.md, *Extraction*).
    name = "iloveponysmag.com.barbour.html"
    article = extract_article((DATA / name).read_bytes(), EXPECTED[name]["url"])
    assert "Barbour-Coastal.jpg" not in article.body and "![" not in article.body
    assert "[Coastal Collection von Barbour](https://www.barbour.com/coastal)" in article.body
    assert "> Das Schönste: Helle & Me Time am Wasser." in article.body.split("\n")


def test_extraction_is_deterministic() -> None:
    name = "anarc.at.cdpath.html"
    html = (DATA / name).read_bytes()
    assert extract_article(html, EXPECTED[name]["url"]) == extract_article(html, EXPECTED[name]["url"])


# --- hand-written pages ------------------------------------------------------------------------------

def test_body_without_navigation_footer_or_headline() -> None:
    article = extract_article(page(f"<p>{PARAGRAPH}</p><p>{PARAGRAPH2}</p>"), "https://news.example/a")
    assert article.title == "Court orders blocking of pirate sites"
    assert article.author == "Jane Doe"
    assert article.body == f"{PARAGRAPH}\n\n{PARAGRAPH2}"
    for boilerplate in ("Home", "Privacy policy", "Copyright 2024", "About us"):
        assert boilerplate not in article.body
    assert not article.body.startswith("#")  # the headline is the clipping's title, not its body


def test_quotes_become_quote_lines() -> None:
    html = page(f"<p>{PARAGRAPH}</p><blockquote><p>We will keep going after these illegal services "
                f"wherever they are, said the spokesperson.</p></blockquote><p>{PARAGRAPH2}</p>")
    body = extract_article(html, "https://news.example/a").body
    assert ("\n\n> We will keep going after these illegal services wherever they are, said the "
            "spokesperson.\n\n") in body


def test_multi_paragraph_quote_keeps_every_line_quoted() -> None:
    html = page(f"<p>{PARAGRAPH}</p><blockquote><p>First quoted paragraph of the statement here.</p>"
                f"<p>Second quoted paragraph of the statement here.</p></blockquote><p>{PARAGRAPH2}</p>")
    body = extract_article(html, "https://news.example/a").body
    start = body.index("> First")
    quote = body[start:body.index(PARAGRAPH2, start)].strip().split("\n")
    assert quote[0] == "> First quoted paragraph of the statement here."
    assert quote[-1] == "> Second quoted paragraph of the statement here."
    assert all(line.startswith(">") for line in quote)


def test_links_become_markdown_and_images_are_left_out() -> None:
    html = page(f"<p>{PARAGRAPH}</p><p>Read the <a href='https://court.example/ruling.pdf'>full ruling</a> "
                "for the scope of the order in every country concerned by it.</p>"
                "<figure><img src='https://news.example/img/court.jpg' alt='The court building'></figure>"
                f"<p>{PARAGRAPH2}</p>")
    body = extract_article(html, "https://news.example/a").body
    assert "Read the [full ruling](https://court.example/ruling.pdf) for the scope" in body
    assert "court.jpg" not in body and "The court building" not in body


def test_relative_links_are_resolved_against_the_page_url() -> None:
    html = page(f"<p>{PARAGRAPH} See <a href='/docs/order.pdf'>the order</a> for details.</p>")
    body = extract_article(html, "https://news.example/2024/story")
    assert "[the order](https://news.example/docs/order.pdf)" in body.body


def test_bytes_and_text_give_the_same_article() -> None:
    html = page(f"<p>{PARAGRAPH} Les ayants droit saluent la décision de l’Arcom.</p>")
    assert extract_article(html, "https://a.example/") == extract_article(html.encode("utf-8"), "https://a.example/")


@pytest.mark.parametrize("html", [
    "",
    "   ",
    "<html></html>",
    "<html><head><title>Nothing</title></head><body></body></html>",
    "\x00\x01\x02",
], ids=["empty", "blank", "empty html", "empty body", "control bytes"])
def test_empty_page_raises(html: str) -> None:
    with pytest.raises(ExtractError):
        extract_article(html, "https://news.example/")


NAV_LINKS = "".join(f"<li><a href='/section/{i}'>Section {i}</a></li>" for i in range(20))


@pytest.mark.parametrize("html", [
    # a home page that is nothing but menus: no article to clip
    f"<!DOCTYPE html><html><head><title>Example News</title></head><body><header><nav><ul>{NAV_LINKS}"
    f"</ul></nav></header>{BOILERPLATE_FOOTER}</body></html>",
    f"<html><head><title>Menu</title></head><body><nav>{NAV_LINKS}</nav></body></html>",
    "<html><body><nav><a href='/a'>Home</a> <a href='/b'>About</a></nav></body></html>",
], ids=["header nav and footer", "bare nav", "two links"])
def test_navigation_only_page_raises(html: str) -> None:
    # Today trafilatura's fallback returns the menu ("Section 0\nSection 1\n..."), which would
    # become the clipping's body instead of the feed entry's own text.
    with pytest.raises(ExtractError):
        extract_article(html, "https://news.example/")


# --- article_from_entry: the feed's own text ---------------------------------------------------------

def entry(summary: str = "", content: str = "", **kw: Any) -> Entry:
    values: dict[str, Any] = {"feed_url": "https://news.example/feed", "guid": "g-1",
                              "url": "https://news.example/a", "title": "Police raid IPTV sellers",
                              "summary": summary, "content": content, "author": "J. Doe",
                              "published": dt.datetime(2024, 3, 1, 23, 30, tzinfo=dt.timezone.utc)}
    values.update(kw)
    return Entry(**values)


def test_article_from_entry_converts_html_to_markdown() -> None:
    article = article_from_entry(entry(summary=(
        "<p>Police <b>raided</b> an <a href='https://news.example/iptv'>IPTV operation</a> in Spain.</p>"
        "<p><img src='https://news.example/raid.jpg' alt='The raid'></p><p>Second paragraph.</p>")))
    assert isinstance(article, Article)
    assert article.body == ("Police **raided** an [IPTV operation](https://news.example/iptv) in Spain."
                            "\n\n![The raid](https://news.example/raid.jpg)\n\nSecond paragraph.")
    assert (article.title, article.author, article.date) == ("Police raid IPTV sellers", "J. Doe",
                                                              dt.date(2024, 3, 1))
    assert article.sitename == "" and "<" not in article.body


def test_article_from_entry_keeps_plain_text_plain() -> None:
    text = "Police raided an IPTV operation in Spain.\n\nThree people were arrested."
    article = article_from_entry(entry(summary=text))
    assert article.body == text
    assert article_from_entry(entry(summary="Tom &amp; Jerry")).body == "Tom & Jerry"


def test_article_from_entry_prefers_content_and_uses_the_summary_as_description() -> None:
    article = article_from_entry(entry(summary="<p>The short version.</p>",
                                       content="<p>The full story, with all the details.</p><p>More.</p>"))
    assert article.body == "The full story, with all the details.\n\nMore."
    assert article.description == "The short version."


def test_article_from_entry_without_text_or_date() -> None:
    article = article_from_entry(entry(published=None))
    assert article.body == "" and article.date is None and article.description == ""


@pytest.mark.parametrize(("fragment", "markdown"), [
    # Inline markup straight in the text, as most RSS descriptions have it: the spaces around
    # the tags must survive ("Russia's[Star City](...)" and "A\nbold\nmove" today).
    ("They take a course at Russia's <a href='http://star.example/city'>Star City</a>.",
     "They take a course at Russia's [Star City](http://star.example/city)."),
    ("A <b>bold</b> move by the police", "A **bold** move by the police"),
    ("Short summary <i>here</i>.", "Short summary *here*."),
])
def test_inline_html_fragment_keeps_its_spaces(fragment: str, markdown: str) -> None:
    assert html_fragment_to_markdown(fragment) == markdown


def test_quote_in_feed_content_becomes_quote_lines() -> None:
    article = article_from_entry(entry(content=(
        "<p>Police raided an IPTV operation in Spain on Tuesday morning.</p>"
        "<blockquote><p>We acted on a complaint by the rights holders, said the officer.</p></blockquote>"
        "<p>Three people were arrested.</p>")))
    assert "\n\n> We acted on a complaint by the rights holders, said the officer.\n\n" in article.body


# --- markup too complex to extract --------------------------------------------------------------

def test_the_real_pages_are_within_the_complexity_limits() -> None:
    for page in DATA.glob("*.html"):
        assert extract.complexity_problem(page.read_bytes()) is None, page.name


@pytest.mark.parametrize(("markup", "reason"), [
    ("<p>" + "<span>x</span>" * (extract.MAX_ELEMENTS + 1) + "</p>", "elements"),
    ("<p>" + '<a href="/t">t</a>' * (extract.MAX_LINKS + 1) + "</p>", "links"),
    ("<p>" + "<A HREF='/t'>t</A>" * (extract.MAX_LINKS + 1) + "</p>", "links"),
])
def test_a_page_too_complex_is_refused_before_it_is_parsed(markup: str, reason: str) -> None:
    for html in (markup, markup.encode("utf-8")):
        with pytest.raises(ExtractError, match=f"too complex to extract: .* {reason}"):
            extract_article(html, "https://example.org/a")


def test_feed_text_too_complex_is_kept_as_plain_text() -> None:
    words = "".join(f'<a href="/t/{i}">word{i}</a> ' for i in range(extract.MAX_LINKS + 1))
    markdown = html_fragment_to_markdown(f"<p>{PARAGRAPH}</p><div>{words}</div>")
    assert markdown.startswith(PARAGRAPH + " word0 word1 word2")
    assert "<" not in markdown and "[" not in markdown


def test_plain_article_from_entry_is_bounded_whatever_the_markup() -> None:
    content = "<div>" + "<p>piracy &amp; streaming</p>" * 100_000 + "</div>"
    entry = Entry(feed_url="f", guid="g", url=None, title="A title", summary="", content=content,
                  author="", published=dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc))
    article = extract.plain_article_from_entry(entry)
    assert article.body.startswith("piracy & streaming piracy & streaming")
    assert len(article.body) <= extract.MAX_BODY
    assert (article.title, article.date) == ("A title", dt.date(2026, 11, 2))
# --- the site name: the page's own, never a bare host name ---------------------------------------

_PAGE = ("<html><head><title>{title}</title>{meta}</head><body><article><h1>Police raid a pirate "
         "ring</h1><p>" + "Police raided a pirate IPTV ring on Monday and seized its servers. " * 4
         + "</p></article></body></html>")


@pytest.mark.parametrize(("title", "meta", "url", "sitename"), [
    ("Police raid a pirate ring", "", "https://www.news.example.org/a", ""),  # the URL's host
    ("Police raid a pirate ring | News.Example.org", "", "https://news.example.org/a", ""),
    ("Police raid a pirate ring", '<meta property="og:site_name" content="Daily News">',
     "https://news.example.org/a", "Daily News"),
    ("Police raid a pirate ring", '<meta property="og:site_name" content="Arstechnica.com">',
     "https://arstechnica.com/a", ""),  # a host name, even declared: the feed's name is better
])
def test_a_page_without_a_site_name_has_none(title: str, meta: str, url: str,
                                             sitename: str) -> None:
    assert extract_article(_PAGE.format(title=title, meta=meta), url).sitename == sitename


def test_the_clipping_source_falls_back_on_the_feed_name_then_its_title() -> None:
    from monitor.config import FeedConfig
    from monitor.pipeline.update import build_clipping

    article = Article(title="T", author="", date=None, sitename="", description="", body="B",
                      fingerprint="f")
    entry = Entry(feed_url="https://news.example.org/feed", guid="g",
                  url="https://news.example.org/a", title="T", summary="", content="", author="",
                  published=None)
    untitled = FeedConfig(url="https://news.example.org/feed")
    assert build_clipping(entry, article, untitled, "Example News", (), []).source == "Example News"
    named = FeedConfig(url="https://news.example.org/feed", name="Example (desk)")
    assert build_clipping(entry, article, named, "Example News", (), []).source == "Example (desk)"


PAGE_FILES = sorted(p for p in DATA.rglob("*.htm*") if p.is_file())
ODD_INPUTS = {
    "a str declaring its encoding": '<?xml version="1.0" encoding="utf-8"?><html><body>'
                                    "<p>text</p></body></html>",
    "bytes in latin-1": "<html><head><meta charset='latin-1'></head><body><p>café</p>"
                        "</body></html>".encode("latin-1"),
    "bytes with a BOM": b"\xef\xbb\xbf<html><body><p>text</p></body></html>",
    "not HTML": "just a line of text",
    "one fragment": "<p>one paragraph</p>",
    "empty": "",
    "control characters": "<html><body><p>a\x00b\x0bc</p></body></html>",
    "a form": "<html><body><form><input name='q'><select><option>1</option></select>"
              "<textarea>t</textarea><label>l</label></form><p>text</p></body></html>",
}


@pytest.mark.parametrize("source", [*PAGE_FILES, *ODD_INPUTS],
                         ids=[*(p.name for p in PAGE_FILES), *ODD_INPUTS])
def test_the_page_tree_is_trafilaturas(source: Path | str) -> None:
    """load_page parses as trafilatura.utils.load_html does, only the element classes are
    chosen in C: the same markup comes out of both trees."""
    from lxml.html import tostring
    from trafilatura.utils import load_html

    html = source.read_bytes() if isinstance(source, Path) else ODD_INPUTS[source]
    ours, theirs = extract.load_page(html), load_html(html)
    assert (ours is None) == (theirs is None)
    if ours is not None and theirs is not None:
        assert tostring(ours) == tostring(theirs)
        assert [e.tag for e in ours.iter()] == [e.tag for e in theirs.iter()]
