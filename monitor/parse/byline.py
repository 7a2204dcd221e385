"""The byline search past the meta tags: trafilatura.metadata.extract_author's answer for a
fraction of its CPU. Pure.

trafilatura copies the whole page, deletes the comment sections, sidebars, figures and dates
from the copy, then runs three XPath searches whose predicates test each element's attributes
against regular expressions; on a news page that costs more than cleaning the page for
extraction. Here the elements with any of the attributes concerned are listed once, their
attributes tested with the same expressions in Python, and the deletions only simulated: a
candidate's text is read as it would be in the pruned copy, a deleted element's tail joined to
the text before it as trafilatura's delete_element does. Where the simulation can't be sure (an
element named <rel>, which one predicate reads as a child's text), trafilatura's own search
runs. tests/parse/test_byline.py holds the two to the same answers on real pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml.etree import XPath
from lxml.html import HtmlElement
from trafilatura.json_metadata import normalize_authors
from trafilatura.metadata import extract_author
from trafilatura.utils import trim

# What trafilatura.xpaths.AUTHOR_XPATHS and AUTHOR_DISCARD_XPATHS test, in their order.
_FIRST_TAGS = frozenset({"a", "address", "div", "link", "p", "span", "strong"})
_FIRST_CLASS = re.compile("author-?name|AuthorName|authorName")
_SECOND_TAGS = frozenset({"a", "div", "h3", "h4", "p", "span"})
_SECOND_CLASSES = frozenset({"byline", "username", "byl", "BBL"})
_SECOND_ID = re.compile("author|zuozhe|bianji|xiaobian")
_SECOND_CLASS = re.compile(
    "author|channel-name|zuozhe|bianji|xiaobian|submitted-by|posted-by|journalist-name")
_THIRD_ID = re.compile("[Aa]uthor")
_THIRD_CLASS = re.compile("[Aa]uthor|screenname|writer|[Bb]yline")
_DISCARD_TAGS = frozenset({"a", "div", "section", "span"})
_DISCARD_CLASSES = frozenset({"comments", "title", "date"})
_DISCARD_ID = re.compile("^comments|comment-?list|ProductReviews")
_DISCARD_CLASS = re.compile(
    "^[Cc]omments|commentlist|comments-list|sidebar|is-hidden|quote|embedly-instagram|"
    "article-(?:share|support)|print|category|meta-date|meta-reviewer")
# Every element any of those predicates can select, in document order.
_ELEMENTS = XPath("//*[@class or @id or @itemprop or @rel or @data-testid or @data-component]"
                  " | //time | //figure | //author | //rel")
_MAX_LENGTH = 120  # extract_author's len_limit


class _Unsure(Exception):
    """The simulation can't promise trafilatura's answer: run trafilatura's search."""


def find_author(tree: HtmlElement) -> str | None:
    """The page's byline as trafilatura.metadata.extract_author finds it, or None. The tree is
    left as it is."""
    try:
        return _find_author(tree)
    except _Unsure:
        return extract_author(tree)


def _find_author(tree: HtmlElement) -> str | None:
    discarded: set[HtmlElement] = set()
    candidates: tuple[list[HtmlElement], ...] = ([], [], [])
    for element in _ELEMENTS(tree):
        tag = element.tag
        if tag == "rel":  # `rel='me'` in the first search compares a <rel> child's text
            raise _Unsure
        get = element.get
        klass = get("class") or ""
        ident = get("id") or ""
        prop = get("itemprop") or ""
        # delete_element leaves the root where it is (it has no parent)
        if element is not tree and (tag == "time" or tag == "figure" or (
                tag in _DISCARD_TAGS and (
                    ident == "comments" or klass in _DISCARD_CLASSES
                    or _DISCARD_ID.search(ident) is not None
                    or _DISCARD_CLASS.search(klass) is not None
                    or "Figure" in (get("data-component") or "")))):
            discarded.add(element)
        if tag == "author" or (tag in _FIRST_TAGS and (
                get("rel") == "author" or ident == "author" or klass == "author"
                or prop == "author name" or get("data-testid") in ("AuthorCard", "AuthorURL")
                or _FIRST_CLASS.search(klass) is not None)):
            candidates[0].append(element)
        if tag in _SECOND_TAGS and (
                klass in _SECOND_CLASSES or "author" in prop
                or _SECOND_ID.search(ident) is not None
                or _SECOND_CLASS.search(klass) is not None):
            candidates[1].append(element)
        if ("Byline" in (get("data-component") or "") or "author" in prop
                or _THIRD_ID.search(ident) is not None
                or _THIRD_CLASS.search(klass) is not None):
            candidates[2].append(element)
    for found in candidates:
        for element in found:
            if element in discarded or any(a in discarded for a in element.iterancestors()):
                continue
            content = trim(" ".join(_pruned_text(element, discarded)))
            if content and 2 < len(content) < _MAX_LENGTH:
                return normalize_authors(None, content)
    return None


def _pruned_text(element: HtmlElement, discarded: set[HtmlElement]) -> Iterator[str]:
    """element.itertext() as it reads once the discarded descendants are deleted: each one's
    tail joins the text before it (its previous sibling's tail, or its parent's text)."""
    if not discarded:
        yield from element.itertext()
        return
    pending = element.text
    for child in element:
        if child in discarded:
            if child.tail:
                pending = (pending or "") + child.tail
            continue
        if pending is not None:
            yield pending
        if isinstance(child.tag, str):
            yield from _pruned_text(child, discarded)
        # a comment's or instruction's own text is not read, its tail is
        pending = child.tail
    if pending is not None:
        yield pending
