"""Parse stage: a watched page (a newsroom without a feed) -> the links that are stories (pure).

HTML bytes + the page's URL, a CSS selector for the region listing the items and a pattern
the items' URLs match -> a Listing, then the FeedMeta and Entry records a parsed feed gives,
so the rest of the pipeline treats the page as a feed. lxml parses, cssselect turns the
selector into XPath; navigation, pagination, social and same-page links are left out.
"""

from __future__ import annotations

import codecs
import datetime as dt
import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urljoin, urlsplit

import lxml.etree
import lxml.html
from cssselect import GenericTranslator, SelectorError

from monitor.config import Config
from monitor.errors import BrokenListing, ConfigError, ParseError
from monitor.fetch.body import declared_charset
from monitor.models import Entry, FeedMeta
from monitor.parse.identity import canonical_url
from monitor.units import parse_iso_datetime

# Bounds on one page's work, whatever it holds: the links kept (each new one costs a page
# fetch and an extraction) and the anchors looked at (each costs a pattern match).
MAX_LINKS = 200
MAX_ANCHORS = 5_000  # a busy news home page has a thousand or two
MAX_URL = 2048

# Elements whose links are the site's furniture, not its items; header and footer only at the
# page's level (an <article>'s own header holds its headline link).
FURNITURE = frozenset({"nav", "aside", "menu"})
PAGE_FURNITURE = frozenset({"header", "footer"})
FURNITURE_ROLES = frozenset({"navigation", "complementary", "banner", "contentinfo", "menu",
                             "menubar", "search"})
FURNITURE_CLASS = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|pagination|pager|page-numbers|paging|"
    r"breadcrumbs?|share|sharing|social|sidebar|skip-link)(?:$|[\s_-])", re.I)
PAGINATION_TEXT = frozenset({"next", "previous", "prev", "older", "newer", "older posts",
                             "newer posts", "next page", "previous page", "more", "load more",
                             "»", "«", "›", "‹", "→", "←", "…", "...", "first", "last"})
PAGINATION_PATH = re.compile(r"/(?:page|p|seite|pagina|strona)/\d+/?$", re.I)
PAGINATION_PARAMS = frozenset({"page", "p", "paged", "pg", "start", "offset", "seite", "pagina"})
# Link texts that say nothing of the story: the story's headline comes from its page instead.
GENERIC_TEXT = frozenset({"read more", "continue reading", "read the full story",
                          "full story", "details", "view", "open", "lire la suite",
                          "en savoir plus", "weiterlesen", "mehr", "leer más", "leggi tutto",
                          "ler mais", "lees meer", "meer", "czytaj więcej", "läs mer"})
SOCIAL_HOSTS = frozenset({
    "facebook.com", "twitter.com", "x.com", "linkedin.com", "instagram.com", "youtube.com",
    "youtu.be", "t.me", "telegram.me", "wa.me", "whatsapp.com", "reddit.com", "pinterest.com",
    "tiktok.com", "bsky.app", "threads.net", "mastodon.social", "vk.com", "xing.com",
    "flickr.com", "tumblr.com"})
MAIN_REGIONS = ("main", "[role=main]", "#main", "#content", "#main-content", ".main-content")


@dataclass(frozen=True, slots=True)
class Link:
    """A link that would become a story: its absolute URL, its text, and the date its item
    shows (a <time datetime> beside it), if any."""

    url: str
    title: str
    published: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """What a watched page lists: its title, the links kept (in page order), and what the
    selector found (``regions`` elements holding ``anchors`` links), to explain an empty one."""

    title: str
    links: tuple[Link, ...]
    regions: int
    anchors: int
    truncated: bool = False  # more than MAX_LINKS links (or MAX_ANCHORS anchors): the rest left


def compile_selector(selector: str) -> str:
    """The XPath of a CSS selector; ParseError (naming it) when it is not valid CSS."""
    try:
        return GenericTranslator().css_to_xpath(selector)
    except (SelectorError, ValueError) as e:
        raise ParseError(f"invalid CSS selector {selector!r}: {e}") from e


