"""find_author gives trafilatura's extract_author answer on every page the tests hold and on
markup built to reach each branch: the bylines around deleted dates, figures and comment
sections, deleted elements whose tails join the text before them, the root, a <rel> element."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml.html import HtmlElement
from trafilatura.metadata import extract_author
from trafilatura.utils import load_html

from monitor.parse.byline import find_author

PAGES = Path(__file__).resolve().parents[1] / "data" / "pages"
PAGE_FILES = sorted(p for p in PAGES.rglob("*.htm*") if p.is_file())


def _tree(html: bytes | str) -> HtmlElement:
    tree = load_html(html)
    assert tree is not None
    return tree


def test_the_pages_are_there() -> None:
    assert len(PAGE_FILES) >= 60


@pytest.mark.parametrize("path", PAGE_FILES, ids=lambda p: p.name)
def test_same_byline_as_trafilatura_on_real_pages(path: Path) -> None:
    tree = _tree(path.read_bytes())
    assert find_author(tree) == extract_author(tree)


CRAFTED = {
    "first search, class": '<div class="author">Jane Roe</div>',
    "first search, rel on a link": '<p>By <a rel="author" href="/jr">Jane Roe</a></p>',
    "first search, author element": "<author>Jane Roe</author>",
    "first search, data-testid": '<span data-testid="AuthorCard">Jane  Roe </span>',
    "first search wins over the second": (
        '<div class="byline">Someone Else</div><span class="author-name">Jane Roe</span>'),
    "second search, itemprop": '<h4 itemprop="creator author">Jane Roe</h4>',
    "second search, id": '<p id="zuozhe-1">Li Wei</p>',
    "third search, any element": '<section class="Writer">Jane Roe</section>'
                                 '<li class="post-writer">Jane Roe</li>',
    "third search, data-component": '<ul data-component="ArticleByline">Jane Roe</ul>',
    "a date inside the byline": (
        '<div class="byline">By Jane Roe<time datetime="2024-01-02">2 Jan</time>, Paris</div>'),
    "a figure first in the byline": (
        '<div class="byline"><figure>photo</figure>Jane Roe<b>x</b>y</div>'),
    "two deleted children in a row": (
        '<div class="byline">A<time>1</time>B<time>2</time>C<span>D</span>E</div>'),
    "a deleted child after a comment": (
        '<div class="byline">Jane<!-- c -->Roe<time>t</time>smith</div>'),
    "a deleted child with no tail": '<div class="byline">Jane Roe<time>t</time></div>',
    "nested deleted elements": (
        '<div class="byline">Jane <span class="date">x<time>y</time>z</span>Roe</div>'),
    "a byline inside a comment section": (
        '<div id="comments"><span class="author">Commenter Name</span></div>'
        '<p class="byline">Jane Roe</p>'),
    "a byline inside a sidebar, and nothing else": (
        '<aside><div class="sidebar-left"><p class="author">Sidebar Name</p></div></aside>'),
    "a byline that is itself a date": '<span class="date author">Jane Roe</span>',
    "too short, then right": '<div class="author">JR</div><div class="author">Jane Roe</div>',
    "too long": '<div class="author">' + "word " * 40 + "</div>",
    "regex on the class, case": '<span class="Byline">Jane Roe</span>',
    "nothing at all": "<p>No byline here, only a paragraph of text.</p>",
    "a <rel> element": "<p><rel>me</rel>Jane Roe</p>",
}


@pytest.mark.parametrize("body", CRAFTED.values(), ids=CRAFTED.keys())
def test_same_byline_as_trafilatura_on_crafted_markup(body: str) -> None:
    html = f"<html><head><title>t</title></head><body><article>{body}" \
           "<p>Some article text that is long enough to be one.</p></article></body></html>"
    assert find_author(_tree(html)) == extract_author(_tree(html))


def test_the_simulated_deletions_are_exercised() -> None:
    # the case where the text is read around deleted children must give a byline, or the
    # comparison above would pass on two Nones
    html = ('<html><body><div class="byline">By Jane Roe<time>2 Jan</time>, Paris</div>'
            "</body></html>")
    assert find_author(_tree(html)) == extract_author(_tree(html)) == "Jane Roe; Paris"


def test_the_tree_is_left_as_it_was() -> None:
    html = '<html><body><div class="byline">Jane Roe<time>t</time></div></body></html>'
    tree = _tree(html)
    find_author(tree)
    assert tree.find(".//time") is not None
