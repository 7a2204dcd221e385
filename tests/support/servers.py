"""Real servers on 127.0.0.1 for tests: a webhook receiver (threaded http.server) and an SMTP
server (aiosmtpd), each recording what it got, plus a port where nothing listens.

Use from any test file by importing the fixtures (pytest finds them in the module namespace):

    from support.servers import refused_port, smtp_server, webhook_receiver  # noqa: F401

or once for all files in tests/conftest.py with the same line.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import Any, cast

import pytest
from support.loopback import ServedInThread, running
from support.waiting import wait_until
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session, SMTP

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])




# --- webhook receiver ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds to wait before answering (to provoke client timeouts)


class WebhookReceiver(ServedInThread):
    """Records every request; answers with ``respond(...)``'s settings (default 200).

    ``port`` 0 picks a free one; pass ``refused_port`` to bring a receiver up where a
    notifier's requests were refused so far (an outage that ends). ``validator``
    checks each request as the real service would: a returned reason is answered with 400.
    ``ssl_context`` serves HTTPS."""

    def __init__(self, port: int = 0, *,
                 validator: Callable[[ReceivedRequest], str | None] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.requests: list[ReceivedRequest] = []
        self.response = Response()
        self.validator = validator
        self.rejections: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = ReceivedRequest(self.command, self.path,
                                          {k.lower(): v for k, v in self.headers.items()}, body)
                problem = receiver.validator(request) if receiver.validator else None
                with receiver._lock:
                    receiver.requests.append(request)
                    answer = receiver.response
                    if problem:
                        receiver.rejections.append(problem)
                        answer = Response(400, {"Content-Type": "text/plain"},
                                          problem.encode("utf-8"))
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

            do_POST = do_GET = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer((HOST, port), Handler)  # sets SO_REUSEADDR
        self.server.daemon_threads = True
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://{HOST}:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                        daemon=True)  # short poll: shutdown() returns quickly

    def respond(self, status: int = 200, headers: dict[str, str] | None = None,
                body: bytes | str = b"", delay: float = 0.0) -> None:
        """Answer every following request with this status, headers and body."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        with self._lock:
            self.response = Response(status, dict(headers or {}), body, delay)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Wait until ``count`` requests arrived; return them all."""
        assert wait_until(lambda: len(self.requests) >= count, timeout), \
            f"expected {count} requests, got {len(self.requests)}"
        return list(self.requests)



@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running receiver: POST to ``.url``, read ``.requests``, set answers with ``.respond()``."""
    yield from running(WebhookReceiver())


# --- SMTP server --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # as received, CRLF line ends

    @property
    def message(self) -> EmailMessage:
        return cast(EmailMessage, email.message_from_bytes(self.data, policy=email.policy.default))


class RecordingHandler:
    """aiosmtpd handler: records messages; ``rcpt_reply`` (e.g. "550 5.1.1 no such user")
    refuses every recipient with that reply; ``credentials`` are the logins accepted."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.rcpt_reply: str | None = None
        self.credentials: dict[str, str] = {}
        self.logins: list[str] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos),
                                          content))
        return "250 Message accepted for delivery"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                     mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            if user in self.credentials and self.credentials[user] == password:
                self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class SMTPServer:
    """aiosmtpd on 127.0.0.1 (no TLS). Login is offered but optional; set ``.credentials``.

    With ``starttls`` (an SSL context holding the server's certificate), STARTTLS is
    offered and required before anything else, and login is offered only over TLS, as on a
    real submission server; with ``implicit_tls``, the connection is TLS from the first byte."""

    def __init__(self, *, starttls: ssl.SSLContext | None = None,
                 implicit_tls: ssl.SSLContext | None = None) -> None:
        self.handler = RecordingHandler()
        self.host = HOST
        self.port = free_port()
        tls: dict[str, Any] = {}
        if starttls is not None:
            tls = {"tls_context": starttls, "require_starttls": True, "auth_require_tls": True}
        else:
            tls = {"auth_require_tls": False}
        if implicit_tls is not None:
            tls["ssl_context"] = implicit_tls
        self.controller = Controller(
            self.handler, hostname=HOST, port=self.port, ready_timeout=5.0,
            authenticator=self.handler.authenticate, **tls)

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages

    @property
    def credentials(self) -> dict[str, str]:
        return self.handler.credentials

    def reject_recipients(self, reply: str = "550 5.1.1 No such user here") -> None:
        self.handler.rcpt_reply = reply

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        assert wait_until(lambda: len(self.messages) >= count, timeout), \
            f"expected {count} messages, got {len(self.messages)}"
        return list(self.messages)


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A running SMTP server: send to ``.host``/``.port`` (security "none"), read ``.messages``."""
    server = SMTPServer()
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


# --- nothing listening ----------------------------------------------------------------------------

@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 where connections are refused: bound (so no other program takes it)
    but not listening, for the whole test. SO_REUSEADDR lets a test server of its own bind the
    port later (``WebhookReceiver(port=refused_port)``) to end the outage."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, 0))
        yield int(s.getsockname()[1])