def check_pages(config: Config) -> None:
    """Every [[pages]] selector and pattern compiles; else ConfigError naming the key. The
    rest of config.toml is checked when it is read: selectors here, where cssselect is."""
    for i, page in enumerate(config.pages):
        for key, value, compile_ in (("selector", page.selector, compile_selector),
                                     ("pattern", page.pattern, compile_pattern)):
            try:
                if value:
                    compile_(value)
            except ParseError as e:
                raise ConfigError(str(e), path=str(config.path), key=f"pages[{i}].{key}") from None


def compile_pattern(pattern: str) -> Callable[[str], bool] | None:
    """A link pattern as a test on absolute URLs; None for no pattern. ``re:...`` is a regular
    expression searched in the URL; anything else a glob (``*`` any run of characters) matched
    against the whole URL, or against its path and query when it starts with ``/``."""
    pattern = pattern.strip()
    if not pattern:
        return None
    if pattern.startswith("re:"):
        try:
            regex = re.compile(pattern[3:])
        except re.error as e:
            raise ParseError(f"invalid regular expression {pattern[3:]!r}: {e}") from e
        return lambda url: regex.search(url) is not None
    glob = re.compile(fnmatch.translate(pattern))
    if pattern.startswith("/"):
        def on_path(url: str) -> bool:
            parts = urlsplit(url)
            return glob.match(parts.path + (f"?{parts.query}" if parts.query else "")) is not None
        return on_path
    return lambda url: glob.match(url) is not None


def _host(url: str) -> str:
    """The host without "www."; ValueError for a URL no request could be made to."""
    parts = urlsplit(url)
    parts.port  # noqa: B018 - raises ValueError for a port out of range
    host = (parts.hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def is_social(host: str) -> bool:
    """A social site or one of its subdomains (m.facebook.com)."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in SOCIAL_HOSTS for i in range(len(labels) - 1))


BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))


def _charset(content: bytes, headers: dict[str, str]) -> str:
    """A byte-order mark, else the server's charset, else the page's <meta>, else UTF-8 (as
    browsers decide)."""
    for bom, name in BOMS:
        if content.startswith(bom):
            return name
    declared = declared_charset(headers)
    if declared:
        return declared
    found = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", content[:4096], re.I)
    if found:
        try:
            return codecs.lookup(found.group(1).decode("ascii", "replace")).name
        except LookupError:
            pass
    return "utf-8"


def parse_html(content: bytes, headers: dict[str, str], url: str) -> lxml.html.HtmlElement:
    """The page as an lxml tree; ParseError when there is no HTML to read. Decoded here, with
    Python's codecs (libxml2 knows fewer), and handed to lxml as UTF-8."""
    text = content.decode(_charset(content, headers), errors="replace")
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True,
                                  no_network=True)
    try:
        root = lxml.html.document_fromstring(text.encode("utf-8", errors="replace"),
                                             parser=parser)
    except (lxml.etree.LxmlError, ValueError) as e:
        raise ParseError(f"not an HTML page: {e}", url=url) from e
    if not isinstance(root, lxml.html.HtmlElement):
        raise ParseError("not an HTML page", url=url)
    return root


def _text(element: lxml.html.HtmlElement) -> str:
    text = " ".join(element.text_content().split())
    if not text:
        text = " ".join((element.get("title") or element.get("aria-label") or "").split())
    if not text:
        alts = [" ".join((img.get("alt") or "").split()) for img in element.iter("img")]
        text = next((a for a in alts if a), "")
    return text[:500]


def _is_furniture(element: lxml.html.HtmlElement) -> bool:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in FURNITURE or (element.get("role") or "").lower() in FURNITURE_ROLES:
        return True
    names = f"{element.get('class') or ''} {element.get('id') or ''}"
    return bool(names.strip()) and FURNITURE_CLASS.search(names) is not None


