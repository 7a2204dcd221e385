"""Digest -> the JSON payload and the email of a digest: several alerts in one
message, grouped by rule, newest first. Pure; the chat formats render digests in their modules.
"""

from __future__ import annotations

import html
from typing import Any

from monitor.models import Alert, Digest, short_id
from monitor.notify.chat import digest_title, group_by_rule
from monitor.notify.render import (PAYLOAD_VERSION, SUBJECT_MAX, _iso, _link, alert_payload,
                                   no_encoded_words, one_line, ranked_matches, shorten,
                                   term_texts, watch_prefix)

DIGEST_TYPE = "monitor.digest"


def _summary(alert: Alert) -> dict[str, Any]:
    """An alert's payload without the full clipping text (the excerpt stays): a digest of 60
    stories stays a message, not a book; `monitor show ID` has the rest."""
    payload = alert_payload(alert)
    payload["clipping"].pop("text", None)
    return payload


def digest_payload(digest: Digest) -> dict[str, Any]:
    """The webhook JSON of a digest (docs/webhook.md, "Digests")."""
    return {
        "version": PAYLOAD_VERSION,
        "type": DIGEST_TYPE,
        "id": digest.key,
        "created_at": _iso(digest.created_at),
        "notifier": digest.notifier,
        "reason": digest.reason,
        "count": len(digest.alerts),
        "groups": [{"rule": rule, "count": len(alerts), "alerts": [_summary(a) for a in alerts]}
                   for rule, alerts in group_by_rule(digest)],
    }


def digest_subject(digest: Digest) -> str:
    """``[digest] 60 alerts: piracy-enforcement (58), other (2)``, one line, bounded."""
    count = len(digest.alerts)
    groups = ", ".join(f"{one_line(rule)} ({len(alerts)})" for rule, alerts in group_by_rule(digest))
    return shorten(no_encoded_words(f"[digest] {count} alert{'s' if count != 1 else ''}: {groups}"),
                   SUBJECT_MAX)


def _details(alert: Alert) -> str:
    c = alert.clipping
    parts = [short_id(alert.clipping_id), one_line(c.source), c.date.isoformat() if c.date else ""]
    return ", ".join(p for p in parts if p)


def _title(alert: Alert) -> str:
    """The story's title, after its watched names ("[Watch: Premier League] ")."""
    return watch_prefix(alert) + (one_line(alert.clipping.title) or "(untitled)")


def _terms(alert: Alert) -> list[str]:
    matches = ranked_matches(alert)
    return term_texts(matches[0]) if matches else []


def digest_text(digest: Digest) -> str:
    lines = [digest_title(digest), ""]
    for rule, alerts in group_by_rule(digest):
        lines += [f"{one_line(rule)} ({len(alerts)})", "=" * min(60, len(one_line(rule)) + 6)]
        for alert in alerts:
            lines.append(f"- {shorten(_title(alert), 300)}")
            details = _details(alert)
            if details:
                lines.append(f"  {shorten(details, 200)}")
            if alert.clipping.url:
                lines.append(f"  {shorten(one_line(alert.clipping.url), 1000)}")
            if alert.review_url:
                lines.append(f"  review: {shorten(one_line(alert.review_url), 1000)}")
            terms = _terms(alert)
            if terms:
                lines.append(f"  terms: {shorten(', '.join(terms), 300)}")
        lines.append("")
    lines += ["-- ", f"monitor digest {one_line(digest.key)}; `monitor show ID` prints a "
              "clipping, `monitor list --flagged` lists them."]
    return "\n".join(lines) + "\n"


def digest_html(digest: Digest) -> str:
    e = html.escape
    parts = ['<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>',
             '<body style="font-family: sans-serif; max-width: 48em">',
             f"<h2>{e(digest_title(digest))}</h2>"]
    for rule, alerts in group_by_rule(digest):
        parts.append(f"<h3>{e(one_line(rule))} ({len(alerts)})</h3>\n<ul>")
        for alert in alerts:
            title = e(shorten(_title(alert), 300))
            link = _link(alert.clipping.url)
            head = f'<a href="{e(link)}">{title}</a>' if link else title
            details = e(shorten(_details(alert), 200))
            terms = ", ".join(f"<mark>{e(t)}</mark>" for t in _terms(alert))
            review = _link(alert.review_url)
            if review:
                details += f' — <a href="{e(review)}">review</a>'
            parts.append(f"<li>{head}" + (f" — {details}" if details else "")
                         + (f"<br><small>{terms}</small>" if terms else "") + "</li>")
        parts.append("</ul>")
    parts.append(f"<hr><p><small>monitor digest {e(one_line(digest.key))}</small></p>\n"
                 "</body></html>")
    return "\n".join(parts) + "\n"
