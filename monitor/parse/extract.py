"""Extract stage: the only module importing trafilatura.

Article page HTML -> Article (metadata plus a markdown body without boilerplate), and the
fallback Article built from a feed entry's own content. Pure and CPU-heavy: the pipeline
runs it in worker processes.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import html as htmllib
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

import trafilatura
from courlan import extract_domain
from htmldate import find_date
from lxml import etree
from lxml.html import (HtmlComment, HtmlElement, HtmlEntity, HTMLParser, HtmlProcessingInstruction,
                       fromstring)
from trafilatura.deduplication import sample_tokens
from trafilatura.metadata import (META_URL, examine_meta, extract_meta_json, extract_sitename,
                                  extract_title, extract_url)
from trafilatura.settings import DEFAULT_CONFIG, Document
from trafilatura.utils import decode_file, is_dubious_html, repair_faulty_html
from trafilatura.xml import xmltotxt

from monitor.errors import ExtractError
from monitor.parse.byline import find_author
from monitor.models import Article, Entry

# htmldate otherwise guesses from any year on the page (a copyright line, say);
# the feed's date is preferred anyway.
DATE_PARAMS: dict[str, Any] = {"extensive_search": False, "original_date": True}
QUOTE_MARK = "qqmonitorquoteqq"
# What bare_extraction passes load_html (a compressed page's limit once inflated).
_MAX_FILE_SIZE = DEFAULT_CONFIG.getint("DEFAULT", "MAX_FILE_SIZE")
_MD_LINK = re.compile(r"!?\[[^\]]*\]\([^)]*\)")

# Markup past these counts is refused before lxml and trafilatura see it: their time and memory
# grow with the elements and links, and a page of 100,000 links well under max_bytes costs tens of
# seconds and hundreds of MB. A long news article has a few thousand elements and a few hundred
# links; a long encyclopedia article, tens of thousands and a few thousand.
MAX_ELEMENTS = 60_000
MAX_LINKS = 10_000
# The longest article body kept, in characters: some ten times a long feature, so only hostile
# or broken pages reach it; everything after extraction (matching, grouping, storing) runs in
# time and memory proportional to the body, and so stays bounded.
MAX_BODY = 100_000
ELLIPSIS = "[…]"
_SIMHASH_BITS = 64
_OPEN_TAG = re.compile(r"<[A-Za-z]")
_OPEN_LINK = re.compile(r"<a[\s>]", re.I)
_ANY_TAG = re.compile(r"<[^<>]*>")


def _count(pattern: re.Pattern[str], text: str) -> int:
    # findall's list of short strings costs less than a Python step per match object
    return len(pattern.findall(text))


def complexity_problem(html: bytes | str) -> str | None:
    """Why the markup is too complex to extract (too many elements or links), or None. A count
    of opening tags in the text: linear, and far cheaper than parsing it."""
    text = html.decode("latin-1") if isinstance(html, bytes) else html  # any byte, one char
    elements = _count(_OPEN_TAG, text)
    if elements > MAX_ELEMENTS:
        return f"too complex to extract: {elements} elements (at most {MAX_ELEMENTS})"
    links = _count(_OPEN_LINK, text)
    if links > MAX_LINKS:
        return f"too complex to extract: {links} links (at most {MAX_LINKS})"
    return None


# trafilatura's parser settings, but with each element's Python class chosen in C:
# lxml.html's own lookup calls back into Python for every element object made (to give forms
# and inputs their classes, which extraction never uses), and trafilatura makes hundreds of
# thousands a page. Same trees, same output, about 6% less CPU per page (docs/design.md).
_PARSER = HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8",
                     remove_comments=True, remove_pis=True)
_PARSER.set_element_class_lookup(etree.ElementDefaultClassLookup(
    element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity))


def _parse(text: str | bytes) -> HtmlElement | None:
    try:
        return fromstring(text, parser=_PARSER)
    except Exception:  # lxml refuses some input outright (trafilatura logs and goes on)
        return None


def load_page(html: bytes | str) -> HtmlElement | None:
    """The page's tree as trafilatura.utils.load_html makes it (decoded, repaired, parsed as a
    str, then as bytes when that fails or gives nothing; None for a document that is not
    HTML), through _PARSER."""
    text = decode_file(html, _MAX_FILE_SIZE)
    beginning = text[:50].lower()
    dubious = is_dubious_html(beginning)
    text = repair_faulty_html(text, beginning)
    tree = None
    as_bytes = False
    try:
        tree = fromstring(text, parser=_PARSER)
    except ValueError:  # a str declaring its encoding: lxml wants bytes
        tree = _parse(text.encode("utf8", "surrogatepass"))
        as_bytes = True
    except Exception:
        pass
    if (tree is None or len(tree) < 1) and not as_bytes:
        tree = _parse(text.encode("utf8", "surrogatepass"))
    if tree is not None and dubious and len(tree) < 2:
        return None
    return tree


def _has_prose(body: str) -> bool:
    """A line of at least 8 words outside links and images: an article, not a menu."""
    return any(len(_MD_LINK.sub(" ", line).split()) >= 8 for line in body.split("\n"))


def _quote_to_markdown(body: etree._Element) -> None:
    """trafilatura renders <quote> as plain paragraphs; the clipping wants `>` lines."""
    for quote in list(body.iter("quote")):
        parent = quote.getparent()
        if parent is None or any(a.tag == "quote" for a in quote.iterancestors()):
            continue
        inner = xmltotxt(copy.deepcopy(quote), include_formatting=True).strip()
        replacement = etree.Element("p")
        # A placeholder, because xmltotxt escapes a leading ">"; swapped back in _tidy.
        replacement.text = "\n".join(QUOTE_MARK + line for line in inner.split("\n"))
        replacement.tail = quote.tail
        parent.replace(quote, replacement)


def _tidy(markdown: str, title: str) -> str:
    lines = markdown.replace("\r\n", "\n").split("\n")
    # The page's own headline often opens the body; the clipping has it as its title already.
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and title and lines[0].lstrip("# ").strip() == title.strip():
        lines.pop(0)
    text = "\n".join(line.rstrip() for line in lines)
    text = re.sub(rf"^{QUOTE_MARK}[ \t]*$", ">", text, flags=re.M).replace(QUOTE_MARK, "> ")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _host(value: str) -> str:
    return value.strip().lower().removeprefix("www.").rstrip(".")


def site_name(found: str | None, url: str, hostname: str | None = None) -> str:
    """The page's own site name, or "" when it names none: trafilatura then falls back on a
    host name (the URL's, or a title part such as "example.org"), and the clipping's source
    should rather be the feed's name or title than a bare host."""
    name = (found or "").strip()
    hosts = {_host(h) for h in (urlsplit(url).hostname or "", hostname or "") if h}
    return "" if _host(name) in hosts else name


def _metadata(tree: HtmlElement, url: str, *, date: bool, author: bool) -> Document:
    """The page's metadata as trafilatura.metadata.extract_metadata finds it, but only the
    fields an Article carries: the categories, tags and licence are never looked for, and the
    date and author only when asked (the feed's own are used when it gives them). The byline
    search past the meta tags is monitor.parse.byline's: trafilatura's answer, cheaper."""
    found = examine_meta(tree)
    if found.author and " " not in found.author:  # as extract_metadata: a lone word is no byline
        found.author = None
    try:
        found = extract_meta_json(tree, found)
    except Exception:  # trafilatura's JSON-LD reader fails on hostile markup: the meta tags stay
        pass
    if not found.title:
        found.title = extract_title(tree)
    if not author:
        found.author = None
    elif not found.author:
        found.author = find_author(tree)
    if not found.url:
        found.url = extract_url(tree, url)
    if found.url:
        found.hostname = extract_domain(found.url, fast=True)
    if date:
        found.date = find_date(tree, url=found.url, **DATE_PARAMS)
    if not found.sitename:
        found.sitename = extract_sitename(tree)
    if found.sitename:
        found.sitename = found.sitename.lstrip("@")
        if found.sitename and "." not in found.sitename and not found.sitename[0].isupper():
            found.sitename = found.sitename.title()
    elif found.url and (host := META_URL.match(found.url)):
        found.sitename = host[1]
    found.clean_and_trim()
    return found


def extract_article(html: bytes | str, url: str, *, date: bool = True,
                    author: bool = True) -> Article:
    """The article on a page, with links, formatting and quotes as markdown (no images);
    ``date`` and ``author``: whether to look for them on the page (the feed may give them).
    ExtractError when there is none, or when the page is too complex (complexity_problem)."""
    problem = complexity_problem(html)
    if problem:
        raise ExtractError(f"page {problem}")
    try:
        # One parse for the metadata and the extraction: bare_extraction copies a tree it is
        # given, and the metadata is read from the page as it came.
        tree = load_page(html)
        if tree is None:
            raise ExtractError("no article found on the page")
        meta = _metadata(tree, url, date=date, author=author)
        # No images: with them trafilatura keeps captions, photo credits and teaser lists of
        # related stories, which the matcher would read as the story's (docs/design.md).
        doc = trafilatura.bare_extraction(
            tree, url=url, with_metadata=False, include_links=True, include_images=False,
            include_formatting=True, include_comments=False, output_format="markdown")
    except ExtractError:
        raise
    except Exception as e:  # trafilatura/lxml raise many kinds on hostile markup
        raise ExtractError(f"extraction failed: {type(e).__name__}: {e}") from e
    # Without as_dict, bare_extraction returns a Document or None; the dict is its deprecated form.
    if not isinstance(doc, Document) or doc.body is None:
        raise ExtractError("no article found on the page")
    title = (meta.title or "").strip()
    # The tree is ours (bare_extraction does not serialise it in markdown mode): rewritten in
    # place, and xmltotxt works on its own copy.
    _quote_to_markdown(doc.body)
    # NFC as trafilatura.extract gives it: a page written decomposed is matched as any other.
    body = unicodedata.normalize("NFC", _tidy(xmltotxt(doc.body, include_formatting=True), title))
    if not body:
        raise ExtractError("the page's article is empty")
    if not _has_prose(body):
        raise ExtractError("no article on the page, only navigation or short fragments")
    return Article(
        title=title,
        author=(meta.author or "").strip(),
        date=_date(meta.date),
        sitename=site_name(meta.sitename, meta.url or url, meta.hostname),
        description=(meta.description or "").strip(),
        body=bounded(body),
        fingerprint=fingerprint(f"{title} {doc.raw_text or body}"),
    )


@functools.lru_cache(maxsize=2**14)
def _hash_digits(token: str) -> str:
    # Words recur within a text and from one text to the next (16,384 of 64 digits: 2 MB).
    h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")
    return format(h, f"0{_SIMHASH_BITS}b")


def fingerprint(text: str) -> str:
    """trafilatura's content_fingerprint (a 64-bit SimHash of the text's longer words), the
    same hex string for a fraction of its CPU: each word's hash written as 64 binary digits,
    and each bit's vote counted down its column in C (str.count) rather than with a list of 64
    additions per word."""
    tokens = sample_tokens(text, _SIMHASH_BITS)
    digits = "".join(map(_hash_digits, tokens))
    simhash = 0
    for column in range(_SIMHASH_BITS):  # column 0 is the top bit
        if 2 * digits[column::_SIMHASH_BITS].count("1") >= len(tokens):  # as many +1 as -1 or more
            simhash |= 1 << (_SIMHASH_BITS - 1 - column)
    return f"{simhash:x}"


def html_fragment_to_markdown(fragment: str) -> str:
    """A feed's summary or content (HTML or text) as markdown; plain text when all else fails."""
    if not fragment.strip():
        return ""
    if "<" not in fragment:
        return htmllib.unescape(fragment).strip()
    if complexity_problem(fragment):
        return plain_text(fragment)
    try:
        # The <div> keeps the spaces around inline tags of a bare-text fragment.
        doc = trafilatura.bare_extraction(
            f"<html><body><article><div>{fragment}</div></article></body></html>",
            include_links=True, include_images=True, include_formatting=True, favor_recall=True,
            include_comments=False, output_format="markdown", with_metadata=False)
    except Exception:  # fall back to the bare text below
        doc = None
    if isinstance(doc, Document) and doc.body is not None:
        body_tree = copy.deepcopy(doc.body)
        _quote_to_markdown(body_tree)
        text = _tidy(xmltotxt(body_tree, include_formatting=True), "")
        if text:
            return text
    try:
        tree = etree.fromstring(f"<div>{fragment}</div>", etree.HTMLParser())
        plain = " ".join(tree.itertext()) if tree is not None else ""
    except (etree.ParserError, ValueError):
        plain = re.sub(r"<[^>]+>", " ", fragment)
    return re.sub(r"[ \t]+", " ", htmllib.unescape(plain)).strip()


def bounded(body: str, limit: int = MAX_BODY) -> str:
    """``body`` as it is, or cut to at most ``limit`` characters at a paragraph's end (else
    anywhere) with a paragraph saying it was cut."""
    if len(body) <= limit:
        return body
    room = limit - len(ELLIPSIS) - 2
    cut = body.rfind("\n\n", 0, room)
    return body[:cut if cut > room // 2 else room].rstrip() + "\n\n" + ELLIPSIS


def plain_text(fragment: str, limit: int = MAX_BODY) -> str:
    """A fragment's text with every tag dropped and the spaces squeezed, at most about ``limit``
    characters: cheap whatever the markup (one pass of a regular expression over a bounded
    part of it)."""
    text = _ANY_TAG.sub(" ", fragment[:4 * limit])
    return re.sub(r"\s+", " ", htmllib.unescape(text)).strip()[:limit]


def plain_article_from_entry(entry: Entry) -> Article:
    """The feed's own text as plain text, when even article_from_entry failed (its worker ran
    out of time or memory): cheap enough for the event loop."""
    body = plain_text(entry.content) or plain_text(entry.summary)
    return Article(title=entry.title, author=entry.author,
                   date=entry.published.date() if entry.published else None, sitename="",
                   description="", body=body,
                   fingerprint=fingerprint(f"{entry.title} {body}"))


def article_from_entry(entry: Entry) -> Article:
    """The fallback when the page can't be fetched or yields nothing: the feed's own text."""
    body = bounded(html_fragment_to_markdown(entry.content)
                   or html_fragment_to_markdown(entry.summary))
    description = ""
    if entry.content and entry.summary:
        description = html_fragment_to_markdown(entry.summary).split("\n", 1)[0]
    return Article(
        title=entry.title,
        author=entry.author,
        date=entry.published.date() if entry.published else None,
        sitename="",
        description=description,
        body=body,
        fingerprint=fingerprint(f"{entry.title} {body}"),
    )


def feed_links(html: bytes | str, url: str) -> list[str]:
    """The feeds a page announces, for `monitor feeds add`: its <link rel="alternate">
    of a feed type, else links that look like feeds, absolute, comment feeds left out
    (trafilatura's feed finder, given the page we fetched ourselves, so every request passes
    our private-address guard and limits)."""
    from trafilatura.feeds import FeedParameters, determine_feed

    text = html if isinstance(html, str) else html.decode("utf-8", errors="replace")
    try:
        return determine_feed(text, FeedParameters(url, "", url))
    except Exception:  # hostile markup: no candidates rather than a crash
        return []
