"""What each chat service accepts, as its documentation states it, checked on a
payload: a list of problems, empty when the service would take it. Used by the receivers of
tests/test_notify_channels.py (a problem is answered with 400, as the service would) and by the
pure tests of tests/notify/test_formats.py.

The limits are written out here again, from the services' documentation, rather than imported
from monitor.notify: a test that read the numbers from the code under test would check nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from support.servers import ReceivedRequest

# Text that pings people wherever it is parsed; no string of any payload may contain one.
MENTIONS = re.compile(r"@(channel|here|everyone|all)\b|<!(channel|here|everyone)\b|<@[A-Z0-9]+>"
                      r"|<!subteam\^", re.IGNORECASE)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def strings(value: Any) -> Iterator[str]:
    """Every string anywhere in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def no_mentions(payload: Any) -> list[str]:
    return [f"mention {m.group(0)!r} in {s[:60]!r}" for s in strings(payload)
            for m in [MENTIONS.search(s)] if m]


def mrkdwn_texts(value: Any) -> Iterator[str]:
    """The text of every mrkdwn text object (plain_text is shown as typed, never parsed)."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            yield value["text"]
        for v in value.values():
            yield from mrkdwn_texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from mrkdwn_texts(v)


def slack(payload: Any) -> list[str]:
    """Slack incoming webhook with Block Kit: docs.slack.dev/reference/block-kit/blocks (50
    blocks; header plain_text <= 150; section text <= 3000, fields <= 10 of <= 2000; context
    <= 10 elements); &, <, > escaped in mrkdwn (api.slack.com/reference/surfaces/formatting)."""
    problems: list[str] = []
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        return ["no top-level text"]
    blocks = payload.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        problems.append(f"{len(blocks)} blocks (max 50)")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "header":
            text = block["text"]
            if text.get("type") != "plain_text" or not 0 < len(text["text"]) <= 150:
                problems.append(f"block {i}: header text {len(text['text'])} characters (max 150)")
        elif kind == "section":
            if "text" in block and not 0 < len(block["text"]["text"]) <= 3000:
                problems.append(f"block {i}: section text {len(block['text']['text'])} (max 3000)")
            fields = block.get("fields", [])
            if len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields):
                problems.append(f"block {i}: fields over 10 or over 2000 characters")
            if "text" not in block and not fields:
                problems.append(f"block {i}: section with neither text nor fields")
        elif kind == "context":
            if not 0 < len(block["elements"]) <= 10:
                problems.append(f"block {i}: context with {len(block['elements'])} elements")
        elif kind != "divider":
            problems.append(f"block {i}: unexpected type {kind!r}")
    for text in [payload["text"], *mrkdwn_texts(blocks)]:
        # In mrkdwn, < only opens our own links: <http(s)://...|label>.
        for found in re.finditer(r"<([^>]*)>?", text):
            if not re.match(r"https?://[^|<>\s]+\|", found.group(1)):
                problems.append(f"unescaped < in {text[:60]!r}")
    return problems + no_mentions(payload)


def discord(payload: Any) -> list[str]:
    """Discord Execute Webhook (discord.com/developers/docs/resources/webhook#execute-webhook):
    content <= 2000, embeds <= 10; embed limits (resources/message#embed-object-embed-limits):
    title 256, description 4096, fields 25, name 256, value 1024, footer 2048, 6000 in all."""
    problems: list[str] = []
    if payload.get("allowed_mentions") != {"parse": []}:
        problems.append(f"allowed_mentions is {payload.get('allowed_mentions')!r}")
    if utf16(payload.get("content", "")) > 2000:
        problems.append("content over 2000")
    embeds = payload.get("embeds", [])
    if len(embeds) > 10:
        problems.append(f"{len(embeds)} embeds (max 10)")
    if not embeds and not payload.get("content"):
        problems.append("neither content nor embeds")
    total = 0
    for i, embed in enumerate(embeds):
        limits = {"title": 256, "description": 4096}
        for key, limit in limits.items():
            if utf16(embed.get(key, "")) > limit:
                problems.append(f"embed {i}: {key} over {limit}")
        fields = embed.get("fields", [])
        if len(fields) > 25:
            problems.append(f"embed {i}: {len(fields)} fields")
        for f in fields:
            if not f["name"] or not f["value"] or utf16(f["name"]) > 256 or utf16(f["value"]) > 1024:
                problems.append(f"embed {i}: field {f['name'][:30]!r} empty or too long")
        footer = embed.get("footer", {}).get("text", "")
        if utf16(footer) > 2048:
            problems.append(f"embed {i}: footer over 2048")
        if "url" in embed and not re.match(r"https?://", embed["url"]):
            problems.append(f"embed {i}: url {embed['url'][:40]!r}")
        total += (utf16(embed.get("title", "")) + utf16(embed.get("description", "")) + utf16(footer)
                  + sum(utf16(f["name"]) + utf16(f["value"]) for f in fields)
                  + utf16(embed.get("author", {}).get("name", "")))
    if total > 6000:
        problems.append(f"embeds hold {total} characters (max 6000)")
    return problems + no_mentions(payload)


def teams(payload: Any) -> list[str]:
    """A Teams Workflows webhook message holding one Adaptive Card (learn.microsoft.com/en-us/
    connectors/teams/#microsoft-teams-webhook), at most ~28 KB in all."""
    problems: list[str] = []
    size = len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    if size > 28 * 1024:
        problems.append(f"message of {size} bytes (max 28 KB)")
    if payload.get("type") != "message":
        problems.append("type is not 'message'")
    attachments = payload.get("attachments", [])
    if len(attachments) != 1:
        return problems + [f"{len(attachments)} attachments"]
    attachment = attachments[0]
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append(f"contentType {attachment.get('contentType')!r}")
    card = attachment.get("content", {})
    if card.get("type") != "AdaptiveCard" or not re.fullmatch(r"1\.[0-6]", card.get("version", "")):
        problems.append("content is not an Adaptive Card of version 1.x")
    for element in card.get("body", []):
        if element.get("type") == "TextBlock" and not isinstance(element.get("text"), str):
            problems.append("TextBlock without text")
        if element.get("type") not in ("TextBlock", "FactSet"):
            problems.append(f"unexpected element {element.get('type')!r}")
    for action in card.get("actions", []):
        if action.get("type") != "Action.OpenUrl" or not re.match(r"https?://", action["url"]):
            problems.append(f"action {action!r}")
    if any("<at>" in s for s in strings(payload)):
        problems.append("an <at> mention")
    return problems + no_mentions(payload)


def mattermost(payload: Any) -> list[str]:
    """Mattermost incoming webhook (developers.mattermost.com/integrate/webhooks/incoming/):
    markdown text of at most 16383 characters (one post on Mattermost 5.0 and later)."""
    problems: list[str] = []
    text = payload.get("text")
    if not isinstance(text, str) or not text:
        return ["no text"]
    if len(text) > 16383:
        problems.append(f"text of {len(text)} characters (max 16383)")
    if re.search(r"!\[[^\]]*\]\(", text):
        problems.append("a markdown image")
    return problems + no_mentions(payload)


CHECKS: dict[str, Callable[[Any], list[str]]] = {
    "slack": slack, "discord": discord, "teams": teams, "mattermost": mattermost}


def validator(fmt: str) -> Callable[[ReceivedRequest], str | None]:
    """A WebhookReceiver validator for one chat format: None, or why the service refuses."""
    check = CHECKS[fmt]

    def validate(request: ReceivedRequest) -> str | None:
        if request.headers.get("content-type") != "application/json":
            return "Content-Type is not application/json"
        try:
            payload = request.json()
        except ValueError as e:
            return f"not JSON: {e}"
        problems = check(payload)
        return "; ".join(problems) if problems else None

    return validate
