"""``format = "slack"``: a Slack incoming webhook message in Block Kit. Pure.

Limits, from Slack's documentation, are held by cutting text down, never by a refused message:
- header block: plain_text of at most 150 characters
  (https://docs.slack.dev/reference/block-kit/blocks/header-block);
- section block: text of at most 3,000 characters; at most 10 fields of 2,000 characters each
  (https://api.slack.com/reference/block-kit/blocks#section);
- context block: at most 10 elements (https://api.slack.com/reference/block-kit/blocks#context);
- at most 50 blocks in a message (https://api.slack.com/reference/block-kit/blocks);
- "&", "<" and ">" are control characters in mrkdwn and must be sent as &amp; &lt; &gt;
  (https://api.slack.com/reference/surfaces/formatting#escaping), which also turns a <!channel>
  or <@U123> from a feed into plain text. A plain "@channel" does not notify from a webhook
  unless link_names is set (it is not), and gets a zero-width space after its "@" anyway.
"""

from __future__ import annotations

from typing import Any

from monitor.models import Alert, Digest
from monitor.notify.chat import (ZWSP, digest_title, facts, fit, group_by_rule, headline,
                                 main_rule, more_note, opening, rule_lines, safe_url, units)

# Block Kit's documented limits, in characters (or fields, elements and blocks).
HEADER_MAX, SECTION_MAX, FIELD_MAX = 150, 3000, 2000
FIELDS_MAX, CONTEXT_ELEMENTS_MAX, BLOCKS_MAX = 10, 10, 50
TEXT_MAX = 3000  # the notification fallback; Slack itself truncates past 40,000
URL_MAX = 2000  # a longer link is left out rather than cut (and broken)


def escape(text: str) -> str:
    """mrkdwn-safe: the three control characters as entities, "@" unable to mention."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("@", "@" + ZWSP))


def plain(text: str) -> str:
    """plain_text is never parsed for mentions or links; "@" and "<" are broken all the same."""
    return text.replace("@", "@" + ZWSP).replace("<", "<" + ZWSP)


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def link(url: str, label: str) -> str:
    """<url|label> with the label escaped, or the label alone when the URL is not http(s)."""
    safe = safe_url(url)
    return f"<{safe}|{label}>" if safe and len(safe) <= URL_MAX else label


def alert_payload(alert: Alert) -> dict[str, Any]:
    title = headline(alert)
    c = alert.clipping
    summary = " · ".join(fit(f"id {v}" if k == "Id" else v, 300, escape)
                         for k, v in facts(alert))
    review = f" · *{link(alert.review_url, 'Review')}*" if safe_url(alert.review_url) else ""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                    "text": fit(title, HEADER_MAX, plain)}},
        {"type": "section", "text": _mrkdwn(fit(
            f"*{link(c.url, 'Read the article')}*{review}" + (f" · {summary}" if summary else ""),
            SECTION_MAX))},
    ]
    fields = [_mrkdwn(fit(f"*{rule}*\n{terms}", FIELD_MAX, escape))
              for rule, terms in rule_lines(alert)[:FIELDS_MAX]]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    text = opening(alert, 1200)
    if text:
        blocks.append({"type": "section", "text": _mrkdwn(fit(text, SECTION_MAX, escape))})
    blocks.append({"type": "context", "elements": [_mrkdwn(fit(
        f"monitor alert {alert.key}", SECTION_MAX, escape))]})
    return {"text": fit(f"[{main_rule(alert)}] {title}", TEXT_MAX, escape), "blocks": blocks,
            "unfurl_links": False, "unfurl_media": False}


def _item(alert: Alert) -> str:
    details = ", ".join(v for k, v in facts(alert) if k in ("Source", "Date"))
    label = fit(headline(alert), 200, escape)
    return f"• {link(alert.clipping.url, label)}" + (f" — {fit(details, 200, escape)}"
                                                      if details else "")


def digest_payload(digest: Digest) -> dict[str, Any]:
    title = digest_title(digest)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                    "text": fit(title, HEADER_MAX, plain)}}]
    room = BLOCKS_MAX - len(blocks) - 1  # one kept for the "… and N more" note
    shown = 0
    groups = group_by_rule(digest)
    for index, (rule, alerts) in enumerate(groups):
        share = room // (len(groups) - index)  # every rule gets its turn; unused room rolls on
        if share < 2:  # a heading and at least one section
            continue
        group = [{"type": "section", "text": _mrkdwn(fit(
            f"*{rule}*: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}", SECTION_MAX,
            escape))}]
        lines: list[str] = []
        for alert in alerts:
            line = _item(alert)
            if lines and units("\n".join([*lines, line])) > SECTION_MAX:
                if len(group) + 1 >= share:
                    break
                group.append({"type": "section", "text": _mrkdwn("\n".join(lines))})
                lines = []
            lines.append(line)
            shown += 1
        if lines:
            group.append({"type": "section", "text": _mrkdwn("\n".join(lines))})
        blocks += group
        room -= len(group)
    note = more_note(len(digest.alerts) - shown)
    blocks.append({"type": "context", "elements": [_mrkdwn(escape(
        note or f"monitor digest {digest.key}"))]})
    return {"text": fit(title, TEXT_MAX, escape), "blocks": blocks,
            "unfurl_links": False, "unfurl_media": False}
