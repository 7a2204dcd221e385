"""Alert -> what each channel sends: the webhook JSON payload, the email subject, text and HTML.

Pure functions, no I/O. Every field that comes from a feed is treated as hostile: collapsed to
one line where it reaches a header, HTML-escaped where it reaches HTML, so that no feed can use
an alert to inject a header or markup.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import urlsplit

from monitor.clipping import format_date, render as render_clipping
from monitor.models import Alert, Match, short_id
from monitor.safetext import unsafe

PAYLOAD_VERSION = 1
PAYLOAD_TYPE = "monitor.alert"
EXCERPT_CHARS = 1000
SUBJECT_MAX = 200  # characters; RFC 5322 allows more, but mail clients show ~80
_SUBJECT_PART_MAX = 60  # rule name and source each; the title gets the rest
PARAGRAPHS_CHARS = 1200
PARAGRAPHS_MAX = 4

# C0, DEL, C1, Unicode line/paragraph separators and the bidi embedding/override/isolate
# controls (which can make a subject read backwards): never allowed in a one-line field.
_CONTROLS = unsafe()
_SPACES = re.compile(r"\s+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_IMAGE_ONLY = re.compile(r"!\[[^\]]*\]\([^)]*\)")


def one_line(value: str) -> str:
    """Controls and every run of whitespace collapsed to one space, ends stripped."""
    return _SPACES.sub(" ", _CONTROLS.sub(" ", value)).strip()


def no_encoded_words(value: str) -> str:
    """``value`` with no RFC 2047 encoded word (``=?utf-8?b?...?=``) left in it. The email
    package decodes one in a header value it is given, and mail clients decode what they
    receive: either way, a feed's title would bring back the controls and bidi overrides that
    one_line removed. A word joiner (invisible) between "=" and "?" keeps the text as written."""
    return value.replace("=?", "=\u2060?")


def shorten(value: str, limit: int) -> str:
    """``value`` cut to at most ``limit`` characters, at a space if one is near, with an ellipsis."""
    if len(value) <= limit:
        return value
    cut = value[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def ranked_matches(alert: Alert) -> list[Match]:
    """The rules that fired, highest score first (ties keep the alert's order)."""
    return sorted(alert.matches, key=lambda m: -m.score)


def term_texts(match: Match) -> list[str]:
    """The matched terms as found, without repeats (case-insensitive), in order of appearance."""
    seen: dict[str, str] = {}
    for term in match.terms:
        text = one_line(term.text)
        if text:
            seen.setdefault(text.casefold(), text)
    return list(seen.values())


def excerpt(body: str, limit: int = EXCERPT_CHARS) -> str:
    """The first ~``limit`` characters of the body (markdown, as stored)."""
    return shorten(body.strip(), limit)


def first_paragraphs(body: str, limit: int = PARAGRAPHS_CHARS,
                     count: int = PARAGRAPHS_MAX) -> list[str]:
    """The opening paragraphs of the body, images left out, about ``limit`` characters in all."""
    chosen: list[str] = []
    used = 0
    for block in _PARAGRAPH_BREAK.split(body.replace("\r\n", "\n")):
        text = "\n".join(_CONTROLS.sub(" ", line).rstrip() for line in block.strip().split("\n"))
        if not text or _IMAGE_ONLY.fullmatch(text):
            continue
        if chosen and used + len(text) > limit:
            break
        chosen.append(shorten(text, limit))
        used += len(text)
        if len(chosen) >= count:
            break
    return chosen


def _iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:  # the store writes UTC
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat()


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The webhook JSON payload, version 1 (documented in docs/webhook.md)."""
    c = alert.clipping
    return {
        "version": PAYLOAD_VERSION,
        "type": PAYLOAD_TYPE,
        "id": alert.key,
        "created_at": _iso(alert.created_at),
        "notifier": alert.notifier,
        # The story's page on the review site ([review] base_url), null when none is set.
        "review_url": alert.review_url or None,
        "clipping": {
            "id": alert.clipping_id,
            "short_id": short_id(alert.clipping_id),
            "title": c.title,
            "standfirst": c.standfirst,
            "source": c.source,
            "url": c.url,
            "date": c.date.isoformat() if c.date else None,
            "author": c.author,
            "tags": list(c.tags),
            "excerpt": excerpt(c.body),
            "origin": alert.origin,
            "text": render_clipping(c),
        },
        "rules": [
            {"rule": m.rule, "score": m.score, "terms": term_texts(m), "tags": list(m.tags),
             "watches": list(m.watches)}
            for m in ranked_matches(alert)
        ],
        # The [[watch]] names the story named, and the title an alert of ours shows.
        "watches": watched(alert),
        "subject": email_subject(alert),
        # The story (one per event) and every outlet that reported it so far.
        "story": {
            "id": alert.story_id,
            "update": alert.update,
            "sources": [{"clipping_id": s.clipping_id, "source": s.source, "title": s.title,
                         "url": s.url, "date": s.date.isoformat() if s.date else None}
                        for s in alert.sources],
        },
    }


def story_sources(alert: Alert) -> list[tuple[str, str]]:
    """(source, url) of every outlet of the alert's story, one line each, in the order they
    reported it; empty for a story of one clipping."""
    if len(alert.sources) < 2:
        return []
    return [(one_line(s.source) or one_line(s.title) or "(unnamed)", one_line(s.url))
            for s in alert.sources]


def update_prefix(alert: Alert) -> str:
    return "Update: " if alert.update else ""


def watched(alert: Alert) -> list[str]:
    """The [[watch]] names the story named, paired with a rule that fired, best rule first."""
    names = dict.fromkeys(one_line(w) for m in ranked_matches(alert) for w in m.watches)
    return [n for n in names if n]


def watch_prefix(alert: Alert) -> str:
    """``[Watch: Premier League] `` before an alert's title, when it names a watched name."""
    names = watched(alert)
    return f"[Watch: {shorten(', '.join(names), _SUBJECT_PART_MAX)}] " if names else ""


def alert_title(alert: Alert) -> str:
    """The alert's title on one line: the watched names, "Update: ", the story's title."""
    return watch_prefix(alert) + update_prefix(alert) + (one_line(alert.clipping.title)
                                                         or "(untitled)")


def email_subject(alert: Alert) -> str:
    """``[Watch: {names}] [{rule}] {title} — {source}`` (the watch only when the story names
    one): one line, no control characters, at most SUBJECT_MAX."""
    matches = ranked_matches(alert)

    def clean(value: str) -> str:
        return no_encoded_words(one_line(value))

    rule = shorten(clean(matches[0].rule), _SUBJECT_PART_MAX) if matches else ""
    source = shorten(clean(alert.clipping.source), _SUBJECT_PART_MAX)
    prefix = f"{no_encoded_words(watch_prefix(alert))}[{rule or 'monitor'}] "
    suffix = f" — {source}" if source else ""
    title = shorten(update_prefix(alert) + (clean(alert.clipping.title) or "(untitled)"),
                    SUBJECT_MAX - len(prefix) - len(suffix))
    return prefix + title + suffix


def _link(url: str) -> str | None:
    """The URL if it is safe to offer as a link (http or https), else None."""
    url = one_line(url)
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def _facts(alert: Alert) -> list[tuple[str, str]]:
    c = alert.clipping
    return [("Id", short_id(alert.clipping_id)), ("Source", one_line(c.source)),
            ("Date", format_date(c.date)), ("Author", one_line(c.author)),
            ("Link", one_line(c.url)), ("Review", one_line(alert.review_url))]


def email_text(alert: Alert) -> str:
    """The plain-text part: the story's facts, the rules and terms, the opening paragraphs."""
    c = alert.clipping
    lines = [alert_title(alert)]
    if c.standfirst:
        lines.append(one_line(c.standfirst))
    lines.append("")
    lines += [f"{label + ':':<8}{value}" for label, value in _facts(alert) if value]
    sources = story_sources(alert)
    if sources:
        lines += ["", f"Reported by {len(sources)} sources:"]
        lines += [f"- {name}: {url}" for name, url in sources]
    lines += ["", "Rules:"]
    for m in ranked_matches(alert):
        lines.append(f"- {one_line(m.rule)} (score {m.score:g}): {', '.join(term_texts(m))}")
        if m.tags:
            lines.append(f"  tags: {', '.join(one_line(t) for t in m.tags)}")
    for paragraph in first_paragraphs(c.body):
        lines += ["", paragraph]
    lines += ["", "-- ",
              f"monitor alert {one_line(alert.key)}; the full clipping is attached as "
              f"{attachment_name(alert)}."]
    return "\n".join(lines) + "\n"


def highlight(text: str, terms: list[str]) -> str:
    """``text`` HTML-escaped, each occurrence of a matched term (any case) in <mark>."""
    wanted = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not wanted:
        return html.escape(text)
    pattern = re.compile("|".join(re.escape(t) for t in wanted), re.IGNORECASE)
    out: list[str] = []
    last = 0
    for found in pattern.finditer(text):
        out.append(html.escape(text[last:found.start()]))
        out.append(f"<mark>{html.escape(found.group(0))}</mark>")
        last = found.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def email_html(alert: Alert) -> str:
    """The HTML part, with every feed-derived field escaped and only http(s) links; the
    matched terms are highlighted where they occur in the opening paragraphs."""
    e = html.escape
    c = alert.clipping
    found = [t for m in alert.matches for t in term_texts(m)]
    link = _link(c.url)
    title = e(alert_title(alert))
    parts = ['<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>',
             '<body style="font-family: sans-serif; max-width: 40em">',
             f'<h2><a href="{e(link)}">{title}</a></h2>' if link else f"<h2>{title}</h2>"]
    if c.standfirst:
        parts.append(f"<p><em>{e(one_line(c.standfirst))}</em></p>")
    parts.append("<table>")
    for label, value in _facts(alert):
        if not value:
            continue
        target = link if label == "Link" else _link(value) if label == "Review" else None
        cell = f'<a href="{e(target)}">{e(value)}</a>' if target else e(value)
        parts.append(f"<tr><th align=\"left\">{label}</th><td>{cell}</td></tr>")
    sources = story_sources(alert)
    if sources:
        parts.append('<tr><th align="left">Sources</th><td>')
        parts.append("<br>\n".join(
            f'<a href="{e(_link(url) or "")}">{e(name)}</a>' if _link(url) else e(name)
            for name, url in sources))
        parts.append("</td></tr>")
    parts.append("</table>\n<ul>")
    for m in ranked_matches(alert):
        terms = ", ".join(f"<mark>{e(t)}</mark>" for t in term_texts(m))
        tags = f"<br>tags: {e(', '.join(one_line(t) for t in m.tags))}" if m.tags else ""
        parts.append(f"<li><strong>{e(one_line(m.rule))}</strong> (score {m.score:g}): "
                     f"{terms}{tags}</li>")
    parts.append("</ul>")
    for paragraph in first_paragraphs(c.body):
        lines = paragraph.split("\n")
        if all(line.startswith(">") for line in lines):  # a markdown quote
            quoted = "<br>\n".join(highlight(line[1:].strip(), found)
                                   for line in lines if line[1:].strip())
            parts.append(f"<blockquote>{quoted}</blockquote>")
        else:
            parts.append("<p>" + "<br>\n".join(highlight(line, found) for line in lines) + "</p>")
    parts.append(f"<hr><p><small>monitor alert {e(one_line(alert.key))}; the full clipping is "
                 f"attached as {e(attachment_name(alert))}.</small></p>\n</body></html>")
    return "\n".join(parts) + "\n"


def attachment_name(alert: Alert) -> str:
    """``<clipping_id>.md``, reduced to characters safe in any filename."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", alert.clipping_id).strip(".") or "clipping"
    return f"{stem}.md"
