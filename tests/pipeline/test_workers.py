"""The extraction pool with real worker processes: a dead worker is replaced and its task tried
again, a task that kills its worker twice is an ExtractError, a deadline, a memory cap, and
the pool's state handed on as it changes."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from monitor.errors import ExtractError
from monitor.pipeline.workers import FAILING, OK, ExtractionPool


def pid() -> int:
    return os.getpid()


def kill_self() -> int:  # what the OOM killer does to a worker
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


def spin(seconds: float) -> float:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return seconds


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def run(coro_factory):  # type: ignore[no-untyped-def]
    return asyncio.run(coro_factory())


def test_a_dead_worker_is_replaced_and_the_pool_says_so() -> None:
    states: list[tuple[str, str | None]] = []

    async def scenario() -> None:
        pool = ExtractionPool(2, on_change=lambda s, d: states.append((s, d)))
        try:
            worker = await pool.run(pid)
            os.kill(worker, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while pool.state == OK and time.monotonic() < deadline:
                pool.check()  # what the daemon does every few seconds
                await asyncio.sleep(0.1)
            assert pool.state == FAILING and pool.restarts == 1
            assert await pool.run(pid) != worker  # new workers
            assert pool.state == OK
        finally:
            pool.shutdown()

    run(scenario)
    assert states == [(FAILING, "an extraction worker died"), (OK, None)]


def test_a_task_that_kills_its_worker_twice_is_an_extract_error() -> None:
    async def scenario() -> None:
        pool = ExtractionPool(2)
        try:
            with pytest.raises(ExtractError, match="killed an extraction worker twice"):
                await pool.run(kill_self)
            assert pool.restarts == 2
            assert await pool.run(spin, 0.0) == 0.0  # the pool is whole again
        finally:
            pool.shutdown()

    run(scenario)


def test_a_deadline_and_a_memory_cap_cost_the_task_not_the_worker() -> None:
    async def scenario() -> None:
        pool = ExtractionPool(1, deadline=0.5, memory=256 * 1024 * 1024)
        try:
            with pytest.raises(ExtractError, match="longer than 0.5s"):
                await pool.run(spin, 5.0)
            with pytest.raises(ExtractError, match="out of memory"):
                await pool.run(allocate, 1024)
            assert await pool.run(allocate, 16) == 16 * 1024 * 1024
            assert pool.restarts == 0 and pool.state == OK
        finally:
            pool.shutdown()

    run(scenario)
