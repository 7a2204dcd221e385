"""A send is bounded, whatever the receiver does (hostile receivers on 127.0.0.1,
support/slow_receivers.py): a webhook's or an email's ``timeout`` is a deadline on the whole
send, not on each read, and only the start of a webhook's answer is read, so an endless error
body costs a few KB."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from support.alerts import alert
from support.slow_receivers import SlowReceiver

from monitor.config import EmailConfig, FetchConfig, WebhookConfig
from monitor.errors import NotifyError
from monitor.fetch.client import make_client
from monitor.notify import EmailNotifier, WebhookNotifier

GUARD = 120.0  # seconds: only so that a send that never ends fails the test instead of hanging


@pytest.fixture
def trickle() -> Iterator[SlowReceiver]:
    receiver = SlowReceiver("trickle", byte_every=0.5).start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def endless() -> Iterator[SlowReceiver]:
    receiver = SlowReceiver("endless", body_size=64_000_000).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def send_error(url: str, timeout: float) -> NotifyError:
    cfg = WebhookConfig(name="hook", url=url, timeout=timeout)

    async def go() -> None:
        async with make_client(FetchConfig()) as client:
            await asyncio.wait_for(WebhookNotifier(cfg, client).send(alert()), GUARD)

    with pytest.raises(NotifyError) as info:
        asyncio.run(go())
    return info.value


def test_a_receiver_trickling_its_answer_fails_at_the_deadline_of_the_whole_send(
        trickle: SlowReceiver) -> None:
    # A byte every half second: no single read ever waits the 2 s.
    error = send_error(trickle.url, timeout=2.0)
    assert trickle.requests == 1
    assert "took longer than 2s in all" in str(error)
    assert not error.permanent  # retried later, with backoff
    assert trickle.hung_up.wait(10)  # the connection was given up, not left to trickle on


def test_an_endless_error_body_is_not_read_whole(endless: SlowReceiver) -> None:
    error = send_error(endless.url, timeout=60.0)
    assert str(error).startswith("HTTP 500: error error")
    assert not error.permanent
    assert endless.hung_up.wait(10)
    # What the receiver managed to write before we hung up: socket buffers, not 64 MB.
    assert endless.sent < 16_000_000, endless.sent


def test_an_smtp_server_greeting_a_byte_at_a_time_fails_at_the_deadline() -> None:
    # Closes after 60 s: without a deadline of its own the send would end then, differently.
    server = SlowReceiver("smtp-trickle", byte_every=0.5, give_up_after=60).start()
    cfg = EmailConfig(name="mail", host="127.0.0.1", port=server.port,
                      from_addr="monitor@example.org", to=("a@example.org",), security="none",
                      timeout=2.0)
    try:
        with pytest.raises(NotifyError) as info:
            asyncio.run(EmailNotifier(cfg).send(alert()))
    finally:
        server.stop()
    assert "timed out: took longer than 2s in all" in str(info.value)
    assert not info.value.permanent
