"""From the alert to the story: with [review] base_url set, every alert a real receiver gets
(the webhook's JSON, a chat format, the email's text and HTML) links to the story's page on the
review site and shows the clipping's short id; without it, no link."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from support.feedserver import FeedServer
from support.helpers import monitor, write_config
from support.review_helpers import publish
from support.servers import SMTPServer, WebhookReceiver

from monitor.config import parse_config
from monitor.errors import ConfigError
from monitor.models import Alert, Digest, Match

SITE = "http://127.0.0.1:8001"  # only written into the alerts: nothing is served here


def slack_notifier(url: str) -> str:
    return f'\n[[notifiers]]\nname = "chat"\ntype = "webhook"\nformat = "slack"\nurl = "{url}"\n'


def test_every_alert_links_to_the_story_and_shows_its_short_id(
        tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver,
        smtp_server: SMTPServer) -> None:
    feed = publish(feed_server, "/a.xml", ["e1-a"], title="Piracy Daily")
    config = write_config(tmp_path, [feed], webhook_url=webhook_receiver.url + "/json",
                          smtp_port=smtp_server.port, fetch_pages=False,
                          extra=slack_notifier(webhook_receiver.url + "/slack")
                          + f'\n[review]\nbase_url = "{SITE}/"\n')
    done = monitor(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    hooks = {r.path: r for r in webhook_receiver.wait_for(2)}
    payload = hooks["/hook/json"].json()
    clipping_id = payload["clipping"]["id"]
    story = payload["story"]["id"]
    assert isinstance(story, int)
    page = f"{SITE}/monitor/story?id={story}"
    assert payload["review_url"] == page
    assert payload["clipping"]["short_id"] == clipping_id[:8]

    slack = hooks["/hook/slack"].json()
    section = slack["blocks"][1]["text"]["text"]
    assert f"<{page}|Review>" in section and f"id {clipping_id[:8]}" in section

    mail = smtp_server.wait_for(1)[0].message
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert f"Id:     {clipping_id[:8]}\n" in text
    assert f"Review: {page}\n" in text
    html = mail.get_body(("html",)).get_content()
    assert f'<a href="{page.replace("&", "&amp;")}">{page}</a>' in html
    assert f"<td>{clipping_id[:8]}</td>" in html


def test_no_base_url_no_link(tmp_path: Path, feed_server: FeedServer,
                             webhook_receiver: WebhookReceiver) -> None:
    feed = publish(feed_server, "/a.xml", ["e1-a"])
    config = write_config(tmp_path, [feed], webhook_url=webhook_receiver.url, fetch_pages=False)
    assert monitor(config, "run", "--once").returncode == 0
    payload = webhook_receiver.wait_for(1)[0].json()
    assert payload["review_url"] is None
    assert payload["clipping"]["short_id"] == payload["clipping"]["id"][:8]


def test_review_settings() -> None:
    review = parse_config('[review]\nbase_url = "https://review.example.org/"\n',
                          Path("/x/config.toml")).review
    assert review.story_page(12, "34fcc89c45c3ecef") == (
        "https://review.example.org/monitor/story?id=12")
    assert review.story_page(None, "34fcc89c45c3ecef") == (
        "https://review.example.org/monitor/clipping?id=34fcc89c45c3ecef")
    default = parse_config("", Path("/x/config.toml")).review
    assert (default.base_url, default.host, default.port) == ("", "127.0.0.1", 8001)
    assert default.story_page(12, "34fcc89c45c3ecef") == ""
    for text, key in (('base_url = "review.example.org"', "review.base_url"),
                      ('base_url = "https://x.org/?a=1"', "review.base_url"),
                      ('password = "hunter2"', "review.password"),
                      ('password_env = "A"\npassword_file = "b"', "review.password_file"),
                      ('password_env = "NOT A NAME"', "review.password_env"),
                      ("port = 0", "review.port")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            parse_config(f"[review]\n{text}\n", Path("/x/config.toml"))


def _alert(review_url: str) -> Alert:
    from monitor.clipping import make_clipping

    clipping = make_clipping(title="Police shut down a pirate IPTV service", source="Daily",
                             url="https://news.example.org/iptv", date=None, author="",
                             body="Police shut down a pirate IPTV service.", tags=())
    return Alert(id=1, key="34fcc89c45c3ecef-chat", notifier="chat",
                 clipping_id="34fcc89c45c3ecef", clipping=clipping,
                 matches=(Match("piracy-enforcement", 3.0, (), ()),), origin="feed",
                 created_at=dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc), story_id=12,
                 review_url=review_url)


@pytest.mark.parametrize("fmt", ["slack", "discord", "teams", "mattermost"])
def test_chat_formats_link_to_the_story(fmt: str) -> None:
    from monitor.notify import discord, mattermost, slack, teams

    module = {"slack": slack, "discord": discord, "teams": teams, "mattermost": mattermost}[fmt]
    page = f"{SITE}/monitor/story?id=12"
    sent = json.dumps(module.alert_payload(_alert(page)))
    assert page in sent and "34fcc89c" in sent
    assert "monitor/story" not in json.dumps(module.alert_payload(_alert("")))
    # A base_url is the operator's, but a link is only ever http(s).
    assert "javascript" not in json.dumps(module.alert_payload(_alert("javascript:alert(1)")))


def test_digests_show_short_ids_and_links() -> None:
    from monitor.notify.digest import digest_html, digest_payload, digest_text

    page = f"{SITE}/monitor/story?id=12"
    digest = Digest(id=1, key="d-1", notifier="mail", alerts=(_alert(page),), reason="schedule",
                    created_at=dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc))
    text = digest_text(digest)
    assert "  34fcc89c, Daily\n" in text and f"  review: {page}\n" in text
    assert f'<a href="{page}">review</a>' in digest_html(digest)
    summary = digest_payload(digest)["groups"][0]["alerts"][0]
    assert (summary["review_url"], summary["clipping"]["short_id"]) == (page, "34fcc89c")
