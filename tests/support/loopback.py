"""What the tests' HTTP servers on 127.0.0.1 share: one server thread, started and stopped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Protocol, TypeVar


class ServedInThread:
    """A ThreadingHTTPServer (``server``) served by ``_thread``, both made by the subclass."""

    server: ThreadingHTTPServer
    _thread: threading.Thread

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Startable(Protocol):
    def start(self) -> object: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Startable)


def running(server: S) -> Iterator[S]:
    """For a fixture: the server started, then stopped once the test is done."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
