"""``format = "mattermost"``: a Mattermost incoming webhook post in markdown. Pure.

Mattermost's incoming webhook takes ``{"text": markdown}``; a post holds at most 16,383
characters on Mattermost Server 5.0 and later (4,000 before), and a longer text is split into
several posts (https://developers.mattermost.com/integrate/webhooks/incoming/). An alert stays
within 4,000 characters, so it is one post on any server; a digest within 16,383.
Mattermost notifies on @channel, @all, @here and @username, and, for Slack compatibility, turns
<!channel> and <!here> into those: feed text is defused (chat.defuse) and markdown-escaped
(chat.md_escape), so neither a mention nor a link or image of the feed's choosing survives.
"""

from __future__ import annotations

from typing import Any

from monitor.models import Alert, Digest
from monitor.notify.chat import (digest_title, facts, fit, group_by_rule, headline, md_escape,
                                 more_note, opening, rule_lines, safe_url, units)

ALERT_MAX = 4000
TEXT_MAX = 16383


def _link(label: str, url: str) -> str:
    safe = safe_url(url)
    return f"[{label}]({safe})" if safe and len(safe) <= 1000 else label


def alert_payload(alert: Alert) -> dict[str, Any]:
    lines = [f"#### {_link(fit(headline(alert), 300, md_escape), alert.clipping.url)}"]
    summary = " · ".join(f"**{k}:** {fit(v, 300, md_escape)}" for k, v in facts(alert))
    if summary:
        lines.append(summary)
    if safe_url(alert.review_url):
        lines.append(f"**{_link('Review', alert.review_url)}**")
    lines += [f"**{fit(rule, 200, md_escape)}:** {fit(terms, 500, md_escape)}"
              for rule, terms in rule_lines(alert)]
    footer = f"_monitor alert {md_escape(alert.key)}_"
    room = ALERT_MAX - units("\n".join([*lines, footer])) - 10
    text = opening(alert, 1500)
    if text and room > 100:
        quoted = fit(text, room, lambda s: "\n".join(
            "> " + md_escape(line) if line else ">" for line in s.split("\n")))
        lines += ["", quoted]
    lines += ["", footer]
    return {"text": fit("\n".join(lines), ALERT_MAX)}


def _item(alert: Alert) -> str:
    details = ", ".join(v for k, v in facts(alert) if k in ("Source", "Date"))
    line = f"- {_link(fit(headline(alert), 200, md_escape), alert.clipping.url)}"
    return line + (f" — {fit(details, 200, md_escape)}" if details else "")


def digest_payload(digest: Digest) -> dict[str, Any]:
    lines = [f"#### {md_escape(digest_title(digest))}"]
    budget = TEXT_MAX - units(lines[0]) - 200  # the note and the footer
    shown = 0
    groups = group_by_rule(digest)
    for index, (rule, alerts) in enumerate(groups):
        share = budget // (len(groups) - index)  # every rule gets its turn; unused room rolls on
        heading = f"\n**{md_escape(rule)}**: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
        used = units(heading) + 1
        items: list[str] = []
        for alert in alerts:
            line = _item(alert)
            if used + units(line) + 1 > share:
                break
            items.append(line)
            used += units(line) + 1
        if items:
            lines += [heading, *items]
            budget -= used
            shown += len(items)
    note = more_note(len(digest.alerts) - shown)
    lines += ["", f"_{note}_" if note else f"_monitor digest {md_escape(digest.key)}_"]
    return {"text": "\n".join(lines)}
