"""What the chat formats share: feed text made harmless and cut to a service's limits.

Pure functions. Every field from a feed is hostile: it may hold a mention that pings a whole
channel (@channel, @here, @everyone, Slack's <!channel>, <@U123>), markdown that makes a link or
an image of the attacker's choosing, or 5,000 characters. Each format module (slack, discord,
teams, mattermost) builds its payload from these helpers, and a payload over a service's limit is
cut down, never refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from monitor.models import Alert, Digest, short_id
from monitor.notify.render import (alert_title, first_paragraphs, one_line, ranked_matches,
                                   shorten, term_texts)

ZWSP = "\u200b"  # zero-width space: invisible, but breaks the syntax of a mention or a link


def units(text: str) -> int:
    """Length in UTF-16 code units, the strictest way services count (Discord does): an emoji
    counts two, so a text within this length is within the limit however the service counts."""
    return len(text.encode("utf-16-le")) // 2


def defuse(text: str) -> str:
    """Mentions and markdown links/images made inert: "@channel" -> "@\u200bchannel",
    "<!here>" -> "<\u200b!here>", "[x](http://evil)" -> "[x]\u200b(http://evil)"."""
    return (text.replace("@", "@" + ZWSP).replace("<", "<" + ZWSP)
            .replace("](", "]" + ZWSP + "("))


_MD_SPECIAL = re.compile(r"([\\`*_~|\[\]#>])")


def md_escape(text: str) -> str:
    """Markdown emphasis, code, headings, quotes and link brackets shown as typed (CommonMark
    backslash escapes, understood by Discord and Mattermost), after ``defuse``."""
    return _MD_SPECIAL.sub(r"\\\1", defuse(text))


def fit(text: str, limit: int, transform: Callable[[str], str] = lambda s: s) -> str:
    """``transform(text)`` cut at a word with an ellipsis so that it is at most ``limit`` UTF-16
    code units long; the cut is made before the transform, so no escape is split in two."""
    cut = limit
    while cut > 0:
        out = transform(shorten(text, cut))
        if units(out) <= limit:
            return out
        cut -= max(1, (units(out) - limit + 1) // 2)
    return ""


def safe_url(url: str) -> str | None:
    """An http(s) URL fit to put in a link of any markup (characters that end a link or a
    Slack <url|text> percent-encoded), or None for anything else (javascript:, data:...)."""
    url = one_line(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    for char, code in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E"),
                       ("|", "%7C"), ('"', "%22"), ("[", "%5B"), ("]", "%5D")):
        url = url.replace(char, code)
    return url


def headline(alert: Alert) -> str:
    """The story's title on one line, after its watched names and "Update: " (a later report
    of a story already alerted); raw: each format escapes it its own way."""
    return alert_title(alert)


def main_rule(alert: Alert) -> str:
    matches = ranked_matches(alert)
    return one_line(matches[0].rule) if matches else "monitor"


def rule_lines(alert: Alert) -> list[tuple[str, str]]:
    """(rule with score, matched terms) for every rule that fired, raw text."""
    return [(f"{one_line(m.rule)} (score {m.score:g})", ", ".join(term_texts(m)))
            for m in ranked_matches(alert)]


def opening(alert: Alert, limit: int) -> str:
    """The first paragraphs of the story, one blank line apart, about ``limit`` characters."""
    return "\n\n".join(first_paragraphs(alert.clipping.body, limit=limit, count=3))


def facts(alert: Alert) -> list[tuple[str, str]]:
    """The short id (what `monitor show` takes), source, date and author, raw text, the empty
    ones left out."""
    c = alert.clipping
    pairs = [("Id", short_id(alert.clipping_id)), ("Source", one_line(c.source)),
             ("Date", c.date.isoformat() if c.date else ""), ("Author", one_line(c.author))]
    if len(alert.sources) > 1:  # every outlet of the story
        names = dict.fromkeys(one_line(s.source) or "(unnamed)" for s in alert.sources)
        pairs.append(("Sources", f"{len(alert.sources)}: " + ", ".join(names)))
    return [(k, v) for k, v in pairs if v]


def digest_line(alert: Alert, bullet: str, label_escape: Callable[[str], str],
                details_escape: Callable[[str], str]) -> str:
    """One story of a markdown digest: its headline linked to the article, source and date."""
    label = fit(headline(alert), 200, label_escape)
    url = safe_url(alert.clipping.url)
    details = ", ".join(v for k, v in facts(alert) if k in ("Source", "Date"))
    line = f"{bullet} [{label}]({url})" if url and len(url) <= 1000 else f"{bullet} {label}"
    return line + (f" — {fit(details, 200, details_escape)}" if details else "")


def group_by_rule(digest: Digest) -> list[tuple[str, list[Alert]]]:
    """The digest's alerts grouped under the rule that scored highest for each; groups largest
    first, then by name; within a group the digest's order (newest first) is kept."""
    groups: dict[str, list[Alert]] = {}
    for alert in digest.alerts:
        groups.setdefault(main_rule(alert), []).append(alert)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


def digest_title(digest: Digest) -> str:
    count = len(digest.alerts)
    why = " (too many at once for one message each)" if digest.reason == "flood" else ""
    return f"monitor digest: {count} alert{'s' if count != 1 else ''}{why}"


def more_note(left: int) -> str:
    return f"… and {left} more (see `monitor alerts`)" if left else ""
