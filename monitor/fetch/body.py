"""A fetched page's body as text for the extractor: the declared charset, byte-order marks.

Pure and free of the HTTP libraries, so the extraction worker processes can use it without
loading them.
"""

from __future__ import annotations

import codecs
import re

from monitor.models import FetchResult


def declared_charset(headers: dict[str, str]) -> str | None:
    """The charset of a Content-Type header, when Python knows it."""
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", headers.get("content-type", ""), re.I)
    if not match:
        return None
    try:
        return codecs.lookup(match.group(1)).name
    except LookupError:
        return None


def page_text(result: FetchResult) -> bytes | str:
    """An HTML page for the extractor: decoded with the charset the server declared (which
    wins over a <meta> tag, as in browsers; a byte-order mark wins over both), else the
    bytes, for the extractor to sniff."""
    charset = declared_charset(result.headers)
    if charset is None or result.content.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
                                                      codecs.BOM_UTF16_BE)):
        return result.content
    return result.content.decode(charset, errors="replace")
