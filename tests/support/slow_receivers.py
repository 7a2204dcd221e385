"""Hostile receivers on 127.0.0.1, for the notifiers' deadlines and caps: a webhook receiver
answering a byte at a time, forever (each byte well within any read timeout) ("trickle"); one
answering 500 with a body far larger than any error message ("endless"); an SMTP server
greeting a byte at a time ("smtp-trickle").

The webhook receivers read the request whole first (so the request counts as received), then
misbehave until the client hangs up, the test stops them, or ``give_up_after`` seconds. ``requests`` counts the requests received and
``sent`` the bytes of answer written."""

from __future__ import annotations

import socket
import threading
import time

HOST = "127.0.0.1"


class SlowReceiver:
    def __init__(self, kind: str, *, byte_every: float = 0.5, body_size: int = 64_000_000,
                 give_up_after: float = 600.0) -> None:
        assert kind in ("trickle", "endless", "smtp-trickle")
        self.kind = kind
        self.byte_every = byte_every  # trickle: seconds between two bytes
        self.body_size = body_size  # endless: the bytes of body it is ready to send
        # A trickle ends (the connection closed) after this many seconds: a client without a
        # deadline of its own then fails in some other way rather than hang its test forever.
        self.give_up_after = give_up_after
        self.requests = 0
        self.sent = 0
        self.hung_up = threading.Event()  # the client closed the connection mid-answer
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://{HOST}:{self.port}/hook"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> SlowReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            body += chunk
        with self._lock:
            self.requests += 1
        return True

    def _write(self, conn: socket.socket, data: bytes) -> bool:
        try:
            conn.sendall(data)
        except OSError:  # the client hung up
            self.hung_up.set()
            return False
        with self._lock:
            self.sent += len(data)
        return True

    def _trickle(self, conn: socket.socket, start: bytes) -> None:
        end = time.monotonic() + self.give_up_after
        if not self._write(conn, start):
            return
        while not self._stopping.wait(self.byte_every) and time.monotonic() < end:
            if not self._write(conn, b"z"):
                return

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            if self.kind == "smtp-trickle":  # a greeting line that never ends
                self._trickle(conn, b"220-")
                return
            try:
                if not self._read_request(conn):
                    return
            except OSError:
                return
            if self.kind == "trickle":  # a status line, then a header line that never ends
                self._trickle(conn, b"HTTP/1.1 200 OK\r\nX-Slow: ")
                return
            head = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: " + str(self.body_size).encode() + b"\r\n\r\n")
            if not self._write(conn, head):
                return
            chunk = b"error " * 10_000
            left = self.body_size
            while left > 0 and not self._stopping.is_set():
                piece = chunk[:left]
                if not self._write(conn, piece):
                    return
                left -= len(piece)