class _Furniture:
    """Whether an element sits in navigation (or the like) between a region and itself, each
    element judged once: a page of deeply nested links costs its size, not links x depth."""

    def __init__(self, region: lxml.html.HtmlElement) -> None:
        self.region = region
        self.inside: dict[lxml.html.HtmlElement, bool] = {region: False}
        self.article: dict[lxml.html.HtmlElement, bool] = {}

    def _in_article(self, element: lxml.html.HtmlElement | None) -> bool:
        """Whether ``element`` or one of its ancestors is an <article>."""
        path = []
        while element is not None and element not in self.article:
            path.append(element)
            element = element.getparent()
        found = self.article.get(element, False) if element is not None else False
        for node in reversed(path):
            found = found or node.tag == "article"
            self.article[node] = found
        return found

    def __call__(self, anchor: lxml.html.HtmlElement) -> bool:
        path = []
        node: lxml.html.HtmlElement | None = anchor
        while node is not None and node not in self.inside:
            path.append(node)
            node = node.getparent()
        found = self.inside.get(node, False) if node is not None else False
        for element in reversed(path):
            found = found or _is_furniture(element) or (
                element.tag in PAGE_FURNITURE and not self._in_article(element.getparent()))
            self.inside[element] = found
        return found


def _is_pagination(anchor: lxml.html.HtmlElement, url: str, page_url: str, text: str) -> bool:
    rel = (anchor.get("rel") or "").lower().split()
    if {"next", "prev", "previous", "first", "last"} & set(rel):
        return True
    if text.lower().strip(" .") in PAGINATION_TEXT or text.isdigit():
        return True
    link, page = urlsplit(url), urlsplit(page_url)
    if PAGINATION_PATH.search(link.path):
        return True
    if link.path.rstrip("/") == page.path.rstrip("/") and link.netloc == page.netloc:
        return any(k.lower() in PAGINATION_PARAMS for k, _ in parse_qsl(link.query))
    return False


ITEM_LEVELS = 4  # how far above a link its item's date may be


def _item_date(anchor: lxml.html.HtmlElement, region: lxml.html.HtmlElement) -> dt.datetime | None:
    """The date of the item a link belongs to: the first <time datetime> in the nearest
    enclosing element that has one, provided that element links to one address only (else
    it is the list, not the item)."""
    node = anchor.getparent()
    href = (anchor.get("href") or "").split("#", 1)[0]
    for _ in range(ITEM_LEVELS):
        if node is None:
            return None
        found = node.find(".//time[@datetime]")
        if found is not None:
            own = href.split("?", 1)[0]
            for other in node.iterfind(".//a[@href]"):  # stops at the first other story
                if (other.get("href") or "").split("#", 1)[0].split("?", 1)[0] != own:
                    return None
            return parse_iso_datetime(found.get("datetime") or "")
        if node is region:
            return None
        node = node.getparent()
    return None


def _regions(root: lxml.html.HtmlElement, selector: str) -> list[lxml.html.HtmlElement]:
    if selector:
        found = root.xpath(compile_selector(selector))
        return [e for e in found if isinstance(e, lxml.html.HtmlElement)]
    for candidate in MAIN_REGIONS:
        found = root.xpath(compile_selector(candidate))
        if found:
            return [found[0]]
    body = root.find("body")
    return [body if body is not None else root]


def _anchors(regions: list[lxml.html.HtmlElement]) -> Iterator[
        tuple[_Furniture, lxml.html.HtmlElement]]:
    for region in regions:
        furniture = _Furniture(region)
        for anchor in region.iter("a", "area"):
            yield furniture, anchor


