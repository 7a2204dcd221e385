"""The event loop every command runs on: uvloop's (imported here only) when it is installed,
asyncio's otherwise. A coroutine in, its result out, as ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory(use_uvloop: bool | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's own loop. ``use_uvloop``: None takes uvloop
    when it is importable (it has no Windows build); False forces asyncio's loop (the benchmark
    compares the two); True requires uvloop."""
    if use_uvloop is False:
        return None
    try:
        import uvloop
    except ImportError:
        if use_uvloop:
            raise
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool | None = None) -> T:
    """``asyncio.run(main)`` on uvloop when it is there: its C transports (TCP, TLS, pipes)
    cost less CPU per request than asyncio's."""
    with asyncio.Runner(loop_factory=loop_factory(use_uvloop)) as runner:
        return runner.run(main)
