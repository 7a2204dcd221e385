"""``format = "teams"``: an Adaptive Card for a Microsoft Teams Workflows webhook. Pure.

The Workflows template "Send webhook alerts to a channel" (trigger "When a Teams webhook request
is received") takes a message whose attachments hold an Adaptive Card
(https://learn.microsoft.com/en-us/connectors/teams/#microsoft-teams-webhook). The one documented
limit is the size of the message: about 28 KB, larger ones fail with "request entity too large"
(https://learn.microsoft.com/en-us/connectors/teams/ "Known issues and limitations";
https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook).
Payloads are kept under PAYLOAD_MAX bytes of UTF-8 JSON by cutting text and dropping list items.
A mention in Teams needs an <at> tag *and* an msteams entity; no entity is ever sent, and feed
text is defused all the same (chat.defuse). Card version 1.4, which Teams renders on desktop,
web and mobile.
"""

from __future__ import annotations

import json
from typing import Any

from monitor.models import Alert, Digest
from monitor.notify.chat import (defuse, digest_line, digest_title, facts, fit, group_by_rule, headline,
                                 more_note, opening, rule_lines, safe_url)

PAYLOAD_MAX = 26_000  # bytes of JSON, under the documented ~28 KB with room for the envelope
TITLE_MAX = 300  # no documented limit for a TextBlock; a headline longer than this is noise
FACT_MAX = 500
# A longer article URL (a feed may give one of megabytes) gets no button: cut, it would lead
# nowhere. 2048: what browsers and most services accept.
URL_MAX = 2048
CARD_VERSION = "1.4"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


def size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _message(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    card: dict[str, Any] = {"$schema": SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION,
                            "body": body}
    if actions:
        card["actions"] = actions
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": card}]}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _open(url: str, title: str = "Read the article") -> list[dict[str, Any]]:
    safe = safe_url(url)
    if not safe or len(safe) > URL_MAX:
        return []
    return [{"type": "Action.OpenUrl", "title": title, "url": safe}]


def alert_payload(alert: Alert) -> dict[str, Any]:
    pairs = facts(alert) + [(rule, terms) for rule, terms in rule_lines(alert)]
    body = [
        _text(fit(headline(alert), TITLE_MAX, defuse), weight="Bolder", size="Medium"),
        {"type": "FactSet", "facts": [{"title": fit(k, 100, defuse),
                                       "value": fit(v or "-", FACT_MAX, defuse)}
                                      for k, v in pairs]},
    ]
    footer = _text(fit(f"monitor alert {alert.key}", 200, defuse), isSubtle=True, size="Small")
    actions = _open(alert.clipping.url) + _open(alert.review_url, "Review")
    text = opening(alert, 1500)
    if text:
        body.append(_text(fit(text, 2000, defuse)))
    payload = _message([*body, footer], actions)
    while size(payload) > PAYLOAD_MAX and len(body) > 1:  # the opening text goes first
        body.pop()
        payload = _message([*body, footer], actions)
    return payload


def _label(text: str) -> str:
    """Link text: square brackets would end the markdown link early."""
    return defuse(text).replace("[", "(").replace("]", ")")


def _item(alert: Alert) -> str:
    return digest_line(alert, "-", _label, defuse)


def digest_payload(digest: Digest) -> dict[str, Any]:
    body: list[dict[str, Any]] = [_text(fit(digest_title(digest), TITLE_MAX, defuse),
                                        weight="Bolder", size="Medium")]
    shown = 0
    budget = PAYLOAD_MAX - size(_message(body, [])) - 400  # the note and the footer
    groups = group_by_rule(digest)
    for index, (rule, alerts) in enumerate(groups):
        share = budget // (len(groups) - index)  # every rule gets its turn; unused room rolls on
        heading = _text(fit(f"**{rule}**: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}",
                            300, defuse), spacing="Medium")
        cost = size(heading) + 60  # and the TextBlock that holds the lines
        lines: list[str] = []
        for alert in alerts:
            line = _item(alert)
            line_cost = len(json.dumps(line, ensure_ascii=False).encode("utf-8"))
            if cost + line_cost > share:
                break
            lines.append(line)
            cost += line_cost
        if lines:
            body += [heading, _text("\n".join(lines))]
            budget -= cost
            shown += len(lines)
    note = more_note(len(digest.alerts) - shown)
    body.append(_text(fit(note or f"monitor digest {digest.key}", 300, defuse), isSubtle=True,
                      size="Small"))
    return _message(body, [])
