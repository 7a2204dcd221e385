"""Tests of monitor.notify: rendering (pure), the webhook against a real HTTP receiver and the
email channel against a real aiosmtpd server, all on 127.0.0.1 (fixtures: tests/servers.py,
made available to every file by tests/conftest.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email
import html
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.servers import WebhookReceiver

from monitor.clipping import make_clipping, render
from monitor.config import EmailConfig, FetchConfig, NotifierConfig, WebhookConfig
from monitor.errors import NotifyError
from monitor.fetch.client import make_client
from monitor.models import Alert, Match, MatchedTerm
from monitor.notify import EmailNotifier, WebhookNotifier, build_notifiers
from monitor.notify.email import build_message
from monitor.notify.render import (EXCERPT_CHARS, SUBJECT_MAX, alert_payload, email_html,
                                   email_subject, email_text)

BODY = """![pirate flag](https://example.com/flag.jpg)

ACE has forced Electro TV Sat offline following a crackdown operation in Morocco.

Electro TV Sat was one of the largest pirate platforms of this kind.

> CANAL+ Group has fought for years against audiovisual piracy."""


def make_alert(*, title: str = "ACE takes down Electro TV Sat pirate streaming service",
               source: str = "Bleeping Computer", body: str = BODY,
               url: str = "https://www.bleepingcomputer.com/news/ace-takes-down/",
               matches: tuple[Match, ...] | None = None, key: str = "34fcc89c45c3ecef-hook",
               **fields: Any) -> Alert:
    clipping = make_clipping(title=title, standfirst=fields.pop("standfirst", ""),
                             source=source, url=url,
                             date=fields.pop("date", dt.date(2021, 10, 19)),
                             author=fields.pop("author", "Bill Toulas"), body=body,
                             tags=fields.pop("tags", ("ACE", "CANAL+", "Bleeping Computer")))
    if matches is None:
        matches = (
            Match("entities", 1.0, (MatchedTerm("ACE", "title", 0, 3),), ("ace",)),
            Match("piracy-enforcement", 3.0, (
                MatchedTerm("pirate", "title", 33, 39),
                MatchedTerm("takes down", "title", 4, 14),
                MatchedTerm("Pirate", "body", 10, 16),
                MatchedTerm("offline", "body", 30, 37),
            ), ("takedown",)),
        )
    return Alert(id=1, key=key, notifier="hook", clipping_id="34fcc89c45c3ecef",
                 clipping=clipping, matches=matches, origin="page",
                 created_at=dt.datetime(2021, 10, 19, 12, 30, tzinfo=dt.timezone.utc))


async def _send(cfg: NotifierConfig, alert: Alert) -> None:
    async with make_client(FetchConfig()) as client:
        await build_notifiers([cfg], client)[cfg.name].send(alert)


def send(cfg: NotifierConfig, alert: Alert) -> None:
    asyncio.run(_send(cfg, alert))


def send_error(cfg: NotifierConfig, alert: Alert) -> NotifyError:
    with pytest.raises(NotifyError) as info:
        send(cfg, alert)
    assert info.value.channel == cfg.name
    return info.value


# --- render (pure) --------------------------------------------------------------------------------

def test_payload_shape() -> None:
    alert = make_alert()
    payload = alert_payload(alert)
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert payload == {
        "version": 1,
        "type": "monitor.alert",
        "id": "34fcc89c45c3ecef-hook",
        "created_at": "2021-10-19T12:30:00+00:00",
        "notifier": "hook",
        "review_url": None,  # no [review] base_url
        "clipping": {
            "id": "34fcc89c45c3ecef",
            "short_id": "34fcc89c",
            "title": "ACE takes down Electro TV Sat pirate streaming service",
            "standfirst": "",
            "source": "Bleeping Computer",
            "url": "https://www.bleepingcomputer.com/news/ace-takes-down/",
            "date": "2021-10-19",
            "author": "Bill Toulas",
            "tags": ["ACE", "CANAL+", "Bleeping Computer"],
            "excerpt": alert.clipping.body,
            "origin": "page",
            "text": render(alert.clipping),
        },
        "rules": [  # highest score first; terms deduplicated whatever their case
            {"rule": "piracy-enforcement", "score": 3.0,
             "terms": ["pirate", "takes down", "offline"], "tags": ["takedown"], "watches": []},
            {"rule": "entities", "score": 1.0, "terms": ["ACE"], "tags": ["ace"],
             "watches": []},
        ],
        "watches": [],  # the story names no watched name
        "subject": "[piracy-enforcement] ACE takes down Electro TV Sat pirate streaming "
                   "service — Bleeping Computer",
        # the story and its sources (none here: an alert made without a story)
        "story": {"id": None, "update": False, "sources": []},
    }


def test_payload_excerpt_is_bounded_and_date_may_be_missing() -> None:
    payload = alert_payload(make_alert(body="word " * 2000, date=None))
    assert len(payload["clipping"]["excerpt"]) <= EXCERPT_CHARS
    assert payload["clipping"]["excerpt"].endswith("…")
    assert payload["clipping"]["date"] is None


def _rule(name: str) -> tuple[Match, ...]:
    return (Match(name, 1.0, (MatchedTerm("piracy", "body", 0, 6),)),)


@pytest.mark.parametrize("title, source, rule, expected", [
    ("Plain title", "TorrentFreak", "piracy", "[piracy] Plain title — TorrentFreak"),
    ("Hack\r\nBcc: evil@example.org", "Src", "r", "[r] Hack Bcc: evil@example.org — Src"),
    ("a\nb\rc\td\x00e\x1bf\x7fg", "S", "r", "[r] a b c d e f g — S"),
    ("line\u2028sep\u2029para\x85nel", "S", "r", "[r] line sep para nel — S"),
    ("bidi \u202egnirts\u202c trick", "S", "r", "[r] bidi gnirts trick — S"),
    ("  spaced    out  ", "  S  ", "r", "[r] spaced out — S"),
    ("", "S", "r", "[r] (untitled) — S"),
    ("No source", "", "r", "[r] No source"),
    ("Title", "Source\r\nX-Evil: 1", "rule\nX-Bad: 2", "[rule X-Bad: 2] Title — Source X-Evil: 1"),
])
def test_email_subject(title: str, source: str, rule: str, expected: str) -> None:
    # Built as a raw Clipping: make_clipping would already have collapsed the controls.
    alert = make_alert(matches=_rule(rule))
    clipping = dataclasses.replace(alert.clipping, title=title, source=source)
    assert email_subject(dataclasses.replace(alert, clipping=clipping)) == expected


def test_email_subject_uses_the_highest_scoring_rule_and_is_bounded() -> None:
    subject = email_subject(make_alert(title="x" * 5000, source="y" * 500))
    assert subject.startswith("[piracy-enforcement] xxx")
    assert len(subject) <= SUBJECT_MAX
    assert subject.endswith("…")
    assert "— yyy" in subject


@given(title=st.text(), source=st.text(), rule=st.text())
def test_email_subject_is_one_clean_bounded_line(title: str, source: str, rule: str) -> None:
    alert = make_alert(matches=_rule(rule))
    alert = dataclasses.replace(alert, clipping=dataclasses.replace(
        alert.clipping, title=title, source=source))
    subject = email_subject(alert)
    assert len(subject) <= SUBJECT_MAX
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", subject)
    assert subject == subject.strip() and subject.startswith("[")


SCRIPT = "<script>alert('x')</script>"


@pytest.mark.parametrize("field", ["title", "standfirst", "source", "author", "body"])
def test_email_html_escapes_feed_fields(field: str) -> None:
    alert = make_alert(**{field: f"Before {SCRIPT} & after"})
    page = email_html(alert)
    assert "<script" not in page.lower()
    assert html.escape(SCRIPT) in page


def test_email_html_escapes_terms_tags_and_rules() -> None:
    alert = make_alert(matches=(Match(f"rule{SCRIPT}", 2.0, (MatchedTerm(SCRIPT, "body", 0, 5),),
                                      (SCRIPT,)),))
    page = email_html(alert)
    assert "<script" not in page.lower()
    assert page.count(html.escape(SCRIPT)) == 3


@pytest.mark.parametrize("url, linked", [
    ("https://example.com/a?b=1&c=2", True),
    ("http://example.com/", True),
    ("javascript:alert(1)", False),
    ("data:text/html,<script>x</script>", False),
])
def test_email_html_links_only_http(url: str, linked: bool) -> None:
    page = email_html(make_alert(url=url))
    assert ("href=" in page) == linked
    assert "<script" not in page.lower()


def test_email_text_reads_well() -> None:
    text = email_text(make_alert())
    for expected in ["ACE takes down Electro TV Sat pirate streaming service",
                     "Source: Bleeping Computer", "Date:   October 19, 2021",
                     "Author: Bill Toulas", "Link:   https://www.bleepingcomputer.com/news/",
                     "- piracy-enforcement (score 3): pirate, takes down, offline",
                     "- entities (score 1): ACE",
                     "ACE has forced Electro TV Sat offline", "> CANAL+ Group",
                     "attached as 34fcc89c45c3ecef.md"]:
        assert expected in text
    assert "![pirate flag]" not in text  # image-only paragraphs are left out
    assert text.index("piracy-enforcement") < text.index("- entities")


def test_email_html_reads_well() -> None:
    page = email_html(make_alert())
    assert "<mark>takes down</mark>" in page
    assert "<blockquote>CANAL+ Group has fought for years" in page
    # Matched terms are highlighted where they occur in the paragraphs, any case.
    assert "<p><mark>ACE</mark> has forced Electro TV Sat <mark>offline</mark>" in page
    assert "largest <mark>pirate</mark> platforms" in page
    assert "flag.jpg" not in page


# --- webhook ----------------------------------------------------------------------------------------

def hook(url: str, **kw: Any) -> WebhookConfig:
    return WebhookConfig(name="hook", url=url, **kw)


def test_webhook_delivers_the_payload(webhook_receiver: Any) -> None:
    alert = make_alert(title="Café « pirates » 🏴‍☠️")
    cfg = hook(webhook_receiver.url, headers=(("X-Team", "analysts"),
                                              ("idempotency-key", "overridden?")))
    send(cfg, alert)
    [request] = webhook_receiver.wait_for(1)
    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == alert.key
    assert request.headers["x-team"] == "analysts"
    assert request.headers["user-agent"].startswith("monitor/")
    assert json.loads(request.body.decode("utf-8")) == alert_payload(alert)
    assert "Café « pirates » 🏴‍☠️".encode() in request.body  # UTF-8, not \u escapes


@pytest.mark.parametrize("status, headers, permanent, retry_after", [
    (500, {}, False, None),
    (502, {}, False, None),
    (503, {"Retry-After": "120"}, False, 120.0),
    (429, {"Retry-After": "7"}, False, 7.0),
    (408, {}, False, None),
    (400, {}, True, None),
    (401, {}, True, None),
    (404, {}, True, None),
    (410, {}, True, None),
    (301, {"Location": "https://elsewhere.example/"}, True, None),
])
def test_webhook_failures_are_classified(webhook_receiver: Any, status: int,
                                         headers: dict[str, str], permanent: bool,
                                         retry_after: float | None) -> None:
    webhook_receiver.respond(status, headers, body="nope\r\nreason")
    error = send_error(hook(webhook_receiver.url), make_alert())
    assert error.permanent is permanent
    assert error.retry_after == retry_after
    assert f"HTTP {status}" in str(error) and "nope reason" in str(error)
    assert len(webhook_receiver.requests) == 1


def test_webhook_connection_refused_is_transient(refused_port: int) -> None:
    error = send_error(hook(f"http://127.0.0.1:{refused_port}/hook"), make_alert())
    assert not error.permanent
    assert str(refused_port) not in str(error)  # the URL (it may hold a token) is not repeated


def test_webhook_outage_then_recovery_on_the_same_port(refused_port: int) -> None:
    cfg, alert = hook(f"http://127.0.0.1:{refused_port}/hook"), make_alert()
    assert not send_error(cfg, alert).permanent
    receiver = WebhookReceiver(port=refused_port)
    receiver.start()
    try:
        send(cfg, alert)
        [request] = receiver.wait_for(1)
        assert request.headers["idempotency-key"] == alert.key
    finally:
        receiver.stop()


def test_webhook_timeout_is_transient(webhook_receiver: Any) -> None:
    webhook_receiver.respond(200, delay=1.0)
    error = send_error(hook(webhook_receiver.url, timeout=0.2), make_alert())
    assert not error.permanent and "timed out" in str(error)


def test_build_notifiers_keeps_the_enabled_ones() -> None:
    notifiers = build_notifiers([
        hook("http://127.0.0.1:1/", enabled=True),
        WebhookConfig(name="off", url="http://127.0.0.1:1/", enabled=False),
        EmailConfig(name="mail", host="127.0.0.1", port=25, from_addr="m@example.org",
                    to=("a@example.org",), security="none"),
    ], http_client=object())
    assert sorted(notifiers) == ["hook", "mail"]
    assert isinstance(notifiers["hook"], WebhookNotifier)
    assert isinstance(notifiers["mail"], EmailNotifier)
    assert notifiers["mail"].name == "mail"


# --- email ------------------------------------------------------------------------------------------

def mail(server: Any, **kw: Any) -> EmailConfig:
    fields: dict[str, Any] = dict(name="mail", host=server.host, port=server.port,
                                  from_addr="monitor@example.org",
                                  to=("analyst@example.org", "team@example.org"),
                                  security="none", timeout=5.0)
    fields.update(kw)
    return EmailConfig(**fields)


def test_email_arrives_multipart_with_the_clipping(smtp_server: Any) -> None:
    alert = make_alert(title="Café pirates shut down")
    send(mail(smtp_server), alert)
    [received] = smtp_server.wait_for(1)
    assert received.mail_from == "monitor@example.org"
    assert received.rcpt_tos == ["analyst@example.org", "team@example.org"]
    msg = received.message
    assert msg["Subject"] == "[piracy-enforcement] Café pirates shut down — Bleeping Computer"
    assert msg["Subject"] == email_subject(alert)
    assert msg["From"] == "monitor@example.org"
    assert msg["To"] == "analyst@example.org, team@example.org"
    assert msg["Message-ID"] == build_message(alert, mail(smtp_server))["Message-ID"]
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(("plain",))
    assert body is not None and "Café pirates shut down" in body.get_content()
    page = msg.get_body(("html",))
    assert page is not None and "<mark>pirate</mark>" in page.get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "34fcc89c45c3ecef.md"
    assert attachment.get_content_type() == "text/markdown"
    assert attachment.get_content() == render(alert.clipping)


def test_email_message_id_is_stable_across_retries(smtp_server: Any) -> None:
    alert = make_alert()
    send(mail(smtp_server), alert)
    send(mail(smtp_server), alert)
    first, second = smtp_server.wait_for(2)
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert re.fullmatch(r"<alert\.[0-9a-f]{32}@example\.org>", first.message["Message-ID"])
    other = build_message(make_alert(key="another-hook"), mail(smtp_server))
    assert other["Message-ID"] != first.message["Message-ID"]


def test_email_header_injection_is_impossible(smtp_server: Any) -> None:
    alert = make_alert(matches=_rule("r"))
    # A raw Clipping, as a careless caller might build it: the notifier must still hold.
    alert = dataclasses.replace(alert, clipping=dataclasses.replace(
        alert.clipping, title="Hack\r\nBcc: evil@example.org\r\n\r\nbody?",
        source="Src\nX-Injected: yes"))
    send(mail(smtp_server), alert)
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["analyst@example.org", "team@example.org"]
    msg = received.message
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert msg["Subject"] == "[r] Hack Bcc: evil@example.org body? — Src X-Injected: yes"
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?im)^(bcc|x-injected):", head)


def test_email_logs_in_with_the_password_from_the_environment(
        smtp_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp_server.credentials["monitor"] = "s3cret"
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    send(mail(smtp_server, username="monitor", password_env="TEST_SMTP_PASSWORD"), make_alert())
    smtp_server.wait_for(1)
    assert smtp_server.handler.logins == ["monitor"]


def test_email_wrong_password_is_permanent(smtp_server: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    smtp_server.credentials["monitor"] = "s3cret"
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-one")
    error = send_error(mail(smtp_server, username="monitor", password_env="TEST_SMTP_PASSWORD"),
                       make_alert())
    assert error.permanent and "535" in str(error)
    assert "wrong-one" not in str(error)
    assert smtp_server.messages == []


@pytest.mark.parametrize("value", [None, ""])
def test_email_missing_password_is_permanent(smtp_server: Any, monkeypatch: pytest.MonkeyPatch,
                                             value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("TEST_SMTP_PASSWORD", value)
    error = send_error(mail(smtp_server, username="monitor", password_env="TEST_SMTP_PASSWORD"),
                       make_alert())
    assert error.permanent and "TEST_SMTP_PASSWORD" in str(error)
    assert smtp_server.messages == []


@pytest.mark.parametrize("reply, permanent", [
    ("550 5.1.1 No such user here", True),
    ("553 5.1.3 Bad address syntax", True),
    ("450 4.2.1 Mailbox busy, try later", False),
])
def test_email_rejected_recipient(smtp_server: Any, reply: str, permanent: bool) -> None:
    smtp_server.reject_recipients(reply)
    error = send_error(mail(smtp_server), make_alert())
    assert error.permanent is permanent
    assert reply.split()[0] in str(error) and "analyst@example.org" in str(error)
    assert smtp_server.messages == []


def test_email_starttls_not_offered_is_permanent(smtp_server: Any) -> None:
    # Never fall back to clear text when TLS was asked for.
    error = send_error(mail(smtp_server, security="starttls"), make_alert())
    assert error.permanent and "STARTTLS" in str(error)
    assert smtp_server.messages == []


def test_email_nothing_listening_is_transient(refused_port: int) -> None:
    cfg = EmailConfig(name="mail", host="127.0.0.1", port=refused_port,
                      from_addr="monitor@example.org", to=("a@example.org",), security="none")
    error = send_error(cfg, make_alert())
    assert not error.permanent and "Connection" in str(error)


def test_email_module_does_not_shadow_the_standard_library() -> None:
    import monitor.notify.email  # noqa: F401

    assert email.message_from_string("Subject: x\n\n").get("Subject") == "x"
    assert "monitor" not in (email.__file__ or "")
