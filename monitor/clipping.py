"""The clipping text format (see seeds/): build, render and parse ``Clipping`` records.

Pure functions, no I/O. ``make_clipping`` normalises fields so that ``parse(render(c)) == c``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from urllib.parse import quote

from monitor.errors import ClippingError
from monitor.models import Clipping

MONTHS = ("January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December")

# C0, DEL, C1 and the Unicode line/paragraph separators: anything that could end a line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_DATE = re.compile(r"([A-Z][a-z]+) (\d{1,2}), (\d{1,4})")
_TAG_SEP = re.compile(r"\]\][ \t]+\[\[")
_HEX16 = re.compile(r"[0-9a-f]{16}")
# Blank lines between the body and "#### Tags:", as in the seed.
_BODY_GAP = 4
_TAGS_HEADER = "#### Tags:"


def _single_line(value: str) -> str:
    return _CONTROL.sub(" ", value).strip()


def _url(value: str) -> str:
    # Percent-encode what could end "[article](...)" early or change how markdown reads it;
    # '%' itself is left alone so encoding twice is a no-op.
    return "".join(quote(c, safe="") if c.isspace() or c in "()<>\\" else c
                   for c in _single_line(value))


def _tag(value: str) -> str:
    tag = _single_line(value)
    # Loop: removing one "[[" or "]]" can join brackets into a new one ("[]][" -> "[[").
    while "[[" in tag or "]]" in tag:
        tag = tag.replace("[[", "").replace("]]", "")
    return tag.strip()


def _body(value: str) -> str:
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    return "\n".join(lines[start:])


def make_clipping(*, title: str, standfirst: str = "", source: str = "", url: str = "",
                  date: dt.date | None = None, author: str = "", body: str = "",
                  tags: Iterable[str] = ()) -> Clipping:
    """Build a normalised ``Clipping``: the one way the program makes them."""
    if isinstance(date, dt.datetime):  # a datetime would never equal the parsed date
        date = date.date()
    clean_tags = [_tag(t) for t in tags]
    return Clipping(
        title=_single_line(title),
        standfirst=_single_line(standfirst),
        source=_single_line(source),
        url=_url(url),
        date=date,
        author=_single_line(author),
        body=_body(body),
        tags=tuple(dict.fromkeys(t for t in clean_tags if t)),
    )


def normalise(clipping: Clipping) -> Clipping:
    """Re-normalise an existing record (idempotent)."""
    return make_clipping(title=clipping.title, standfirst=clipping.standfirst,
                         source=clipping.source, url=clipping.url, date=clipping.date,
                         author=clipping.author, body=clipping.body, tags=clipping.tags)


def format_date(date: dt.date | None) -> str:
    """``October 19, 2021``; English whatever the locale, empty for None."""
    return "" if date is None else f"{MONTHS[date.month - 1]} {date.day}, {date.year}"


def render(clipping: Clipping) -> str:
    """The clipping as text, byte for byte in the seed's layout, ending with a newline."""
    c = clipping
    lines = [
        f"# {c.title}",
        f"### {c.standfirst}",
        "",
        "## Information:",
        f"+ Source: {c.source}",
        f"+ Link: [article]({c.url})",
        f"+ Date: {format_date(c.date)}",
        f"+ Author: {c.author}",
        "",
        "",
        "## Article:",
        c.body,
        *[""] * _BODY_GAP,
        _TAGS_HEADER,
        " ".join(f"[[{t}]]" for t in c.tags),
    ]
    return "\n".join(lines) + "\n"


def _field(lines: list[str], index: int, prefix: str, what: str) -> str:
    line = lines[index]
    if line.startswith(prefix):
        return line[len(prefix):]
    if line == prefix.rstrip():  # an editor may have trimmed the space after an empty field
        return ""
    raise ClippingError(f"line {index + 1}: expected {what} starting with {prefix!r}, got {line!r}")


def _fixed(lines: list[str], index: int, expected: str) -> None:
    if lines[index].rstrip() != expected:
        raise ClippingError(f"line {index + 1}: expected {expected!r}, got {lines[index]!r}")


def _blank(lines: list[str], index: int) -> None:
    if lines[index].strip():
        raise ClippingError(f"line {index + 1}: expected a blank line, got {lines[index]!r}")


def _parse_date(value: str, lineno: int) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    m = _DATE.fullmatch(value)
    if m is None or m[1] not in MONTHS:
        raise ClippingError(f"line {lineno}: expected a date like 'October 19, 2021', got {value!r}")
    try:
        return dt.date(int(m[3]), MONTHS.index(m[1]) + 1, int(m[2]))
    except ValueError as e:
        raise ClippingError(f"line {lineno}: impossible date {value!r}: {e}") from e


def _parse_tags(line: str, lineno: int) -> list[str]:
    line = line.strip()
    if not line:
        return []
    if not (line.startswith("[[") and line.endswith("]]")) or len(line) < 4:
        raise ClippingError(f"line {lineno}: expected tags like '[[tag]] [[tag]]', got {line!r}")
    # Tags cannot contain "]]", so the first "]] [[" is always a boundary.
    return _TAG_SEP.split(line[2:-2])


def parse(text: str) -> Clipping:
    """Read a clipping: fixed header lines, body up to the LAST "#### Tags:" line, tags line."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")  # not splitlines(): the body may hold \x0b, \x1c, \u2028...
    if not text.strip():
        raise ClippingError("empty text is not a clipping")
    if len(lines) < 12:
        raise ClippingError(f"too short for a clipping: {len(lines)} lines, expected at least 12")
    title = _field(lines, 0, "# ", "the title")
    standfirst = _field(lines, 1, "### ", "the standfirst")
    _blank(lines, 2)
    _fixed(lines, 3, "## Information:")
    source = _field(lines, 4, "+ Source: ", "the source")
    link = _field(lines, 5, "+ Link: [article](", "the link")
    if not link.endswith(")"):
        raise ClippingError(f"line 6: expected the link to end with ')', got {lines[5]!r}")
    date = _parse_date(_field(lines, 6, "+ Date: ", "the date"), 7)
    author = _field(lines, 7, "+ Author: ", "the author")
    _blank(lines, 8)
    _blank(lines, 9)
    _fixed(lines, 10, "## Article:")
    tags_at = next((i for i in range(len(lines) - 1, 10, -1) if lines[i].rstrip() == _TAGS_HEADER), None)
    if tags_at is None:
        raise ClippingError(f"no {_TAGS_HEADER!r} line after '## Article:'")
    rest = lines[tags_at + 1:]
    if any(line.strip() for line in rest[1:]):
        raise ClippingError(f"line {tags_at + 3}: unexpected text after the tags line")
    tags = _parse_tags(rest[0], tags_at + 2) if rest else []
    return make_clipping(title=title, standfirst=standfirst, source=source, url=link[:-1],
                         date=date, author=author, body="\n".join(lines[11:tags_at]), tags=tags)


def filename(clipping_id_hex: str, n: int) -> str:
    """``NNN_<16 hex>.txt``, e.g. ``000_34fcc89c45c3ecef.txt``."""
    if not _HEX16.fullmatch(clipping_id_hex):
        raise ValueError(f"clipping id must be 16 lowercase hex digits, got {clipping_id_hex!r}")
    if n < 0:
        raise ValueError(f"counter must not be negative, got {n}")
    return f"{n:03d}_{clipping_id_hex}.txt"
