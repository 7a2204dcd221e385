"""systemd integration with the standard library: the sd_notify datagram protocol and journald.

Environment in, datagrams out: READY=1, WATCHDOG=1, RELOADING=1 (+ MONOTONIC_USEC), STOPPING=1
and STATUS= lines sent to ``$NOTIFY_SOCKET``; ``$WATCHDOG_USEC`` read for the watchdog period;
``$JOURNAL_STREAM`` compared with stderr to know when journald reads our logs. Outside systemd
every call is a no-op, so the daemon behaves the same in a terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterator, Mapping, MutableMapping

log = logging.getLogger("monitor")


def socket_address(value: str) -> str | None:
    """The AF_UNIX address of a ``$NOTIFY_SOCKET`` value: a path, or an abstract name written
    with a leading '@' (sent with a leading NUL byte). Other kinds (vsock) are not supported."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_seconds(env: Mapping[str, str], pid: int) -> float | None:
    """The watchdog timeout asked by the service manager, or None when there is none for us.
    ``WATCHDOG_PID``, when set, names the process it is meant for (a child must not ping)."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 1_000_000


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd compares RELOADING=1 against."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class SystemdNotifier:
    """Sends sd_notify messages to the service manager, if any.

    Created once per daemon run; it takes ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and
    ``WATCHDOG_PID`` out of the environment (as sd_notify's ``unset_environment`` does), so the
    extraction worker processes never talk to systemd in the daemon's name.
    """

    def __init__(self, env: MutableMapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = env.pop("NOTIFY_SOCKET", "")
        self.address = socket_address(raw) if raw else None
        if raw and self.address is None:
            log.warning("systemd: NOTIFY_SOCKET %r is not a Unix socket; not notifying", raw)
        self.watchdog = watchdog_seconds(env, os.getpid())
        env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send one datagram made of ``lines`` ("READY=1", "STATUS=..."); True if it was sent.
        A failure is logged once and never stops the daemon."""
        if self.address is None:
            return False
        message = "\n".join(lines).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(message)
        except OSError as e:
            if not self._failed:
                log.warning("systemd: cannot notify the service manager: %s", e)
                self._failed = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def ping(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    @contextlib.contextmanager
    def reloading(self) -> Iterator[None]:
        """Wrap a configuration reload: RELOADING=1 with the monotonic time before, READY=1
        after, whatever happened (a refused config leaves the service running on the old one)."""
        self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}", "STATUS=reloading")
        try:
            yield
        finally:
            self.notify("READY=1", "STATUS=running")


def journald_stream(env: Mapping[str, str] | None = None, fd: int = 2) -> bool:
    """True when ``fd`` is the journal stream systemd connected (``$JOURNAL_STREAM`` holds its
    "device:inode"); a redirect of stderr elsewhere makes it false, as sd-journal advises."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return st.st_dev == int(device) and st.st_ino == int(inode)
