"""The event loop every command runs on: uvloop's when installed (a dependency wherever it
builds), asyncio's when asked for, and the same results either way."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import uvloop

from monitor.service import eventloop


async def _loop_and_signal() -> tuple[type[asyncio.AbstractEventLoop], bool, int]:
    """The running loop's type; whether a SIGHUP sent to ourselves reached its handler (as
    the daemon's reload does); and the result of a call in an executor thread."""
    loop = asyncio.get_running_loop()
    heard = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, heard.set)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(heard.wait(), 10)
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
    return type(loop), heard.is_set(), await loop.run_in_executor(None, sum, [1, 2, 3])


def test_uvloop_when_installed() -> None:
    kind, heard, total = eventloop.run(_loop_and_signal())
    assert issubclass(kind, uvloop.Loop)
    assert heard and total == 6


def test_asyncio_when_asked() -> None:
    kind, heard, total = eventloop.run(_loop_and_signal(), use_uvloop=False)
    assert not issubclass(kind, uvloop.Loop)
    assert heard and total == 6


def test_the_result_and_the_exception_come_back() -> None:
    async def fails() -> None:
        raise ValueError("from the coroutine")

    with pytest.raises(ValueError, match="from the coroutine"):
        eventloop.run(fails())
