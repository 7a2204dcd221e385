"""Polling for a condition with a deadline: the one way tests wait for a server, a child
process or a file to reach a state."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """True as soon as ``condition()`` is true; False once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
