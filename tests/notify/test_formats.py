"""Pure tests of the notifiers' rendering and decisions: the chat payloads (Slack, Discord, Teams,
Mattermost) against each service's documented shape and limits, a hostile story, digests, the
Standard Webhooks signature, digest schedules, the retry delay and the new config keys."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.chat_receivers import CHECKS, MENTIONS, strings, utf16
from standardwebhooks.webhooks import Webhook

from monitor.units import parse_cadence
from monitor.config import Delivery, parse_config
from monitor.errors import ConfigError
from monitor.notify import discord, mattermost, slack, teams
from monitor.notify.digest import digest_html, digest_payload, digest_subject, digest_text
from monitor.notify.email import build_digest_message, build_message
from monitor.notify.render import SUBJECT_MAX, email_html, email_subject
from monitor.notify.signing import parse_secret, sign, signature_headers
from monitor.pipeline.deliver import retry_delay

from support.alerts import HOSTILE, TITLE, UTC, alert, digest

FORMATS = {"slack": slack, "discord": discord, "teams": teams, "mattermost": mattermost}



# --- chat payloads -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_chat_alert_is_within_the_service_documented_shape(fmt: str) -> None:
    payload = FORMATS[fmt].alert_payload(alert())
    assert CHECKS[fmt](payload) == []
    text = "\n".join(strings(payload))
    assert TITLE in text and "https://news.example/raid" in text
    assert "shut down" in text and "Piracy Daily" in text


def test_slack_alert_shape() -> None:
    payload = slack.alert_payload(alert())
    header = payload["blocks"][0]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": TITLE,
                                                 "emoji": False}}
    assert "<https://news.example/raid|Read the article>" in payload["blocks"][1]["text"]["text"]
    assert payload["unfurl_links"] is False


def test_discord_alert_shape() -> None:
    payload = discord.alert_payload(alert())
    [embed] = payload["embeds"]
    assert embed["title"] == TITLE and embed["url"] == "https://news.example/raid"
    assert payload["allowed_mentions"] == {"parse": []}
    assert {"Source", "Date", "Author"} <= {f["name"] for f in embed["fields"]}


def test_teams_alert_shape() -> None:
    payload = teams.alert_payload(alert())
    card = payload["attachments"][0]["content"]
    assert card["body"][0]["text"] == TITLE
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Read the article",
                                "url": "https://news.example/raid"}]


def test_mattermost_alert_shape() -> None:
    text = mattermost.alert_payload(alert())["text"]
    assert text.startswith(f"#### [{TITLE}](https://news.example/raid)")
    assert "**piracy-enforcement (score 9):** shut down, pirate, IPTV" in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_story_is_truncated_and_defused(fmt: str) -> None:
    hostile = alert(HOSTILE, body=HOSTILE, source="Src @everyone <!here>",
                    url="javascript:alert(1)")
    payload = FORMATS[fmt].alert_payload(hostile)
    assert CHECKS[fmt](payload) == []  # within limits, and not one mention survives
    everything = json.dumps(payload, ensure_ascii=False)
    assert not MENTIONS.search(everything)
    assert "javascript:" not in everything
    if fmt != "slack":  # mrkdwn has no [text](url) links; the markdown formats must not have one
        assert "](https://evil.example" not in everything
    assert "\r" not in everything
    titles = {"slack": lambda p: p["blocks"][0]["text"]["text"],
              "discord": lambda p: p["embeds"][0]["title"],
              "teams": lambda p: p["attachments"][0]["content"]["body"][0]["text"],
              "mattermost": lambda p: p["text"].split("\n", 1)[0].lstrip("#[ ")}
    title = titles[fmt](payload)
    assert title.startswith("Police shut down pirate IPTV Bcc: evil") and title.endswith("…")
    assert len(title) < 400
    if fmt == "slack":  # mrkdwn: the HTML-like text escaped as Slack asks
        assert "&lt;script&gt;" in everything


def test_slack_escapes_its_control_characters() -> None:
    assert slack.escape("a & b < c > d <!channel>") == "a &amp; b &lt; c &gt; d &lt;!channel&gt;"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("count", [1, 60, 400])
def test_chat_digest_is_within_limits(fmt: str, count: int) -> None:
    alerts = [alert(f"Story {i}: {HOSTILE[:300]}", n=i, url=f"https://news.example/{i}",
                    rule="piracy-enforcement" if i % 3 else "blocking", day=1 + i % 27)
              for i in range(count)]
    payload = FORMATS[fmt].digest_payload(digest(alerts))
    assert CHECKS[fmt](payload) == []
    text = "\n".join(strings(payload))
    assert "Story 0:" in text  # the newest of each rule is shown, however many there are
    assert count == 1 or "Story 1:" in text
    shown = len(re.findall(r"Story \d+:", text))
    if shown < count:
        assert f"and {count - shown} more" in text
    else:
        assert "more (see" not in text


def test_digest_groups_by_rule_newest_first() -> None:
    alerts = [alert(f"Story {i}", n=i, url=f"https://news.example/{i}", day=1 + i,
                    rule="blocking" if i in (2, 5) else "piracy-enforcement")
              for i in range(8)]
    d = digest(alerts)
    payload = digest_payload(d)
    assert payload["type"] == "monitor.digest" and payload["count"] == 8
    assert payload["id"] == d.key and payload["reason"] == "flood"
    assert [(g["rule"], g["count"]) for g in payload["groups"]] == [
        ("piracy-enforcement", 6), ("blocking", 2)]
    titles = [a["clipping"]["title"] for a in payload["groups"][0]["alerts"]]
    # the Digest record comes from the store newest first; grouping keeps that order
    assert titles == [f"Story {i}" for i in (0, 1, 3, 4, 6, 7)]
    assert "text" not in payload["groups"][0]["alerts"][0]["clipping"]
    mm = mattermost.digest_payload(d)["text"]
    assert mm.index("**piracy-enforcement**: 6 alerts") < mm.index("**blocking**: 2 alerts")


def test_email_digest_is_one_multipart_message_with_escaped_html() -> None:
    from monitor.config import EmailConfig

    alerts = [alert(f"<b>Story {i}</b> @channel", n=i, url=f"https://news.example/{i}")
              for i in range(60)]
    d = digest(alerts)
    cfg = EmailConfig(name="mail", host="127.0.0.1", port=25, from_addr="m@example.org",
                      to=("a@example.org",), security="none")
    msg = build_digest_message(d, cfg)
    assert msg["Subject"] == "[digest] 60 alerts: piracy-enforcement (60)"
    assert msg["Subject"] == digest_subject(d)
    page = digest_html(d)
    assert "<b>Story" not in page and "&lt;b&gt;Story 0&lt;/b&gt;" in page
    assert page.count("<li>") == 60
    assert digest_text(d).count("https://news.example/") == 60
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None


# --- email: subject and highlight ------------------------------------------------------------------

def test_email_subject_is_exactly_rule_title_source() -> None:
    assert email_subject(alert()) == f"[piracy-enforcement] {TITLE} — Piracy Daily"
    subject = email_subject(alert(HOSTILE))
    assert "\r" not in subject and "\n" not in subject and len(subject) <= SUBJECT_MAX


def test_email_html_highlights_terms_in_the_text_and_escapes_the_rest() -> None:
    body = "Police <b>shut down</b> the pirate IPTV & more; PIRATE sites too."
    page = email_html(alert(body=body))
    assert ("<p>Police &lt;b&gt;<mark>shut down</mark>&lt;/b&gt; the <mark>pirate</mark> "
            "<mark>IPTV</mark> &amp; more; <mark>PIRATE</mark> sites too.</p>") in page


def test_email_message_of_a_hostile_story_has_clean_headers() -> None:
    from monitor.config import EmailConfig

    cfg = EmailConfig(name="mail", host="127.0.0.1", port=25, from_addr="m@example.org",
                      to=("a@example.org",), security="none")
    msg = build_message(alert(HOSTILE), cfg)
    raw = msg.as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    assert not re.search(rb"(?im)^bcc:", head)
    assert html.escape("<script>alert('x')</script>") in email_html(alert(HOSTILE))


# --- Standard Webhooks signatures ----------------------------------------------------------------

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_signature_is_the_standard_webhooks_one() -> None:
    body = json.dumps({"a": "café"}, ensure_ascii=False).encode("utf-8")
    ts = int(dt.datetime.now(UTC).timestamp())
    ours = sign(parse_secret(SECRET), "abc-hook", ts, body)
    theirs = Webhook(SECRET).sign("abc-hook", dt.datetime.fromtimestamp(ts, UTC),
                                  body.decode("utf-8"))
    assert ours == theirs
    headers = signature_headers("abc-hook", ts, body, parse_secret(SECRET))
    assert Webhook(SECRET).verify(body, headers) == {"a": "café"}
    assert "webhook-signature" not in signature_headers("abc-hook", ts, body, None)


@pytest.mark.parametrize("value", ["whsec_", "whsec_not base64!", "", "whsec_%%%%"])
def test_bad_secrets_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_secret(value)


def test_secret_without_prefix_or_padding_is_read() -> None:
    key = b"0123456789abcdef0123"
    assert parse_secret(base64.b64encode(key).decode().rstrip("=")) == key


# --- digest schedules and retry delays ------------------------------------------------------------

def test_digest_interval_counts_from_the_anchor() -> None:
    cadence = parse_cadence("1h")
    anchor = dt.datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    assert cadence.next_after(anchor) == anchor + dt.timedelta(hours=1)
    assert not cadence.is_due(anchor, anchor + dt.timedelta(minutes=59))
    assert cadence.is_due(anchor, anchor + dt.timedelta(minutes=60))


def test_digest_cron_expression_uses_apscheduler() -> None:
    cadence = parse_cadence("0 8 * * 1-5")  # weekdays at 8:00
    friday_evening = dt.datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # a Friday
    assert cadence.next_after(friday_evening, tz=UTC) == dt.datetime(2026, 11, 30, 8, 0,
                                                                     tzinfo=UTC)
    assert not cadence.is_due(friday_evening, dt.datetime(2026, 11, 29, 12, tzinfo=UTC), tz=UTC)
    assert cadence.is_due(friday_evening, dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC), tz=UTC)


@pytest.mark.parametrize("text, reason", [
    ("soon", "expected an interval"), ("30s", "at least one minute"),
    ("0 8 * *", "five fields"), ("0 25 * * *", "not a valid cron expression"), ("", "expected")])
def test_bad_digest_settings(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_cadence(text)


@pytest.mark.parametrize("field, expected", [
    ("1-5", "mon,tue,wed,thu,fri"), ("0", "sun"), ("7", "sun"), ("6,0", "sat,sun"),
    ("*/2", "sun,tue,thu,sat"), ("1-5/2", "mon,wed,fri"), ("mon-fri", "mon-fri"), ("*", None)])
def test_cron_weekdays_are_read_as_cron_reads_them(field: str, expected: str | None) -> None:
    from monitor.units import _weekdays

    assert _weekdays(field) == (expected or "sun,mon,tue,wed,thu,fri,sat")


def test_retry_delay_backs_off_with_jitter_and_honours_retry_after() -> None:
    low = [retry_delay(n, None, rand=lambda a, b: a) for n in range(10)]
    high = [retry_delay(n, None, rand=lambda a, b: b) for n in range(10)]
    assert low[:4] == [24.0, 48.0, 96.0, 192.0] and high[:4] == [36.0, 72.0, 144.0, 288.0]
    assert max(high) == 3600 * 1.2 and max(low) == 3600 * 0.8  # capped at an hour, jittered
    spread = {round(retry_delay(3, None), 3) for _ in range(50)}
    assert len(spread) > 40 and all(192.0 <= d <= 288.0 for d in spread)
    assert retry_delay(5, 7.0) == 7.0  # the receiver's Retry-After, exactly
    assert retry_delay(0, 0.0) == 1.0 and retry_delay(0, 10**9) == 86400.0


# --- configuration -----------------------------------------------------------------------------

def config(notifier: str, *, feed: str = "", monitor: str = "") -> Any:
    text = (f"[monitor]\n{monitor}\n[[feeds]]\nurl = \"https://feeds.example/rss\"\n{feed}\n"
            f"[[notifiers]]\nname = \"n\"\n{notifier}\n")
    return parse_config(text, Path("/etc/monitor/config.toml"))


def test_new_keys_are_read() -> None:
    cfg = config('type = "webhook"\nurl = "https://hooks.example/x"\nformat = "discord"\n'
                 'secret_env = "HOOK_SECRET"\nmin_score = 5\ndigest = "0 8 * * 1-5"\n'
                 'flood_limit = 20\nflood_window = "5m"',
                 feed='backlog_max_age = "7d"', monitor='backlog_max_age = "12h"')
    [n] = cfg.notifiers
    assert (n.format, n.secret_env) == ("discord", "HOOK_SECRET")
    assert n.delivery == Delivery(min_score=5.0, digest="0 8 * * 1-5", flood_limit=20,
                                  flood_window=300.0)
    assert cfg.feeds[0].backlog_max_age == 7 * 86400 and cfg.backlog_max_age == 12 * 3600
    default = config('type = "email"\nhost = "h"\nfrom = "a@b.c"\nto = ["d@e.f"]\n'
                     'password_file = "smtp-password"')
    assert default.notifiers[0].password_file == "smtp-password"
    delivery = default.notifiers[0].delivery
    assert (delivery.flood_limit, delivery.flood_window) == (50, 600.0)
    assert default.backlog_max_age == 48 * 3600
    apprise = config('type = "apprise"\nurls = ["json://127.0.0.1:9/x"]\ndigest = "1h"')
    assert apprise.notifiers[0].urls == ("json://127.0.0.1:9/x",)


@pytest.mark.parametrize("notifier, key, reason", [
    ('type = "webhook"\nurl = "https://x.example/"\nformat = "msn"', "format", "expected one of"),
    ('type = "webhook"\nurl = "https://x.example/"\nsecret = "whsec_abc"', "secret",
     "never put the signing secret"),
    ('type = "webhook"\nurl = "https://x.example/"\nsecret_env = "whsec_abc=="', "secret_env",
     "NAME of an environment variable"),
    ('type = "webhook"\nurl = "https://x.example/"\nsecret_env = "S"\nsecret_file = "f"',
     "secret_file", "not both"),
    ('type = "webhook"\nurl = "https://x.example/"\ndigest = "every hour"', "digest",
     "five fields"),
    ('type = "webhook"\nurl = "https://x.example/"\nflood_limit = 0', "flood_limit",
     "at least 1"),
    ('type = "email"\nhost = "h"\nfrom = "a@b.c"\nto = ["d@e.f"]\npassword_env = "P"\n'
     'password_file = "f"', "password_file", "not both"),
    ('type = "apprise"', "urls", "at least one Apprise URL"),
])
def test_bad_keys_name_the_key(notifier: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(notifier)
    assert info.value.key == f"notifiers[0].{key}" and reason in info.value.reason


def test_payload_lengths_count_utf16() -> None:
    emoji = "🏴‍☠️" * 400  # astral characters count two
    payload = discord.alert_payload(alert(emoji))
    assert utf16(payload["embeds"][0]["title"]) <= 256
    assert CHECKS["discord"](payload) == []


# --- documentation ------------------------------------------------------------------------------

def test_notifier_settings_and_commands_are_documented() -> None:
    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text(encoding="utf-8")
    config_text = (repo / "config.toml").read_text(encoding="utf-8")
    for key in ("backlog_max_age", "min_score", "digest", "flood_limit", "flood_window",
                "format", "secret_env", "secret_file", "password_file", "urls_env", "timeout"):
        assert f"`{key}`" in readme, key
        assert key in config_text.split("# === Rules")[0], key
    for command in ("monitor alerts [--status", "monitor alerts retry ID", "monitor notify test NAME"):
        assert command in readme, command
    webhook_doc = (repo / "docs" / "webhook.md").read_text(encoding="utf-8")
    for word in ("webhook-id", "webhook-timestamp", "webhook-signature", "monitor.digest"):
        assert word in webhook_doc


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_huge_article_url_keeps_every_chat_payload_within_its_limits(fmt: str) -> None:
    url = "https://news.example/" + "a" * 2_000_000
    payload = FORMATS[fmt].alert_payload(alert(url=url))
    assert CHECKS[fmt](payload) == []  # the service's size limits, and a valid shape
    text = json.dumps(payload, ensure_ascii=False)
    assert len(text.encode("utf-8")) < 30_000
    assert TITLE in text  # the alert itself is still there, without the link
    assert "a" * 5000 not in text
    digest_text_ = json.dumps(FORMATS[fmt].digest_payload(digest([alert(url=url, n=n)
                                                                   for n in range(1, 4)])))
    assert len(digest_text_.encode("utf-8")) < 30_000


def test_teams_alert_drops_the_button_of_a_url_too_long_to_follow() -> None:
    card = teams.alert_payload(alert(url="https://news.example/" + "a" * 3000))
    assert "actions" not in card["attachments"][0]["content"]
    card = teams.alert_payload(alert(url="https://news.example/" + "a" * 1000))
    [action] = card["attachments"][0]["content"]["actions"]
    assert action["url"] == "https://news.example/" + "a" * 1000
