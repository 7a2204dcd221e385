"""A test plays systemd's part in the sd_notify protocol: it binds a Unix datagram socket (a path,
or an abstract name), hands its address to the daemon in $NOTIFY_SOCKET, and records every
datagram with the time it arrived."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.helpers import REPO


@dataclass(frozen=True)
class Datagram:
    at: float  # time.monotonic() when it arrived
    fields: dict[str, str]
    raw: str


class NotifySocket:
    def __init__(self, folder: Path, *, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"monitor-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            path = folder / "notify.sock"
            self.sock.bind(str(path))
            self.address = str(path)
        self.sock.settimeout(0.2)
        self.received: list[Datagram] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closing.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode("utf-8")
            fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            with self._lock:
                self.received.append(Datagram(time.monotonic(), fields, text))

    def messages(self) -> list[Datagram]:
        with self._lock:
            return list(self.received)

    def wait_for(self, key: str, value: str, *, after: int = 0, timeout: float = 30) -> int:
        """Index of the first datagram from index ``after`` on with ``key=value``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, datagram in enumerate(self.messages()[after:], start=after):
                if datagram.fields.get(key) == value:
                    return i
            time.sleep(0.05)
        raise AssertionError(f"no {key}={value} after datagram {after} within {timeout}s: "
                             f"{[d.raw for d in self.messages()]}")

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=2)
        self.sock.close()


def start_daemon(config: Path, log: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """`monitor run` as systemd would start it: its stderr in ``log``."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **env)
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), *args,
                                 "run"], stdout=out, stderr=subprocess.STDOUT, env=full_env)


def stop_daemon(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return process.returncode




def gaps(datagrams: Iterator[Datagram] | list[Datagram]) -> list[float]:
    times = [d.at for d in datagrams]
    return [b - a for a, b in zip(times, times[1:])]
