"""The notify channels against real servers on 127.0.0.1: SMTP with STARTTLS (and implicit TLS)
with a certificate made here by trustme and a login, password_file, webhooks signed the
Standard Webhooks way and verified with the `standardwebhooks` package, a receiver per chat
format that refuses what the service would refuse, HTTPS verification, and Apprise."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from support.chat_receivers import CHECKS, MENTIONS, validator
from support.helpers import default_rules_section, monitor
from support.servers import ReceivedRequest, SMTPServer, WebhookReceiver
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from support.alerts import HOSTILE, TITLE, alert, digest

from monitor.clipping import render
from monitor.config import AppriseConfig, EmailConfig, FetchConfig, NotifierConfig, WebhookConfig
from monitor.errors import NotifyError
from monitor.fetch.client import make_client
from monitor.models import Alert, Digest
from monitor.notify import build_notifier
from monitor.notify.apprise import available as apprise_available
from monitor.notify.email import EmailNotifier
from monitor.notify.render import email_subject
from monitor.notify.webhook import post_json

SECRET = "whsec_" + base64.b64encode(b"monitor-test-signing-key-32bytes").decode()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def _deliver(cfg: NotifierConfig, item: Alert | Digest,
                   ssl_context: ssl.SSLContext | None = None) -> None:
    async with make_client(FetchConfig()) as client:
        notifier = (EmailNotifier(cfg, ssl_context=ssl_context)  # type: ignore[arg-type]
                    if ssl_context is not None else build_notifier(cfg, client))
        if isinstance(item, Digest):
            await notifier.send_digest(item)
        else:
            await notifier.send(item)


def deliver(cfg: NotifierConfig, item: Alert | Digest,
            ssl_context: ssl.SSLContext | None = None) -> None:
    asyncio.run(_deliver(cfg, item, ssl_context))


def failure(cfg: NotifierConfig, item: Alert | Digest,
            ssl_context: ssl.SSLContext | None = None) -> NotifyError:
    with pytest.raises(NotifyError) as info:
        deliver(cfg, item, ssl_context)
    return info.value


# --- email over TLS ------------------------------------------------------------------------------

@pytest.fixture
def starttls_server(ca: trustme.CA) -> Iterator[SMTPServer]:
    server = SMTPServer(starttls=server_context(ca))
    server.credentials["monitor"] = "s3cret pass"
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


def mail_cfg(server: SMTPServer, **kw: Any) -> EmailConfig:
    fields: dict[str, Any] = dict(name="mail", host=server.host, port=server.port,
                                  from_addr="monitor@example.org", to=("analyst@example.org",),
                                  security="starttls", username="monitor",
                                  password_env="TEST_SMTP_PASSWORD", timeout=5.0)
    fields.update(kw)
    return EmailConfig(**fields)


def test_starttls_login_and_the_message_exactly(starttls_server: SMTPServer, ca: trustme.CA,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret pass")
    item = alert()
    deliver(mail_cfg(starttls_server), item, client_context(ca))
    [received] = starttls_server.wait_for(1)
    # The server requires STARTTLS before MAIL and offers AUTH only over TLS: arriving at all
    # means the session was encrypted, and the login happened inside it.
    assert starttls_server.handler.logins == ["monitor"]
    msg = received.message
    assert msg["Subject"] == f"[piracy-enforcement] {TITLE} — Piracy Daily"
    assert msg["From"] == "monitor@example.org" and msg["To"] == "analyst@example.org"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<alert\.[0-9a-f]{32}@example\.org>", msg["Message-ID"])
    assert msg.get_content_type() == "multipart/mixed"
    [related] = [p for p in msg.iter_parts() if p.get_content_type() == "multipart/alternative"]
    assert [p.get_content_type() for p in related.iter_parts()] == ["text/plain", "text/html"]
    plain = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for expected in (TITLE, "Piracy Daily", "Jane Reporter", "November 20, 2026",
                     "https://news.example/raid", "Spanish police have shut down"):
        assert expected in plain
    assert "Spanish police have <mark>shut down</mark> a <mark>pirate</mark> <mark>IPTV</mark>" in page
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "0000000000000001.md"
    assert attachment.get_content() == render(item.clipping)


def test_starttls_with_an_untrusted_certificate_is_refused(starttls_server: SMTPServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret pass")
    error = failure(mail_cfg(starttls_server), alert(), ssl.create_default_context())
    assert error.permanent and "certificate" in str(error)
    assert starttls_server.messages == [] and starttls_server.handler.logins == []


def test_implicit_tls(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> None:
    server = SMTPServer(implicit_tls=server_context(ca))
    server.credentials["monitor"] = "s3cret pass"
    server.controller.start()
    try:
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret pass")
        deliver(mail_cfg(server, security="tls"), alert(), client_context(ca))
        assert len(server.wait_for(1)) == 1 and server.handler.logins == ["monitor"]
    finally:
        server.controller.stop()


def test_hostile_story_by_email(starttls_server: SMTPServer, ca: trustme.CA,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret pass")
    item = alert(HOSTILE, body=HOSTILE)
    deliver(mail_cfg(starttls_server), item, client_context(ca))
    [received] = starttls_server.wait_for(1)
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?im)^bcc:", head)  # no header injection
    assert received.rcpt_tos == ["analyst@example.org"]
    subject = received.message["Subject"]
    assert subject == email_subject(item) and "\r" not in subject and "\n" not in subject
    assert subject.startswith("[piracy-enforcement] Police shut down pirate IPTV Bcc:")
    assert len(subject) <= 200 and subject.endswith("— Piracy Daily")
    page = received.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script" not in page and "&lt;script&gt;" in page


# --- password_file (systemd credentials) --------------------------------------------------------

def test_password_file_under_credentials_directory(starttls_server: SMTPServer, ca: trustme.CA,
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "smtp-password").write_text("s3cret pass\n")  # systemd-creds keep the newline
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    cfg = mail_cfg(starttls_server, password_env="", password_file="smtp-password")
    deliver(cfg, alert(), client_context(ca))
    assert len(starttls_server.wait_for(1)) == 1 and starttls_server.handler.logins == ["monitor"]


def test_password_file_absolute_path(starttls_server: SMTPServer, ca: trustme.CA,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    secret = tmp_path / "pw"
    secret.write_text("s3cret pass")
    deliver(mail_cfg(starttls_server, password_env="", password_file=str(secret)), alert(),
            client_context(ca))
    assert starttls_server.handler.logins == ["monitor"]


@pytest.mark.parametrize("case", ["relative without CREDENTIALS_DIRECTORY", "missing", "empty"])
def test_password_file_problems_are_permanent_and_quiet(starttls_server: SMTPServer, ca: trustme.CA,
                                                        tmp_path: Path, case: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    name = "smtp-password"
    if case != "relative without CREDENTIALS_DIRECTORY":
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    if case == "empty":
        (tmp_path / name).write_text("\n")
    error = failure(mail_cfg(starttls_server, password_env="", password_file=name), alert(),
                    client_context(ca))
    assert error.permanent and "password_file" in str(error)
    assert starttls_server.messages == []


# --- signed webhooks ----------------------------------------------------------------------------

def signed_receiver(secret: str) -> WebhookReceiver:
    def verify(request: ReceivedRequest) -> str | None:
        try:
            Webhook(secret).verify(request.body, request.headers)
        except WebhookVerificationError as e:
            return f"signature: {e}"
        return None

    return WebhookReceiver(validator=verify)


@pytest.fixture
def verifying_receiver() -> Iterator[WebhookReceiver]:
    receiver = signed_receiver(SECRET)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def hook(url: str, **kw: Any) -> WebhookConfig:
    return WebhookConfig(name="hook", url=url, timeout=5.0, **kw)


def test_signed_webhook_verifies_with_standardwebhooks(verifying_receiver: WebhookReceiver,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    item = alert("Café pirates shut down 🏴‍☠️")
    cfg = hook(verifying_receiver.url, secret_env="HOOK_SECRET")
    deliver(cfg, item)
    deliver(cfg, item)  # a retry of the same alert
    first, second = verifying_receiver.wait_for(2)
    assert verifying_receiver.rejections == []
    for request in (first, second):
        payload = Webhook(SECRET).verify(request.body, request.headers)
        assert payload["id"] == item.key and payload["clipping"]["title"] == item.clipping.title
        assert request.headers["webhook-id"] == item.key == request.headers["idempotency-key"]
        assert request.headers["webhook-signature"].startswith("v1,")
        assert abs(int(request.headers["webhook-timestamp"]) - dt.datetime.now().timestamp()) < 60
    d = digest([alert(n=i) for i in range(3)])
    deliver(cfg, d)
    third = verifying_receiver.wait_for(3)[2]
    assert Webhook(SECRET).verify(third.body, third.headers)["type"] == "monitor.digest"
    assert third.headers["webhook-id"] == d.key


def test_a_wrong_secret_is_refused_by_the_receiver(verifying_receiver: WebhookReceiver,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "whsec_" + base64.b64encode(b"another key" * 3).decode())
    error = failure(hook(verifying_receiver.url, secret_env="HOOK_SECRET"), alert())
    assert error.permanent and "HTTP 400" in str(error) and "No matching signature" in str(error)


@pytest.mark.parametrize("value", [None, "whsec_***"])
def test_missing_or_bad_secret_is_permanent(verifying_receiver: WebhookReceiver, value: str | None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("HOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("HOOK_SECRET", value)
    error = failure(hook(verifying_receiver.url, secret_env="HOOK_SECRET"), alert())
    assert error.permanent and "HOOK_SECRET" in str(error)
    assert verifying_receiver.requests == []


def test_signing_secret_from_a_credential_file(verifying_receiver: WebhookReceiver, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "monitor-webhook-secret").write_text(SECRET + "\n")  # as systemd-creds keeps it
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    item = alert()
    deliver(hook(verifying_receiver.url, secret_file="monitor-webhook-secret"), item)
    [request] = verifying_receiver.wait_for(1)
    assert verifying_receiver.rejections == []
    assert Webhook(SECRET).verify(request.body, request.headers)["id"] == item.key
    absolute = tmp_path / "elsewhere"
    absolute.write_text(SECRET)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    deliver(hook(verifying_receiver.url, secret_file=str(absolute)), item)
    second = verifying_receiver.wait_for(2)[1]
    assert Webhook(SECRET).verify(second.body, second.headers)["id"] == item.key


@pytest.mark.parametrize("case", ["relative without CREDENTIALS_DIRECTORY", "missing", "empty",
                                  "not base64"])
def test_secret_file_problems_are_permanent_and_quiet(verifying_receiver: WebhookReceiver,
                                                      tmp_path: Path, case: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    if case != "relative without CREDENTIALS_DIRECTORY":
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    content = {"empty": "\n", "not base64": "whsec_not*base64*xyz\n"}.get(case)
    if content is not None:
        (tmp_path / "hook-secret").write_text(content)
    error = failure(hook(verifying_receiver.url, secret_file="hook-secret"), alert())
    assert error.permanent and "secret_file" in str(error)
    assert "not*base64" not in str(error)  # the file's content is never quoted
    assert verifying_receiver.requests == []


# --- chat receivers -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(CHECKS))
def test_chat_receiver_accepts_alerts_hostile_stories_and_digests(fmt: str) -> None:
    receiver = WebhookReceiver(validator=validator(fmt))
    receiver.start()
    try:
        cfg = hook(receiver.url, format=fmt, headers=(("X-Team", "analysts"),))
        deliver(cfg, alert())
        deliver(cfg, alert(HOSTILE, body=HOSTILE, source="Src @here"))
        deliver(cfg, digest([alert(f"Story {i} @channel", n=i, url=f"https://news.example/{i}")
                             for i in range(60)]))
        requests = receiver.wait_for(3)
        assert receiver.rejections == []
        assert all(r.headers["x-team"] == "analysts" for r in requests)
        assert all(r.headers["webhook-id"] for r in requests)
        everything = b"".join(r.body for r in requests).decode("utf-8")
        assert not MENTIONS.search(json.dumps([r.json() for r in requests], ensure_ascii=False))
        assert TITLE in everything and "Story 0 " in everything
        # all 60 listed, or as many as the service's limits allow and the number left out
        assert "Story 59" in everything or re.search(r"and \d+ more", everything)
    finally:
        receiver.stop()


@pytest.mark.parametrize("fmt, bad", [
    ("slack", {"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text",
                                                                   "text": "x" * 151}}]}),
    ("discord", {"content": "@everyone", "allowed_mentions": {"parse": ["everyone"]}}),
    ("teams", {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft."
               "card.adaptive", "content": {"type": "AdaptiveCard", "version": "1.4",
                                           "body": [{"type": "TextBlock", "text": "x" * 30000}]}}]}),
    ("mattermost", {"text": "y" * 16384}),
])
def test_chat_receivers_refuse_what_the_service_refuses(fmt: str, bad: dict[str, Any]) -> None:
    receiver = WebhookReceiver(validator=validator(fmt))
    receiver.start()

    async def post() -> None:
        async with make_client(FetchConfig()) as client:
            await post_json(client, receiver.url, bad, {}, 5.0, "probe")

    try:
        with pytest.raises(NotifyError) as info:
            asyncio.run(post())
        assert info.value.permanent and "HTTP 400" in str(info.value)
        assert receiver.rejections
    finally:
        receiver.stop()


# --- HTTPS ----------------------------------------------------------------------------------------

def test_https_receivers_are_verified(ca: trustme.CA, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = WebhookReceiver(ssl_context=server_context(ca))
    receiver.start()
    try:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        error = failure(hook(receiver.url), alert())
        assert "CERTIFICATE_VERIFY_FAILED" in str(error) and receiver.requests == []
        # Trusted once the CA is the one the client trusts (SSL_CERT_FILE, as for a private CA).
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        deliver(hook(receiver.url), alert())
        [request] = receiver.wait_for(1)
        assert request.json()["id"] == alert().key
    finally:
        receiver.stop()


# --- Apprise --------------------------------------------------------------------------------------

def test_apprise_is_installed_with_the_test_extra() -> None:
    assert apprise_available()  # pyproject's test extra pulls in apprise


def test_apprise_json_url_to_a_local_receiver(webhook_receiver: WebhookReceiver) -> None:
    url = webhook_receiver.url.replace("http://", "json://")
    cfg = AppriseConfig(name="apprise", urls=(url,))
    item = alert(f"{TITLE} @channel <!here>")
    deliver(cfg, item)
    [request] = webhook_receiver.wait_for(1)
    payload = request.json()
    assert payload["title"].startswith(f"[piracy-enforcement] {TITLE} @\u200bchannel <\u200b!here>")
    assert "Spanish police have shut down" in payload["message"]
    assert not MENTIONS.search(json.dumps(payload, ensure_ascii=False))
    deliver(cfg, digest([alert(n=i) for i in range(4)]))
    assert webhook_receiver.wait_for(2)[1].json()["title"].startswith("[digest] 4 alerts")
    webhook_receiver.respond(500)
    error = failure(cfg, item)
    assert not error.permanent  # Apprise does not say why: retried


def test_apprise_url_that_apprise_does_not_know_stops_the_start() -> None:
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError, match="does not understand"):
        build_notifier(AppriseConfig(name="a", urls=("nosuchservice://x",)), None)


# --- `monitor notify test` ------------------------------------------------------------------------

def test_notify_test_command_over_starttls_with_systemd_credentials(
        starttls_server: SMTPServer, ca: trustme.CA, tmp_path: Path,
        verifying_receiver: WebhookReceiver) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "smtp-password").write_text("s3cret pass\n")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    config = tmp_path / "config.toml"
    config.write_text(f"""[monitor]
