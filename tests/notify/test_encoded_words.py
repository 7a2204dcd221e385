"""A feed's title holding an RFC 2047 encoded word: the subject a mail client shows, decoded
as it decodes headers, brings back no control character and no bidi override."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
from typing import Any

import pytest

from monitor.clipping import make_clipping
from monitor.config import EmailConfig
from monitor.models import Alert, Match, MatchedTerm
from monitor.notify import EmailNotifier
from monitor.notify.email import build_message
from monitor.notify.render import email_subject

UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
RLO, LRO, RLI, PDI, ESC = "\u202e", "\u202d", "\u2067", "\u2069", "\x1b"


def encoded(text: str, kind: str = "b") -> str:
    data = text.encode("utf-8")
    if kind == "b":
        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    return "=?utf-8?q?" + "".join(f"={b:02X}" for b in data) + "?="


def alert_titled(title: str) -> Alert:
    # A raw Clipping's title, as a careless caller might build it: make_clipping keeps "=?".
    clipping = make_clipping(title=title, standfirst="", source="Src",
                             url="https://example.org/a", date=dt.date(2026, 11, 3),
                             author="", body="Police raided a pirate IPTV service.", tags=())
    return Alert(id=1, key="k-mail", notifier="mail", clipping_id="34fcc89c45c3ecef",
                 clipping=clipping, matches=(Match("r", 1.0, (MatchedTerm("pirate", "body", 0, 6),)),),
                 origin="feed", created_at=dt.datetime(2026, 11, 3, 9, tzinfo=dt.timezone.utc))


def mail_config(host: str, port: int) -> EmailConfig:
    return EmailConfig(name="mail", host=host, port=port, from_addr="monitor@example.org",
                       to=("analyst@example.org",), security="none", timeout=5.0)


HOSTILE = [
    "Pirate IPTV " + encoded(RLO + "gnp.exe") + " raid",
    "Pirate IPTV " + encoded(RLI + "x" + PDI + " " + LRO, "q") + " raid",
    "Raid " + encoded("\r\nBcc: evil@example.org"),
    encoded(ESC + "]52;c;ZWNobyBoaQ==\x07"),
    "Nested " + encoded(encoded(RLO)),
    "Split " + encoded(RLO + "a") + " " + encoded("b" + RLO),
]


@pytest.mark.parametrize("title", HOSTILE)
def test_an_encoded_word_in_a_title_cannot_smuggle_controls(smtp_server: Any, title: str) -> None:
    alert = alert_titled(title)
    asyncio.run(EmailNotifier(mail_config(smtp_server.host, smtp_server.port)).send(alert))
    [received] = smtp_server.wait_for(1)
    # The message as a client reads it: email.policy.default decodes encoded words.
    shown = str(received.message["Subject"])
    assert not UNSAFE.search(shown), repr(shown)
    assert received.message["Bcc"] is None
    # What the feed wrote is what the reader sees (the word joiner is invisible).
    assert shown.replace("\u2060", "") == f"[r] {title} — Src"


def test_the_message_keeps_the_subject_as_rendered() -> None:
    alert = alert_titled("Pirate " + encoded(RLO + "exe") + " raid")
    subject = email_subject(alert)
    assert "=?" not in subject
    assert str(build_message(alert, mail_config("127.0.0.1", 25))["Subject"]) == subject
