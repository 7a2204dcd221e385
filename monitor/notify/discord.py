"""``format = "discord"``: a Discord webhook message with embeds. Pure.

Limits, from Discord's documentation, held by cutting text down:
- Execute Webhook: content of at most 2,000 characters, at most 10 embeds, and an
  ``allowed_mentions`` object (https://discord.com/developers/docs/resources/webhook#execute-webhook);
  ``{"parse": []}`` means no @everyone, @here, role or user mention in the message can ping
  (https://discord.com/developers/docs/resources/message#allowed-mentions-object);
- embed limits: title 256, description 4,096, at most 25 fields, field name 256, field value
  1,024, footer text 2,048, author name 256, and 6,000 characters in all across every embed of
  a message (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
Lengths are counted in UTF-16 code units (chat.units), the strictest reading.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from monitor.models import Alert, Digest
from monitor.notify.chat import (defuse, digest_line, digest_title, facts, fit, group_by_rule, headline,
                                 md_escape, more_note, opening, rule_lines, safe_url, units)

# Discord's documented limits, in characters (or embeds and fields).
CONTENT_MAX, EMBEDS_MAX, TITLE_MAX, DESCRIPTION_MAX = 2000, 10, 256, 4096
FIELDS_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX, FOOTER_MAX, TOTAL_MAX = 25, 256, 1024, 2048, 6000
COLOR = 0xB03A2E
NO_MENTIONS: dict[str, list[str]] = {"parse": []}


def _timestamp(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat()


def embed_size(embed: dict[str, Any]) -> int:
    """The characters Discord counts against the 6,000 of a message."""
    size = units(embed.get("title", "")) + units(embed.get("description", ""))
    size += units(embed.get("footer", {}).get("text", ""))
    size += units(embed.get("author", {}).get("name", ""))
    size += sum(units(f["name"]) + units(f["value"]) for f in embed.get("fields", []))
    return size


def alert_payload(alert: Alert) -> dict[str, Any]:
    embed: dict[str, Any] = {"type": "rich", "title": fit(headline(alert), TITLE_MAX, defuse),
                             "color": COLOR, "timestamp": _timestamp(alert.created_at)}
    url = safe_url(alert.clipping.url)
    if url and len(url) <= 2000:
        embed["url"] = url
    fields = [{"name": fit(rule, FIELD_NAME_MAX, defuse),
               "value": fit(terms or "-", FIELD_VALUE_MAX, md_escape), "inline": False}
              for rule, terms in rule_lines(alert)]
    review = safe_url(alert.review_url)
    if review and len(review) <= 1000:  # first: with many rules, the last fields are cut
        fields.insert(0, {"name": "Review", "value": f"[Open the story]({review})",
                          "inline": False})
    fields += [{"name": name, "value": fit(value, FIELD_VALUE_MAX, md_escape), "inline": True}
               for name, value in facts(alert)]
    embed["fields"] = fields[:FIELDS_MAX]
    embed["footer"] = {"text": fit(f"monitor alert {alert.key}", FOOTER_MAX, defuse)}
    room = TOTAL_MAX - embed_size(embed)
    text = opening(alert, 1500)
    if text and room > 100:
        embed["description"] = fit(text, min(DESCRIPTION_MAX, room), md_escape)
    return {"content": "", "embeds": [embed], "allowed_mentions": NO_MENTIONS}


def _item(alert: Alert) -> str:
    return digest_line(alert, "•", md_escape, md_escape)


def digest_payload(digest: Digest) -> dict[str, Any]:
    """One embed per rule (at most 10), each listing its stories, within the 6,000 in all."""
    embeds: list[dict[str, Any]] = []
    budget = TOTAL_MAX - 300  # the footer, with its "… and N more" note
    shown = 0
    groups = group_by_rule(digest)[:EMBEDS_MAX]
    for index, (rule, alerts) in enumerate(groups):
        share = budget // (len(groups) - index)  # every rule gets its turn; unused room rolls on
        title = fit(f"{rule}: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}", TITLE_MAX,
                    defuse)
        used = units(title)
        lines: list[str] = []
        for alert in alerts:
            line = _item(alert)
            cost = units(line) + 1
            if used + cost > share or sum(units(x) + 1 for x in lines) + cost > DESCRIPTION_MAX:
                break
            lines.append(line)
            used += cost
        if lines:
            embeds.append({"type": "rich", "title": title, "description": "\n".join(lines),
                           "color": COLOR})
            budget -= used
            shown += len(lines)
    note = more_note(len(digest.alerts) - shown)
    footer = fit(f"monitor digest {digest.key}" + (f" · {note}" if note else ""), 250, defuse)
    if embeds:
        embeds[-1]["footer"] = {"text": footer}
    content = fit(digest_title(digest) + ("" if embeds else f"\n{note}"), CONTENT_MAX, defuse)
    return {"content": content, "embeds": embeds, "allowed_mentions": NO_MENTIONS}