database = "monitor.db"

[[notifiers]]
name = "mail"
type = "email"
enabled = false
host = "127.0.0.1"
port = {starttls_server.port}
from = "monitor@example.org"
to = ["analyst@example.org"]
security = "starttls"
username = "monitor"
password_file = "smtp-password"

[[notifiers]]
name = "hook"
type = "webhook"
url = "{verifying_receiver.url}"
secret_env = "HOOK_SECRET"

{default_rules_section()}""".replace("notifiers = []", 'notifiers = ["hook"]'))
    env = {"CREDENTIALS_DIRECTORY": str(creds), "SSL_CERT_FILE": str(tmp_path / "ca.pem"),
           "HOOK_SECRET": SECRET}
    done = monitor(config, "notify", "test", "mail", env=env)
    assert done.returncode == 0, done.stderr
    assert "notifier mail: sample alert delivered" in done.stdout
    [received] = starttls_server.wait_for(1)
    assert received.message["Subject"].startswith("[piracy-enforcement] TEST: Police shut down")
    done = monitor(config, "notify", "test", "hook", "--digest", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["delivered"] is True and result["key"].startswith("test-digest-")
    [request] = verifying_receiver.wait_for(1)
    assert Webhook(SECRET).verify(request.body, request.headers)["count"] == 3
    assert not (tmp_path / "monitor.db").exists()  # a test alert is not stored
    failed = monitor(config, "notify", "test", "mail", env={"SSL_CERT_FILE": env["SSL_CERT_FILE"]})
    assert failed.returncode == 1
    assert "not delivered (permanent" in failed.stderr and "CREDENTIALS_DIRECTORY" in failed.stderr
    unknown = monitor(config, "notify", "test", "nope")
    assert unknown.returncode == 1 and "no notifier named 'nope'" in unknown.stderr