def read_listing(content: bytes, headers: dict[str, str], url: str, *, selector: str = "",
                 pattern: str = "", limit: int = MAX_LINKS) -> Listing:
    """The links of a watched page that would be stories, in page order, each once. ``url``
    is the page's (final) address: relative links are read against it (or its <base>).

    Kept: links in the regions ``selector`` matches (none: the page's main region), on the
    page's own host unless ``pattern`` lets them in, matching ``pattern`` when one is given.
    Left out: links inside nav, aside, menus, the page's header and footer and anything
    classed as navigation, pagination, sharing or a sidebar; rel next/prev; numbered or
    "next" links and the same page with a page parameter; fragments of the page itself;
    links to social sites; anything not http(s)."""
    accept = compile_pattern(pattern)
    root = parse_html(content, headers, url)
    title = " ".join((root.findtext(".//title") or "").split())[:300]
    base = url
    base_element = root.find(".//base[@href]")
    if base_element is not None:
        try:
            base = urljoin(url, (base_element.get("href") or "").strip())
        except ValueError:
            base = url
    regions = _regions(root, selector)
    page_host = _host(url)
    page = canonical_url(url)
    kept: dict[str, Link] = {}
    anchors = 0
    truncated = False
    for in_furniture, anchor in _anchors(regions):
        anchors += 1
        if anchors > MAX_ANCHORS:
            truncated = True
            break
        href = (anchor.get("href") or "").strip()
        if not href or href.startswith("#"):
            continue
        try:
            link = urljoin(base, href).split("#", 1)[0]
            if len(link) > MAX_URL or not link.startswith(("http://", "https://")):
                continue
            if accept is not None and not accept(link):
                continue
            host = _host(link)
        except ValueError:  # "http://[::1", a port out of range: no address at all
            continue
        if not host or (accept is None and host != page_host) or is_social(host):
            continue
        canonical = canonical_url(link)
        if canonical == page:
            continue
        text = _text(anchor)
        if in_furniture(anchor) or _is_pagination(anchor, link, url, text):
            continue
        if text.lower().rstrip(" .…»›>→") in GENERIC_TEXT:
            text = ""
        known = kept.get(canonical)
        if known is not None:
            if len(text) > len(known.title):  # the headline, not the image beside it
                kept[canonical] = Link(known.url, text, known.published)
            continue
        if len(kept) >= limit:
            truncated = True
            break
        kept[canonical] = Link(link, text, _item_date(anchor, in_furniture.region))
    return Listing(title=title, links=tuple(kept.values()), regions=len(regions),
                   anchors=anchors, truncated=truncated)


def empty_reason(listing: Listing, selector: str, pattern: str) -> str:
    """Why a page gave no link, in the analyst's terms."""
    if selector and not listing.regions:
        return (f"the selector {selector!r} matches nothing on the page: its layout changed? "
                "(`monitor pages test URL --selector ...` shows what a selector picks)")
    if not listing.anchors:
        where = f"the region {selector!r}" if selector else "the page's main region"
        return f"no link at all in {where}: its layout changed?"
    if pattern:
        return (f"none of the {listing.anchors} links in the region matches the pattern "
                f"{pattern!r}: its layout or its addresses changed?")
    return (f"none of the {listing.anchors} links in the region is a story (all navigation, "
            "pagination or other sites): its layout changed?")


def listing_entries(content: bytes, headers: dict[str, str], url: str, *, page_url: str,
                    selector: str = "", pattern: str = "") -> tuple[FeedMeta, list[Entry]]:
    """A watched page read as a feed: one Entry per link (its text as the title, the date its
    item shows, else none: the story's page gives it). ``url`` is where the page was fetched from, ``page_url`` the
    watched page as configured (the entries' feed). BrokenListing when no link is left."""
    listing = read_listing(content, headers, url, selector=selector, pattern=pattern)
    if not listing.links:
        raise BrokenListing(empty_reason(listing, selector, pattern), url=page_url)
    problem = None
    if listing.truncated:
        problem = (f"more links than the {len(listing.links)} taken (at most {MAX_LINKS} links "
                   f"and {MAX_ANCHORS} anchors a page): narrow the selector or the pattern")
    entries = [Entry(feed_url=page_url, guid=None, url=link.url, title=link.title, summary="",
                     content="", author="", published=link.published) for link in listing.links]
    return FeedMeta(title=listing.title, link=url, problem=problem), entries
