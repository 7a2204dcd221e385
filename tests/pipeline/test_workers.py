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


def test_workers_are_replaced_after_their_share_of_tasks_and_every_task_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """More tasks than the workers' share, all queued at once (where max_tasks_per_child
    deadlocks on Python 3.11 to 3.14): every task runs, on new workers after each share, and
    the pool's shutdown ends the old workers as well as the current ones."""
    import monitor.pipeline.workers as workers

    monkeypatch.setattr(workers, "TASKS_PER_WORKER", 3)

    async def scenario() -> None:
        pool = ExtractionPool(1)
        try:
            shares = [await asyncio.gather(*(pool.run(pid) for _ in range(3))) for _ in range(4)]
            assert pool.recycled == 3 and pool.state == OK and pool.restarts == 0
            assert [len(set(share)) for share in shares] == [1, 1, 1, 1]
            pids = {share[0] for share in shares}
            assert len(pids) == 4  # new workers for each share
            queued = await asyncio.gather(*(pool.run(pid) for _ in range(12)))
            assert len(queued) == 12  # all run, though queued past the share at once
        finally:
            pool.shutdown()
        for worker in pids | set(queued):
            with pytest.raises(ProcessLookupError):
                os.kill(worker, 0)

    run(scenario)
