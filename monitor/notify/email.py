"""Email channel: Alert -> a multipart message sent with the standard library's smtplib.

smtplib blocks, so delivery runs in a worker thread (asyncio.to_thread), under a deadline on
the whole exchange: smtplib's timeout bounds each read, and a server answering a byte at a
time would pass every one. SMTP and socket exceptions become NotifyError here: 5xx, refused
recipients and failed logins are permanent.
(The name does not shadow the standard ``email`` package: imports are absolute.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
import hashlib
import logging
import os
import smtplib
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from email.utils import format_datetime

from monitor.clipping import render as render_clipping
from monitor.config import EmailConfig
from monitor.errors import NotifyError
from monitor.models import Alert, Digest
from monitor.notify.credentials import read_secret_file
from monitor.notify.digest import digest_html, digest_subject, digest_text
from monitor.notify.render import (attachment_name, email_html, email_subject, email_text,
                                   no_encoded_words, one_line, shorten)

log = logging.getLogger(__name__)

SECURITY_MODES = ("starttls", "tls", "none")


def message_id(alert: Alert | Digest, from_addr: str) -> str:
    """A Message-ID derived from the alert's (or digest's) key: the same on every retry, so mail
    systems and people can recognise a repeat."""
    digest = hashlib.sha256(alert.key.encode("utf-8")).hexdigest()[:32]
    domain = from_addr.rpartition("@")[2].strip(" <>") or "monitor.invalid"
    if not all(c.isalnum() or c in ".-" for c in domain):
        domain = "monitor.invalid"
    return f"<alert.{digest}@{domain}>"


def _message(item: Alert | Digest, cfg: EmailConfig, subject: str, text: str,
             html: str) -> EmailMessage:
    """The headers and the text and HTML alternatives that alerts and digests share.

    Header values are built by render (one line, no controls) or come from the config;
    EmailMessage itself also refuses CR/LF in a header value, a second guard.
    """
    created = item.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.timezone.utc)
    # 7bit: bodies go quoted-printable or base64, so no relay (8BITMIME or not) can mangle them.
    msg = EmailMessage(policy=email.policy.default.clone(cte_type="7bit"))
    msg["Subject"] = no_encoded_words(one_line(subject))
    msg["From"] = cfg.from_addr
    msg["To"] = ", ".join(cfg.to)
    msg["Date"] = format_datetime(created)
    msg["Message-ID"] = message_id(item, cfg.from_addr)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def build_message(alert: Alert, cfg: EmailConfig) -> EmailMessage:
    """The message: text and HTML alternatives plus the clipping as ``<clipping_id>.md``."""
    msg = _message(alert, cfg, email_subject(alert), email_text(alert), email_html(alert))
    # Bytes, so the file arrives exactly as rendered (LF line ends), ready for `monitor import`.
    msg.add_attachment(render_clipping(alert.clipping).encode("utf-8"), maintype="text",
                       subtype="markdown", filename=attachment_name(alert),
                       params={"charset": "utf-8"})
    return msg


def build_digest_message(digest: Digest, cfg: EmailConfig) -> EmailMessage:
    """A digest: text and HTML alternatives listing the stories grouped by rule."""
    return _message(digest, cfg, digest_subject(digest), digest_text(digest), digest_html(digest))


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {shorten(one_line(text), 200)}".strip()


class _Deadline:
    """Cuts an SMTP connection at a deadline: a thread shuts its socket down for reading and
    writing, which ends the read or write blocked on it with an error in the sending thread."""

    def __init__(self, smtp: smtplib.SMTP, seconds: float) -> None:
        self.smtp = smtp
        self.end = time.monotonic() + seconds
        self.passed = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> _Deadline:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        if self._done.wait(max(0.0, self.end - time.monotonic())):
            return
        self.passed = True
        while not self._done.is_set():  # the socket may still be in the making: try again
            sock = self.smtp.sock
            if sock is not None:
                try:  # the plain socket's shutdown: a TLS one's would touch its TLS state
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass
            self._done.wait(0.05)


def _by_code(code: int) -> bool:
    """Permanent for a 5xx reply; 4xx means "try again later", and anything odd (smtplib's -1
    for an unreadable reply) is given another chance too."""
    return 500 <= code < 600


class EmailNotifier:
    """``type = "email"``: SMTP with starttls, implicit tls or none; login if ``username``."""

    def __init__(self, cfg: EmailConfig, *, ssl_context: ssl.SSLContext | None = None) -> None:
        if cfg.security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {SECURITY_MODES}, got {cfg.security!r}")
        self.name = cfg.name
        self.cfg = cfg
        # Injectable so that tests, whose server has a certificate from their own CA, can trust it.
        self._ssl_context = ssl_context

    def _password(self) -> str:
        """Read at send time, so a rotated secret needs no restart: from the file named by
        ``password_file`` (a systemd credential, say) or the variable named by ``password_env``."""
        if self.cfg.password_file:
            return read_secret_file(self.cfg.password_file, "password_file", self.name)
        name = self.cfg.password_env
        if not name:
            raise NotifyError("username is set but neither password_env nor password_file is: "
                              "nowhere to read the SMTP password from", channel=self.name,
                              permanent=True)
        value = os.environ.get(name)
        if not value:
            state = "is empty" if value == "" else "is not set"
            raise NotifyError(f"environment variable {name} (password_env) {state}",
                              channel=self.name, permanent=True)
        return value

    async def send(self, alert: Alert) -> None:
        password = self._password() if self.cfg.username else None
        message = build_message(alert, self.cfg)
        await asyncio.to_thread(self._deliver, message, password)

    async def send_digest(self, digest: Digest) -> None:
        password = self._password() if self.cfg.username else None
        message = build_digest_message(digest, self.cfg)
        await asyncio.to_thread(self._deliver, message, password)

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _deliver(self, message: EmailMessage, password: str | None) -> None:
        cfg = self.cfg
        where = f"{cfg.host}:{cfg.port}"
        smtp: smtplib.SMTP
        if cfg.security == "tls":
            smtp = smtplib.SMTP_SSL(timeout=cfg.timeout, context=self._context())
        else:
            smtp = smtplib.SMTP(timeout=cfg.timeout)
        # Connected here rather than by the constructor, so that the deadline covers the
        # greeting too; the host is what starttls checks the certificate against, which the
        # constructor would have set.
        smtp._host = cfg.host  # type: ignore[attr-defined]
        deadline = _Deadline(smtp, cfg.timeout)
        try:
            with deadline, smtp:
                code, greeting = smtp.connect(cfg.host, cfg.port)
                if code != 220:
                    raise smtplib.SMTPConnectError(code, greeting)
                if cfg.security == "starttls":
                    # Raises SMTPNotSupportedError when not offered: never fall back to clear text.
                    smtp.starttls(context=self._context())
                if cfg.username and password is not None:
                    smtp.login(cfg.username, password)
                refused = smtp.send_message(message, from_addr=cfg.from_addr,
                                            to_addrs=list(cfg.to))
        except smtplib.SMTPRecipientsRefused as e:  # every recipient refused
            replies = {addr: _reply(code, text) for addr, (code, text) in e.recipients.items()}
            permanent = all(_by_code(code) for code, _ in e.recipients.values())
            raise NotifyError(f"{where} refused every recipient: {replies}",
                              channel=self.name, permanent=permanent) from e
        except smtplib.SMTPAuthenticationError as e:
            raise NotifyError(f"{where} login as {cfg.username!r} failed: "
                              f"{_reply(e.smtp_code, e.smtp_error)}",
                              channel=self.name, permanent=_by_code(e.smtp_code)) from e
        except smtplib.SMTPResponseException as e:  # sender refused, data refused, bad greeting...
            raise NotifyError(f"{where} answered {_reply(e.smtp_code, e.smtp_error)}",
                              channel=self.name, permanent=_by_code(e.smtp_code)) from e
        except smtplib.SMTPNotSupportedError as e:  # no STARTTLS or no AUTH on offer
            raise NotifyError(f"{where}: {e}", channel=self.name, permanent=True) from e
        except ssl.SSLCertVerificationError as e:
            raise NotifyError(f"{where}: certificate not trusted: {e.verify_message}",
                              channel=self.name, permanent=True) from e
        except OSError as e:  # refused, timeout, DNS, TLS handshake, disconnect (SMTPException too)
            if deadline.passed:
                raise NotifyError(f"{where}: timed out: took longer than {cfg.timeout:g}s in all",
                                  channel=self.name, permanent=False) from e
            raise NotifyError(f"{where}: {type(e).__name__}: {e}",
                              channel=self.name, permanent=False) from e
        if refused:
            # Delivered to the others: retrying would send them a duplicate, so it counts as sent.
            log.warning("notifier %s: %s refused some recipients: %s", self.name, where,
                        {addr: _reply(code, text) for addr, (code, text) in refused.items()})
