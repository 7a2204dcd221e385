"""A fetched page's body as text for the extractor: the declared charset, byte-order marks.

Pure and free of the HTTP libraries, so the extraction worker processes can use it without
loading them.
"""

from __future__ import annotations

import codecs
import re

from monitor.models import FetchResult


# Python codecs that decode bytes to text but are no document charset: a page declaring one
# gets the same treatment as one declaring a charset Python does not know. (Those that are
# no text encoding at all, such as zlib, rot13, base64 or hex, are told by bytes.decode.)
NOT_CHARSETS = {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"}


def declared_charset(headers: dict[str, str]) -> str | None:
    """The charset of a Content-Type header, when Python knows it as a text encoding."""
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", headers.get("content-type", ""), re.I)
    if not match:
        return None
    try:
        name = codecs.lookup(match.group(1)).name
        # LookupError for the codecs that are no text encoding; a UnicodeError for one that
        # cannot replace what it cannot decode (idna). Empty input would skip the codec.
        b"x".decode(name, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        return None
    return None if name.replace("_", "-") in NOT_CHARSETS else name


def page_text(result: FetchResult) -> bytes | str:
    """An HTML page for the extractor: decoded with the charset the server declared (which
    wins over a <meta> tag, as in browsers; a byte-order mark wins over both), else the
    bytes, for the extractor to sniff (trafilatura: UTF-8, charset_normalizer's guesses,
    then UTF-8 with replacement characters). Never raises, whatever the header says."""
    charset = declared_charset(result.headers)
    if charset is None or result.content.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
                                                      codecs.BOM_UTF16_BE)):
        return result.content
    try:
        return result.content.decode(charset, errors="replace")
    except (UnicodeError, LookupError, ValueError, TypeError):  # a codec refusing "replace"
        return result.content
