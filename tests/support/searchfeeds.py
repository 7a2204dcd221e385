"""The news-search feeds of tests/data/search with their placeholders filled in, and the wrapped
links the engines write (see tests/data/search/README.md)."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
from pathlib import Path
from urllib.parse import quote

DATA = Path(__file__).resolve().parent.parent / "data" / "search"


def google_article_id(url: str) -> str:
    """A Google News article id of the older kind: a protobuf message (field 1: a number,
    field 4: the URL, a trailing field) in URL-safe base64 without padding."""
    data = url.encode()
    size = bytes([len(data)]) if len(data) < 128 else bytes([len(data) & 0x7F | 0x80, len(data) >> 7])
    message = b"\x08\x13\x22" + size + data + b"\xd2\x01\x00"
    return base64.urlsafe_b64encode(message).decode().rstrip("=")


def bing_click(url: str) -> str:
    """The ``u`` parameter of Bing's /ck/a links: "a1" and the URL in URL-safe base64."""
    return "a1" + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def search_feed(name: str, *, base: str, engine: str, redirect: str = "") -> bytes:
    """The search feed ``name``: its publisher at ``base``, its engine links at ``engine``, its
    link that carries nothing pointing at ``redirect``; dated now."""
    moment = dt.datetime.now(dt.timezone.utc)
    now = email.utils.format_datetime(moment, usegmt=True)
    text = (DATA / name).read_text(encoding="utf-8")
    values = {
        "{base_quoted}": quote(base, safe="").lower(),  # as Bing writes it: %3a%2f%2f
        "{base}": base, "{engine}": engine, "{date_iso}": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "{date}": now,
        "{article_id}": google_article_id(f"{base}/stories/police-arrest-three"),
        "{u_b64}": bing_click(f"{base}/stories/site-streaming-ferme")[2:],
        "{redirect}": redirect,
    }
    for key, value in values.items():
        text = text.replace(key, value)
    return text.encode("utf-8")
